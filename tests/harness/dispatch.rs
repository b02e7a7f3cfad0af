//! Drives a fixture's request through the typed `oz-api` call of its operation: the parameters
//! of a fixture ([`Params`]), and what the SDK made of the answer ([`Outcome`]). The call of each
//! operation is generated from openapi.json into [`dispatch_table`](crate::dispatch_table)
//! (`cargo xtask regen`); [`call`] is its entry.

use oz_api_ext::oz_api::{self, ByteStream, Conditional, MetadataFilter, ResponseValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::fixture::FixtureRequest;
use crate::spec::Operation;

pub use crate::dispatch_table::call;

/// What the SDK made of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A decoded success, re-encoded as JSON (`Value::Null` when there is no body).
    Success {
        /// HTTP status.
        status: u16,
        /// The decoded value, encoded again.
        body: Value,
    },
    /// A redirect the SDK handed back (it never follows them).
    Redirect {
        /// HTTP status.
        status: u16,
        /// The `Location` header.
        location: Option<String>,
    },
    /// `304 Not Modified` to a request with `If-None-Match` ([`Conditional::NotModified`]).
    NotModified {
        /// The `ETag` the SDK read from the answer.
        etag: Option<String>,
    },
    /// An error answer decoded as a problem body.
    Problem {
        /// HTTP status.
        status: u16,
        /// The decoded problem body, encoded again.
        body: Value,
    },
}

impl Outcome {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Self::Success { status, .. }
            | Self::Redirect { status, .. }
            | Self::Problem { status, .. } => *status,
            Self::NotModified { .. } => 304,
        }
    }
}

/// The outcome of a typed call whose success has a JSON body.
pub fn from_result<T: Serialize>(
    result: Result<ResponseValue<T>, oz_api::Error>,
) -> Result<Outcome, String> {
    match result {
        Ok(value) => {
            let status = value.status().as_u16();
            let body = serde_json::to_value(value.into_inner())
                .map_err(|e| format!("re-encoding the decoded value failed: {e}"))?;
            Ok(Outcome::Success { status, body })
        }
        Err(err) => from_error(err),
    }
}

/// The outcome of a typed call whose success is a redirect (the body is a stream).
pub fn from_redirect_result(
    result: Result<ResponseValue<ByteStream>, oz_api::Error>,
) -> Result<Outcome, String> {
    match result {
        Ok(value) => Err(format!(
            "a {} answer where the operation redirects",
            value.status()
        )),
        Err(err) => from_error(err),
    }
}

/// The outcome of a typed call that may carry `If-None-Match`, through [`Conditional`]: a
/// success decodes as usual, a 304 becomes [`Outcome::NotModified`].
pub fn from_conditional<T: Serialize>(
    result: Result<ResponseValue<T>, oz_api::Error>,
) -> Result<Outcome, String> {
    let status = result.as_ref().ok().map(|value| value.status().as_u16());
    match Conditional::from_send(result) {
        Ok(Conditional::Modified { value, .. }) => {
            let body = serde_json::to_value(value)
                .map_err(|e| format!("re-encoding the decoded value failed: {e}"))?;
            Ok(Outcome::Success {
                status: status.unwrap_or(200),
                body,
            })
        }
        Ok(Conditional::NotModified { etag }) => Ok(Outcome::NotModified { etag }),
        Err(err) => from_error(err),
    }
}

/// The outcome of an SDK error: problem bodies and redirects are outcomes, anything else
/// (transport, decoding) is a failure described in one line.
pub fn from_error(err: oz_api::Error) -> Result<Outcome, String> {
    match err {
        oz_api::Error::Problem(value) => {
            let status = value.status().as_u16();
            let body = serde_json::to_value(value.into_inner())
                .map_err(|e| format!("re-encoding the problem body failed: {e}"))?;
            Ok(Outcome::Problem { status, body })
        }
        oz_api::Error::UnexpectedResponse(response) if response.status().is_redirection() => {
            Ok(Outcome::Redirect {
                status: response.status().as_u16(),
                location: response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            })
        }
        other => Err(format!("the SDK failed: {other}")),
    }
}

/// The parameters of a fixture's request, typed on demand.
#[derive(Debug)]
pub struct Params<'a> {
    request: &'a FixtureRequest,
    path: Vec<(String, String)>,
}

impl<'a> Params<'a> {
    /// The parameters of `request`, whose path must fit `operation`'s template.
    pub fn new(operation: &Operation, request: &'a FixtureRequest) -> Result<Self, String> {
        let path = operation
            .path_params(&request.path)
            .ok_or_else(|| format!("path {:?} does not fit {}", request.path, operation.path))?;
        Ok(Self { request, path })
    }

    /// A path parameter.
    pub fn path(&self, name: &str) -> Result<String, String> {
        self.path
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("no path parameter {name}"))
    }

    /// A query parameter as `T`: one value as a string or a JSON literal (`2`, `true`), or all
    /// values of a repeated name as a list.
    pub fn query<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, String> {
        let values: Vec<&str> = self
            .request
            .query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            return Ok(None);
        }
        let literal = |v: &str| serde_json::from_str::<Value>(v).ok();
        let mut candidates = Vec::new();
        if let [one] = values.as_slice() {
            candidates.push(Value::String((*one).to_owned()));
            candidates.extend(literal(one));
        }
        candidates.push(Value::Array(
            values
                .iter()
                .map(|v| Value::String((*v).to_owned()))
                .collect(),
        ));
        if let Some(literals) = values
            .iter()
            .map(|v| literal(v))
            .collect::<Option<Vec<_>>>()
        {
            candidates.push(Value::Array(literals));
        }
        candidates
            .into_iter()
            .find_map(|c| serde_json::from_value(c).ok())
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "query {name}={values:?} is not a {}",
                    std::any::type_name::<T>()
                )
            })
    }

    /// The `metadata[key]=value` pairs as a filter.
    pub fn metadata(&self) -> Result<Option<MetadataFilter>, String> {
        let mut filter = MetadataFilter::new();
        for (name, value) in &self.request.query {
            if let Some(key) = name
                .strip_prefix("metadata[")
                .and_then(|k| k.strip_suffix(']'))
            {
                filter = filter
                    .with(key, value.clone())
                    .map_err(|e| format!("metadata filter: {e}"))?;
            }
        }
        Ok((!filter.is_empty()).then_some(filter))
    }

    /// A request header listed in the fixture.
    pub fn header(&self, name: &str) -> Option<String> {
        self.request.headers.get(name).cloned()
    }

    /// The JSON body as `T`.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, String> {
        let body = self
            .request
            .body
            .clone()
            .ok_or_else(|| "the fixture's request has no body".to_owned())?;
        serde_json::from_value(body).map_err(|e| {
            format!(
                "the request body is not a {}: {e}",
                std::any::type_name::<T>()
            )
        })
    }
}
