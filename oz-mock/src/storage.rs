//! The storage origin: a second listener that serves transcripts, artifacts, conversation
//! screenshots, factory avatars and handoff snapshots behind expiring signed URLs, and records
//! the requests it receives (the last [`REQUEST_LOG_CAPACITY`](crate::REQUEST_LOG_CAPACITY)).
//!
//! Like a cloud object store, it answers byte ranges: every object has a strong `ETag` (a hash
//! of its bytes) and is served with `Accept-Ranges: bytes`; a single range (`bytes=N-`,
//! `bytes=N-M`, `bytes=-N`) gets `206` with its `Content-Range`, a range that starts past the
//! end gets `416` with `Content-Range: bytes */<length>`, and an `If-Range` that does not match
//! the `ETag`, a malformed range or several ranges get the whole object (`200`), as RFC 9110
//! allows. [`OzMockBuilder::storage_ranges(false)`](crate::OzMockBuilder::storage_ranges)
//! makes it a store that ignores `Range` and always answers the whole object.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::faults::{self, Fault};
use crate::query::Query;
use crate::signing::SignatureError;
use crate::state::render::SCREENSHOT_PNG;
use crate::state::{ArtifactKind, transcript};
use crate::{Shared, lock, request_log, server};

/// One request the storage listener received, from
/// [`OzMock::storage_requests`](crate::OzMock::storage_requests). Unlike the API's
/// [`ReceivedRequest`](crate::ReceivedRequest), it keeps every header value, `Authorization`
/// included: no client should send one to storage, and a test that finds one can see what leaked.
///
/// `Debug` leaves out the query string (it carries the signature) and header values.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageRequest {
    /// `GET` or `HEAD` (or whatever the client sent).
    pub method: String,
    /// The path, e.g. `/storage/transcripts/<run id>.json`.
    pub path: String,
    /// The raw query string without `?` (contains the signature).
    pub query: Option<String>,
    /// Every header as received, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl StorageRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        request_log::first_header(&self.headers, name)
    }
}

impl std::fmt::Debug for StorageRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("StorageRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query.as_ref().map(|_| "<redacted>"))
            .field("header_names", &names)
            .finish()
    }
}

/// A signed URL for `path` on the storage origin and when it expires.
pub(crate) fn signed_url(shared: &Shared, path: &str) -> (String, DateTime<Utc>) {
    let now = shared.clock.now();
    let (query, expires) = shared.signer.sign(path, now.timestamp());
    let expires_at = DateTime::from_timestamp(expires, 0).unwrap_or(now);
    (
        format!("{}{path}?{query}", shared.storage_origin),
        expires_at,
    )
}

/// Storage path of an artifact's object.
pub(crate) fn artifact_path(uid: &str, kind: ArtifactKind) -> String {
    let name = match kind {
        ArtifactKind::Screenshot => "screenshot.png",
        ArtifactKind::Plan => "plan.md",
        _ => "test-report.md",
    };
    format!("/storage/artifacts/{uid}/{name}")
}

/// Storage path of a conversation's screenshot.
pub(crate) fn screenshot_path(conversation_id: &str, uid: &str) -> String {
    format!("/storage/screenshots/{conversation_id}/{uid}.png")
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/storage/{*object}", axum::routing::get(serve_object))
        .fallback(|| async {
            xml_error(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            )
        })
        .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

/// Records the request, then applies storage faults.
async fn record(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let received = StorageRequest {
        method: request.method().to_string(),
        path: path.clone(),
        query: request.uri().query().map(str::to_owned),
        headers: request_log::header_pairs(request.headers()),
    };
    request_log::keep_last(&mut lock(&shared.storage_log), received);
    let plan = faults::admit(&shared, "storage_download", &path, true);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    match plan.action {
        None => next.run(request).await,
        Some(Fault::TruncatedBody) => faults::truncate(next.run(request).await).await,
        Some(Fault::ConnectionReset) => server::close_connection(&request).await,
        Some(fault) => match faults::respond(&fault, &path) {
            Some(response) => response,
            None => next.run(request).await,
        },
    }
}

fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

async fn serve_object(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return xml_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "Only GET and HEAD are allowed.",
        );
    }
    let path = request.uri().path();
    let query = Query::parse(request.uri().query());
    let verdict = shared.signer.verify(
        path,
        query.get("expires"),
        query.get("sig"),
        shared.clock.now_unix(),
    );
    match verdict {
        Ok(()) => {}
        Err(SignatureError::Expired) => {
            return xml_error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Request has expired.",
            );
        }
        Err(SignatureError::Missing | SignatureError::Invalid) => {
            return xml_error(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature does not match.",
            );
        }
    }
    let Some((content_type, bytes)) = object(&shared, path) else {
        return xml_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    let etag = etag(&shared, path, &bytes);
    let length = bytes.len();
    let range = if shared.storage_ranges {
        requested_range(request.headers(), &etag, length)
    } else {
        Requested::Whole
    };
    let (status, body, content_length, content_range) = match range {
        Requested::Whole => (StatusCode::OK, bytes.into_http(), length, None),
        Requested::Span(first, end) => (
            StatusCode::PARTIAL_CONTENT,
            span(bytes, first, end),
            end - first,
            Some(format!("bytes {first}-{}/{length}", end - 1)),
        ),
        Requested::Unsatisfiable => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            axum::body::Body::empty(),
            0,
            Some(format!("bytes */{length}")),
        ),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    if status != StatusCode::RANGE_NOT_SATISFIABLE {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(content_length));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    if shared.storage_ranges {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if let Some(value) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::CONTENT_RANGE, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=0"),
    );
    response
}

