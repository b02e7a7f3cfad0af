//! What the API listener received: every request with its operation id, headers (the
//! `Authorization` value left out), body and the status it was answered with, the most recent
//! ones kept within a bound.

use std::collections::VecDeque;

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use serde_json::Value;

use crate::auth;

/// Most requests [`OzMock::received_requests`](crate::OzMock::received_requests) keeps (the
/// oldest are dropped first). The storage listener keeps as many
/// ([`OzMock::storage_requests`](crate::OzMock::storage_requests)).
pub const REQUEST_LOG_CAPACITY: usize = 10_000;

/// Most body bytes the request log keeps in all; past it the oldest requests are dropped
/// (the newest one is always kept, whatever its size).
pub const REQUEST_LOG_BODY_CAPACITY: usize = 64 * 1024 * 1024;

/// What a request carried in its `Authorization` header. The value itself is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Authorization {
    /// No `Authorization` header.
    Absent,
    /// `Bearer <key>` with the key the simulator accepts.
    ApiKey,
    /// Anything else: another key, another scheme, or a value that is not text.
    Other,
}

impl Authorization {
    fn of(headers: &HeaderMap, api_key: &str) -> Authorization {
        match headers.get(header::AUTHORIZATION) {
            None => Authorization::Absent,
            Some(value) => match auth::bearer_token(value) {
                Some(token) if auth::is_api_key(token, api_key) => Authorization::ApiKey,
                _ => Authorization::Other,
            },
        }
    }
}

/// Stands for the value of the `Authorization` header in [`ReceivedRequest::headers`].
pub const REDACTED: &str = "<redacted>";

/// One request the API listener received, from
/// [`OzMock::received_requests`](crate::OzMock::received_requests).
///
/// `Debug` shows header names, not their values, and the body's length.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path as received, e.g. `/api/v1/agent/runs/<run id>`.
    pub path: String,
    /// The raw query string without `?`, e.g. `limit=50&state=QUEUED`.
    pub query: Option<String>,
    /// The operation id of openapi.json the request was routed to (e.g. `"get_run"`), or
    /// `"unknown"` when no operation has this method and path.
    pub operation_id: String,
    /// Every header as received, names in lower case; the value of `authorization` is
    /// [`REDACTED`].
    pub headers: Vec<(String, String)>,
    /// What the `Authorization` header held.
    pub authorization: Authorization,
    /// The body as received (empty when there was none, or when it was larger than the
    /// operation reads and could not be read whole).
    pub body: Bytes,
    /// The status of the answer; `None` while the answer is being prepared, and for
    /// requests a [`Fault::ConnectionReset`](crate::Fault::ConnectionReset) left unanswered.
    /// A faulty answer records the status the fault sent (e.g. 503).
    pub status: Option<u16>,
}

impl ReceivedRequest {
    pub(crate) fn new(
        parts: &http::request::Parts,
        operation_id: &str,
        body: &[u8],
        api_key: &str,
    ) -> Self {
        let mut headers = header_pairs(&parts.headers);
        for (name, value) in &mut headers {
            if name == header::AUTHORIZATION.as_str() {
                *value = REDACTED.to_owned();
            }
        }
        ReceivedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            operation_id: operation_id.to_owned(),
            headers,
            authorization: Authorization::of(&parts.headers, api_key),
            // A copy of exactly the body's size: a slice of the connection's read buffer
            // would keep the whole buffer alive while the request is logged.
            body: Bytes::copy_from_slice(body),
            status: None,
        }
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        first_header(&self.headers, name)
    }

    /// The body parsed as JSON; `None` when it is empty or not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The query's parameters, percent-decoded, in order (repeated ones kept).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        crate::query::Query::parse(self.query.as_deref())
            .pairs()
            .to_vec()
    }
}

impl std::fmt::Debug for ReceivedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ReceivedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("operation_id", &self.operation_id)
            .field("status", &self.status)
            .field("authorization", &self.authorization)
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Every header as `(name, value)`, names in lower case, values decoded lossily.
pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The first value of a header in `headers`, by case-insensitive name.
pub(crate) fn first_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Appends `entry`, dropping the oldest entries beyond [`REQUEST_LOG_CAPACITY`].
pub(crate) fn keep_last<T>(log: &mut VecDeque<T>, entry: T) {
    log.push_back(entry);
    while log.len() > REQUEST_LOG_CAPACITY {
        log.pop_front();
    }
}

/// The API listener's requests, newest last, within [`REQUEST_LOG_CAPACITY`] and
/// [`REQUEST_LOG_BODY_CAPACITY`]. Each request has a sequence number so that its status can
/// be filled in once it is answered.
pub(crate) struct RequestLog {
    entries: VecDeque<ReceivedRequest>,
    /// Sequence number of the oldest entry kept.
    first: u64,
    body_bytes: usize,
    max_entries: usize,
    max_body_bytes: usize,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog::with_capacity(REQUEST_LOG_CAPACITY, REQUEST_LOG_BODY_CAPACITY)
    }
}

