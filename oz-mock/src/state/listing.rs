//! `list_runs`: filters, sorting and keyset cursors.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::cursor::{PageRequest, SortKey};
use super::{Phase, Run, State};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

pub(crate) const SOURCES: [&str; 22] = [
    "LINEAR",
    "API",
    "MCP",
    "SLACK",
    "TEAMS",
    "LOCAL",
    "SCHEDULED_AGENT",
    "WEB_APP",
    "GITHUB_ACTION",
    "CLOUD_MODE",
    "CLI",
    "JIRA",
    "SELF_IMPROVEMENT",
    "GITHUB_WEBHOOK",
    "GITLAB_WEBHOOK",
    "AZURE_DEVOPS_WEBHOOK",
    "AUTOFIX",
    "RUN_SCORER",
    "ORCHESTRATION",
    "BENCHMARK_TRIAL",
    "CREATE_BENCHMARK_TASK",
    "CUSTOM_WEBHOOK",
];

const SORT_BY: [&str; 4] = ["updated_at", "created_at", "title", "agent"];
const SORT_ORDER: [&str; 2] = ["asc", "desc"];

/// Values of the `task_status` filter: the high-level status of a run's orchestration tree.
const TASK_STATUSES: [&str; 5] = ["running", "failed", "blocked", "cancelled", "complete"];

/// A parsed `list_runs` query.
pub(crate) struct ListRequest {
    page: PageRequest,
    states: Vec<Phase>,
    text: BTreeMap<&'static str, String>,
    sources: Vec<&'static str>,
    factory_uids: Vec<String>,
    factory_only: bool,
    task_statuses: Vec<&'static str>,
    execution_location: Option<&'static str>,
    created_after: Option<DateTime<Utc>>,
    created_before: Option<DateTime<Utc>>,
    updated_after: Option<DateTime<Utc>>,
    metadata: Vec<(String, String)>,
    artifact_type: Option<&'static str>,
    q: Option<String>,
}

impl ListRequest {
    pub(crate) fn parse(query: &Query) -> ApiResult<ListRequest> {
        let limit = query.int_in("limit", 1, 500, 20)? as usize;
        let sort_by = query.one_of("sort_by", &SORT_BY)?.unwrap_or("updated_at");
        let descending = query.one_of("sort_order", &SORT_ORDER)?.unwrap_or("desc") == "desc";
        let states = query
            .all_of("state", &Phase::ALL)?
            .into_iter()
            .filter_map(Phase::parse)
            .collect();
        let mut text = BTreeMap::new();
        for key in [
            "name",
            "model_id",
            "creator",
            "executor",
            "environment_id",
            "skill",
            "skill_spec",
            "schedule_id",
            "ancestor_run_id",
            "automation_id",
        ] {
            if let Some(v) = query.get(key) {
                text.insert(key, v.to_owned());
            }
        }
        let mut metadata = Vec::new();
        for (k, v) in query.pairs() {
            if let Some(key) = k
                .strip_prefix("metadata[")
                .and_then(|r| r.strip_suffix(']'))
            {
                if key.is_empty() {
                    return Err(ApiError::invalid_request("metadata keys must not be empty"));
                }
                metadata.push((key.to_owned(), v.clone()));
            }
        }
        if metadata.len() > 5 {
            return Err(ApiError::invalid_request(
                "at most 5 metadata filters may be given",
            ));
        }
        let factory_uids = query
            .all("factory_uid")
            .into_iter()
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(ListRequest {
            page: PageRequest::new("runs", sort_by, descending, limit, query.get("cursor"))?,
            states,
            text,
            sources: query.all_of("source", &SOURCES)?,
            factory_uids,
            factory_only: query.bool("factory_only")?.unwrap_or(false),
            task_statuses: query.all_of("task_status", &TASK_STATUSES)?,
            execution_location: query.one_of("execution_location", &["LOCAL", "REMOTE"])?,
            created_after: query.date_time("created_after")?,
            created_before: query.date_time("created_before")?,
            updated_after: query.date_time("updated_after")?,
            metadata,
            artifact_type: query.one_of("artifact_type", &super::ArtifactKind::ALL)?,
            q: query.get("q").map(str::to_lowercase),
        })
    }
}

fn key_of(run: &Run, sort_by: &str) -> SortKey {
    match sort_by {
        "created_at" => SortKey::Time(run.created_at.timestamp_micros()),
        "title" => SortKey::Text(Some(run.title.clone())),
        "agent" => SortKey::Text(run.skill.clone()),
        _ => SortKey::Time(run.updated_at.timestamp_micros()),
    }
}

