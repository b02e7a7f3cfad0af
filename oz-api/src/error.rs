//! The error of every operation, [`Error`]: what happened, the questions callers ask of it
//! (which status, which problem, may it be retried, after how long), and its one line.
//!
//! Error answers (4xx/5xx) carry the API's problem body ([`types::Error`], RFC 7807 plus the
//! API's own members); answers that were not JSON arrive as a problem body describing what the
//! server sent, with its status and headers intact (see `error_body.rs`).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use progenitor_client::ResponseValue;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::{retry, types};

/// Response headers that carry the server's identifier of a request.
const REQUEST_ID_HEADERS: &[&str] = &["x-request-id", "x-amzn-requestid", "request-id"];

/// A failed operation: what every operation of [`Client`](crate::Client) returns.
///
/// The variant says what happened, from building the request to decoding the answer; the
/// methods answer what callers ask of any of them (status, problem, error code, whether to
/// try again and when, the ids to quote to support). It prints as one line: what `?` in `main`
/// shows is the status, the error code, the problem's message and the trace id — never a
/// headers map, a struct's `Debug` or a whole body, and never the API key.
///
/// ```no_run
/// use oz_api::types::PlatformErrorCode;
///
/// # async fn example(client: oz_api::Client) {
/// match client.get_run().run_id("run_1").send().await {
///     Ok(run) => println!("{}", run.state),
///     Err(err) if err.is_not_found() => println!("no such run"),
///     Err(err) if err.error_code() == Some(PlatformErrorCode::InsufficientCredits) => {
///         println!("out of credits")
///     }
///     Err(err) => {
///         println!("{err}");
///         if err.is_transient() {
///             let wait = err.retry_after().unwrap_or(std::time::Duration::from_secs(5));
///             println!("try again in {wait:?} (trace id {:?})", err.trace_id());
///         }
///     }
/// }
/// # }
/// ```
///
/// ```
/// let err = oz_api::Error::InvalidRequest("run_id is required".to_owned());
/// assert_eq!(err.to_string(), "invalid request: run_id is required");
/// assert_eq!(format!("{err:?}"), "InvalidRequest(invalid request: run_id is required)");
/// assert_eq!(err.status(), None);
/// ```
// The problem answer is the largest variant (its headers and problem body, as progenitor
// hands them over); errors are the cold path and the size is the one progenitor's error had.
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
pub enum Error {
    /// The request was not sent: it could not be built from the given parameters (a required
    /// member missing, an empty path parameter, a header value that cannot be sent).
    InvalidRequest(String),
    /// No answer because of the connection: it could not be established (the server never
    /// saw the request), or it broke off before an answer arrived.
    Connection(reqwest::Error),
    /// No answer within [`Config::timeout`](crate::Config::timeout). A time limit reached while
    /// the body of an answer was being read is [`ResponseBody`](Self::ResponseBody).
    Timeout(reqwest::Error),
    /// An answer arrived but its body could not be read to its end: it broke off, the time
    /// limit was reached, or it exceeded
    /// [`Config::max_response_bytes`](crate::Config::max_response_bytes).
    ResponseBody(reqwest::Error),
    /// A success answer whose body does not match its schema; the bytes are kept.
    Decode(Bytes, serde_json::Error),
    /// An error answer (every 4xx and 5xx), with its status, headers and problem body.
    Problem(ResponseValue<types::Error>),
    /// An answer the description does not list for this operation, such as a redirect or a
    /// `304 Not Modified`; check [`status`](Self::status).
    UnexpectedResponse(reqwest::Response),
}

