//! When and how long to wait before retrying a request.
//!
//! Rules (the same as the official SDKs, except for non-idempotent requests):
//! - retried: 408, 409, 429, 5xx, connection failures and timeouts;
//! - never retried: an answer with `X-Warp-Error-Code: OUT_OF_CREDITS` (the account is out of
//!   credits: waiting does not fix it) or `AT_CLOUD_AGENT_CAPACITY` (the team's concurrency limit:
//!   it frees up only when one of its runs ends, minutes later, beyond any retry delay);
//! - a response header `x-should-retry: true|false` overrides the status rule, and so does the
//!   problem body's `retryable: false`; `retryable: true` makes any error status transient;
//! - requests that create something (`POST` other than the known idempotent actions) are retried
//!   only when the server certainly did not process them: the connection was never established,
//!   or the answer was 429 — so a run is never started twice;
//! - the delay is `retry-after-ms`, else `Retry-After` (seconds or an HTTP date) when it is
//!   between 0 and 60 s, else [`backoff`](crate::time::backoff):
//!   `min(0.5 s · 2^n, 8 s) · (1 − 0.25 · random)`; the client waits through its
//!   [`AsyncSleep`](crate::time::AsyncSleep).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};

use crate::types;

const MAX_SERVER_DELAY: Duration = Duration::from_secs(60);

/// The retry settings of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt.
    pub(crate) max_retries: u32,
}

/// Whether a request may be repeated after an answer was possibly produced.
/// Only POSTs create things; openapi.json marks the ones that do not (`x-oz-idempotent`), and
/// the generator lists the rest in `NOT_REPEATABLE_OPERATIONS`.
pub(crate) fn is_idempotent(method: &Method, operation_id: &str) -> bool {
    method != Method::POST || !crate::generated::NOT_REPEATABLE_OPERATIONS.contains(&operation_id)
}

/// What happened on one attempt, as far as retrying is concerned.
pub(crate) enum Outcome<'a> {
    /// An answer, with its problem body when it is an error answer.
    Response(StatusCode, &'a HeaderMap, Option<&'a types::Error>),
    /// No connection was established: the server never saw the request.
    ConnectFailed,
    /// The request may have reached the server (timeout, reset, body error).
    Interrupted,
}

impl RetryPolicy {
    pub(crate) fn new(max_retries: u32) -> Self {
        Self { max_retries }
    }

    /// The delay before the next attempt, or `None` when the outcome is final.
    /// `retry` counts the retries already made (0 after the first attempt).
    pub(crate) fn next_delay(
        &self,
        outcome: &Outcome<'_>,
        idempotent: bool,
        retry: u32,
    ) -> Option<Duration> {
        if retry >= self.max_retries || !should_retry(outcome, idempotent) {
            return None;
        }
        let server = match outcome {
            Outcome::Response(_, headers, _) => server_delay(headers, crate::time::system_now()),
            _ => None,
        };
        Some(server.unwrap_or_else(|| crate::time::backoff(retry)))
    }
}

fn should_retry(outcome: &Outcome<'_>, idempotent: bool) -> bool {
    match outcome {
        Outcome::ConnectFailed => true,
        Outcome::Interrupted => idempotent,
        Outcome::Response(status, headers, problem) => match verdict(*status, headers, *problem) {
            Verdict::Final => false,
            Verdict::Transient => idempotent,
            Verdict::Repeatable => true,
        },
    }
}

/// The response header naming the service's own error code (`OUT_OF_CREDITS`,
/// `AT_CLOUD_AGENT_CAPACITY`, ...).
pub(crate) const WARP_ERROR_CODE_HEADER: &str = "x-warp-error-code";
/// `X-Warp-Error-Code` of an account that is out of credits (with status 429).
pub(crate) const OUT_OF_CREDITS: &str = "OUT_OF_CREDITS";
/// `X-Warp-Error-Code` of a team at its cloud agent concurrency limit (any status).
pub(crate) const AT_CLOUD_AGENT_CAPACITY: &str = "AT_CLOUD_AGENT_CAPACITY";