/// The part of an object a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Requested {
    /// No usable `Range` (absent, malformed, several ranges, or an `If-Range` that does not
    /// match): the whole object, `200`.
    Whole,
    /// Bytes `first..end`, `206`.
    Span(usize, usize),
    /// A range that starts at or past the end, `416`.
    Unsatisfiable,
}

/// Reads `Range` and `If-Range` against an object of `length` bytes whose `ETag` is `etag`.
fn requested_range(headers: &HeaderMap, etag: &str, length: usize) -> Requested {
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Requested::Whole;
    };
    // A date or another entity tag: the object the client has is not this one (this store
    // sends no Last-Modified to compare a date with), so it gets the whole object.
    if let Some(if_range) = headers.get(header::IF_RANGE)
        && if_range.as_bytes() != etag.as_bytes()
    {
        return Requested::Whole;
    }
    parse_range(range, length)
}

/// A single `bytes=` range of RFC 9110 (14.1.2) against an object of `length` bytes.
fn parse_range(range: &str, length: usize) -> Requested {
    let Some((unit, spec)) = range.trim().split_once('=') else {
        return Requested::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return Requested::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Requested::Whole;
    };
    let number = |s: &str| -> Option<usize> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `bytes=-N`: the last N bytes.
        return match number(last) {
            Some(0) => Requested::Unsatisfiable,
            Some(suffix) if length > 0 => Requested::Span(length - suffix.min(length), length),
            Some(_) => Requested::Unsatisfiable,
            // An unreadable number (too large for `usize` included) is no valid range.
            None => Requested::Whole,
        };
    }
    let Some(first) = number(first) else {
        return Requested::Whole;
    };
    let end = if last.is_empty() {
        length
    } else {
        match number(last) {
            Some(last) if last >= first => last.saturating_add(1).min(length),
            _ => return Requested::Whole,
        }
    };
    if first >= length {
        Requested::Unsatisfiable
    } else {
        Requested::Span(first, end)
    }
}

/// Bytes `first..end` of an object as an HTTP body; a streamed transcript is generated while
/// it is sent, the bytes before `first` generated and dropped, nothing after `end` generated.
fn span(body: transcript::Body, first: usize, end: usize) -> axum::body::Body {
    let chunks: Box<dyn Iterator<Item = Bytes> + Send> = match body {
        transcript::Body::Whole(bytes) => Box::new(std::iter::once(Bytes::from(bytes))),
        transcript::Body::Streamed(streamed) => Box::new(streamed),
    };
    let mut offset = 0usize;
    let chunks = chunks
        .map_while(move |chunk| {
            if offset >= end {
                return None;
            }
            let start = offset;
            offset += chunk.len();
            let from = first.clamp(start, offset) - start;
            let to = end.clamp(start, offset) - start;
            Some(chunk.slice(from..to))
        })
        .filter(|chunk| !chunk.is_empty());
    axum::body::Body::from_stream(futures::stream::iter(
        chunks.map(Ok::<Bytes, std::convert::Infallible>),
    ))
}

/// The strong `ETag` of the object at `path`: a hash of its length and bytes (for a streamed
/// transcript, of its length and first chunk, which determine the rest).
fn etag(shared: &Shared, path: &str, body: &transcript::Body) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.len().hash(&mut hasher);
    match body {
        transcript::Body::Whole(bytes) => bytes.hash(&mut hasher),
        // Generating a transcript is cheap up to its first chunk: a second copy gives it.
        transcript::Body::Streamed(_) => {
            if let Some((_, transcript::Body::Streamed(mut copy))) = object(shared, path)
                && let Some(first) = copy.next()
            {
                first.hash(&mut hasher);
            }
        }
    }
    format!("\"{:016x}\"", hasher.finish())
}

/// Content type and body of a stored object.
fn object(shared: &Shared, path: &str) -> Option<(&'static str, transcript::Body)> {
    let rest = path.strip_prefix("/storage/")?;
    let (kind, name) = rest.split_once('/')?;
    let state = shared.state();
    match kind {
        "transcripts" => {
            let idx = state.find_run(name.strip_suffix(".json")?).ok()?;
            Some(("application/json", state.transcript(idx)))
        }
        "conversations" => {
            let idx = state.run_by_conversation(name.strip_suffix(".json")?)?;
            Some(("application/json", state.transcript(idx)))
        }
        "artifacts" => {
            let (uid, _file) = name.split_once('/')?;
            state
                .artifact_object(uid)
                .map(|(kind, bytes)| (kind, bytes.into()))
        }
        "screenshots" => {
            let (conversation_id, file) = name.split_once('/')?;
            let uid = file.strip_suffix(".png")?;
            state
                .is_screenshot_of(uid, conversation_id)
                .then(|| ("image/png", SCREENSHOT_PNG.to_vec().into()))
        }
        "avatars" => {
            let uid = name.strip_suffix(".png")?;
            state
                .factories
                .iter()
                .any(|f| f.uid == uid && f.has_avatar)
                .then(|| ("image/png", SCREENSHOT_PNG.to_vec().into()))
        }
        "handoff" => {
            let (run_id, _attachment) = name.split_once('/')?;
            state.find_run(run_id).ok()?;
            let mut bytes = vec![0x1f, 0x8b, 0x08, 0x00];
            bytes.extend(std::iter::repeat_n(0u8, 4092));
            Some(("application/gzip", bytes.into()))
        }
        _ => None,
    }
}