impl Error {
    /// The HTTP status of the answer, for every error that has one: error answers, undocumented
    /// answers, and transport errors that happened after a status arrived.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::InvalidRequest(_) | Self::Decode(..) => None,
            Self::Connection(e) | Self::Timeout(e) | Self::ResponseBody(e) => e.status(),
            Self::Problem(response) => Some(response.status()),
            Self::UnexpectedResponse(response) => Some(response.status()),
        }
    }

    /// The headers of the answer, for an error answer or an undocumented one.
    pub fn response_headers(&self) -> Option<&HeaderMap> {
        match self {
            Self::Problem(response) => Some(response.headers()),
            Self::UnexpectedResponse(response) => Some(response.headers()),
            _ => None,
        }
    }

    /// The problem body of an error answer: `type`, `title`, `detail`, `error`, `retryable`,
    /// `trace_id` and the members specific to some errors (`provider`, `auth_url`, ...). All of
    /// its members are optional: legacy bodies carry only `error`.
    pub fn problem(&self) -> Option<&types::Error> {
        match self {
            Self::Problem(response) => Some(response.as_ref()),
            _ => None,
        }
    }

    /// The error code named by the last path segment of the problem `type` (hyphens read as
    /// underscores), e.g. `.../errors/resource-not-found/` → `ResourceNotFound`. Codes this
    /// version does not know are `PlatformErrorCode::Unknown`. `None` without a problem type
    /// or for `about:blank`.
    pub fn error_code(&self) -> Option<types::PlatformErrorCode> {
        self.problem()?.type_.as_deref().and_then(code_of_type)
    }

    /// The most specific human-readable message of the problem: `detail`, else `error`, else
    /// `title`, else `userDisplayMessage`.
    pub fn message(&self) -> Option<&str> {
        let problem = self.problem()?;
        [
            &problem.detail,
            &problem.error,
            &problem.title,
            &problem.user_display_message,
        ]
        .into_iter()
        .filter_map(|text| text.as_deref().map(str::trim))
        .find(|text| !text.is_empty())
    }

    /// Whether the resource does not exist (status 404 or code `resource_not_found`).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
            || self.error_code() == Some(types::PlatformErrorCode::ResourceNotFound)
    }

    /// Whether the server refused the request because of its rate (status 429), the account
    /// being out of credits aside (see [`is_out_of_credits`](Self::is_out_of_credits)).
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(StatusCode::TOO_MANY_REQUESTS) && !self.is_out_of_credits()
    }

    /// The service's own error code, from the `X-Warp-Error-Code` response header
    /// (`OUT_OF_CREDITS`, `AT_CLOUD_AGENT_CAPACITY`, ...), as sent.
    pub fn warp_error_code(&self) -> Option<&str> {
        retry::warp_error_code(self.response_headers()?)
    }

    /// Whether the account is out of credits: `X-Warp-Error-Code: OUT_OF_CREDITS` (on a 429),
    /// or the problem code `insufficient_credits`. Waiting does not help, so the client never
    /// retries it and [`is_transient`](Self::is_transient) is false; the problem's
    /// `user_display_message` may say what to do.
    ///
    /// ```no_run
    /// # async fn example(client: oz_api::Client, request: oz_api::types::RunAgentRequest) {
    /// match client.create_run().body(request).send().await {
    ///     Err(err) if err.is_out_of_credits() => eprintln!("add credits: {err}"),
    ///     Err(err) if err.is_at_capacity() => {
    ///         eprintln!("{} runs still running; start this one when one ends", err.running_agents().unwrap_or(0))
    ///     }
    ///     other => { let _ = other; }
    /// }
    /// # }
    /// ```
    pub fn is_out_of_credits(&self) -> bool {
        self.response_headers()
            .is_some_and(|h| retry::has_warp_error_code(h, retry::OUT_OF_CREDITS))
            || self.error_code() == Some(types::PlatformErrorCode::InsufficientCredits)
    }

    /// Whether the team is at its cloud agent concurrency limit
    /// (`X-Warp-Error-Code: AT_CLOUD_AGENT_CAPACITY`, with any status). Capacity frees up only
    /// when one of the team's runs ends, typically minutes later, so the client does not retry
    /// it and [`is_transient`](Self::is_transient) is false: wait for one of
    /// [`running_agents`](Self::running_agents) to finish (or poll), then start the run again.
    pub fn is_at_capacity(&self) -> bool {
        self.response_headers()
            .is_some_and(|h| retry::has_warp_error_code(h, retry::AT_CLOUD_AGENT_CAPACITY))
    }

    /// How many of the team's cloud agent runs were running when the request was refused for
    /// capacity (the problem's `running_agents`).
    pub fn running_agents(&self) -> Option<u64> {
        self.problem()?.running_agents
    }

    /// For an operation that must not be repeated (a create, a follow-up, a message: see
    /// [`NOT_REPEATABLE_OPERATIONS`](crate::NOT_REPEATABLE_OPERATIONS)), its operation id
    /// when its answer was lost after the request may have reached the server (a timeout, a
    /// reset, an answer that broke off or exceeded
    /// [`Config::max_response_bytes`](crate::Config::max_response_bytes)): it may have taken
    /// effect, e.g. a run may exist. The client does not repeat such a request; the error's
    /// one line says how to find out.
    pub fn unknown_outcome(&self) -> Option<&str> {
        match self {
            Self::Connection(err) | Self::Timeout(err) | Self::ResponseBody(err) => {
                in_chain::<OutcomeUnknown>(err).map(|marker| marker.operation)
            }
            _ => None,
        }
    }

    /// Whether the same request may succeed later. For an error answer, the same decision as
    /// the client's retries: never when [out of credits](Self::is_out_of_credits) or
    /// [at capacity](Self::is_at_capacity); else an `x-should-retry` header; else the
    /// problem's `retryable: false`; else the status (408, 409, 429 and 5xx) or
    /// `retryable: true`. Connection failures, timeouts and interrupted transfers are
    /// transient; invalid requests, undecodable answers and answers over
    /// [`Config::max_response_bytes`](crate::Config::max_response_bytes) are not.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Problem(response) => {
                retry::verdict(
                    response.status(),
                    response.headers(),
                    Some(response.as_ref()),
                ) != retry::Verdict::Final
            }
            Self::UnexpectedResponse(response) => {
                retry::verdict(response.status(), response.headers(), None) != retry::Verdict::Final
            }
            Self::Connection(_) | Self::Timeout(_) => true,
            // reqwest reports a body that broke off while it was read as a decode error; the
            // JSON itself is decoded later and fails as `Decode`. An answer over the size limit
            // will be as large the next time.
            Self::ResponseBody(err) => {
                (err.is_timeout() || err.is_body() || err.is_decode())
                    && in_chain::<TooLarge>(err).is_none()
            }
            Self::InvalidRequest(_) | Self::Decode(..) => false,
        }
    }

    /// How long the server asked the caller to wait (`retry-after-ms`, else `Retry-After` in
    /// seconds or as an HTTP date). Values outside (0, 60 s] are ignored, as in the client's
    /// own retry policy.
    pub fn retry_after(&self) -> Option<Duration> {
        retry::server_delay(self.response_headers()?, crate::time::system_now())
    }

    /// The trace id to quote to support: the problem's `trace_id`, else a trace header
    /// (`x-trace-id`, `x-cloud-trace-context`, `traceparent`).
    pub fn trace_id(&self) -> Option<&str> {
        let from_problem = self
            .problem()
            .and_then(|p| p.trace_id.as_deref())
            .map(str::trim)
            .filter(|id| !id.is_empty());
        from_problem.or_else(|| {
            let headers = self.response_headers()?;
            let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
            header("x-trace-id")
                // `TRACE_ID/SPAN_ID;o=OPTIONS`
                .or_else(|| header("x-cloud-trace-context").and_then(|v| v.split('/').next()))
                // `VERSION-TRACE_ID-PARENT_ID-FLAGS`
                .or_else(|| header("traceparent").and_then(|v| v.split('-').nth(1)))
                .map(str::trim)
                .filter(|id| !id.is_empty())
        })
    }

    /// The server's request id (`x-request-id` and similar headers).
    pub fn request_id(&self) -> Option<&str> {
        request_id_in(self.response_headers()?)
    }

    fn variant_name(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "InvalidRequest",
            Self::Connection(_) => "Connection",
            Self::Timeout(_) => "Timeout",
            Self::ResponseBody(_) => "ResponseBody",
            Self::Decode(..) => "Decode",
            Self::Problem(_) => "Problem",
            Self::UnexpectedResponse(_) => "UnexpectedResponse",
        }
    }
}

