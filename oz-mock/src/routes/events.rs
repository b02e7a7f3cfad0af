//! Run events: polling by sequence number and reporting lifecycle events.

use axum::extract::{Path, RawQuery};
use axum::response::Response;
use serde_json::{Value, json};

use super::fields::{object, optional_str, required_str};
use super::{AppState, JsonBody, json};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

/// Events of the given runs with a sequence number above `since`, oldest first. Sequence numbers
/// come from one counter, so they grow monotonically per run and across runs.
pub(crate) async fn poll(
    axum::extract::State(shared): AppState,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let run_ids: Vec<&str> = query
        .all("run_ids")
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter(|v| !v.is_empty())
        .collect();
    if run_ids.is_empty() {
        return Err(ApiError::invalid_request("run_ids is required"));
    }
    let since = query.int_in("since", 0, i64::MAX, 0)?;
    let limit = query.int_in("limit", 1, 500, 100)? as usize;
    let now = shared.clock.now();
    let mut state = shared.state();
    let mut runs = Vec::with_capacity(run_ids.len());
    for id in run_ids {
        let idx = state.observe_run(id, now)?;
        runs.push(idx);
    }
    let start = usize::try_from(since)
        .unwrap_or(usize::MAX)
        .min(state.events.len());
    let events: Vec<Value> = state.events[start..]
        .iter()
        .filter(|e| runs.contains(&e.run))
        .take(limit)
        .map(|e| state.event_json(e))
        .collect();
    Ok(json(Value::Array(events)))
}

pub(crate) async fn report(
    axum::extract::State(shared): AppState,
    Path(run_id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let body = object(&body)?;
    let event_type = required_str(body, "event_type")?;
    // The request validation refuses other values already; this holds without it too.
    let reportable = crate::ops::document()
        .pointer("/components/schemas/AgentEventType/enum")
        .and_then(Value::as_array)
        .is_some_and(|names| names.iter().any(|n| n == event_type));
    if !reportable {
        return Err(ApiError::invalid_request(format!(
            "event_type {event_type:?} cannot be reported"
        )));
    }
    let ref_id = optional_str(body, "ref_id")?.map(str::to_owned);
    let execution_id = optional_str(body, "execution_id")?.map(str::to_owned);
    let now = shared.clock.now();
    let mut state = shared.state();
    let idx = state.find_run(&run_id)?;
    let sequence = state.emit(idx, event_type, ref_id, now);
    if let (Some(execution), Some(event)) = (execution_id, state.events.last_mut()) {
        event.execution_id = Some(execution);
    }
    Ok(json(json!({"sequence": sequence})))
}
