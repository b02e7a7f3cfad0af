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

/// The variant, the status and the problem: what a developer needs, without headers (cookies,
/// signed `Location`s) or bodies.
impl fmt::Debug for Error<types::Error> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidRequest(reason) => f.debug_tuple("InvalidRequest").field(reason).finish(),
            Self::Custom(reason) => f.debug_tuple("Custom").field(reason).finish(),
            Self::CommunicationError(e) => f.debug_tuple("CommunicationError").field(e).finish(),
            Self::InvalidUpgrade(e) => f.debug_tuple("InvalidUpgrade").field(e).finish(),
            Self::ResponseBodyError(e) => f.debug_tuple("ResponseBodyError").field(e).finish(),
            Self::ErrorResponse(response) => f
                .debug_struct("ErrorResponse")
                .field("status", &response.status().as_u16())
                .field("problem", response.as_ref())
                .finish(),
            Self::InvalidResponsePayload(bytes, e) => f
                .debug_struct("InvalidResponsePayload")
                .field("bytes", &bytes.len())
                .field("error", &e.to_string())
                .finish(),
            Self::UnexpectedResponse(response) => f
                .debug_struct("UnexpectedResponse")
                .field("status", &response.status().as_u16())
                .finish(),
        }
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