/// progenitor's error, as the generated code and the request hooks produce it, sorted into what
/// happened.
impl From<progenitor_client::Error<types::Error>> for Error {
    fn from(err: progenitor_client::Error<types::Error>) -> Self {
        use progenitor_client::Error as P;
        match err {
            P::InvalidRequest(reason) | P::Custom(reason) => Self::InvalidRequest(reason),
            P::CommunicationError(e) | P::InvalidUpgrade(e) => Self::from(e),
            P::ErrorResponse(response) => Self::Problem(response),
            P::ResponseBodyError(e) => Self::ResponseBody(e),
            P::InvalidResponsePayload(bytes, e) => Self::Decode(bytes, e),
            P::UnexpectedResponse(response) => Self::UnexpectedResponse(response),
        }
    }
}

/// A request that got no answer: a time limit, a connection failure, or a request reqwest
/// could not build.
impl From<reqwest::Error> for Error {
    fn from(err: reqwest::Error) -> Self {
        if err.is_builder() {
            let reason = root_cause(&err).unwrap_or_else(|| "it could not be built".to_owned());
            Self::InvalidRequest(reason)
        } else if err.is_timeout() {
            Self::Timeout(err)
        } else {
            Self::Connection(err)
        }
    }
}

impl From<reqwest::header::InvalidHeaderValue> for Error {
    fn from(err: reqwest::header::InvalidHeaderValue) -> Self {
        Self::InvalidRequest(err.to_string())
    }
}

