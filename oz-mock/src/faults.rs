//! Fault injection: rules that make the next N matching requests fail in a chosen way.

use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::error::ApiError;
use crate::ops::API_PREFIX;
use crate::{Shared, lock};

/// What a faulty answer looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// 429 with a problem body and the given `Retry-After` header.
    TooManyRequests(RetryAfter),
    /// An error status with the problem body the service sends with it: 500, 502, 503 and
    /// 504 for outages; 401, 403 and 404 as the answers of a key or a route that is refused
    /// (e.g. on the event stream, to test a client's fallback to polling). Other values in
    /// 400..=599 are sent as given, anything else as 500.
    Status(u16),
    /// Waits this long (tokio time) before handling the request normally.
    Latency(Duration),
    /// Closes the connection without answering; the request is not processed.
    ConnectionReset,
    /// Processes the request, declares the full `Content-Length`, sends half of the body and
    /// closes the connection.
    TruncatedBody,
    /// 502 with an HTML page, as a reverse proxy sends when the service behind it is down.
    HtmlBadGateway,
    /// 200 whose JSON document stops in the middle, with a `Content-Length` that matches what
    /// is sent (the transfer is complete, the document is not); the request is not processed.
    TruncatedJson,
    /// 200 with a well-formed JSON object that has none of the members the operation's schema
    /// requires; the request is not processed.
    MismatchedBody,
    /// 429 with `X-Warp-Error-Code: OUT_OF_CREDITS`, as the service answers a team without
    /// credits: a problem body with `retryable: false` and a `userDisplayMessage`, and
    /// `x-should-retry: false`. The request is not processed. [`OzMockBuilder::credits`]
    /// produces the same answer from the team's credits.
    ///
    /// [`OzMockBuilder::credits`]: crate::OzMockBuilder::credits
    OutOfCredits,
    /// 403 with `X-Warp-Error-Code: AT_CLOUD_AGENT_CAPACITY`, as the service answers a team at
    /// its concurrency limit: a problem body whose `running_agents` is the given number, with
    /// `retryable: false` and `x-should-retry: false`. The request is not processed.
    /// [`OzMockBuilder::concurrency_limit`] produces the same answer from the team's live runs.
    ///
    /// [`OzMockBuilder::concurrency_limit`]: crate::OzMockBuilder::concurrency_limit
    AtCloudAgentCapacity {
        /// The `running_agents` member of the body.
        running_agents: u64,
    },
    /// On the event stream (`stream_agent_events`): sends `after_events` whole events, then
    /// half of the next message, and closes the connection, as a connection lost mid-event.
    /// The stream is opened normally (200) and no event is lost on the simulator's side: a
    /// client that reconnects with the last `since` it handled gets the rest. On other
    /// operations it cuts the answer as [`Fault::TruncatedBody`] does.
    EventStreamCut {
        /// Events sent whole before the cut.
        after_events: usize,
    },
    /// On the event stream (`stream_agent_events`): waits this long (tokio time) before
    /// each event after the first. Delays add up with other rules, like
    /// [`Fault::Latency`] (which delays the answer's first byte), and combine with the rule
    /// that decides the answer (e.g. [`Fault::EventStreamCut`]). No effect on other
    /// operations.
    EventStreamDelay(Duration),
    /// On the event stream (`stream_agent_events`): opens it normally (200,
    /// `text/event-stream`) and then sends nothing, as a stream that misses every event; it
    /// stays open until its maximum age or the simulator stops. For a client's safety poll.
    /// No effect on other operations.
    EventStreamSilent,
}

/// The `Retry-After` header of a 429 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryAfter {
    /// No `Retry-After` header.
    Absent,
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `Retry-After: <HTTP date>`, this far after the current wall-clock time.
    HttpDate(Duration),
    /// `retry-after-ms: <milliseconds>` (the header the official SDKs read before
    /// `Retry-After`).
    Millis(u64),
}

/// Which requests a [`FaultRule`] applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultScope {
    /// Every API request (not storage downloads).
    Global,
    /// Requests for one operation id of openapi.json, e.g. `"get_run"`; `"storage_download"`
    /// selects storage downloads.
    Operation(String),
    /// Requests whose path starts with this prefix, given with or without `/api/v1`
    /// (`"/agent/runs"`, `"/storage/transcripts"`).
    PathPrefix(String),
}

/// A fault applied to the next N requests in its scope.
///
/// ```
/// use oz_mock::{Fault, FaultRule, RetryAfter};
///
/// let rule = FaultRule::operation("list_runs", Fault::TooManyRequests(RetryAfter::Seconds(2)))
///     .times(3);
/// assert_eq!(rule.remaining(), Some(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    scope: FaultScope,
    fault: Fault,
    remaining: Option<usize>,
}

impl FaultRule {
    /// A rule for one request in `scope`.
    pub fn new(scope: FaultScope, fault: Fault) -> Self {
        Self {
            scope,
            fault,
            remaining: Some(1),
        }
    }

    /// A rule for every API request.
    pub fn global(fault: Fault) -> Self {
        Self::new(FaultScope::Global, fault)
    }

    /// A rule for one operation id.
    pub fn operation(operation_id: impl Into<String>, fault: Fault) -> Self {
        Self::new(FaultScope::Operation(operation_id.into()), fault)
    }

    /// A rule for paths starting with `prefix`.
    pub fn path_prefix(prefix: impl Into<String>, fault: Fault) -> Self {
        Self::new(FaultScope::PathPrefix(prefix.into()), fault)
    }

