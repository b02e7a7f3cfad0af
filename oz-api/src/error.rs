//! Questions callers ask about a failed request: which status, which problem, may it be
//! retried, and after how long.
//!
//! Every operation fails with [`ApiError`] (`oz_api::Error<types::Error>`: progenitor's variants,
//! displayed as one line). Rather than a second error hierarchy, [`ApiErrorExt`] adds
//! classification methods to it. Error answers (4xx/5xx) carry the API's problem body ([`types::Error`], RFC 7807
//! plus the API's own members); answers that were not JSON arrive as a problem body describing
//! what the server sent, with its status and headers intact.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::client_error::{OutcomeUnknown, TooLarge, in_chain};
use crate::{retry, types};

/// The error of every operation of [`Client`](crate::Client).
pub type ApiError = crate::Error<types::Error>;

/// Response headers that carry the server's identifier of a request.
const REQUEST_ID_HEADERS: &[&str] = &["x-request-id", "x-amzn-requestid", "request-id"];

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::ApiError {}
}

/// Classification helpers for [`ApiError`].
///
/// The trait is sealed: it is implemented for [`ApiError`] only, so methods can be added
/// without breaking anyone.
///
/// ```no_run
/// use oz_api::ApiErrorExt;
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
///         println!("{}", err.summary());
///         if err.is_transient() {
///             let wait = err.retry_after().unwrap_or(std::time::Duration::from_secs(5));
///             println!("try again in {wait:?} (trace id {:?})", err.trace_id());
///         }
///     }
/// }
/// # }
/// ```
pub trait ApiErrorExt: sealed::Sealed {
    /// The HTTP status of the answer, for every error that has one: documented error answers,
    /// undocumented answers, and transport errors that happened after a status arrived.
    fn http_status(&self) -> Option<StatusCode>;

    /// The headers of the error answer, when there was one.
    fn response_headers(&self) -> Option<&HeaderMap>;

    /// The problem body of an error answer: `type`, `title`, `detail`, `error`, `retryable`,
    /// `trace_id` and the members specific to some errors (`provider`, `auth_url`, ...). All of
    /// its members are optional: legacy bodies carry only `error`.
    fn problem(&self) -> Option<&types::Error>;

    /// The error code named by the last path segment of the problem `type` (hyphens read as
    /// underscores), e.g. `.../errors/resource-not-found/` → `ResourceNotFound`. Codes this
    /// version does not know are `PlatformErrorCode::Unknown`. `None` without a problem type
    /// or for `about:blank`.
    fn error_code(&self) -> Option<types::PlatformErrorCode>;

    /// The most specific human-readable message of the problem: `detail`, else `error`, else
    /// `title`, else `userDisplayMessage`.
    fn message(&self) -> Option<&str>;

    /// Whether the resource does not exist (status 404 or code `resource_not_found`).
    fn is_not_found(&self) -> bool;

    /// Whether the server refused the request because of its rate (status 429), the account
    /// being out of credits aside (see [`is_out_of_credits`](Self::is_out_of_credits)).
    fn is_rate_limited(&self) -> bool;

    /// The service's own error code, from the `X-Warp-Error-Code` response header
    /// (`OUT_OF_CREDITS`, `AT_CLOUD_AGENT_CAPACITY`, ...), as sent.
    fn warp_error_code(&self) -> Option<&str>;

    /// Whether the account is out of credits: `X-Warp-Error-Code: OUT_OF_CREDITS` (on a 429),
    /// or the problem code `insufficient_credits`. Waiting does not help, so the client never
    /// retries it and [`is_transient`](Self::is_transient) is false; the problem's
    /// `user_display_message` may say what to do.
    ///
    /// ```no_run
    /// use oz_api::ApiErrorExt;
    ///
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
    fn is_out_of_credits(&self) -> bool;

    /// Whether the team is at its cloud agent concurrency limit
    /// (`X-Warp-Error-Code: AT_CLOUD_AGENT_CAPACITY`, with any status). Capacity frees up only
    /// when one of the team's runs ends, typically minutes later, so the client does not retry
    /// it and [`is_transient`](Self::is_transient) is false: wait for one of
    /// [`running_agents`](Self::running_agents) to finish (or poll), then start the run again.
    fn is_at_capacity(&self) -> bool;