/// One line for logs and users: status, error code, message (at most 200 characters) and
/// trace id when known. Never contains request headers (so never the API key) nor URLs.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Problem(_) | Self::UnexpectedResponse(_) => {
                let status = self.status().unwrap_or_default();
                write!(f, "{status}")?;
                if let Some(code) = self.error_code() {
                    // An unknown code is the server's text: keep it on one line too.
                    write!(f, " {}", one_line(&code.to_string()))?;
                } else if let Some(code) = self.warp_error_code() {
                    write!(f, " {}", excerpt(&one_line(code)))?;
                }
                if let Some(message) = self.message() {
                    write!(f, ": {}", excerpt(&one_line(message)))?;
                } else if matches!(self, Self::UnexpectedResponse(_)) {
                    f.write_str(": undocumented answer")?;
                }
                if self.is_out_of_credits() {
                    f.write_str(" (the account is out of credits: waiting will not help)")?;
                } else if self.is_at_capacity() {
                    f.write_str(" (the team is at its cloud agent capacity")?;
                    if let Some(running) = self.running_agents() {
                        write!(f, " with {running} runs running")?;
                    }
                    f.write_str(": it frees up when one of them ends)")?;
                }
            }
            Self::Connection(inner) | Self::Timeout(inner) => {
                if crate::hooks::is_connect(inner) {
                    f.write_str("could not connect to ")?;
                    match inner.url().and_then(host_and_port) {
                        Some(host) => f.write_str(&one_line(&host))?,
                        None => f.write_str("the server")?,
                    }
                } else if matches!(self, Self::Timeout(_)) {
                    f.write_str("the request timed out")?;
                } else {
                    f.write_str("the request failed in transit")?;
                }
                write_cause_and_advice(f, inner)?;
            }
            Self::ResponseBody(inner) => {
                f.write_str("the answer could not be read")?;
                write_cause_and_advice(f, inner)?;
            }
            Self::Decode(bytes, inner) => {
                write!(
                    f,
                    "the answer ({} bytes) could not be decoded: {}",
                    bytes.len(),
                    one_line(&inner.to_string())
                )?;
            }
            Self::InvalidRequest(reason) => write!(f, "invalid request: {}", one_line(reason))?,
        }
        if let Some(trace) = self.trace_id() {
            write!(f, " (trace id {})", one_line(trace))?;
        } else if let Some(request) = self.request_id() {
            write!(f, " (request id {})", one_line(request))?;
        }
        Ok(())
    }
}

/// The variant and the one line of [`Display`](fmt::Display): what `?` in `main` prints
/// (`Error: Problem(404 Not Found resource_not_found: ...)`), without headers (cookies, signed
/// `Location`s), bodies or nested structs. The details stay reachable through the variants and
/// the methods.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({self})", self.variant_name())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connection(e) | Self::Timeout(e) | Self::ResponseBody(e) => Some(e),
            Self::Decode(_, e) => Some(e),
            _ => None,
        }
    }
}

