//! Runs as `list_runs` shows them, rendered once to JSON and reused until they change.
//!
//! Rendering a run (building its `serde_json::Value`, then serialising it) was most of the
//! simulator's own work on a page of 500 runs, several milliseconds a page: enough to weigh on
//! what a client-side benchmark of pagination measures. A listing now keeps each run's JSON
//! text with a fingerprint of everything it was rendered from, and copies the text into the
//! page while the fingerprint is unchanged.
//!
//! The fingerprint hashes every field of the run, through an exhaustive destructuring (a field
//! added to [`Run`] does not compile until it is hashed here), and the id of the run's root,
//! the one thing [`State::run_json`] reads outside the run. So any change to a run, by any
//! route, renders it again on its next listing: answers are the same bytes as without the
//! cache. (A 64-bit hash can collide; the odds of a stale run are 2⁻⁶⁴ per change.)
//!
//! The cache also keeps every run sorted for each listing order asked for so far, which
//! `listing.rs` reuses while no run's sort key has changed: the other part of the simulator's
//! work on a page of a large listing (sorting 20,000 runs for each page of 500).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::run::{Progress, ScheduleRef, StatusMessage};
use super::{Artifact, PendingTask, Run, Script, State};

/// What the answers of `list_runs` have cost the simulator since it started, from
/// [`OzMock::list_runs_stats`](crate::OzMock::list_runs_stats): for benchmarks that need to
/// tell the simulator's own time from the client's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListRunsStats {
    /// Pages answered.
    pub pages: u64,
    /// Runs rendered and serialised for those pages (new, changed, or never listed before).
    pub runs_rendered: u64,
    /// Runs whose JSON was reused from an earlier listing.
    pub runs_reused: u64,
    /// Selecting the page: letting moving runs catch up, sorting (or checking that the sorted
    /// runs of an earlier page still hold), filtering, cutting.
    pub selecting: Duration,
    /// Producing the body from the selected runs: fingerprints, rendering and serialising the
    /// runs not reused, and copying every run's JSON into the page.
    pub rendering: Duration,
}

impl ListRunsStats {
    /// What was spent between `earlier` (an earlier reading of the same simulator) and this
    /// reading.
    pub fn since(&self, earlier: &ListRunsStats) -> ListRunsStats {
        ListRunsStats {
            pages: self.pages.saturating_sub(earlier.pages),
            runs_rendered: self.runs_rendered.saturating_sub(earlier.runs_rendered),
            runs_reused: self.runs_reused.saturating_sub(earlier.runs_reused),
            selecting: self.selecting.saturating_sub(earlier.selecting),
            rendering: self.rendering.saturating_sub(earlier.rendering),
        }
    }
}

/// What listings keep between requests: the JSON of listed runs, by run index (runs are never
/// removed, so an index names one run), and the runs sorted for each order.
#[derive(Default)]
pub(crate) struct RenderCache {
    entries: Vec<Option<Entry>>,
    /// Every run in listing order, for the sorts listed so far (see `listing.rs`).
    pub(super) orders: Vec<super::listing::SortedRuns>,
    stats: ListRunsStats,
}

impl RenderCache {
    /// What the listings have cost so far.
    pub(crate) fn stats(&self) -> ListRunsStats {
        self.stats
    }
}

struct Entry {
    fingerprint: u64,
    json: Box<str>,
}

