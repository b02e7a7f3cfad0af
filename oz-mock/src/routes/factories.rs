//! Factories: list, get, and dispatching a run to a factory's foreman.

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::fields::{object, optional_str, required_str};
use super::{AppState, JsonBody, json};
use crate::Shared;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::state::Factory;
use crate::storage;

/// The team header the SDKs send (`Config::team_uid`).
const TEAM_HEADER: &str = "x-warp-team-uid";

/// The `Factory` body, with a freshly signed avatar URL.
fn factory_body(shared: &Shared, factory: &Factory) -> Value {
    let avatar = factory
        .has_avatar
        .then(|| storage::signed_url(shared, &factory.avatar_path()).0);
    factory.to_json(avatar)
}

pub(crate) async fn list(
    axum::extract::State(shared): AppState,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let header_team = headers.get(TEAM_HEADER).and_then(|v| v.to_str().ok());
    let state = shared.state();
    let (page, page_info) = state.list_factories(&query, header_team)?;
    let factories: Vec<Value> = page
        .iter()
        .map(|&i| factory_body(&shared, &state.factories[i]))
        .collect();
    Ok(json(
        json!({"factories": factories, "page_info": page_info}),
    ))
}

pub(crate) async fn get(
    axum::extract::State(shared): AppState,
    Path(uid): Path<String>,
) -> ApiResult<Response> {
    let state = shared.state();
    let idx = state.find_factory(&uid)?;
    Ok(json(factory_body(&shared, &state.factories[idx])))
}

pub(crate) async fn create_run(
    axum::extract::State(shared): AppState,
    Path(uid): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    shared.state().find_factory(&uid)?;
    let body = object(&body)?;
    let prompt = required_str(body, "prompt")?.to_owned();
    let title = optional_str(body, "title")?
        .filter(|t| !t.trim().is_empty())
        .map(str::to_owned);
    let ticket_ref = optional_str(body, "ticket_ref")?.map(str::to_owned);
    let ticket_url = optional_str(body, "ticket_url")?.map(str::to_owned);
    if let Some(url) = &ticket_url
        && url::Url::parse(url).is_err()
    {
        return Err(ApiError::invalid_request(format!(
            "ticket_url must be an absolute URL, got {url:?}"
        )));
    }
    let now = shared.clock.now();
    let mut state = shared.state();
    let factory = state.find_factory(&uid)?;
    let (idx, ticket_ref) =
        state.create_factory_run(factory, prompt, title, ticket_ref, ticket_url, now)?;
    let run = &state.run(idx);
    let f = &state.factories[factory];
    Ok(json(json!({
        "run_id": run.id,
        "state": run.phase.as_str(),
        "factory_uid": f.uid,
        "foreman_agent": f.foreman_agent,
        "ticket_ref": ticket_ref,
        "run_url": format!("https://app.warp.dev/factory/{}/runs/{}", f.uid, run.id),
    })))
}
