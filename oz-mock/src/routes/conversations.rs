//! Conversations (normalized), their transcripts, and the public share-link redirects.

use axum::extract::Path;
use axum::response::Response;
use serde_json::json;

use super::{AppState, json, redirect};
use crate::error::{ApiError, ApiResult};
use crate::storage;

pub(crate) async fn run_conversation(
    axum::extract::State(shared): AppState,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let idx = state.observe_run(&run_id, now)?;
    let conversation_id = state
        .run(idx)
        .conversation_id
        .clone()
        .ok_or_else(|| ApiError::not_found(format!("run {run_id} has no conversation yet")))?;
    Ok(json(state.conversation_json(idx, &conversation_id)))
}

pub(crate) async fn get(
    axum::extract::State(shared): AppState,
    Path(conversation_id): Path<String>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let idx = state
        .run_by_conversation(&conversation_id)
        .ok_or_else(|| ApiError::not_found(format!("conversation {conversation_id} not found")))?;
    state.observe(idx, now);
    Ok(json(state.conversation_json(idx, &conversation_id)))
}

pub(crate) async fn transcript(
    axum::extract::State(shared): AppState,
    Path(conversation_id): Path<String>,
) -> ApiResult<Response> {
    if shared
        .state()
        .run_by_conversation(&conversation_id)
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "conversation {conversation_id} not found"
        )));
    }
    let (url, _) = storage::signed_url(
        &shared,
        &format!("/storage/conversations/{conversation_id}.json"),
    );
    Ok(redirect(&url))
}

/// Public: `{session_id}` while the conversation's run has a live session, `{}` otherwise.
pub(crate) async fn redirect_to_session(
    axum::extract::State(shared): AppState,
    Path(conversation_id): Path<String>,
) -> Response {
    let now = shared.clock.now();
    let mut state = shared.state();
    let body = match state.run_by_conversation(&conversation_id) {
        Some(idx) => {
            state.observe(idx, now);
            let run = &state.run(idx);
            match (&run.session_id, run.phase.is_terminal()) {
                (Some(session), false) => json!({"session_id": session}),
                _ => json!({}),
            }
        }
        None => json!({}),
    };
    json(body)
}

/// Public: `{conversation_id}` of the run behind a shared session once the session's sandbox
/// has finished (the run ended, or moved on to a newer session), `{}` while it is live or
/// when the session is unknown.
pub(crate) async fn session_redirect(
    axum::extract::State(shared): AppState,
    Path(session_id): Path<String>,
) -> Response {
    let now = shared.clock.now();
    let mut state = shared.state();
    let body = state
        .run_by_session(&session_id)
        .and_then(|idx| {
            state.observe(idx, now);
            let run = &state.run(idx);
            let current = run.session_id.as_deref() == Some(session_id.as_str());
            let finished = !current || run.phase.is_terminal();
            finished.then(|| run.conversation_id.clone()).flatten()
        })
        .map_or_else(|| json!({}), |c| json!({"conversation_id": c}));
    json(body)
}

/// A screenshot of the conversation's history: a redirect to a signed storage URL. The
/// screenshot is a SCREENSHOT artifact of one of the conversation's runs.
pub(crate) async fn download_screenshot(
    axum::extract::State(shared): AppState,
    Path((conversation_id, screenshot_uid)): Path<(String, String)>,
) -> ApiResult<Response> {
    {
        let state = shared.state();
        if state.run_by_conversation(&conversation_id).is_none() {
            return Err(ApiError::not_found(format!(
                "conversation {conversation_id} not found"
            )));
        }
        if !state.is_screenshot_of(&screenshot_uid, &conversation_id) {
            return Err(ApiError::not_found(format!(
                "screenshot {screenshot_uid} not found in conversation {conversation_id}"
            )));
        }
    }
    let (url, _) = storage::signed_url(
        &shared,
        &storage::screenshot_path(&conversation_id, &screenshot_uid),
    );
    let mut response = redirect(&url);
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}
