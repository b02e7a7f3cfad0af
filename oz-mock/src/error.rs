//! Error answers: RFC 7807 problem details following the `Error` schema of openapi.json.
//!
//! Handlers return [`ApiError`]; its `IntoResponse` only stores it in the response extensions and
//! the request pipeline renders the body, because only the pipeline knows the request path that
//! goes into `instance`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

const PROBLEM_TYPE_BASE: &str =
    "https://docs.warp.dev/reference/api-and-sdk/troubleshooting/errors/";

/// An error answer of the API.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) title: &'static str,
    pub(crate) detail: Option<String>,
    pub(crate) retryable: bool,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, title: &'static str, retryable: bool) -> Self {
        Self {
            status,
            code,
            title,
            detail: None,
            retryable,
        }
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
        body
    }

    /// The complete response for a request to `instance`.
    pub(crate) fn render(&self, instance: &str) -> Response {
        let trace_id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let body = self.body(instance, &trace_id);
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
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
