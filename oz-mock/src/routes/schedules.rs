//! Scheduled agents: create, list, get, replace, delete, pause and resume.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::fields::{
    object, optional_bool, optional_object, optional_str, required_bool, string, string_map,
};
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

/// The settings of a create or (full) update request.
struct Settings {
    name: String,
    cron: String,
    enabled: Option<bool>,
    prompt: Option<String>,
    mode: Option<String>,
    agent_uid: Option<String>,
    agent_config: Option<Value>,
    metadata: std::collections::BTreeMap<String, String>,
}

impl Settings {
    fn read(body: &Map<String, Value>) -> ApiResult<Self> {
        let text = |key: &str| optional_str(body, key).map(|v| v.map(str::to_owned));
        Ok(Self {
            name: string(body, "name")?,
            cron: string(body, "cron_schedule")?,
            enabled: optional_bool(body, "enabled")?,
            prompt: text("prompt")?,
            mode: text("mode")?,
            // UUIDs compare in their canonical (lower-case) form.
            agent_uid: text("agent_uid")?.map(|u| u.to_ascii_lowercase()),
            agent_config: optional_object(body, "agent_config")?.map(|c| Value::Object(c.clone())),
            metadata: string_map(body, "metadata")?,
        })
    }

    fn names_a_skill(&self) -> bool {
        self.agent_config
            .as_ref()
            .and_then(|c| c.get("skill_spec"))
            .is_some_and(|s| !s.is_null())
    }
}

pub(crate) async fn create(
    axum::extract::State(shared): AppState,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let body = object(&body)?;
    let settings = Settings::read(body)?;
    let team = optional_bool(body, "team")?.unwrap_or(false);
    let now = shared.clock.now();
    let mut state = shared.state();
    check_fields(
        &state,
        &settings.name,
        &settings.cron,
        settings.agent_uid.as_deref(),
    )?;
    if settings.prompt.as_deref().is_none_or(str::is_empty)
        && !settings.names_a_skill()
        && settings.agent_uid.is_none()
    {
        return Err(ApiError::invalid_request(
            "prompt is required unless the agent config names a skill",
        ));
    }
    let id = state.uuid();
    let schedule = Schedule {
        id: id.clone(),
        name: settings.name,
        cron: settings.cron,
        enabled: settings.enabled.unwrap_or(true),
        prompt: settings.prompt.unwrap_or_default(),
        mode: settings.mode,
        agent_uid: settings.agent_uid,
        agent_config: settings.agent_config,
        metadata: settings.metadata,
        team,
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
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let body = object(&body)?;
    let settings = Settings::read(body)?;
    let enabled = required_bool(body, "enabled")?;
    let now = shared.clock.now();
    let mut state = shared.state();
    find(&mut state, &id)?;
    check_fields(
        &state,
        &settings.name,
        &settings.cron,
        settings.agent_uid.as_deref(),
    )?;
    let schedule = find(&mut state, &id)?;
    schedule.name = settings.name;
    schedule.cron = settings.cron;
    schedule.enabled = enabled;
    schedule.prompt = settings.prompt.unwrap_or_default();
    schedule.mode = settings.mode;
    schedule.agent_uid = settings.agent_uid;
    schedule.agent_config = settings.agent_config;
    schedule.metadata = settings.metadata;
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