    /// Applies the fault to the next `n` matching requests (default 1).
    pub fn times(mut self, n: usize) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Applies the fault to every matching request until the rules are cleared.
    pub fn always(mut self) -> Self {
        self.remaining = None;
        self
    }

    /// Matching requests still to affect (`None`: unlimited).
    pub fn remaining(&self) -> Option<usize> {
        self.remaining
    }

    fn matches(&self, operation_id: &str, path: &str, storage: bool) -> bool {
        match &self.scope {
            FaultScope::Global => !storage,
            FaultScope::Operation(id) => id == operation_id,
            FaultScope::PathPrefix(prefix) => {
                path.starts_with(prefix.as_str())
                    || path
                        .strip_prefix(API_PREFIX)
                        .is_some_and(|rest| rest.starts_with(prefix.as_str()))
            }
        }
    }
}

/// Admission of a request by either listener: counts it under its operation id and consumes
/// the fault rules that match it.
pub(crate) fn admit(shared: &Shared, operation_id: &str, path: &str, storage: bool) -> Plan {
    *lock(&shared.request_counts)
        .entry(operation_id.to_owned())
        .or_default() += 1;
    take(&mut lock(&shared.faults), operation_id, path, storage)
}

/// What the pipeline does to one request.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) latency: Duration,
    /// The pause before each event of an event stream after the first.
    pub(crate) event_delay: Duration,
    pub(crate) action: Option<Fault>,
}

/// The faults an event stream applies while it runs, handed to its handler by the pipeline.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EventStreamFaults {
    /// Cut the connection in the middle of the message after this many whole events.
    pub(crate) cut_after: Option<usize>,
    /// Pause before each event after the first.
    pub(crate) delay: Duration,
    /// Send no event at all.
    pub(crate) silent: bool,
}

/// Consumes the rules that match a request: every latency rule adds up, the first other rule
/// decides the answer.
pub(crate) fn take(
    rules: &mut Vec<FaultRule>,
    operation_id: &str,
    path: &str,
    storage: bool,
) -> Plan {
    let mut plan = Plan::default();
    for rule in rules.iter_mut() {
        if rule.remaining == Some(0) || !rule.matches(operation_id, path, storage) {
            continue;
        }
        match &rule.fault {
            Fault::Latency(d) => plan.latency += *d,
            Fault::EventStreamDelay(d) => plan.event_delay += *d,
            _ if plan.action.is_some() => continue,
            other => plan.action = Some(other.clone()),
        }
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
    }
    rules.retain(|r| r.remaining != Some(0));
    plan
}

const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// A JSON document cut short in the middle of a string.
const TRUNCATED_JSON: &str =
    r#"{"runs":[{"run_id":"4f3c2a7e-0000-0000-0000-000000000000","state":"INPROG"#;
/// Well-formed JSON that matches no response schema of the API.
const MISMATCHED_JSON: &str = r#"{"oz_mock_fault":"mismatched body","items":42}"#;

fn json_200(body: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The answer for a fault that replaces the response (429, 5xx, HTML).
pub(crate) fn respond(fault: &Fault, instance: &str) -> Option<Response> {
    match fault {
        Fault::TooManyRequests(retry_after) => {
            let mut response = ApiError::too_many_requests().render(instance);
            let (name, value) = match retry_after {
                RetryAfter::Absent => (header::RETRY_AFTER, None),
                RetryAfter::Seconds(s) => (header::RETRY_AFTER, Some(s.to_string())),
                RetryAfter::HttpDate(d) => (
                    header::RETRY_AFTER,
                    Some(httpdate::fmt_http_date(SystemTime::now() + *d)),
                ),
                RetryAfter::Millis(ms) => (
                    header::HeaderName::from_static("retry-after-ms"),
                    Some(ms.to_string()),
                ),
            };
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                response.headers_mut().insert(name, value);
            }
            Some(response)
        }
        Fault::Status(code) => {
            let status = StatusCode::from_u16(*code)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(ApiError::for_status(status).render(instance))
        }
        Fault::HtmlBadGateway => {
            let mut response = (StatusCode::BAD_GATEWAY, BAD_GATEWAY_HTML).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            Some(response)
        }
        Fault::OutOfCredits => Some(ApiError::out_of_credits().render(instance)),
        Fault::AtCloudAgentCapacity { running_agents } => {
            Some(ApiError::at_cloud_agent_capacity(*running_agents).render(instance))
        }
        Fault::TruncatedJson => Some(json_200(TRUNCATED_JSON)),
        Fault::MismatchedBody => Some(json_200(MISMATCHED_JSON)),
        Fault::Latency(_)
        | Fault::ConnectionReset
        | Fault::TruncatedBody
        | Fault::EventStreamCut { .. }
        | Fault::EventStreamDelay(_)
        | Fault::EventStreamSilent => None,
    }
}

/// Re-sends `response` with its full `Content-Length` but only half of its body, then fails the
/// body so the server closes the connection.
pub(crate) async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let full = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let declared = full.len().max(64);
    let sent: Bytes = full.slice(..full.len() / 2);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    let stream = futures::stream::unfold(Some(sent), |step| async move {
        match step {
            Some(chunk) => Some((Ok(chunk), None)),
            None => {
                // Let the connection flush the partial body before failing it.
                tokio::time::sleep(Duration::from_millis(20)).await;
                Some((
                    Err(std::io::Error::other("body cut short by fault injection")),
                    None,
                ))
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(stream))
}
