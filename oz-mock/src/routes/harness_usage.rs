//! Harness usage: the latest raw usage snapshot of a Claude Code or Codex run.

use axum::extract::Path;
use axum::response::Response;

use super::{AppState, json};
use crate::error::{ApiError, ApiResult};
use crate::state::usage::harness_usage;

pub(crate) async fn get(
    axum::extract::State(shared): AppState,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let idx = state.observe_run(&run_id, now)?;
    let run = &state.run(idx);
    let conversation_id = run
        .conversation_id
        .as_deref()
        .ok_or_else(|| ApiError::not_found(format!("run {run_id} has no conversation yet")))?;
    Ok(json(harness_usage(run, conversation_id, now)))
}
