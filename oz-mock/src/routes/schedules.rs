//! Scheduled agents: create, list, get, replace, delete, pause and resume.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use oz_api::types::{CreateScheduledAgentRequest, UpdateScheduledAgentRequest};
use serde_json::json;

use super::{AppState, JsonBody, json, json_with};
use crate::error::{ApiError, ApiResult};
use crate::state::{Schedule, State};

/// Five fields of digits, `*`, `/`, `,`, `-` or names (`MON`, `JAN`).
fn check_cron(cron: &str) -> ApiResult<()> {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    let valid_field = |f: &&str| {
        f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-' | '?'))
    };
    if fields.len() == 5 && fields.iter().all(valid_field) {
        Ok(())
    } else {
        Err(ApiError::invalid_request(format!(
            "cron_schedule must have five fields, got {cron:?}"
        )))
    }
}

fn check_fields(state: &State, name: &str, cron: &str, agent_uid: Option<&str>) -> ApiResult<()> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid_request("name must not be empty"));
    }
    check_cron(cron)?;
    if let Some(uid) = agent_uid
        && !state.identities.contains_key(uid)
    {
        return Err(ApiError::invalid_request(format!(
            "agent identity {uid} does not exist"
        )));
    }
    Ok(())
}

fn find<'s>(state: &'s mut State, id: &str) -> ApiResult<&'s mut Schedule> {
    state
        .schedules
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found(format!("schedule {id} not found")))
}

pub(crate) async fn create(
    axum::extract::State(shared): AppState,
    JsonBody(body): JsonBody<CreateScheduledAgentRequest>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let agent_uid = body.agent_uid.map(|u| u.to_string());
    check_fields(
        &state,
        &body.name,
        &body.cron_schedule,
        agent_uid.as_deref(),
    )?;
    if body.prompt.as_deref().is_none_or(str::is_empty)
        && body
            .agent_config
            .as_ref()
            .and_then(|c| c.skill_spec.as_ref())
            .is_none()
        && agent_uid.is_none()
    {
        return Err(ApiError::invalid_request(
            "prompt is required unless the agent config names a skill",
        ));
    }
    let id = state.uuid();
    let schedule = Schedule {
        id: id.clone(),
        name: body.name,
        cron: body.cron_schedule,
        enabled: body.enabled,
        prompt: body.prompt.unwrap_or_default(),
        mode: body.mode.map(|m| m.to_string()),
        agent_uid,
        agent_config: body
            .agent_config
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok()),
        metadata: body
            .metadata
            .map(|m| m.0.into_iter().collect())
            .unwrap_or_default(),
        team: body.team.unwrap_or(false),
        created_at: now,
        updated_at: now,
    };
    let body = state.schedule_json(&schedule);
    state.schedules.insert(id, schedule);
    Ok(json_with(StatusCode::CREATED, body))
}

pub(crate) async fn list(axum::extract::State(shared): AppState) -> Response {
    let state = shared.state();
    let mut schedules: Vec<&Schedule> = state.schedules.values().collect();
    schedules.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let schedules: Vec<_> = schedules.iter().map(|s| state.schedule_json(s)).collect();
    json(json!({"schedules": schedules}))
}

pub(crate) async fn get(
    axum::extract::State(shared): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut state = shared.state();
    find(&mut state, &id)?;
    Ok(json(state.schedule_json(&state.schedules[&id])))
}

pub(crate) async fn update(
    axum::extract::State(shared): AppState,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateScheduledAgentRequest>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    find(&mut state, &id)?;
    let agent_uid = body.agent_uid.map(|u| u.to_string());
    check_fields(
        &state,
        &body.name,
        &body.cron_schedule,
        agent_uid.as_deref(),
    )?;
    let schedule = find(&mut state, &id)?;
    schedule.name = body.name;
    schedule.cron = body.cron_schedule;
    schedule.enabled = body.enabled;
    schedule.prompt = body.prompt.unwrap_or_default();
    schedule.mode = body.mode.map(|m| m.to_string());
    schedule.agent_uid = agent_uid;
    schedule.agent_config = body
        .agent_config
        .as_ref()
        .and_then(|c| serde_json::to_value(c).ok());
    schedule.metadata = body
        .metadata
        .map(|m| m.0.into_iter().collect())
        .unwrap_or_default();
    schedule.updated_at = now;
    Ok(json(state.schedule_json(&state.schedules[&id])))
}

pub(crate) async fn delete(
    axum::extract::State(shared): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    shared
        .state()
        .schedules
        .remove(&id)
        .ok_or_else(|| ApiError::not_found(format!("schedule {id} not found")))?;
    Ok(json(json!({"success": true})))
}

async fn set_enabled(shared: AppState, id: String, enabled: bool) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let schedule = find(&mut state, &id)?;
    if schedule.enabled != enabled {
        schedule.enabled = enabled;
        schedule.updated_at = now;
    }
    Ok(json(state.schedule_json(&state.schedules[&id])))
}

pub(crate) async fn pause(shared: AppState, Path(id): Path<String>) -> ApiResult<Response> {
    set_enabled(shared, id, false).await
}

pub(crate) async fn resume(shared: AppState, Path(id): Path<String>) -> ApiResult<Response> {
    set_enabled(shared, id, true).await
}