impl RequestLog {
    fn with_capacity(max_entries: usize, max_body_bytes: usize) -> Self {
        RequestLog {
            entries: VecDeque::new(),
            first: 0,
            body_bytes: 0,
            max_entries,
            max_body_bytes,
        }
    }

    /// Records a request; returns its sequence number.
    pub(crate) fn record(&mut self, request: ReceivedRequest) -> u64 {
        self.body_bytes += request.body.len();
        self.entries.push_back(request);
        while self.entries.len() > self.max_entries
            || self.body_bytes > self.max_body_bytes && self.entries.len() > 1
        {
            if let Some(dropped) = self.entries.pop_front() {
                self.body_bytes -= dropped.body.len();
                self.first += 1;
            }
        }
        self.first + self.entries.len() as u64 - 1
    }

    /// Fills in the status of a request, unless it has been dropped or cleared since.
    pub(crate) fn answered(&mut self, sequence: u64, status: u16) {
        let Some(index) = sequence.checked_sub(self.first) else {
            return;
        };
        if let Some(entry) = usize::try_from(index)
            .ok()
            .and_then(|i| self.entries.get_mut(i))
        {
            entry.status = Some(status);
        }
    }

    pub(crate) fn requests(&self) -> Vec<ReceivedRequest> {
        self.entries.iter().cloned().collect()
    }

    pub(crate) fn requests_for(&self, operation_id: &str) -> Vec<ReceivedRequest> {
        self.entries
            .iter()
            .filter(|r| r.operation_id == operation_id)
            .cloned()
            .collect()
    }

    pub(crate) fn clear(&mut self) {
        self.first += self.entries.len() as u64;
        self.entries.clear();
        self.body_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: usize) -> ReceivedRequest {
        let (parts, ()) = http::Request::post("/api/v1/agent/runs?limit=5&state=A%20B")
            .header("Authorization", "Bearer wk-secret")
            .header("X-Trace", "t1")
            .body(())
            .expect("request")
            .into_parts();
        ReceivedRequest::new(&parts, "create_run", &vec![b'x'; body], "wk-secret")
    }

    #[test]
    fn the_key_is_not_kept_and_its_presence_is() {
        let r = request(0);
        assert_eq!(r.authorization, Authorization::ApiKey);
        assert_eq!(r.header("authorization"), Some(REDACTED));
        assert_eq!(r.header("x-trace"), Some("t1"));
        assert!(!format!("{r:?}").contains("wk-secret"));
        assert_eq!(
            r.query_pairs(),
            [("limit".into(), "5".into()), ("state".into(), "A B".into())]
        );
        let (parts, ()) = http::Request::get("/x")
            .header("Authorization", "Basic d2s=")
            .body(())
            .expect("request")
            .into_parts();
        let other = ReceivedRequest::new(&parts, "unknown", b"", "wk-secret");
        assert_eq!(other.authorization, Authorization::Other);
        assert_eq!(other.json(), None);
    }

    #[test]
    fn the_log_keeps_the_newest_requests_within_its_bounds() {
        let mut log = RequestLog::with_capacity(10, 100);
        for i in 0..15 {
            let sequence = log.record(request(i % 3));
            assert_eq!(sequence, i as u64);
        }
        assert_eq!(log.requests().len(), 10);
        // The oldest five were dropped: their statuses go nowhere, the newest gets its own.
        log.answered(4, 200);
        log.answered(14, 503);
        let kept = log.requests();
        assert!(kept[..kept.len() - 1].iter().all(|r| r.status.is_none()));
        assert_eq!(kept.last().and_then(|r| r.status), Some(503));

        log.record(request(51));
        assert_eq!(
            log.requests().len(),
            10,
            "the count bound holds, the bytes fit"
        );
        log.record(request(51));
        assert_eq!(
            log.requests().len(),
            1,
            "two bodies of 51 bytes do not fit in 100"
        );
        log.record(request(101));
        assert_eq!(
            log.requests().len(),
            1,
            "the newest is kept whatever its size"
        );
        log.clear();
        assert!(log.requests().is_empty());
        let after = log.record(request(1));
        log.answered(after, 201);
        assert_eq!(log.requests_for("create_run")[0].status, Some(201));
        assert!(log.requests_for("get_run").is_empty());
    }

    #[test]
    fn the_default_bounds_are_the_documented_ones() {
        let log = RequestLog::default();
        assert_eq!(log.max_entries, REQUEST_LOG_CAPACITY);
        assert_eq!(log.max_body_bytes, REQUEST_LOG_BODY_CAPACITY);
    }
}
