//! Factory tasks: list, create, get, partial update, soft delete, cancel, and the lookups by
//! run and by conversation. Every route is scoped to the factory in its path.

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::fields::{nullable_str, object, optional_str, required_str};
use super::{AppState, JsonBody, json, json_with};
use crate::error::{ApiError, ApiResult};
use crate::query::{Query, one_of};
use crate::state::Stage;
use crate::state::task::{TaskListRequest, TaskUpdate, TaskView};

fn stage_field(body: &serde_json::Map<String, Value>) -> ApiResult<Option<Stage>> {
    optional_str(body, "stage")?
        .map(|s| one_of("stage", s, &Stage::ALL).map(|s| Stage::parse(s).unwrap_or(Stage::Triage)))
        .transpose()
}

pub(crate) async fn list(
    axum::extract::State(shared): AppState,
    Path(factory_uid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    state.find_factory(&factory_uid)?;
    let request = TaskListRequest::parse(&Query::parse(raw.as_deref()))?;
    state.observe_factory(&factory_uid, now);
    let (page, page_info) = state.list_tasks(&factory_uid, &request);
    let tasks: Vec<Value> = page
        .iter()
        .map(|&i| state.task_json(i, request.view))
        .collect();
    Ok(json(json!({"tasks": tasks, "page_info": page_info})))
}

pub(crate) async fn create(
    axum::extract::State(shared): AppState,
    Path(factory_uid): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    let factory = state.find_factory(&factory_uid)?;
    let body = object(&body)?;
    let conversation_id = required_str(body, "conversation_id")?;
    let title = required_str(body, "title")?.trim().to_owned();
    let description = optional_str(body, "description")?
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let stage = stage_field(body)?.unwrap_or(Stage::Triage);
    let idx = state.create_task(factory, conversation_id, title, description, stage, now)?;
    Ok(json_with(
        StatusCode::CREATED,
        state.task_json(idx, TaskView::DETAIL),
    ))
}

pub(crate) async fn get(
    axum::extract::State(shared): AppState,
    Path((factory_uid, task_uid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    state.find_factory(&factory_uid)?;
    state.observe_factory(&factory_uid, now);
    let idx = state.find_task(&factory_uid, &task_uid)?;
    Ok(json(state.task_json(idx, TaskView::DETAIL)))
}

pub(crate) async fn update(
    axum::extract::State(shared): AppState,
    Path((factory_uid, task_uid)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    state.find_factory(&factory_uid)?;
    let idx = state.find_task(&factory_uid, &task_uid)?;
    let body = object(&body)?;
    let title = match body.get("title") {
        None => None,
        Some(_) => Some(required_str(body, "title")?.trim().to_owned()),
    };
    let update = TaskUpdate {
        title,
        description: nullable_str(body, "description")?.map(|d| d.map(str::to_owned)),
        stage: stage_field(body)?,
    };
    state.update_task(idx, update, now)?;
    Ok(json(state.task_json(idx, TaskView::DETAIL)))
}

pub(crate) async fn delete(
    axum::extract::State(shared): AppState,
    Path((factory_uid, task_uid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    state.find_factory(&factory_uid)?;
    let idx = state.find_task(&factory_uid, &task_uid)?;
    state.delete_task(idx, now);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn cancel(
    axum::extract::State(shared): AppState,
    Path((factory_uid, task_uid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let now = shared.clock.now();
    let mut state = shared.state();
    state.find_factory(&factory_uid)?;
    let idx = state.find_task(&factory_uid, &task_uid)?;
    state.cancel_task(idx, now)?;
    Ok(json(state.task_json(idx, TaskView::DETAIL)))
}

/// A required, non-empty query parameter.
fn required_param<'a>(query: &'a Query, key: &str) -> ApiResult<&'a str> {
    query
        .get(key)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_request(format!("{key} is required")))
}

pub(crate) async fn by_run(
    axum::extract::State(shared): AppState,
    Path(factory_uid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let now = shared.clock.now();
    let mut state = shared.state();
    state.find_factory(&factory_uid)?;
    let run_id = required_param(&query, "run_id")?;
    // A read of the run and of its root: a promised task appears once the run left QUEUED.
    let run = state.observe_run(run_id, now)?;
    let root = state.root_of(run);
    state.observe(root, now);
    let idx = state.task_by_run(&factory_uid, run_id)?;
    Ok(json(state.task_json(idx, TaskView::DETAIL)))
}

pub(crate) async fn by_conversation(
    axum::extract::State(shared): AppState,
    Path(factory_uid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let now = shared.clock.now();
    let mut state = shared.state();
    state.find_factory(&factory_uid)?;
    let conversation_id = required_param(&query, "conversation_id")?;
    state.observe_factory(&factory_uid, now);
    let idx = state.task_by_conversation(&factory_uid, conversation_id)?;
    Ok(json(state.task_json(idx, TaskView::DETAIL)))
}