/// `: <root cause>` of a transport error, then what to do when the outcome is unknown.
fn write_cause_and_advice(f: &mut fmt::Formatter<'_>, inner: &reqwest::Error) -> fmt::Result {
    if let Some(cause) = root_cause(inner) {
        write!(f, ": {}", one_line(&cause))?;
    }
    if let Some(marker) = in_chain::<OutcomeUnknown>(inner) {
        write!(f, "; {}", marker.advice())?;
    }
    Ok(())
}

/// The server's identifier of a request, from the first response header that carries one.
pub(crate) fn request_id_in(headers: &HeaderMap) -> Option<&str> {
    REQUEST_ID_HEADERS
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty())
}

/// The error code named by a problem `type` reference, absolute or relative:
/// `https://docs.warp.dev/.../errors/invalid-request` and `/.../errors/invalid-request/` both
/// name `invalid_request`.
pub(crate) fn code_of_type(type_: &str) -> Option<types::PlatformErrorCode> {
    let reference = type_.split(['?', '#']).next()?.trim().trim_end_matches('/');
    if reference.is_empty() || reference.eq_ignore_ascii_case("about:blank") {
        return None;
    }
    let segment = reference.rsplit('/').next()?;
    if segment.is_empty() || segment.contains(':') {
        return None;
    }
    let code = segment.replace('-', "_").to_ascii_lowercase();
    code.parse().ok()
}

// Causes the request hook puts into the source chain of a transport error, where the
// methods and the one line above find them.

/// The body of an answer the client decodes was longer than
/// [`Config::max_response_bytes`](crate::Config::max_response_bytes); reading stopped there.
#[derive(Debug)]
pub(crate) struct TooLarge {
    pub(crate) limit: u64,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1024 * 1024;
        let limit = self.limit;
        if limit >= MIB && limit.is_multiple_of(MIB) {
            write!(f, "the answer exceeded {} MiB ({limit} bytes)", limit / MIB)?;
        } else {
            write!(f, "the answer exceeded {limit} bytes")?;
        }
        f.write_str(", the limit of Config::max_response_bytes")
    }
}

impl std::error::Error for TooLarge {}

/// A request of an operation that must not be repeated (see
/// [`NOT_REPEATABLE_OPERATIONS`](crate::NOT_REPEATABLE_OPERATIONS)) whose answer was lost after
/// the request may have reached the server, or whose answer was too large to read: it may have
/// taken effect. reqwest's errors carry no extensions, so the hook puts this in the error's
/// source chain, where the classifier and the error's one line find it; the original error (a
/// reqwest error or [`TooLarge`]) is its source.
pub(crate) struct OutcomeUnknown {
    pub(crate) operation: &'static str,
    /// The status of the answer whose body broke off or was too large, when the headers had
    /// arrived: the server did act then.
    pub(crate) answered: Option<StatusCode>,
    pub(crate) source: Box<dyn std::error::Error + Send + Sync>,
}

impl OutcomeUnknown {
    /// What may have happened and how to find out, e.g. "the run may have been created:
    /// list_runs with created_after ... finds it".
    pub(crate) fn advice(&self) -> String {
        let (thing, created, find) = match self.operation {
            "create_run" | "run_agent" => (
                "the run",
                "created",
                "list_runs with created_after set to a time before the call finds it",
            ),
            "create_factory_run" => (
                "the factory run",
                "started",
                "list_runs with created_after set to a time before the call finds it",
            ),
            "create_schedule" => ("the schedule", "created", "list_schedules shows it"),
            "create_agent_identity" => (
                "the agent identity",
                "created",
                "list_agent_identities shows it",
            ),
            "create_factory_task" => ("the task", "created", "list_factory_tasks shows it"),
            "submit_run_followup" | "submit_conversation_followup" => (
                "the follow-up",
                "delivered",
                "get_run shows whether a new execution started",
            ),
            "send_agent_message" => ("the message", "sent", "list_agent_messages shows it"),
            "interrupt_run" | "interrupt_conversation" => (
                "the interrupt",
                "delivered",
                "get_run shows the run's state",
            ),
            _ => (
                "the request",
                "carried out",
                "check before sending it again",
            ),
        };
        match self.answered {
            Some(status) => format!(
                "{} answered {} but its answer {}: {thing} was {created}; {find}",
                self.operation,
                status.as_u16(),
                if self.source.is::<TooLarge>() {
                    "exceeded the limit"
                } else {
                    "broke off"
                }
            ),
            None => format!(
                "{} got no answer: {thing} may have been {created}; {find}",
                self.operation
            ),
        }
    }
}

