//! The storage origin: a second listener that serves transcripts, artifacts, conversation
//! screenshots, factory avatars and handoff snapshots behind expiring signed URLs, and records
//! the requests it receives (the last [`REQUEST_LOG_CAPACITY`](crate::REQUEST_LOG_CAPACITY)).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::faults::{self, Fault};
use crate::query::Query;
use crate::signing::SignatureError;
use crate::state::render::SCREENSHOT_PNG;
use crate::state::{ArtifactKind, transcript};
use crate::{Shared, lock, pipeline, request_log};

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
    let plan = pipeline::admit(&shared, "storage_download", &path, true);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    match plan.action {
        None => next.run(request).await,
        Some(Fault::TruncatedBody) => faults::truncate(next.run(request).await).await,
        Some(Fault::ConnectionReset) => {
            pipeline::close_connection(pipeline::kill_switch(&request)).await
        }
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
    let length = bytes.len();
    let mut response = (StatusCode::OK, bytes.into_http()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=0"),
    );
    response
}

/// Content type and body of a stored object.
fn object(shared: &Shared, path: &str) -> Option<(&'static str, transcript::Body)> {
    let rest = path.strip_prefix("/storage/")?;
    let (kind, name) = rest.split_once('/')?;
    let state = shared.state();
    match kind {
        "transcripts" => {
            let idx = *state.run_index.get(name.strip_suffix(".json")?)?;
            Some(("application/json", state.transcript(idx)))
        }
        "conversations" => {
            let idx = state.run_by_conversation(name.strip_suffix(".json")?)?;
            Some(("application/json", state.transcript(idx)))
        }
        "artifacts" => {
            let (uid, _file) = name.split_once('/')?;
            crate::routes::artifact_object(&state, uid).map(|(kind, bytes)| (kind, bytes.into()))
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
            state.run_index.get(run_id)?;
            let mut bytes = vec![0x1f, 0x8b, 0x08, 0x00];
            bytes.extend(std::iter::repeat_n(0u8, 4092));
            Some(("application/gzip", bytes.into()))
        }
        _ => None,
    }
}