    /// How many of the team's cloud agent runs were running when the request was refused for
    /// capacity (the problem's `running_agents`).
    fn running_agents(&self) -> Option<u64>;

    /// For an operation that must not be repeated (a create, a follow-up, a message: see
    /// [`NOT_REPEATABLE_OPERATIONS`](crate::NOT_REPEATABLE_OPERATIONS)), its operation id
    /// when its answer was lost after the request may have reached the server (a timeout, a
    /// reset, an answer that broke off or exceeded
    /// [`Config::max_response_bytes`](crate::Config::max_response_bytes)): it may have taken
    /// effect, e.g. a run may exist. The
    /// client does not repeat such a request; the error's one line says how to find out.
    fn unknown_outcome(&self) -> Option<&str>;

    /// Whether the same request may succeed later. For an error answer, the same decision as
    /// the client's retries: never when [out of credits](Self::is_out_of_credits) or
    /// [at capacity](Self::is_at_capacity); else an `x-should-retry` header; else the problem's `retryable: false`; else the status (408,
    /// 409, 429 and 5xx) or `retryable: true`. Connection failures, timeouts and interrupted
    /// transfers are transient; invalid requests, undecodable answers and answers over
    /// [`Config::max_response_bytes`](crate::Config::max_response_bytes) are not.
    ///
    /// The generated error has an inherent `is_retryable` with a narrower status list (no 409,
    /// no 500, no problem body); inherent methods win method resolution, hence this name.
    fn is_transient(&self) -> bool;

    /// How long the server asked the caller to wait (`retry-after-ms`, else `Retry-After` in
    /// seconds or as an HTTP date). Values outside (0, 60 s] are ignored, as in the client's
    /// own retry policy.
    fn retry_after(&self) -> Option<Duration>;

    /// The trace id to quote to support: the problem's `trace_id`, else a trace header
    /// (`x-trace-id`, `x-cloud-trace-context`, `traceparent`).
    fn trace_id(&self) -> Option<&str>;

    /// The server's request id (`x-request-id` and similar headers).
    fn request_id(&self) -> Option<&str>;

    /// A one-line description for logs and users: status, error code, message (at most 200
    /// characters) and trace id when known. Never contains request headers (so never the API
    /// key) nor URLs. The error's own `Display` prints the same line.
    fn summary(&self) -> ErrorSummary<'_>;
}

impl ApiErrorExt for ApiError {
    fn http_status(&self) -> Option<StatusCode> {
        self.status()
    }

    fn response_headers(&self) -> Option<&HeaderMap> {
        match self {
            Self::ErrorResponse(response) => Some(response.headers()),
            Self::UnexpectedResponse(response) => Some(response.headers()),
            _ => None,
        }
    }

    fn problem(&self) -> Option<&types::Error> {
        match self {
            Self::ErrorResponse(response) => Some(response.as_ref()),
            _ => None,
        }
    }

    fn error_code(&self) -> Option<types::PlatformErrorCode> {
        self.problem()?.type_.as_deref().and_then(code_of_type)
    }

