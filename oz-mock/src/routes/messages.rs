//! Messages between runs: send, inbox headers, read, delivered.

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::fields::{object, required_strings, string};
use super::{AppState, JsonBody, json};
use crate::error::ApiResult;
use crate::query::Query;
use crate::state::render::{message_header_json, message_json};

pub(crate) async fn send(
    axum::extract::State(shared): AppState,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let body = object(&body)?;
    let sender = string(body, "sender_run_id")?;
    let to = required_strings(body, "to")?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let (subject, text) = (string(body, "subject")?, string(body, "body")?);
    let now = shared.clock.now();
    let ids = shared
        .state()
        .send_message(sender, to, subject, text, now)?;
    Ok(json(json!({"message_ids": ids})))
}

pub(crate) async fn list(
    axum::extract::State(shared): AppState,
    Path(run_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let unread = query.bool("unread")?.unwrap_or(false);
    let since = query.date_time("since")?;
    let limit = query.int_in("limit", 1, 100, 50)? as usize;
    let state = shared.state();
    let recipient = state.find_run(&run_id)?;
    let headers: Vec<Value> = state
        .messages
        .iter()
        .filter(|m| m.recipient == recipient)
        .filter(|m| !unread || m.read_at.is_none())
        .filter(|m| since.is_none_or(|s| m.sent_at > s))
        .take(limit)
        .map(message_header_json)
        .collect();
    Ok(json(Value::Array(headers)))
}

pub(crate) async fn read(
    axum::extract::State(shared): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let message = state.message_mut(&id)?;
    message.delivered_at.get_or_insert(now);
    message.read_at.get_or_insert(now);
    Ok(json(message_json(message)))
}

pub(crate) async fn delivered(
    axum::extract::State(shared): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    shared
        .state()
        .message_mut(&id)?
        .delivered_at
        .get_or_insert(now);
    Ok(StatusCode::NO_CONTENT.into_response())
}
