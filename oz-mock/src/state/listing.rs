//! `list_runs`: filters, sorting and keyset cursors.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::cursor::{PageRequest, SortKey, compare};
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

/// The most runs one page of an `ancestor_run_id` listing holds, whatever `limit` says.
pub(crate) const ANCESTOR_LIMIT: usize = 100;

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
        let mut limit = query.int_in("limit", 1, 500, 20)? as usize;
        // The service answers at most this many runs of one ancestor, whatever `limit` says.
        if query.get("ancestor_run_id").is_some() {
            limit = limit.min(ANCESTOR_LIMIT);
        }
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
    /// The runs `ancestor_run_id` selects: despite its name, the service filters on
    /// `parent_run_id`, so only the run's direct children.
    fn descendants(&self, ancestor: &str) -> ApiResult<HashSet<usize>> {
        let parent = self.run_index.get(ancestor).copied().ok_or_else(|| {
            ApiError::invalid_request(format!("ancestor run {ancestor} does not exist"))
        })?;
        Ok(self.runs[parent]
            .children
            .iter()
            .filter_map(|child| self.run_index.get(child).copied())
            .collect())
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

    /// One page of runs and its `PageInfo`, as the JSON body of the answer
    /// (`ListRunsResponse`). Runs unchanged since an earlier listing are not rendered again
    /// (see `render_cache.rs`), and the runs sorted for an earlier listing are not sorted
    /// again while no sort key has changed: a page walks the sorted runs from its cursor and
    /// stops once it has one run more than it shows.
    pub(crate) fn list_runs(&mut self, req: &ListRequest, now: DateTime<Utc>) -> ApiResult<String> {
        let started = Instant::now();
        self.observe_all(now);
        let within = match req.text.get("ancestor_run_id") {
            Some(a) => Some(self.descendants(a)?),
            None => None,
        };
        let sorted = self.sorted_runs(req.page.sort_by, req.page.descending);
        let descending = req.page.descending;
        let start = match &req.page.cursor {
            Some(cursor) => {
                let after = (cursor.key.clone(), cursor.idx);
                sorted
                    .order
                    .partition_point(|item| compare(item, &after, descending) != Ordering::Greater)
            }
            None => 0,
        };
        let mut live_trees = HashMap::new();
        let mut candidates: Vec<(SortKey, usize)> = Vec::with_capacity(req.page.limit + 1);
        for (key, i) in &sorted.order[start..] {
            if candidates.len() > req.page.limit {
                break;
            }
            let run = &self.runs[*i];
            let listed = within.as_ref().is_none_or(|w| w.contains(i))
                && self.matches(run, req)
                && (req.task_statuses.is_empty()
                    || self
                        .task_statuses_of(*i, &mut live_trees)
                        .iter()
                        .flatten()
                        .any(|s| req.task_statuses.contains(s)));
            if listed {
                candidates.push((key.clone(), *i));
            }
        }
        self.render_cache.orders.push(sorted);
        // The candidates are the first runs after the cursor in listing order: the page cuts
        // and encodes them exactly as it would cut all of them.
        let (page, page_info) = req.page.page(candidates.into_iter());
        self.record_selecting(started.elapsed());
        Ok(self.list_body(&page, &page_info))
    }

    /// Every run in listing order for a sort, taken out of the cache (the caller puts it back)
    /// when no run was added and no sort key changed since it was sorted, sorted again
    /// otherwise.
    fn sorted_runs(&mut self, sort_by: &'static str, descending: bool) -> SortedRuns {
        let orders = &mut self.render_cache.orders;
        if let Some(at) = orders
            .iter()
            .position(|o| o.sort_by == sort_by && o.descending == descending)
        {
            let cached = orders.swap_remove(at);
            if cached.order.len() == self.runs.len()
                && cached.sort_key_changes == self.sort_key_changes
            {
                debug_assert!(
                    cached
                        .order
                        .iter()
                        .all(|(key, idx)| key_is(&self.runs[*idx], sort_by, key)),
                    "a sort key changed without counting in `sort_key_changes`"
                );
                return cached;
            }
        }
        let mut order: Vec<(SortKey, usize)> = self
            .runs
            .iter()
            .map(|run| key_of(run, sort_by))
            .zip(0..)
            .collect();
        order.sort_unstable_by(|a, b| compare(a, b, descending));
        SortedRuns {
            sort_by,
            descending,
            sort_key_changes: self.sort_key_changes,
            order,
        }
    }
}

/// Every run sorted for one listing order.
pub(crate) struct SortedRuns {
    sort_by: &'static str,
    descending: bool,
    /// The simulator's count of sort key changes when the runs were sorted.
    sort_key_changes: u64,
    /// Every run's key and index, in listing order.
    order: Vec<(SortKey, usize)>,
}

