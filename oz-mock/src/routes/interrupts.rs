//! Interrupts: stop the request a live run on Warp's harness is working on, without ending the
//! run. Addressed by run, or by conversation (its newest run).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{AppState, json_with};
use crate::error::{ApiError, ApiResult};
use crate::state::State;

/// Accepts an interrupt for a run: 400 for another harness, 409 when the run is not live.
fn interrupt(state: &mut State, idx: usize, now: chrono::DateTime<chrono::Utc>) -> ApiResult<()> {
    state.catch_up(idx, now);
    let run = &state.run(idx);
    if !run.on_warp_harness() {
        return Err(ApiError::unsupported_for(format!(
            "run {} runs on the {} harness; only runs on Warp's harness can be interrupted \
             (cancel_run ends any run)",
            run.id,
            run.harness.as_deref().unwrap_or("oz")
        )));
    }
    if run.phase.is_terminal() {
        return Err(ApiError::conflict(format!(
            "run {} is {} and has nothing to interrupt",
            run.id,
            run.phase.as_str()
        ))
        .not_retryable());
    }
    Ok(())
}

pub(crate) async fn run(
    axum::extract::State(shared): AppState,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let idx = state.find_run(&run_id)?;
    interrupt(&mut state, idx, now)?;
    // A JSON body, as the service sends: the official client in strict mode refuses a 202
    // without a JSON content type.
    Ok(json_with(
        StatusCode::ACCEPTED,
        json!({"run_id": state.run(idx).id}),
    ))
}

pub(crate) async fn conversation(
    axum::extract::State(shared): AppState,
    Path(conversation_id): Path<String>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let idx = state
        .run_by_conversation(&conversation_id)
        .ok_or_else(|| ApiError::not_found(format!("conversation {conversation_id} not found")))?;
    interrupt(&mut state, idx, now)?;
    Ok(json_with(
        StatusCode::ACCEPTED,
        json!({"run_id": state.run(idx).id}),
    ))
}
