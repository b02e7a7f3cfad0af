//! Conditional requests: `If-None-Match` and the `304 Not Modified` answer.

use http::StatusCode;
use progenitor_client::ResponseValue;

use crate::Error;
use reqwest::header::{ETAG, HeaderMap};

/// The outcome of a request that may carry `If-None-Match`: a new value, or "the copy you hold
/// is current". A `304 Not Modified` is neither an error nor a body to decode.
///
/// Operations that declare a 304 answer (the Factory file schema endpoints) take
/// `.if_none_match(etag)`; pass the result of their `send()` to [`Conditional::from_send`]:
///
/// ```no_run
/// # async fn example(client: oz_api::Client) -> Result<(), oz_api::Error> {
/// use oz_api::Conditional;
///
/// let first = Conditional::from_send(client.list_factory_file_schemas().send().await)?;
/// let etag = first.etag().map(str::to_owned);
/// let versions = first.into_modified().expect("an unconditional request has a body");
///
/// let mut again = client.list_factory_file_schemas();
/// if let Some(etag) = etag {
///     again = again.if_none_match(etag);
/// }
/// match Conditional::from_send(again.send().await)? {
///     Conditional::NotModified { .. } => println!("still {}", versions.versions.len()),
///     Conditional::Modified { value, .. } => println!("now {}", value.versions.len()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Conditional<T> {
    /// The resource as the server has it now, with its `ETag` when the server sent one.
    Modified {
        /// The decoded body.
        value: T,
        /// The `ETag` of this version, to send back as `If-None-Match` next time.
        etag: Option<String>,
    },
    /// `304 Not Modified`: the copy named by `If-None-Match` is still current.
    NotModified {
        /// The `ETag` the server repeated, when it did.
        etag: Option<String>,
    },
}

impl<T> Conditional<T> {
    /// Turns the result of a `send()` into a conditional outcome: a success becomes
    /// [`Modified`](Self::Modified), a `304` [`NotModified`](Self::NotModified); every other
    /// error is handed back unchanged.
    // The error is the one `send()` returned, handed back as it came.
    #[allow(clippy::result_large_err)]
    pub fn from_send(result: Result<ResponseValue<T>, Error>) -> Result<Self, Error> {
        match result {
            Ok(response) => {
                let etag = etag_of(response.headers());
                Ok(Self::Modified {
                    value: response.into_inner(),
                    etag,
                })
            }
            Err(Error::UnexpectedResponse(response))
                if response.status() == StatusCode::NOT_MODIFIED =>
            {
                Ok(Self::NotModified {
                    etag: etag_of(response.headers()),
                })
            }
            Err(other) => Err(other),
        }
    }

    /// The `ETag` of the answer, if the server sent one.
    pub fn etag(&self) -> Option<&str> {
        match self {
            Self::Modified { etag, .. } | Self::NotModified { etag } => etag.as_deref(),
        }
    }

    /// The new value; `None` for [`NotModified`](Self::NotModified).
    pub fn into_modified(self) -> Option<T> {
        match self {
            Self::Modified { value, .. } => Some(value),
            Self::NotModified { .. } => None,
        }
    }

    /// True for [`NotModified`](Self::NotModified).
    pub fn is_not_modified(&self) -> bool {
        matches!(self, Self::NotModified { .. })
    }
}

fn etag_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(ETAG)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}
