//! Error answers: RFC 7807 problem details following the `Error` schema of openapi.json.
//!
//! Handlers return [`ApiError`]; its `IntoResponse` only stores it in the response extensions and
//! the request pipeline renders the body, because only the pipeline knows the request path that
//! goes into `instance`.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const PROBLEM_TYPE_BASE: &str =
    "https://docs.warp.dev/reference/api-and-sdk/troubleshooting/errors/";

/// The header in which the service states whether a request may be retried; the official
/// clients obey it before looking at the status.
const SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");

/// The header with which the service refines some errors (`OUT_OF_CREDITS`,
/// `AT_CLOUD_AGENT_CAPACITY`).
const WARP_ERROR_CODE: HeaderName = HeaderName::from_static("x-warp-error-code");

/// An error answer of the API.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) title: &'static str,
    pub(crate) detail: Option<String>,
    pub(crate) retryable: bool,
    /// The value of `X-Warp-Error-Code`, for the errors that have one.
    pub(crate) warp_error_code: Option<&'static str>,
    /// Members of the body beyond the problem's own.
    pub(crate) extra: Vec<(&'static str, Value)>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, title: &'static str, retryable: bool) -> Self {
        Self {
            status,
            code,
            title,
            detail: None,
            retryable,
            warp_error_code: None,
            extra: Vec::new(),
        }
    }

    /// 429 `OUT_OF_CREDITS`: the team has no credits left. Not overload: waiting does not
    /// help, so it is not retryable.
    pub(crate) fn out_of_credits() -> Self {
        let message = "Your team is out of credits. Add credits to create more runs.";
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_credits",
            "Insufficient credits",
            false,
        )
        .detail("the team has no credits left");
        error.warp_error_code = Some("OUT_OF_CREDITS");
        error.extra.push(("userDisplayMessage", json!(message)));
        error
    }

    /// 403 `AT_CLOUD_AGENT_CAPACITY`: the team has `running_agents` runs live, its concurrency
    /// limit. Capacity frees up when one of them ends; retrying at once does not help.
    pub(crate) fn at_cloud_agent_capacity(running_agents: u64) -> Self {
        let mut error = Self::new(
            StatusCode::FORBIDDEN,
            "at_cloud_agent_capacity",
            "Cloud agent capacity reached",
            false,
        )
        .detail(format!(
            "the team has {running_agents} cloud agents running, its concurrency limit"
        ));
        error.warp_error_code = Some("AT_CLOUD_AGENT_CAPACITY");
        error.extra.push(("running_agents", json!(running_agents)));
        error
    }

    /// Marks the problem as one that retrying the same request cannot resolve.
    pub(crate) fn not_retryable(mut self) -> Self {
        self.retryable = false;
        self
    }

    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid request",
            false,
        )
        .detail(detail)
    }

    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_required",
            "Authentication required",
            false,
        )
        .detail(detail)
    }

    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "not_authorized",
            "Not authorized",
            false,
        )
        .detail(detail)
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "resource_not_found",
            "Resource not found",
            false,
        )
        .detail(detail)
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "Invalid request",
            false,
        )
        .detail("method not allowed for this path")
    }

    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", true).detail(detail)
    }

    pub(crate) fn not_supported(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "operation_not_supported",
            "Operation not supported",
            false,
        )
        .detail(detail)
    }

    /// A 400 `operation_not_supported`: the operation exists but not for this resource (e.g.
    /// interrupting a run on a third-party harness).
    pub(crate) fn unsupported_for(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "operation_not_supported",
            "Operation not supported",
            false,
        )
        .detail(detail)
    }

    /// A 422 with its own error code (e.g. `unknown_attachment`).
    pub(crate) fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            "Unprocessable request",
            false,
        )
        .detail(detail)
    }

    pub(crate) fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "resource_unavailable",
            "Resource unavailable",
            true,
        )
        .detail("rate limit exceeded, retry later")
    }

    /// A 5xx answer: 500 is an internal error, other statuses a temporarily unavailable service.
    pub(crate) fn server_error(status: StatusCode) -> Self {
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            Self::new(status, "internal_error", "Internal error", true)
                .detail("an unexpected error occurred")
        } else {
            Self::new(status, "resource_unavailable", "Resource unavailable", true)
                .detail("the service is temporarily unavailable")
        }
    }

    /// The problem the API answers with `status` when nothing more specific is known: the
    /// usual body of 400, 401, 403, 404, 409 and 429, and of a server error otherwise.
    pub(crate) fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::BAD_REQUEST => Self::invalid_request("the request is not valid"),
            StatusCode::UNAUTHORIZED => Self::unauthorized("the API key is not valid"),
            StatusCode::FORBIDDEN => Self::forbidden("the key may not access this resource"),
            StatusCode::NOT_FOUND => Self::not_found("no such endpoint"),
            StatusCode::CONFLICT => Self::conflict("the resource changed; retry"),
            StatusCode::TOO_MANY_REQUESTS => Self::too_many_requests(),
            other => Self::server_error(other),
        }
    }

    /// The problem body for a request to `instance`.
    pub(crate) fn body(&self, instance: &str, trace_id: &str) -> serde_json::Value {
        let error = match &self.detail {
            Some(detail) => format!("{} ({detail})", self.title),
            None => self.title.to_owned(),
        };
        let mut body = json!({
            "type": format!("{PROBLEM_TYPE_BASE}{}", self.code),
            "title": self.title,
            "status": self.status.as_u16(),
            "error": error,
            "instance": instance,
            "retryable": self.retryable,
            "trace_id": trace_id,
        });
        if let Some(detail) = &self.detail {
            body["detail"] = json!(detail);
        }
        for (name, value) in &self.extra {
            body[*name] = value.clone();
        }
        body
    }

    /// The complete response for a request to `instance`.
    pub(crate) fn render(&self, instance: &str) -> Response {
        let trace_id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let body = self.body(instance, &trace_id);
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        // "Not retryable" also as the header the clients' retry loops read, so that a client
        // that reads only one of them decides as one that reads both. `true` is not sent: a
        // client obeys it even for a create, which a 5xx may have carried out, and would
        // start a second run; the status already says "retry" to those it is safe for.
        if !self.retryable {
            headers.insert(SHOULD_RETRY, HeaderValue::from_static("false"));
        }
        if let Some(code) = self.warp_error_code {
            headers.insert(WARP_ERROR_CODE, HeaderValue::from_static(code));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Result type of the handlers.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn the_retry_header_says_not_retryable_when_the_body_does() {
        for error in [
            ApiError::invalid_request("x"),
            ApiError::unauthorized("x"),
            ApiError::forbidden("x"),
            ApiError::not_found("x"),
            ApiError::method_not_allowed(),
            ApiError::conflict("x"),
            ApiError::conflict("x").not_retryable(),
            ApiError::not_supported("x"),
            ApiError::unsupported_for("x"),
            ApiError::unprocessable("unknown_attachment", "x"),
            ApiError::too_many_requests(),
            ApiError::server_error(StatusCode::INTERNAL_SERVER_ERROR),
            ApiError::server_error(StatusCode::SERVICE_UNAVAILABLE),
            ApiError::out_of_credits(),
            ApiError::at_cloud_agent_capacity(3),
        ] {
            let body = error.body("/i", "t");
            let response = error.render("/i");
            let expected = (body["retryable"] == false).then_some("false");
            assert_eq!(header(&response, "x-should-retry"), expected, "{body}");
        }
    }

    #[test]
    fn credits_and_capacity_carry_the_services_signals() {
        let credits = ApiError::out_of_credits();
        let response = credits.render("/api/v1/agent/runs");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            header(&response, "x-warp-error-code"),
            Some("OUT_OF_CREDITS")
        );
        let body = credits.body("/api/v1/agent/runs", "t");
        assert_eq!(body["retryable"], false);
        assert!(body["userDisplayMessage"].is_string(), "{body}");

        let capacity = ApiError::at_cloud_agent_capacity(4);
        let response = capacity.render("/api/v1/agent/runs");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            header(&response, "x-warp-error-code"),
            Some("AT_CLOUD_AGENT_CAPACITY")
        );
        let body = capacity.body("/api/v1/agent/runs", "t");
        assert_eq!(body["running_agents"], 4);
        assert!(body["error"].is_string(), "{body}");
    }
}