impl State {
    /// The body of a `list_runs` answer: `{"runs":[...],"page_info":{...}}`, the runs of `page`
    /// in order, each as [`State::run_json`] renders it for a listing.
    pub(crate) fn list_body(&mut self, page: &[usize], page_info: &Value) -> String {
        let started = Instant::now();
        let mut texts: Vec<&str> = Vec::with_capacity(page.len());
        let (mut rendered, mut reused) = (0u64, 0u64);
        // Fill the cache first (that needs `&mut`), then borrow the texts out of it.
        for &idx in page {
            let fingerprint = self.fingerprint(idx);
            let cache = &mut self.render_cache.entries;
            if cache.len() <= idx {
                cache.resize_with(idx + 1, || None);
            }
            match &cache[idx] {
                Some(entry) if entry.fingerprint == fingerprint => reused += 1,
                _ => {
                    let json = self.run_json(idx, false).to_string().into_boxed_str();
                    self.render_cache.entries[idx] = Some(Entry { fingerprint, json });
                    rendered += 1;
                }
            }
        }
        let entries = &self.render_cache.entries;
        texts.extend(page.iter().map(|&idx| match &entries[idx] {
            Some(entry) => &*entry.json,
            None => unreachable!("every run of the page was cached above"),
        }));
        let page_info = page_info.to_string();
        let length = texts.iter().map(|t| t.len() + 1).sum::<usize>() + page_info.len() + 32;
        // The member order of the `Value` this replaces: `serde_json` keeps insertion order
        // in this workspace (`preserve_order`), and the handler inserted `runs` first.
        let mut body = String::with_capacity(length);
        body.push_str("{\"runs\":[");
        for (i, text) in texts.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(text);
        }
        body.push_str("],\"page_info\":");
        body.push_str(&page_info);
        body.push('}');
        let stats = &mut self.render_cache.stats;
        stats.pages += 1;
        stats.runs_rendered += rendered;
        stats.runs_reused += reused;
        stats.rendering += started.elapsed();
        body
    }

    /// Adds the time spent selecting a page to the statistics.
    pub(crate) fn record_selecting(&mut self, time: Duration) {
        self.render_cache.stats.selecting += time;
    }

    /// A hash of everything [`State::run_json`] reads to render run `idx`.
    fn fingerprint(&self, idx: usize) -> u64 {
        let mut h = DefaultHasher::new();
        let root = self.root_of(idx);
        self.runs[root].id.hash(&mut h);
        hash_run(&self.runs[idx], &mut h);
        h.finish()
    }
}

/// Every field of a run. Destructured without `..`: a new field must be added here.
fn hash_run(run: &Run, h: &mut DefaultHasher) {
    let Run {
        id,
        title,
        prompt,
        script,
        phase,
        progress,
        seeded,
        created_at,
        updated_at,
        started_at,
        ended_at,
        source,
        execution_location,
        creator,
        team,
        config,
        model_id,
        config_name,
        environment_id,
        harness,
        skill,
        metadata,
        parent_run_id,
        children,
        schedule,
        conversation_id,
        session_id,
        artifacts,
        status_message,
        execution_id,
        transitions,
        last_event_sequence,
        followups,
        scores,
        submitted_prompt,
        factory_uid,
        pending_task,
    } = run;
    (id, title, prompt, phase, seeded).hash(h);
    (created_at, updated_at, started_at, ended_at).hash(h);
    (source, execution_location, creator, team).hash(h);
    (model_id, config_name, environment_id, harness, skill).hash(h);
    (metadata, parent_run_id, children).hash(h);
    (conversation_id, session_id, execution_id, transitions).hash(h);
    (
        last_event_sequence,
        followups,
        submitted_prompt,
        factory_uid,
    )
        .hash(h);
    hash_script(script, h);
    hash_progress(progress, h);
    match config {
        Some(config) => {
            1u8.hash(h);
            hash_value(config, h);
        }
        None => 0u8.hash(h),
    }
    scores.len().hash(h);
    for score in scores {
        hash_value(score, h);
    }
    artifacts.len().hash(h);
    for artifact in artifacts {
        let Artifact {
            uid,
            kind,
            created_at,
            title,
            url,
            pr_status,
        } = artifact;
        (uid, kind.as_str(), created_at, title, url, pr_status).hash(h);
    }
    match schedule {
        Some(ScheduleRef { id, name, cron }) => (1u8, id, name, cron).hash(h),
        None => 0u8.hash(h),
    }
    match status_message {
        Some(StatusMessage {
            message,
            error_code,
            retryable,
        }) => (1u8, message, error_code, retryable).hash(h),
        None => 0u8.hash(h),
    }
    match pending_task {
        Some(PendingTask { factory_uid, title }) => (1u8, factory_uid, title).hash(h),
        None => 0u8.hash(h),
    }
}

fn hash_script(script: &Script, h: &mut DefaultHasher) {
    let Script {
        outcome,
        slow,
        transcript_size,
        local,
        file,
        screenshot,
        external,
    } = script;
    (
        outcome,
        slow,
        transcript_size,
        local,
        file,
        screenshot,
        external,
    )
        .hash(h);
}