impl State {
    fn descendants(&self, ancestor: &str) -> ApiResult<HashSet<usize>> {
        let root = self.run_index.get(ancestor).copied().ok_or_else(|| {
            ApiError::invalid_request(format!("ancestor run {ancestor} does not exist"))
        })?;
        Ok(self.subtree(root).into_iter().collect())
    }

    /// The `task_status` values a run's tree has: `running` when its root or any descendant is
    /// still live, the others from the root's state alone.
    fn task_statuses_of(
        &self,
        idx: usize,
        live_trees: &mut HashMap<usize, bool>,
    ) -> [Option<&'static str>; 2] {
        let root = self.root_of(idx);
        let live = *live_trees.entry(root).or_insert_with(|| {
            !self.runs[root].phase.is_terminal()
                || self
                    .subtree(root)
                    .iter()
                    .any(|&i| !self.runs[i].phase.is_terminal())
        });
        let ended = match self.runs[root].phase {
            Phase::Succeeded => Some("complete"),
            Phase::Failed | Phase::Error => Some("failed"),
            Phase::Blocked => Some("blocked"),
            Phase::Cancelled => Some("cancelled"),
            _ => None,
        };
        [live.then_some("running"), ended]
    }

    fn matches(&self, run: &Run, req: &ListRequest) -> bool {
        if !req.states.is_empty() && !req.states.contains(&run.phase) {
            return false;
        }
        if !req.sources.is_empty() && !req.sources.contains(&run.source)
            || req.factory_only && run.factory_uid.is_none()
            || !req.factory_uids.is_empty()
                && !run
                    .factory_uid
                    .as_ref()
                    .is_some_and(|f| req.factory_uids.contains(f))
            || req
                .execution_location
                .is_some_and(|l| l != run.execution_location)
            || req.created_after.is_some_and(|t| run.created_at <= t)
            || req.created_before.is_some_and(|t| run.created_at >= t)
            || req.updated_after.is_some_and(|t| run.updated_at <= t)
        {
            return false;
        }
        let creator = super::PRINCIPALS[run.creator % super::PRINCIPALS.len()].uid;
        for (key, wanted) in &req.text {
            let ok = match *key {
                "name" => run.config_name.as_deref() == Some(wanted),
                "model_id" => run.model_id.as_deref() == Some(wanted),
                "creator" | "executor" => creator == wanted,
                "environment_id" if wanted == "empty-environment" => run.environment_id.is_none(),
                "environment_id" => run.environment_id.as_deref() == Some(wanted),
                "skill" | "skill_spec" => run.skill.as_deref() == Some(wanted),
                "schedule_id" => run.schedule.as_ref().is_some_and(|s| &s.id == wanted),
                "automation_id" => run.metadata.get(*key).is_some_and(|v| v == wanted),
                _ => true,
            };
            if !ok {
                return false;
            }
        }
        if !req
            .metadata
            .iter()
            .all(|(k, v)| run.metadata.get(k) == Some(v))
        {
            return false;
        }
        if let Some(kind) = req.artifact_type
            && !State::artifact_kinds(run).any(|k| k == kind)
        {
            return false;
        }
        if let Some(q) = &req.q {
            let hit = run.title.to_lowercase().contains(q)
                || run.prompt.to_lowercase().contains(q)
                || run
                    .skill
                    .as_deref()
                    .is_some_and(|s| s.to_lowercase().contains(q));
            if !hit {
                return false;
            }
        }
        true
    }

    /// One page of runs and its `PageInfo`.
    pub(crate) fn list_runs(
        &mut self,
        req: &ListRequest,
        now: DateTime<Utc>,
    ) -> ApiResult<(Vec<Value>, Value)> {
        self.observe_all(now);
        let within = match req.text.get("ancestor_run_id") {
            Some(a) => Some(self.descendants(a)?),
            None => None,
        };
        let mut live_trees = HashMap::new();
        let matching: Vec<(SortKey, usize)> = self
            .runs
            .iter()
            .enumerate()
            .filter(|(i, run)| {
                within.as_ref().is_none_or(|w| w.contains(i)) && self.matches(run, req)
            })
            .filter(|(i, _)| {
                req.task_statuses.is_empty()
                    || self
                        .task_statuses_of(*i, &mut live_trees)
                        .iter()
                        .flatten()
                        .any(|s| req.task_statuses.contains(s))
            })
            .map(|(i, run)| (key_of(run, req.page.sort_by), i))
            .collect();
        let (page, page_info) = req.page.page(matching.into_iter());
        let runs = page.iter().map(|&i| self.run_json(i, false)).collect();
        Ok((runs, page_info))
    }
}
