//! The fixed catalog: agents (skills), environments, models and self-hosted workers.

use axum::extract::RawQuery;
use axum::response::Response;
use serde_json::{Value, json};

use super::{AppState, json};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

pub(crate) async fn list_agents(
    axum::extract::State(shared): AppState,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let repo = query.get("repo");
    if let Some(repo) = repo
        && repo.split('/').filter(|p| !p.is_empty()).count() != 2
    {
        return Err(ApiError::invalid_request(format!(
            "repo must look like owner/repo, got {repo:?}"
        )));
    }
    query.bool("refresh")?;
    let sort_by = query
        .one_of("sort_by", &["name", "last_run"])?
        .unwrap_or("name");
    let include_malformed = query.bool("include_malformed_skills")?.unwrap_or(false);
    let state = shared.state();
    let environments: Vec<Value> = state
        .environments
        .iter()
        .map(|e| json!({"uid": e.uid, "name": e.name}))
        .collect();
    let last_run = |skill: &str| {
        state
            .runs()
            .iter()
            .rev()
            .find(|r| r.skill.as_deref().is_some_and(|s| s.ends_with(skill)))
            .map(|r| rfc3339(r.created_at))
    };
    let mut agents: Vec<(String, Option<String>, Value)> = Vec::new();
    let skills = [
        (
            "review",
            "Reviews a pull request and leaves comments.",
            false,
        ),
        ("triage", "Triages new issues and labels them.", false),
        (
            "release-notes",
            "Drafts release notes from merged pull requests.",
            false,
        ),
        ("broken", "", true),
    ];
    for (name, description, malformed) in skills {
        if malformed && !include_malformed {
            continue;
        }
        let path = format!("{name}/SKILL.md");
        let owner_repo = ("warp-mock", "skills");
        if repo.is_some_and(|r| r != format!("{}/{}", owner_repo.0, owner_repo.1)) {
            continue;
        }
        let last = last_run(&path);
        let mut variant = json!({
            "id": format!("{}/{}:{path}", owner_repo.0, owner_repo.1),
            "description": description,
            "base_prompt": format!("You are the {name} agent."),
            "source": {"owner": owner_repo.0, "name": owner_repo.1, "skill_path": path},
            "environments": environments,
            "last_run_timestamp": last,
        });
        if malformed {
            variant["error"] = json!("SKILL.md: missing front matter field `name`");
        }
        agents.push((
            name.to_owned(),
            last,
            json!({"name": name, "variants": [variant]}),
        ));
    }
    if sort_by == "last_run" {
        agents.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    } else {
        agents.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let agents: Vec<Value> = agents.into_iter().map(|(_, _, v)| v).collect();
    Ok(json(json!({"agents": agents})))
}

pub(crate) async fn list_environments(
    axum::extract::State(shared): AppState,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let sort_by = query
        .one_of("sort_by", &["name", "last_updated"])?
        .unwrap_or("last_updated");
    let state = shared.state();
    let mut environments: Vec<_> = state.environments.iter().collect();
    if sort_by == "name" {
        environments.sort_by_key(|e| e.name);
    } else {
        environments.sort_by_key(|e| std::cmp::Reverse(e.last_updated));
    }
    let environments: Vec<Value> = environments
        .into_iter()
        .map(|e| state.environment_json(e))
        .collect();
    Ok(json(json!({"environments": environments})))
}

/// The model catalog the simulator offers.
const MODELS: &str = include_str!("models.json");

pub(crate) async fn list_models() -> Response {
    json(serde_json::from_str(MODELS).expect("models.json is JSON"))
}

pub(crate) async fn list_workers(axum::extract::State(shared): AppState) -> Response {
    let state = shared.state();
    let connected = state.started_at;
    let now = shared.clock.now();
    json(json!({
        "workers": [{
            "worker_host": "mock-worker-1.internal",
            "connection_count": 2,
            "connected_at": rfc3339(connected),
            "last_seen_at": rfc3339(now),
        }],
    }))
}