/// Whether `key` is the run's key for `sort_by` (what [`key_of`] gives, without a copy).
fn key_is(run: &Run, sort_by: &str, key: &SortKey) -> bool {
    match (sort_by, key) {
        ("created_at", SortKey::Time(t)) => run.created_at.timestamp_micros() == *t,
        ("title", SortKey::Text(t)) => t.as_deref() == Some(run.title.as_str()),
        ("agent", SortKey::Text(t)) => t.as_deref() == run.skill.as_deref(),
        ("created_at" | "title" | "agent", _) => false,
        (_, SortKey::Time(t)) => run.updated_at.timestamp_micros() == *t,
        (_, SortKey::Text(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::state::{NewRun, Progression};

    fn state() -> State {
        let now = Utc::now();
        let mut state = State::new(Progression::Instant, 2048, 11, now);
        state.seed_runs(120, now);
        let parent = state.runs[3].id.clone();
        for i in 0..6 {
            state
                .create_run(
                    NewRun {
                        prompt: format!("child #{i}"),
                        title: (i % 2 == 0).then(|| format!("Child {}", 5 - i)),
                        skill: None,
                        config: None,
                        team: false,
                        metadata: BTreeMap::new(),
                        parent_run_id: (i < 4).then(|| parent.clone()),
                        agent_identity_uid: None,
                        conversation_id: None,
                        factory_uid: None,
                        pending_task: None,
                    },
                    now,
                )
                .expect("run created");
        }
        state
    }

    /// A page as `list_runs` computed it before it kept sorted runs: every matching run
    /// sorted and cut by `PageRequest::page`.
    fn reference(state: &State, req: &ListRequest) -> (Vec<String>, Value) {
        let within = req
            .text
            .get("ancestor_run_id")
            .map(|a| state.descendants(a).expect("ancestor"));
        let mut live_trees = HashMap::new();
        let matching: Vec<(SortKey, usize)> = state
            .runs
            .iter()
            .enumerate()
            .filter(|(i, run)| {
                within.as_ref().is_none_or(|w| w.contains(i)) && state.matches(run, req)
            })
            .filter(|(i, _)| {
                req.task_statuses.is_empty()
                    || state
                        .task_statuses_of(*i, &mut live_trees)
                        .iter()
                        .flatten()
                        .any(|s| req.task_statuses.contains(s))
            })
            .map(|(i, run)| (key_of(run, req.page.sort_by), i))
            .collect();
        let (page, info) = req.page.page(matching.into_iter());
        let ids = page.iter().map(|&i| state.runs[i].id.clone()).collect();
        (ids, info)
    }

    fn request(query: &str) -> ListRequest {
        ListRequest::parse(&Query::parse(Some(query))).expect("valid query")
    }

    /// Pages through a listing, checking every page against the reference; `change` runs
    /// between pages.
    fn check(state: &mut State, query: &str, change: impl Fn(&mut State, usize)) {
        let mut cursor: Option<String> = None;
        for page in 0.. {
            let query = match &cursor {
                Some(c) => format!("{query}&cursor={c}"),
                None => query.to_owned(),
            };
            let req = request(&query);
            let (ids, info) = reference(state, &req);
            let body: Value =
                serde_json::from_str(&state.list_runs(&req, Utc::now()).expect("page"))
                    .expect("JSON body");
            let listed: Vec<String> = body["runs"]
                .as_array()
                .expect("runs")
                .iter()
                .map(|r| r["run_id"].as_str().expect("run_id").to_owned())
                .collect();
            assert_eq!((listed, &body["page_info"]), (ids, &info), "{query}");
            match info["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            change(state, page);
        }
    }

    #[test]
    fn pages_from_sorted_runs_are_those_of_a_full_sort() {
        let mut state = state();
        let ancestor = format!("ancestor_run_id={}", state.runs[3].id);
        for query in [
            "limit=7",
            "limit=7&sort_order=asc",
            "limit=9&sort_by=created_at",
            "limit=5&sort_by=title&sort_order=asc",
            "limit=5&sort_by=title",
            "limit=8&sort_by=agent",
            "limit=8&sort_by=agent&sort_order=asc",
            "limit=4&state=FAILED&state=SUCCEEDED",
            "limit=3&task_status=running",
            "limit=2&q=seeded%20run%20%231",
            ancestor.as_str(),
        ] {
            check(&mut state, query, |_, _| {});
            // Runs changing between pages: the sorted runs follow.
            check(&mut state, query, |state, page| {
                let n = state.runs.len();
                let i = (page * 37) % n;
                state.runs[i].updated_at += chrono::Duration::minutes(90);
                state.runs[(i + 5) % n].title = format!("Renamed {page}");
                state.runs[(i + 9) % n].skill = None;
                state.sort_key_changes += 1;
            });
        }
    }
}
