//! `list_runs`: filters, sorting and keyset cursors.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Phase, Run, State};
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::query::{Query, one_of};

pub(crate) const SOURCES: [&str; 16] = [
    "LINEAR",
    "API",
    "SLACK",
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
    "AUTOFIX",
    "RUN_SCORER",
    "ORCHESTRATION",
];

const SORT_BY: [&str; 4] = ["updated_at", "created_at", "title", "agent"];
const SORT_ORDER: [&str; 2] = ["asc", "desc"];

/// A parsed `list_runs` query.
pub(crate) struct ListRequest {
    limit: usize,
    cursor: Option<Cursor>,
    sort_by: &'static str,
    descending: bool,
    states: Vec<Phase>,
    text: BTreeMap<&'static str, String>,
    source: Option<&'static str>,
    execution_location: Option<&'static str>,
    created_after: Option<DateTime<Utc>>,
    created_before: Option<DateTime<Utc>>,
    updated_after: Option<DateTime<Utc>>,
    metadata: Vec<(String, String)>,
    artifact_type: Option<&'static str>,
    q: Option<String>,
}

struct Cursor {
    key: SortKey,
    idx: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Time(i64),
    /// `None` sorts after every text in both directions.
    Text(Option<String>),
}

impl ListRequest {
    pub(crate) fn parse(query: &Query) -> ApiResult<ListRequest> {
        let limit = query.int_in("limit", 1, 500, 20)? as usize;
        let sort_by = query.one_of("sort_by", &SORT_BY)?.unwrap_or("updated_at");
        let descending = query.one_of("sort_order", &SORT_ORDER)?.unwrap_or("desc") == "desc";
        let states = query
            .all("state")
            .into_iter()
            .flat_map(|s| s.split(','))
            .map(|s| {
                one_of("state", s, &Phase::ALL).map(|s| Phase::parse(s).unwrap_or(Phase::Queued))
            })
            .collect::<ApiResult<Vec<_>>>()?;
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
            "factory_uid",
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
        let cursor = query
            .get("cursor")
            .filter(|c| !c.is_empty())
            .map(|c| decode_cursor(c, sort_by, descending))
            .transpose()?;
        Ok(ListRequest {
            limit,
            cursor,
            sort_by,
            descending,
            states,
            text,
            source: query.one_of("source", &SOURCES)?,
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

fn compare(a: &(SortKey, usize), b: &(SortKey, usize), descending: bool) -> Ordering {
    let keys = match (&a.0, &b.0) {
        (SortKey::Text(None), SortKey::Text(Some(_))) => return Ordering::Greater,
        (SortKey::Text(Some(_)), SortKey::Text(None)) => return Ordering::Less,
        (x, y) => x.cmp(y),
    };
    let ord = keys.then(a.1.cmp(&b.1));
    if descending { ord.reverse() } else { ord }
}

fn encode_cursor(sort_by: &str, descending: bool, key: &SortKey, idx: usize) -> String {
    let key = match key {
        SortKey::Time(t) => format!("t{t}"),
        SortKey::Text(Some(s)) => format!("s{}", ids::hex(s.as_bytes())),
        SortKey::Text(None) => "n".to_owned(),
    };
    let order = if descending { "desc" } else { "asc" };
    ids::hex(format!("v1|{sort_by}|{order}|{key}|{idx}").as_bytes())
}

fn decode_cursor(raw: &str, sort_by: &str, descending: bool) -> ApiResult<Cursor> {
    let invalid = || ApiError::invalid_request("cursor is not valid for this query");
    let text = ids::unhex(raw)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    let parts: Vec<&str> = text.split('|').collect();
    let [version, by, order, key, idx] = parts.as_slice() else {
        return Err(invalid());
    };
    let order_matches = (*order == "desc") == descending;
    if *version != "v1" || *by != sort_by || !order_matches {
        return Err(invalid());
    }
    let key = match key.split_at_checked(1) {
        Some(("t", t)) => SortKey::Time(t.parse().map_err(|_| invalid())?),
        Some(("s", s)) => SortKey::Text(Some(
            ids::unhex(s)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(invalid)?,
        )),
        Some(("n", "")) => SortKey::Text(None),
        _ => return Err(invalid()),
    };
    Ok(Cursor {
        key,
        idx: idx.parse().map_err(|_| invalid())?,
    })
}

impl State {
    fn descendants(&self, ancestor: &str) -> ApiResult<HashSet<usize>> {
        let root = self.run_index.get(ancestor).copied().ok_or_else(|| {
            ApiError::invalid_request(format!("ancestor run {ancestor} does not exist"))
        })?;
        let mut found = HashSet::new();
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            for child in &self.runs[i].children {
                if let Some(&c) = self.run_index.get(child)
                    && found.insert(c)
                {
                    stack.push(c);
                }
            }
        }
        Ok(found)
    }

    fn matches(&self, run: &Run, req: &ListRequest) -> bool {
        if !req.states.is_empty() && !req.states.contains(&run.phase) {
            return false;
        }
        if req.source.is_some_and(|s| s != run.source)
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
                "automation_id" | "factory_uid" => {
                    run.metadata.get(*key).is_some_and(|v| v == wanted)
                }
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
        let after = req.cursor.as_ref().map(|c| (c.key.clone(), c.idx));
        let mut candidates: Vec<(SortKey, usize)> = self
            .runs
            .iter()
            .enumerate()
            .filter(|(i, run)| {
                within.as_ref().is_none_or(|w| w.contains(i)) && self.matches(run, req)
            })
            .map(|(i, run)| (key_of(run, req.sort_by), i))
            .filter(|item| {
                after
                    .as_ref()
                    .is_none_or(|a| compare(item, a, req.descending) == Ordering::Greater)
            })
            .collect();
        let has_next = candidates.len() > req.limit;
        if has_next {
            candidates.select_nth_unstable_by(req.limit, |a, b| compare(a, b, req.descending));
            candidates.truncate(req.limit);
        }
        candidates.sort_by(|a, b| compare(a, b, req.descending));
        let mut page_info = serde_json::json!({"has_next_page": has_next});
        if has_next && let Some((key, idx)) = candidates.last() {
            page_info["next_cursor"] = encode_cursor(req.sort_by, req.descending, key, *idx).into();
        }
        let runs = candidates
            .iter()
            .map(|(_, i)| self.run_json(*i, false))
            .collect();
        Ok((runs, page_info))
    }
}
