//! Follow-ups: a message for a run, addressed by run or by conversation (its newest run). The
//! answer says how the message was routed.

use axum::extract::Path;
use axum::response::Response;
use serde_json::{Value, json};

use super::fields::{object, optional_array, optional_str};
use super::{AppState, JsonBody, json};
use crate::error::{ApiError, ApiResult};
use crate::query::one_of;
use crate::state::{FollowupRouting, State};

/// Most attachments one follow-up carries.
const MAX_ATTACHMENTS: usize = 25;

/// Checks the body and submits it to run `idx`.
fn submit(
    state: &mut State,
    idx: usize,
    body: &Value,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<FollowupRouting> {
    let body = object(body)?;
    let message = optional_str(body, "message")?
        .unwrap_or_default()
        .to_owned();
    if let Some(mode) = optional_str(body, "mode")? {
        one_of("mode", mode, &["normal", "plan", "orchestrate"])?;
    }
    let attachments = optional_array(body, "attachments")?;
    if attachments.len() > MAX_ATTACHMENTS {
        return Err(ApiError::invalid_request(format!(
            "at most {MAX_ATTACHMENTS} attachments are allowed, got {}",
            attachments.len()
        )));
    }
    for (i, attachment) in attachments.iter().enumerate() {
        let id = attachment
            .get("attachment_id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::invalid_request(format!("attachments[{i}].attachment_id is required"))
            })?;
        // The simulator has no prepare step: any UUID counts as prepared for the run.
        if !is_uuid(id) {
            return Err(ApiError::unprocessable(
                "unknown_attachment",
                format!("attachment {id} was not prepared for this run"),
            ));
        }
    }
    state.followup(idx, message, !attachments.is_empty(), now)
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn answer(routing: FollowupRouting) -> Value {
    let mut v = json!({"outcome": routing.outcome});
    if let Some(id) = routing.followup_id {
        v["followup_id"] = json!(id);
    }
    v
}

pub(crate) async fn run(
    axum::extract::State(shared): AppState,
    Path(run_id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let idx = state.find_run(&run_id)?;
    let mut v = answer(submit(&mut state, idx, &body, now)?);
    v["run_id"] = json!(run_id);
    Ok(json(v))
}

pub(crate) async fn conversation(
    axum::extract::State(shared): AppState,
    Path(conversation_id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let idx = state
        .run_by_conversation(&conversation_id)
        .ok_or_else(|| ApiError::not_found(format!("conversation {conversation_id} not found")))?;
    let mut v = answer(submit(&mut state, idx, &body, now)?);
    v["run_id"] = json!(state.run(idx).id);
    Ok(json(v))
}
