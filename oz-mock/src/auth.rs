//! Bearer authentication as openapi.json's per-operation `security` asks.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::error::ApiError;
use crate::ops::Auth;

pub(crate) fn check(api_key: &str, auth: Auth, headers: &HeaderMap) -> Result<(), ApiError> {
    if auth == Auth::Public {
        return Ok(());
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return match auth {
            Auth::Optional => Ok(()),
            _ => Err(ApiError::unauthorized(
                "missing Authorization header; send Authorization: Bearer <API key>",
            )),
        };
    };
    match bearer_token(value) {
        Some(token) if is_api_key(token, api_key) => Ok(()),
        Some(_) => Err(ApiError::unauthorized("the API key is not valid")),
        None => Err(ApiError::unauthorized(
            "the Authorization header must use the Bearer scheme",
        )),
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
pub(crate) fn bearer_token(value: &HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

pub(crate) fn is_api_key(token: &str, api_key: &str) -> bool {
    constant_time_eq(token.as_bytes(), api_key.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