/// The `X-Warp-Error-Code` of an answer, trimmed; `None` when absent, blank or not text.
pub(crate) fn warp_error_code(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(WARP_ERROR_CODE_HEADER)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|code| !code.is_empty())
}

/// Whether the answer's `X-Warp-Error-Code` is `code` (case aside).
pub(crate) fn has_warp_error_code(headers: &HeaderMap, code: &str) -> bool {
    warp_error_code(headers).is_some_and(|sent| sent.eq_ignore_ascii_case(code))
}

/// What an answer says about sending its request again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Sending it again cannot help now (or the answer is not an error).
    Final,
    /// It may succeed later, but the server may have acted on it: repeated only when the
    /// operation is idempotent.
    Transient,
    /// The server did not act on it (a 429, or the server's own `x-should-retry: true`): safe to
    /// repeat even a create.
    Repeatable,
}

/// The one decision behind both the retry hook and
/// [`Error::is_transient`](crate::Error::is_transient), so that they never disagree. In order:
/// non-error statuses are final; so are the service's `OUT_OF_CREDITS` and
/// `AT_CLOUD_AGENT_CAPACITY`, and the problem code `insufficient_credits`; then the `x-should-retry` header; then the problem's
/// `retryable: false`; then 429 (refused before any work); then `retryable: true` or a transient
/// status (408, 409, 5xx).
pub(crate) fn verdict(
    status: StatusCode,
    headers: &HeaderMap,
    problem: Option<&types::Error>,
) -> Verdict {
    // Only failures are retried, whatever the headers say: repeating a request that succeeded
    // could act twice (start a second run).
    if !status.is_client_error() && !status.is_server_error() {
        return Verdict::Final;
    }
    let out_of_credits = problem
        .and_then(|p| p.type_.as_deref())
        .and_then(crate::error::code_of_type)
        == Some(types::PlatformErrorCode::InsufficientCredits);
    if out_of_credits
        || has_warp_error_code(headers, OUT_OF_CREDITS)
        || has_warp_error_code(headers, AT_CLOUD_AGENT_CAPACITY)
    {
        return Verdict::Final;
    }
    match server_retry_override(headers) {
        Some(true) => return Verdict::Repeatable,
        Some(false) => return Verdict::Final,
        None => {}
    }
    let retryable = problem.and_then(|p| p.retryable);
    if retryable == Some(false) {
        return Verdict::Final;
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Verdict::Repeatable;
    }
    if retryable == Some(true) || is_transient_status(status) {
        Verdict::Transient
    } else {
        Verdict::Final
    }
}

/// The server's own verdict, `x-should-retry: true|false`, when it gives one.
pub(crate) fn server_retry_override(headers: &HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry")?.to_str().ok()? {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Statuses that describe a passing condition: 408, 409, 429 and every 5xx.
pub(crate) fn is_transient_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error()
}

