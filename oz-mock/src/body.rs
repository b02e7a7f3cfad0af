//! Request bodies as the handlers take them: the JSON the request pipeline already read,
//! parsed and checked, or for the few handlers that read a body their operation does not
//! declare, the bytes parsed here.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde_json::Value;

use crate::error::ApiError;

/// The JSON body the request pipeline read and parsed (and, with the `validation` feature,
/// checked against the operation's request schema).
#[derive(Clone)]
pub(crate) struct ParsedBody(pub(crate) Value);

/// A JSON request body as raw JSON; malformed or missing bodies are `invalid_request` problems.
pub(crate) struct JsonBody(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(mut request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ParsedBody(body)) = request.extensions_mut().remove::<ParsedBody>() {
            return Ok(JsonBody(body));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::invalid_request(format!("could not read the body: {e}")))?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses a JSON request body.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid_request("a JSON request body is required"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_request(format!("invalid JSON body: {e}")))
}
