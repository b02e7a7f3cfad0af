//! Factory files (public): the schema versions, a version's bundle of JSON Schema documents,
//! one document alone, and the validation of a Factory tree. Schema answers carry a stable
//! `ETag` and answer 304 to a matching `If-None-Match`.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::JsonBody;
use super::fields::object;
use crate::error::{ApiError, ApiResult};
use crate::factory_files::validate::{self, File};
use crate::factory_files::{etag, none_match, schemas};
use crate::ops::API_PREFIX;

/// Most files one validation accepts.
const MAX_FILES: usize = 500;

/// A JSON answer with its `ETag`, or a 304 without a body when `If-None-Match` matches.
fn cacheable(headers: &HeaderMap, body: &Value, conditional: bool) -> Response {
    let bytes = body.to_string();
    let tag = etag(bytes.as_bytes());
    let wanted: Vec<&str> = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let mut response = if conditional && !wanted.is_empty() && none_match(&wanted.join(","), &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

fn unknown_version(version: &str) -> ApiError {
    ApiError::not_found(format!(
        "schema version {version} not found; supported: {}",
        schemas::VERSIONS.join(", ")
    ))
}

pub(crate) async fn list_schemas(headers: HeaderMap) -> Response {
    let versions: Vec<Value> = schemas::VERSIONS
        .iter()
        .map(|v| {
            json!({
                "schema_version": v,
                "schema_url": format!("{API_PREFIX}/factory-files/schemas/{v}"),
            })
        })
        .collect();
    let body = json!({"current_version": schemas::CURRENT_VERSION, "versions": versions});
    cacheable(&headers, &body, true)
}

pub(crate) async fn get_schema(
    Path(version): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let documents = schemas::bundle(&version).ok_or_else(|| unknown_version(&version))?;
    let body = json!({"schema_version": version, "documents": documents});
    Ok(cacheable(&headers, &body, true))
}

pub(crate) async fn get_document(
    Path((version, document)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let documents = schemas::bundle(&version).ok_or_else(|| unknown_version(&version))?;
    let body = documents.get(&document).ok_or_else(|| {
        ApiError::not_found(format!(
            "schema version {version} has no document {document}; it has {}",
            documents.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    Ok(cacheable(&headers, body, false))
}

pub(crate) async fn validate(JsonBody(body): JsonBody) -> ApiResult<Response> {
    let body = object(&body)?;
    let entries = match body.get("files") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_request("files is required"));
        }
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(ApiError::invalid_request("files must be an array")),
    };
    if entries.len() > MAX_FILES {
        return Err(ApiError::invalid_request(format!(
            "files may list at most {MAX_FILES} files, got {}",
            entries.len()
        )));
    }
    let mut files = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let entry = entry
            .as_object()
            .ok_or_else(|| ApiError::invalid_request(format!("files[{i}] must be an object")))?;
        let text = |key: &str| match entry.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            None | Some(Value::Null) => Err(ApiError::invalid_request(format!(
                "files[{i}].{key} is required"
            ))),
            Some(_) => Err(ApiError::invalid_request(format!(
                "files[{i}].{key} must be a string"
            ))),
        };
        files.push(File {
            path: text("path")?,
            content: text("content")?,
        });
    }
    Ok(super::json(validate::validate(&files)))
}