    fn message(&self) -> Option<&str> {
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

    fn is_not_found(&self) -> bool {
        self.http_status() == Some(StatusCode::NOT_FOUND)
            || self.error_code() == Some(types::PlatformErrorCode::ResourceNotFound)
    }

    fn is_rate_limited(&self) -> bool {
        self.http_status() == Some(StatusCode::TOO_MANY_REQUESTS) && !self.is_out_of_credits()
    }

    fn warp_error_code(&self) -> Option<&str> {
        retry::warp_error_code(self.response_headers()?)
    }

    fn is_out_of_credits(&self) -> bool {
        self.response_headers()
            .is_some_and(|h| retry::has_warp_error_code(h, retry::OUT_OF_CREDITS))
            || self.error_code() == Some(types::PlatformErrorCode::InsufficientCredits)
    }

    fn is_at_capacity(&self) -> bool {
        self.response_headers()
            .is_some_and(|h| retry::has_warp_error_code(h, retry::AT_CLOUD_AGENT_CAPACITY))
    }

    fn running_agents(&self) -> Option<u64> {
        self.problem()?.running_agents
    }

    fn unknown_outcome(&self) -> Option<&str> {
        match self {
            Self::CommunicationError(err) | Self::ResponseBodyError(err) => {
                in_chain::<OutcomeUnknown>(err).map(|marker| marker.operation)
            }
            _ => None,
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            Self::ErrorResponse(response) => {
                retry::verdict(
                    response.status(),
                    response.headers(),
                    Some(response.as_ref()),
                ) != retry::Verdict::Final
            }
            Self::UnexpectedResponse(response) => {
                retry::verdict(response.status(), response.headers(), None) != retry::Verdict::Final
            }
            Self::CommunicationError(err) => !err.is_builder(),
            // reqwest reports a body that broke off while it was read as a decode error; the
            // JSON itself is decoded later and fails as `InvalidResponsePayload`. An answer
            // over the size limit will be as large the next time.
            Self::ResponseBodyError(err) => {
                (err.is_timeout() || err.is_body() || err.is_decode())
                    && in_chain::<TooLarge>(err).is_none()
            }
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        retry::server_delay(self.response_headers()?, SystemTime::now())
    }

    fn trace_id(&self) -> Option<&str> {
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

    fn request_id(&self) -> Option<&str> {
        request_id_in(self.response_headers()?)
    }

    fn summary(&self) -> ErrorSummary<'_> {
        ErrorSummary(self)
    }
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

/// One line describing an [`ApiError`]; see [`ApiErrorExt::summary`].
pub struct ErrorSummary<'a>(&'a ApiError);

impl fmt::Display for ErrorSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let err = self.0;
        match err {
            ApiError::ErrorResponse(_) | ApiError::UnexpectedResponse(_) => {
                let status = err.http_status().unwrap_or_default();
                write!(f, "{status}")?;
                if let Some(code) = err.error_code() {
                    // An unknown code is the server's text: keep it on one line too.
                    write!(f, " {}", one_line(&code.to_string()))?;
                } else if let Some(code) = err.warp_error_code() {
                    write!(f, " {}", excerpt(&one_line(code)))?;
                }
                if let Some(message) = err.message() {
                    write!(f, ": {}", excerpt(&one_line(message)))?;
                } else if matches!(err, ApiError::UnexpectedResponse(_)) {
                    f.write_str(": undocumented answer")?;
                }
                if err.is_out_of_credits() {
                    f.write_str(" (the account is out of credits: waiting will not help)")?;
                } else if err.is_at_capacity() {
                    f.write_str(" (the team is at its cloud agent capacity")?;
                    if let Some(running) = err.running_agents() {
                        write!(f, " with {running} runs running")?;
                    }
                    f.write_str(": it frees up when one of them ends)")?;
                }
            }
            ApiError::CommunicationError(inner) => {
                if inner.is_connect() {
                    f.write_str("could not connect to ")?;
                    match inner.url().and_then(host_and_port) {
                        Some(host) => f.write_str(&one_line(&host))?,
                        None => f.write_str("the server")?,
                    }
                } else if inner.is_timeout() {
                    f.write_str("the request timed out")?;
                } else {
                    f.write_str("the request failed in transit")?;
                }
                if let Some(cause) = root_cause(inner) {
                    write!(f, ": {}", one_line(&cause))?;
                }
                if let Some(marker) = in_chain::<OutcomeUnknown>(inner) {
                    write!(f, "; {}", marker.advice())?;
                }
            }
            ApiError::ResponseBodyError(inner) | ApiError::InvalidUpgrade(inner) => {
                f.write_str("the answer could not be read")?;
                if let Some(cause) = root_cause(inner) {
                    write!(f, ": {}", one_line(&cause))?;
                }
                if let Some(marker) = in_chain::<OutcomeUnknown>(inner) {
                    write!(f, "; {}", marker.advice())?;
                }
            }
            ApiError::InvalidResponsePayload(bytes, inner) => {
                write!(
                    f,
                    "the answer ({} bytes) could not be decoded: {}",
                    bytes.len(),
                    one_line(&inner.to_string())
                )?;
            }
            ApiError::InvalidRequest(reason) => write!(f, "invalid request: {}", one_line(reason))?,
            ApiError::Custom(reason) => write!(f, "{}", one_line(reason))?,
        }
        if let Some(trace) = err.trace_id() {
            write!(f, " (trace id {})", one_line(trace))?;
        } else if let Some(request) = err.request_id() {
            write!(f, " (request id {})", one_line(request))?;
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
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
