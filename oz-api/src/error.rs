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
    /// `title`.
    fn message(&self) -> Option<&str>;

    /// Whether the resource does not exist (status 404 or code `resource_not_found`).
    fn is_not_found(&self) -> bool;

    /// Whether the server refused the request because of its rate (status 429).
    fn is_rate_limited(&self) -> bool;

    /// Whether the same request may succeed later. For an error answer: the problem's
    /// `retryable` member, else an `x-should-retry` header, else the status (408, 409, 429 and
    /// 5xx). Connection failures, timeouts and interrupted transfers are transient; invalid
    /// requests and undecodable answers are not.
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
        [&problem.detail, &problem.error, &problem.title]
            .into_iter()
            .filter_map(|text| text.as_deref().map(str::trim))
            .find(|text| !text.is_empty())
    }

    fn is_not_found(&self) -> bool {
        self.http_status() == Some(StatusCode::NOT_FOUND)
            || self.error_code() == Some(types::PlatformErrorCode::ResourceNotFound)
    }

    fn is_rate_limited(&self) -> bool {
        self.http_status() == Some(StatusCode::TOO_MANY_REQUESTS)
    }

    fn is_transient(&self) -> bool {
        match self {
            Self::ErrorResponse(_) | Self::UnexpectedResponse(_) => {
                if let Some(retryable) = self.problem().and_then(|p| p.retryable) {
                    return retryable;
                }
                self.response_headers()
                    .and_then(retry::server_retry_override)
                    .unwrap_or_else(|| self.http_status().is_some_and(retry::is_transient_status))
            }
            Self::CommunicationError(err) => !err.is_builder(),
            // reqwest reports a body that broke off while it was read as a decode error; the
            // JSON itself is decoded later and fails as `InvalidResponsePayload`.
            Self::ResponseBodyError(err) => err.is_timeout() || err.is_body() || err.is_decode(),
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
fn code_of_type(type_: &str) -> Option<types::PlatformErrorCode> {
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
                }
                if let Some(message) = err.message() {
                    write!(f, ": {}", excerpt(&one_line(message)))?;
                } else if matches!(err, ApiError::UnexpectedResponse(_)) {
                    f.write_str(": undocumented answer")?;
                }
            }
            ApiError::CommunicationError(inner) => {
                let what = if inner.is_connect() {
                    "could not connect to the server"
                } else if inner.is_timeout() {
                    "the request timed out"
                } else {
                    "the request failed in transit"
                };
                f.write_str(what)?;
                if let Some(cause) = root_cause(inner) {
                    write!(f, ": {}", one_line(&cause))?;
                }
            }
            ApiError::ResponseBodyError(inner) | ApiError::InvalidUpgrade(inner) => {
                f.write_str("the answer could not be read")?;
                if let Some(cause) = root_cause(inner) {
                    write!(f, ": {}", one_line(&cause))?;
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

/// The innermost cause of a transport error, which names what went wrong (connection
/// refused, DNS failure) without the URL that reqwest's own message carries.
fn root_cause(err: &reqwest::Error) -> Option<String> {
    let mut cause: &dyn std::error::Error = std::error::Error::source(err)?;
    while let Some(next) = cause.source() {
        cause = next;
    }
    Some(cause.to_string())
}

/// The text with line breaks, other whitespace runs and control characters (terminal escapes)
/// collapsed into single spaces.
/// At most `EXCERPT_CHARS` (200) characters of `text`, marked when cut.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(crate::error_body::EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
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
    }
}