/// The delay the server asked for, when it is a sensible one (0 < delay ≤ 60 s).
pub(crate) fn server_delay(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let delay = if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Duration::try_from_secs_f64(ms / 1000.0).ok()
    } else if let Some(value) = text(RETRY_AFTER.as_str()) {
        match value.parse::<f64>() {
            Ok(secs) => Duration::try_from_secs_f64(secs).ok(),
            Err(_) => httpdate::parse_http_date(value)
                .ok()
                .and_then(|at| at.duration_since(now).ok()),
        }
    } else {
        None
    };
    delay.filter(|d| !d.is_zero() && *d <= MAX_SERVER_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn server_delay_prefers_milliseconds_then_seconds_then_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let both = headers(&[("retry-after-ms", "1500"), ("retry-after", "9")]);
        assert_eq!(server_delay(&both, now), Some(Duration::from_millis(1500)));
        assert_eq!(
            server_delay(&headers(&[("retry-after", "2")]), now),
            Some(Duration::from_secs(2))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(5));
        assert_eq!(
            server_delay(&headers(&[("retry-after", &date)]), now),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn server_delays_outside_zero_to_sixty_seconds_are_ignored() {
        let now = SystemTime::now();
        for value in ["0", "61", "-1", "soon"] {
            assert_eq!(
                server_delay(&headers(&[("retry-after", value)]), now),
                None,
                "{value}"
            );
        }
    }

    #[test]
    fn statuses_and_overrides_decide_retries() {
        let none = HeaderMap::new();
        let retry = |status: u16, h: &HeaderMap, idempotent| {
            should_retry(
                &Outcome::Response(StatusCode::from_u16(status).unwrap(), h, None),
                idempotent,
            )
        };
        for status in [408, 409, 429, 500, 502, 503, 504] {
            assert!(retry(status, &none, true), "{status}");
        }
        for status in [400, 401, 403, 404, 422] {
            assert!(!retry(status, &none, true), "{status}");
        }
        assert!(!retry(503, &headers(&[("x-should-retry", "false")]), true));
        assert!(retry(400, &headers(&[("x-should-retry", "true")]), true));
        assert!(!retry(200, &headers(&[("x-should-retry", "true")]), true));
        // Creates: only when the server certainly did not act on the request.
        assert!(!retry(500, &none, false));
        assert!(!retry(409, &none, false));
        assert!(retry(429, &none, false));
        assert!(should_retry(&Outcome::ConnectFailed, false));
        assert!(!should_retry(&Outcome::Interrupted, false));
        assert!(should_retry(&Outcome::Interrupted, true));
    }

    #[test]
    fn the_problem_and_the_services_error_codes_decide_too() {
        let none = HeaderMap::new();
        let status = |code: u16| StatusCode::from_u16(code).unwrap();
        let not_retryable = types::Error {
            retryable: Some(false),
            ..Default::default()
        };
        let retryable = types::Error {
            retryable: Some(true),
            ..Default::default()
        };
        assert_eq!(
            verdict(status(503), &none, Some(&not_retryable)),
            Verdict::Final
        );
        assert_eq!(
            verdict(status(429), &none, Some(&not_retryable)),
            Verdict::Final
        );
        assert_eq!(
            verdict(status(400), &none, Some(&retryable)),
            Verdict::Transient
        );
        // The header is the server's explicit word and wins over the body.
        let go = headers(&[("x-should-retry", "true")]);
        assert_eq!(
            verdict(status(503), &go, Some(&not_retryable)),
            Verdict::Repeatable
        );
        for code in [
            "OUT_OF_CREDITS",
            "out_of_credits",
            " AT_CLOUD_AGENT_CAPACITY ",
        ] {
            let coded = headers(&[("x-warp-error-code", code), ("x-should-retry", "true")]);
            for s in [429, 403, 503] {
                assert_eq!(
                    verdict(status(s), &coded, Some(&retryable)),
                    Verdict::Final,
                    "{code} {s}"
                );
            }
        }
        let no_credits = types::Error {
            type_: Some("https://docs.warp.dev/errors/insufficient-credits".into()),
            ..Default::default()
        };
        assert_eq!(
            verdict(status(429), &none, Some(&no_credits)),
            Verdict::Final
        );
        let other = headers(&[("x-warp-error-code", "SOMETHING_ELSE")]);
        assert_eq!(verdict(status(429), &other, None), Verdict::Repeatable);
    }

    #[test]
    fn creates_are_the_non_idempotent_operations() {
        assert!(!is_idempotent(&Method::POST, "create_run"));
        assert!(!is_idempotent(&Method::POST, "report_agent_event"));
        assert!(is_idempotent(&Method::POST, "cancel_run"));
        assert!(is_idempotent(&Method::GET, "list_runs"));
        assert!(is_idempotent(&Method::DELETE, "delete_schedule"));
    }

    #[test]
    fn no_delay_once_retries_are_used_up() {
        let policy = RetryPolicy::new(2);
        let none = HeaderMap::new();
        let outcome = Outcome::Response(StatusCode::SERVICE_UNAVAILABLE, &none, None);
        assert!(policy.next_delay(&outcome, true, 1).is_some());
        assert!(policy.next_delay(&outcome, true, 2).is_none());
        assert!(RetryPolicy::new(0).next_delay(&outcome, true, 0).is_none());
    }
}
