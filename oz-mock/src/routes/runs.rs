//! Runs: create, list, get, cancel, timeline, scores, transcript and handoff attachments
//! (follow-ups, interrupts and harness usage have their own modules).

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::fields::{object, optional_array, optional_bool, optional_str, string_map};
use super::{AppState, JsonBody, json, json_with, redirect};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::state::{ListRequest, NewRun};
use crate::storage;

pub(crate) async fn create(
    axum::extract::State(shared): AppState,
    JsonBody(raw): JsonBody,
) -> ApiResult<Response> {
    let body = object(&raw)?;
    let text = |key: &str| optional_str(body, key).map(|v| v.map(str::to_owned));
    let prompt = text("prompt")?.unwrap_or_default();
    let skill = text("skill")?;
    if prompt.trim().is_empty() && skill.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::invalid_request(
            "either prompt or skill is required",
        ));
    }
    if optional_array(body, "attachments")?.len() > 5 {
        return Err(ApiError::invalid_request(
            "at most 5 attachments are allowed",
        ));
    }
    let metadata: BTreeMap<String, String> = string_map(body, "metadata")?;
    if metadata.len() > 20 {
        return Err(ApiError::invalid_request(
            "at most 20 metadata entries are allowed",
        ));
    }
    // The config as sent, fields of every version of the API kept.
    let config = body.get("config").filter(|c| c.is_object()).cloned();
    let now = shared.clock.now();
    let new_run = NewRun {
        prompt,
        title: text("title")?,
        skill,
        config,
        team: optional_bool(body, "team")?.unwrap_or(false),
        metadata,
        parent_run_id: text("parent_run_id")?,
        agent_identity_uid: text("agent_identity_uid")?,
        conversation_id: text("conversation_id")?,
        factory_uid: None,
        pending_task: None,
    };
    let mut state = shared.state();
    let idx = state.create_run(new_run, now)?;
    let run_id = &state.run(idx).id;
    Ok(json(json!({
        "run_id": run_id,
        "task_id": run_id,
        "state": state.run(idx).phase.as_str(),
        "at_capacity": false,
    })))
}

pub(crate) async fn list(
    axum::extract::State(shared): AppState,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let request = ListRequest::parse(&Query::parse(raw.as_deref()))?;
    let now = shared.clock.now();
    // The JSON text itself: runs unchanged since an earlier listing are copied, not rendered.
    let body = shared.state().list_runs(&request, now)?;
    Ok(axum::response::IntoResponse::into_response((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )))
}

pub(crate) async fn get(
    axum::extract::State(shared): AppState,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let idx = state.observe_run(&run_id, now)?;
    Ok(json(state.run_json(idx, true)))
}

pub(crate) async fn transcript(
    axum::extract::State(shared): AppState,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    {
        let mut state = shared.state();
        let idx = state.observe_run(&run_id, now)?;
        if state.run(idx).conversation_id.is_none() {
            return Err(ApiError::not_found(format!(
                "run {run_id} has no transcript yet"
            )));
        }
    }
    let (url, _) = storage::signed_url(&shared, &format!("/storage/transcripts/{run_id}.json"));
    Ok(redirect(&url))
}

pub(crate) async fn cancel(
    axum::extract::State(shared): AppState,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let idx = state.find_run(&run_id)?;
    state.cancel(idx, now)?;
    Ok(json(json!(run_id)))
}

pub(crate) async fn timeline(
    axum::extract::State(shared): AppState,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let idx = state.observe_run(&run_id, now)?;
    Ok(json(state.timeline_json(idx)))
}

pub(crate) async fn scores(
    axum::extract::State(shared): AppState,
    Path(run_id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let results = optional_array(object(&body)?, "results")?;
    if results.is_empty() {
        return Err(ApiError::invalid_request("results must not be empty"));
    }
    let mut state = shared.state();
    let idx = state.find_run(&run_id)?;
    let mut outcomes = Vec::with_capacity(results.len());
    let mut all_accepted = true;
    for (i, score) in results.iter().enumerate() {
        let score = score
            .as_object()
            .ok_or_else(|| ApiError::invalid_request(format!("results[{i}] must be an object")))?;
        let scorer_id = score
            .get("scorer_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                ApiError::invalid_request(format!("results[{i}].scorer_id must be an integer"))
            })?;
        let failed = optional_bool(score, "failed")?.unwrap_or(false);
        let classification = optional_str(score, "classification")?;
        let error = if scorer_id <= 0 {
            Some(format!("unknown scorer {scorer_id}"))
        } else if !failed && classification.is_none_or(str::is_empty) {
            Some("classification is required unless the score failed".to_owned())
        } else {
            None
        };
        match error {
            Some(error) => {
                all_accepted = false;
                outcomes
                    .push(json!({"scorer_id": scorer_id, "status": "rejected", "error": error}));
            }
            None => {
                state.add_score(idx, Value::Object(score.clone()));
                outcomes.push(json!({"scorer_id": scorer_id, "status": "accepted"}));
            }
        }
    }
    let status = if all_accepted {
        StatusCode::OK
    } else {
        StatusCode::PARTIAL_CONTENT
    };
    Ok(json_with(status, json!({"results": outcomes})))
}

pub(crate) async fn handoff_attachments(
    axum::extract::State(shared): AppState,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let has_snapshot = {
        let mut state = shared.state();
        let idx = state.observe_run(&run_id, now)?;
        let run = &state.run(idx);
        run.phase.is_terminal() && !run.seeded
    };
    let attachments = if has_snapshot {
        let attachment_id = format!("att-{}", &run_id[..8.min(run_id.len())]);
        let (url, _) = storage::signed_url(
            &shared,
            &format!("/storage/handoff/{run_id}/{attachment_id}"),
        );
        vec![json!({
            "attachment_id": attachment_id,
            "download_url": url,
            "filename": "workspace-snapshot.tar.gz",
            "mime_type": "application/gzip",
        })]
    } else {
        Vec::new()
    };
    Ok(json(json!({"attachments": attachments})))
}

pub(crate) async fn by_external_reference(
    axum::extract::State(shared): AppState,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let url = query
        .get("url")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::invalid_request("url is required"))?;
    if url.len() > 2048 {
        return Err(ApiError::invalid_request(
            "url must be at most 2048 characters",
        ));
    }
    let state = shared.state();
    let run = state
        .run_by_external_reference(url)
        .ok_or_else(|| ApiError::not_found("no run reported this external reference"))?;
    Ok(json(json!({"run_id": run.id})))
}
