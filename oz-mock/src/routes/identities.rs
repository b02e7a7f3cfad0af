//! Agent identities: create, list, get, partial update (with `secrets_append`) and delete.

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{AppState, JsonBody, json, json_with};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::state::Identity;
use crate::state::render::identity_json;

/// The body's members (null and absent differ for updates); their types were checked against
/// the request schema by the request pipeline.
fn members(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::invalid_request("the body must be a JSON object")),
    }
}

pub(crate) async fn create(
    axum::extract::State(shared): AppState,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let fields = members(body)?;
    if fields
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(|n| n.trim().is_empty())
    {
        return Err(ApiError::invalid_request("name must not be empty"));
    }
    let now = shared.clock.now();
    let mut state = shared.state();
    let uid = state.uuid();
    let identity = Identity {
        uid: uid.clone(),
        fields,
        created_at: now,
        updated_at: now,
    };
    let body = identity_json(&identity);
    state.identities.insert(uid, identity);
    Ok(json_with(StatusCode::CREATED, body))
}

pub(crate) async fn list(
    axum::extract::State(shared): AppState,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw.as_deref());
    let factory = query.get("factory_uid");
    let state = shared.state();
    let agents: Vec<Value> = state
        .identities
        .values()
        .filter(|i| {
            factory.is_none_or(|f| i.fields.get("factory_uid").and_then(Value::as_str) == Some(f))
        })
        .map(identity_json)
        .collect();
    json(json!({"agents": agents}))
}

pub(crate) async fn get(
    axum::extract::State(shared): AppState,
    Path(uid): Path<String>,
) -> ApiResult<Response> {
    let state = shared.state();
    let identity = state
        .identities
        .get(&uid)
        .ok_or_else(|| ApiError::not_found(format!("agent {uid} not found")))?;
    Ok(json(identity_json(identity)))
}

pub(crate) async fn update(
    axum::extract::State(shared): AppState,
    Path(uid): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let mut changes = members(body)?;
    let append = match changes.remove("secrets_append") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::invalid_request(
                "secrets_append must be an array of {name}",
            ));
        }
    };
    for (i, secret) in append.iter().enumerate() {
        if secret
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(|n| n.trim().is_empty())
        {
            return Err(ApiError::invalid_request(format!(
                "secrets_append[{i}].name must be a non-empty string"
            )));
        }
    }
    if changes
        .get("name")
        .is_some_and(|n| n.as_str().is_none_or(|n| n.trim().is_empty()))
    {
        return Err(ApiError::invalid_request("name must not be empty"));
    }
    let now = shared.clock.now();
    let mut state = shared.state();
    let identity = state
        .identities
        .get_mut(&uid)
        .ok_or_else(|| ApiError::not_found(format!("agent {uid} not found")))?;
    for (key, value) in changes {
        if value.is_null() {
            identity.fields.remove(&key);
        } else {
            identity.fields.insert(key, value);
        }
    }
    // Appended secrets join the current ones; a name already attached is not repeated.
    if !append.is_empty() {
        let mut secrets = match identity.fields.remove("secrets") {
            Some(Value::Array(current)) => current,
            _ => Vec::new(),
        };
        for secret in append {
            if !secrets.iter().any(|s| s.get("name") == secret.get("name")) {
                secrets.push(json!({"name": secret["name"]}));
            }
        }
        identity
            .fields
            .insert("secrets".into(), Value::Array(secrets));
    }
    identity.updated_at = now;
    Ok(json(identity_json(identity)))
}

pub(crate) async fn delete(
    axum::extract::State(shared): AppState,
    Path(uid): Path<String>,
) -> ApiResult<Response> {
    shared
        .state()
        .identities
        .remove(&uid)
        .ok_or_else(|| ApiError::not_found(format!("agent {uid} not found")))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