fn hash_progress(progress: &Progress, h: &mut DefaultHasher) {
    match progress {
        Progress::Frozen => 0u8.hash(h),
        Progress::Reads { reads } => (1u8, reads).hash(h),
        Progress::Timed {
            origin,
            origin_wall,
            durations,
        } => (2u8, origin, origin_wall, durations).hash(h),
    }
}

/// A JSON value, members in their order (the order they are serialised in).
fn hash_value(value: &Value, h: &mut DefaultHasher) {
    match value {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => {
            2u8.hash(h);
            if let Some(i) = n.as_i64() {
                (0u8, i).hash(h);
            } else if let Some(u) = n.as_u64() {
                (1u8, u).hash(h);
            } else {
                (2u8, n.as_f64().map(f64::to_bits)).hash(h);
            }
        }
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(items) => {
            (4u8, items.len()).hash(h);
            for item in items {
                hash_value(item, h);
            }
        }
        Value::Object(members) => {
            (5u8, members.len()).hash(h);
            for (key, item) in members {
                key.hash(h);
                hash_value(item, h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{NewRun, Phase, Progression};

    fn state() -> State {
        let now = chrono::Utc::now();
        let mut state = State::new(Progression::Instant, 2048, 7, now);
        state.seed_runs(30, now);
        for i in 0..4 {
            state
                .create_run(
                    NewRun {
                        prompt: format!("[file] [screenshot] Fix test #{i}"),
                        title: None,
                        skill: None,
                        config: Some(serde_json::json!({"model_id": "auto", "name": "n"})),
                        team: i % 2 == 0,
                        metadata: Default::default(),
                        parent_run_id: None,
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

    /// The body the handler used to build: a `Value` of the rendered runs, serialised.
    fn reference(state: &State, page: &[usize], page_info: &Value) -> String {
        let mut body = serde_json::Map::new();
        let runs = page.iter().map(|&i| state.run_json(i, false)).collect();
        body.insert("runs".to_owned(), Value::Array(runs));
        body.insert("page_info".to_owned(), page_info.clone());
        Value::Object(body).to_string()
    }

    #[test]
    fn cached_pages_are_the_bytes_of_fresh_ones_and_follow_every_change() {
        let mut state = state();
        let page: Vec<usize> = (0..state.runs.len()).rev().collect();
        let info = serde_json::json!({"has_next_page": false});
        let first = state.list_body(&page, &info);
        assert_eq!(first, reference(&state, &page, &info));
        assert_eq!(state.render_cache.stats.runs_rendered, page.len() as u64);

        let again = state.list_body(&page, &info);
        assert_eq!(again, first);
        assert_eq!(state.render_cache.stats.runs_reused, page.len() as u64);

        // Changes through the state's own paths and by hand are all seen.
        let now = chrono::Utc::now();
        let created = state.runs.len() - 1;
        state.observe(created, now);
        state
            .followup(created, "also fix the lint".to_owned(), false, now)
            .unwrap();
        state.force_phase(&state.runs[3].id.clone(), Phase::Cancelled, now);
        state.runs[5].title.push_str(" (renamed)");
        state.runs[6]
            .metadata
            .insert("k".to_owned(), "v".to_owned());
        let changed = state.list_body(&page, &info);
        assert_ne!(changed, first);
        assert_eq!(changed, reference(&state, &page, &info));
        assert_eq!(
            state.render_cache.stats.runs_rendered,
            page.len() as u64 + 4
        );
    }

    #[test]
    fn a_child_is_rendered_with_its_root() {
        let mut state = state();
        let now = chrono::Utc::now();
        let parent = state.runs[0].id.clone();
        let child = state
            .create_run(
                NewRun {
                    prompt: "child".to_owned(),
                    title: None,
                    skill: None,
                    config: None,
                    team: false,
                    metadata: Default::default(),
                    parent_run_id: Some(parent),
                    agent_identity_uid: None,
                    conversation_id: None,
                    factory_uid: None,
                    pending_task: None,
                },
                now,
            )
            .expect("child created");
        let info = serde_json::json!({"has_next_page": false});
        let body = state.list_body(&[child, 0], &info);
        assert_eq!(body, reference(&state, &[child, 0], &info));
    }
}
