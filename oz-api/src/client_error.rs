//! The error every operation of the generated client returns, documented on [`Error`].

use std::fmt;

use bytes::Bytes;
use progenitor_client::ResponseValue;
use reqwest::StatusCode;

use crate::error::ApiErrorExt;
use crate::types;

/// A failed operation: what every operation of the generated client returns. `E` is the problem
/// body of error answers ([`types::Error`] for every operation of this API);
/// [`ApiError`](crate::ApiError) names that case.
///
/// It has the variants of progenitor's error, so a `match` reads the same, but prints as one
/// line: what `?` in `main` shows is the status, the error code, the problem's message and the
/// trace id — never a headers map, a struct's `Debug` or a whole body. The status, the headers
/// and the typed problem stay reachable through the variants and [`ApiErrorExt`].
///
/// ```
/// use oz_api::ApiErrorExt;
///
/// let err: oz_api::ApiError = oz_api::Error::InvalidRequest("run_id is required".to_owned());
/// assert_eq!(err.to_string(), "invalid request: run_id is required");
/// assert_eq!(err.http_status(), None);
/// ```
#[non_exhaustive]
pub enum Error<E = types::Error> {
    /// The request could not be built from the given parameters.
    InvalidRequest(String),
    /// The request did not get an answer: connection failure, timeout, reset.
    CommunicationError(reqwest::Error),
    /// A connection upgrade was refused.
    InvalidUpgrade(reqwest::Error),
    /// A documented error answer (every 4xx and 5xx), with its status, headers and problem body.
    ErrorResponse(ResponseValue<E>),
    /// The body of an answer could not be read to its end.
    ResponseBodyError(reqwest::Error),
    /// A success answer whose body does not match its schema; the bytes are kept.
    InvalidResponsePayload(Bytes, serde_json::Error),
    /// An answer the description does not list for this operation, such as a redirect or a
    /// `304 Not Modified`; check `status()`.
    UnexpectedResponse(reqwest::Response),
    /// An error raised by a request hook.
    Custom(String),
}

impl<E> Error<E> {
    /// The HTTP status, when the error comes from an answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::InvalidRequest(_) | Self::Custom(_) | Self::InvalidResponsePayload(..) => None,
            Self::CommunicationError(e) | Self::InvalidUpgrade(e) | Self::ResponseBodyError(e) => {
                e.status()
            }
            Self::ErrorResponse(response) => Some(response.status()),
            Self::UnexpectedResponse(response) => Some(response.status()),
        }
    }
}

impl<E> From<progenitor_client::Error<E>> for Error<E> {
    fn from(err: progenitor_client::Error<E>) -> Self {
        use progenitor_client::Error as P;
        match err {
            P::InvalidRequest(reason) => Self::InvalidRequest(reason),
            P::CommunicationError(e) => Self::CommunicationError(e),
            P::InvalidUpgrade(e) => Self::InvalidUpgrade(e),
            P::ErrorResponse(response) => Self::ErrorResponse(response),
            P::ResponseBodyError(e) => Self::ResponseBodyError(e),
            P::InvalidResponsePayload(bytes, e) => Self::InvalidResponsePayload(bytes, e),
            P::UnexpectedResponse(response) => Self::UnexpectedResponse(response),
            P::Custom(reason) => Self::Custom(reason),
        }
    }
}

impl<E> From<reqwest::Error> for Error<E> {
    fn from(err: reqwest::Error) -> Self {
        Self::CommunicationError(err)
    }
}

impl<E> From<reqwest::header::InvalidHeaderValue> for Error<E> {
    fn from(err: reqwest::header::InvalidHeaderValue) -> Self {
        Self::InvalidRequest(err.to_string())
    }
}

impl fmt::Display for Error<types::Error> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.summary(), f)
    }
}

/// The variant and the one line of [`Display`](fmt::Display): what `?` in `main` prints
/// (`Error: ErrorResponse(404 Not Found resource_not_found: ...)`), without headers (cookies,
/// signed `Location`s), bodies or nested structs. The details stay reachable through the
/// variants and [`ApiErrorExt`].
///
/// ```
/// let err: oz_api::ApiError = oz_api::Error::InvalidRequest("run_id is required".to_owned());
/// assert_eq!(format!("{err:?}"), "InvalidRequest(invalid request: run_id is required)");
/// ```
impl fmt::Debug for Error<types::Error> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            Self::InvalidRequest(_) => "InvalidRequest",
            Self::Custom(_) => "Custom",
            Self::CommunicationError(_) => "CommunicationError",
            Self::InvalidUpgrade(_) => "InvalidUpgrade",
            Self::ResponseBodyError(_) => "ResponseBodyError",
            Self::ErrorResponse(_) => "ErrorResponse",
            Self::InvalidResponsePayload(..) => "InvalidResponsePayload",
            Self::UnexpectedResponse(_) => "UnexpectedResponse",
        };
        write!(f, "{variant}({})", self.summary())
    }
}

impl std::error::Error for Error<types::Error> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::CommunicationError(e) | Self::InvalidUpgrade(e) | Self::ResponseBodyError(e) => {
                Some(e)
            }
            Self::InvalidResponsePayload(_, e) => Some(e),
            _ => None,
        }
    }
}

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