impl fmt::Display for OutcomeUnknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.advice())
    }
}

impl fmt::Debug for OutcomeUnknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutcomeUnknown")
            .field("operation", &self.operation)
            .field("answered", &self.answered.map(|s| s.as_u16()))
            .finish_non_exhaustive()
    }
}

impl std::error::Error for OutcomeUnknown {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// The first error of type `T` in the source chain of `err` (itself excluded).
pub(crate) fn in_chain<T: std::error::Error + 'static>(err: &reqwest::Error) -> Option<&T> {
    let mut cause = std::error::Error::source(err);
    while let Some(current) = cause {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        cause = current.source();
    }
    None
}

/// `host:port` of the URL a request went to: the path and query are left out (they may carry
/// identifiers or signatures).
fn host_and_port(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str().filter(|host| !host.is_empty())?;
    Some(match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// The innermost cause of a transport error, which names what went wrong (connection
/// refused, DNS failure) without the URL that reqwest's own message carries.
fn root_cause(err: &reqwest::Error) -> Option<String> {
    let mut cause: &dyn std::error::Error = std::error::Error::source(err)?;
    while let Some(next) = cause.source() {
        cause = next;
    }
    Some(cause.to_string())
}

/// At most `EXCERPT_CHARS` (200) characters of `text`, marked when cut.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(crate::error_body::EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Whether a character of a server's text must not reach a terminal or log line as it is:
/// control characters (terminal escapes) and the bidirectional controls that reorder what a
/// reader sees (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C).
pub(crate) fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        )
}

/// The text with line breaks, other whitespace runs, control characters (terminal escapes)
/// and bidirectional controls collapsed into single spaces.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || is_unsafe_char(c))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::PlatformErrorCode;

    #[test]
    fn codes_come_from_the_last_segment_of_absolute_or_relative_types() {
        let cases = [
            (
                "https://docs.warp.dev/reference/api-and-sdk/troubleshooting/errors/invalid-request",
                Some(PlatformErrorCode::InvalidRequest),
            ),
            (
                "/reference/api-and-sdk/troubleshooting/errors/resource-not-found/",
                Some(PlatformErrorCode::ResourceNotFound),
            ),
            (
                "https://example.com/errors/insufficient_credits?lang=en#top",
                Some(PlatformErrorCode::InsufficientCredits),
            ),
            (
                "/errors/agent-process-failed/",
                Some(PlatformErrorCode::Unknown("agent_process_failed".into())),
            ),
            ("about:blank", None),
            ("", None),
            ("/", None),
            ("urn:problem", None),
        ];
        for (type_, expected) in cases {
            assert_eq!(code_of_type(type_), expected, "{type_:?}");
        }
    }

    #[test]
    fn transient_statuses_match_the_retry_policy() {
        for status in [408, 409, 429, 500, 502, 503, 504] {
            assert!(retry::is_transient_status(
                StatusCode::from_u16(status).unwrap()
            ));
        }
        for status in [400, 401, 403, 404, 422] {
            assert!(!retry::is_transient_status(
                StatusCode::from_u16(status).unwrap()
            ));
        }
    }

    #[test]
    fn messages_are_flattened_to_one_line() {
        assert_eq!(one_line("  a\n\tb  c\r\n"), "a b c");
        assert_eq!(one_line("red\u{1b}[31m\u{0}x"), "red [31m x");
        assert_eq!(
            one_line("user\u{202E}gnp.exe\u{2066}a\u{2069}\u{200F}b\u{061C}c\u{200E}"),
            "user gnp.exe a b c"
        );
    }
}
