//! The simulator's data: runs, events, messages, schedules, identities and the fixed catalog
//! (environments, models, agents, workers).

mod cursor;
pub(crate) mod factory;
mod factory_seed;
mod listing;
pub(crate) mod render;
mod render_cache;
mod run;
mod seed;
pub(crate) mod task;
pub(crate) mod transcript;
pub(crate) mod usage;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub(crate) use factory::Factory;
pub(crate) use listing::ListRequest;
pub use render_cache::ListRunsStats;
pub(crate) use run::{Artifact, ArtifactKind, PendingTask, Phase, Run, Script};
use run::{Progress, ScheduleRef, StatusMessage};
pub use run::{Progression, RunState, UnknownRunState};
pub(crate) use task::{Stage, Task};

use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::ids;

/// Who created or executed runs, schedules and identities.
pub(crate) struct Principal {
    pub(crate) kind: &'static str,
    pub(crate) uid: &'static str,
    pub(crate) display_name: &'static str,
    pub(crate) email: Option<&'static str>,
}

pub(crate) const PRINCIPALS: [Principal; 2] = [
    Principal {
        kind: "user",
        uid: "usr_mock_0001",
        display_name: "Mock User",
        email: Some("mock.user@example.com"),
    },
    Principal {
        kind: "service_account",
        uid: "sa_mock_ci",
        display_name: "CI service account",
        email: None,
    },
];

pub(crate) const TEAM_UID: &str = "team_mock_0001";

pub(crate) struct Environment {
    pub(crate) uid: String,
    pub(crate) name: &'static str,
    pub(crate) repo: (&'static str, &'static str),
    pub(crate) image: &'static str,
    pub(crate) last_updated: DateTime<Utc>,
}

pub(crate) struct Event {
    pub(crate) sequence: i64,
    pub(crate) run: usize,
    pub(crate) event_type: String,
    pub(crate) ref_id: Option<String>,
    pub(crate) execution_id: Option<String>,
    pub(crate) occurred_at: DateTime<Utc>,
}

pub(crate) struct Message {
    pub(crate) id: String,
    pub(crate) recipient: usize,
    pub(crate) sender_run_id: String,
    pub(crate) subject: String,
    pub(crate) body: String,
    pub(crate) sent_at: DateTime<Utc>,
    pub(crate) delivered_at: Option<DateTime<Utc>>,
    pub(crate) read_at: Option<DateTime<Utc>>,
}

pub(crate) struct Schedule {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) cron: String,
    pub(crate) enabled: bool,
    pub(crate) prompt: String,
    pub(crate) mode: Option<String>,
    pub(crate) agent_uid: Option<String>,
    pub(crate) agent_config: Option<Value>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) team: bool,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

pub(crate) struct Identity {
    pub(crate) uid: String,
    pub(crate) fields: serde_json::Map<String, Value>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

/// The inputs of a new run, already validated.
pub(crate) struct NewRun {
    pub(crate) prompt: String,
    pub(crate) title: Option<String>,
    pub(crate) skill: Option<String>,
    pub(crate) config: Option<Value>,
    pub(crate) team: bool,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) parent_run_id: Option<String>,
    pub(crate) agent_identity_uid: Option<String>,
    pub(crate) conversation_id: Option<String>,
    /// Set for runs dispatched to a factory.
    pub(crate) factory_uid: Option<String>,
    /// The factory task to create once the run leaves QUEUED.
    pub(crate) pending_task: Option<PendingTask>,
}

/// How a follow-up was routed (`outcome` of the follow-up answers) and the id of its durable
/// record, when it has one.
pub(crate) struct FollowupRouting {
    pub(crate) outcome: &'static str,
    pub(crate) followup_id: Option<String>,
}

pub(crate) struct State {
    pub(crate) progression: Progression,
    pub(crate) transcript_size: usize,
    pub(crate) rng: fastrand::Rng,
    /// Runs in creation order; an index into it is a run's handle. Kept in step with
    /// `run_index` by the methods of this module only.
    runs: Vec<Run>,
    run_index: HashMap<String, usize>,
    /// The runs whose progress is not [`Progress::Frozen`]: the only ones a listing lets catch
    /// up, so that a listing of many ended runs does not visit each of them.
    moving: BTreeSet<usize>,
    /// Counts the changes of a sort key of any run (`updated_at` after creation): a listing
    /// reuses the runs it sorted while this and the number of runs hold.
    sort_key_changes: u64,
    pub(crate) created_runs: usize,
    pub(crate) artifact_index: HashMap<String, (usize, usize)>,
    pub(crate) events: Vec<Event>,
    pub(crate) messages: Vec<Message>,
    pub(crate) message_index: HashMap<String, usize>,
    pub(crate) schedules: BTreeMap<String, Schedule>,
    pub(crate) identities: BTreeMap<String, Identity>,
    pub(crate) environments: Vec<Environment>,
    pub(crate) factories: Vec<Factory>,
    pub(crate) tasks: Vec<Task>,
    pub(crate) started_at: DateTime<Utc>,
    /// The JSON of listed runs, reused until they change.
    pub(crate) render_cache: render_cache::RenderCache,
    /// Runs the team can still create (`None`: unlimited).
    pub(crate) credits: Option<u64>,
    /// Runs of the team that may be live at once (`None`: no limit).
    pub(crate) concurrency_limit: Option<usize>,
    /// Sessions a run has left for a newer execution's, with the run: a shared link to one
    /// still leads to the conversation.
    pub(crate) earlier_sessions: HashMap<String, usize>,
    /// The number of events recorded, sent on every new one: what wakes the event streams.
    events_recorded: tokio::sync::watch::Sender<usize>,
}

impl State {
    pub(crate) fn new(
        progression: Progression,
        transcript_size: usize,
        seed: u64,
        now: DateTime<Utc>,
    ) -> State {
        let mut rng = fastrand::Rng::with_seed(seed);
        let environments = vec![
            Environment {
                uid: ids::short_id(&mut rng),
                name: "web-app",
                repo: ("warp-mock", "web-app"),
                image: "node:22-bookworm",
                last_updated: now - chrono::Duration::days(2),
            },
            Environment {
                uid: ids::short_id(&mut rng),
                name: "backend",
                repo: ("warp-mock", "backend"),
                image: "rust:1.88",
                last_updated: now - chrono::Duration::days(9),
            },
        ];
        let factories = factory::seeded(&mut rng, &environments, now);
        State {
            progression,
            transcript_size,
            rng,
            runs: Vec::new(),
            run_index: HashMap::new(),
            moving: BTreeSet::new(),
            sort_key_changes: 0,
            created_runs: 0,
            artifact_index: HashMap::new(),
            events: Vec::new(),
            messages: Vec::new(),
            message_index: HashMap::new(),
            schedules: BTreeMap::new(),
            identities: BTreeMap::new(),
            environments,
            factories,
            tasks: Vec::new(),
            started_at: now,
            render_cache: render_cache::RenderCache::default(),
            credits: None,
            concurrency_limit: None,
            earlier_sessions: HashMap::new(),
            events_recorded: tokio::sync::watch::Sender::new(0),
        }
    }

    /// A receiver that sees the number of events recorded change with every new event.
    pub(crate) fn watch_events(&self) -> tokio::sync::watch::Receiver<usize> {
        self.events_recorded.subscribe()
    }

    /// The direct children of a run (runs created with it as their parent), oldest first.
    pub(crate) fn children_of(&self, idx: usize) -> Vec<usize> {
        self.runs[idx]
            .children
            .iter()
            .filter_map(|child| self.run_index.get(child).copied())
            .collect()
    }

    /// When the next state of a run that moves with time is due (tokio's clock); `None` for a
    /// run that moves only when read, or not at all.
    pub(crate) fn next_transition(&self, idx: usize) -> Option<tokio::time::Instant> {
        self.runs[idx].next_transition()
    }

    pub(crate) fn uuid(&mut self) -> String {
        ids::uuid(&mut self.rng)
    }

    pub(crate) fn created_run_count(&self) -> usize {
        self.created_runs
    }

    pub(crate) fn run_count(&self) -> usize {
        self.runs.len()
    }

    pub(crate) fn phase_of(&self, run_id: &str) -> Option<Phase> {
        self.run_index.get(run_id).map(|&i| self.runs[i].phase)
    }

    pub(crate) fn find_run(&self, run_id: &str) -> ApiResult<usize> {
        self.run_index
            .get(run_id)
            .copied()
            .ok_or_else(|| ApiError::not_found(format!("run {run_id} not found")))
    }

    /// Finds a run and lets it catch up with its progression, as one read of it: the opening
    /// of every request that reads a run.
    pub(crate) fn observe_run(&mut self, run_id: &str, now: DateTime<Utc>) -> ApiResult<usize> {
        let idx = self.find_run(run_id)?;
        self.observe(idx, now);
        Ok(idx)
    }

    /// The run a handle from [`find_run`](Self::find_run) names.
    pub(crate) fn run(&self, idx: usize) -> &Run {
        &self.runs[idx]
    }

    /// Every run, oldest first.
    pub(crate) fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Keeps a score reported for a run.
    pub(crate) fn add_score(&mut self, idx: usize, score: Value) {
        self.runs[idx].scores.push(score);
    }

    pub(crate) fn environment(&self, uid: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.uid == uid)
    }

    /// The top-level run of a run's orchestration tree (the run itself when it has no parent).
    pub(crate) fn root_of(&self, idx: usize) -> usize {
        let mut current = idx;
        // The bound guards against a cycle, which the API never creates.
        for _ in 0..self.runs.len() {
            match self.runs[current]
                .parent_run_id
                .as_ref()
                .and_then(|p| self.run_index.get(p))
            {
                Some(&parent) => current = parent,
                None => break,
            }
        }
        current
    }

    /// Every descendant of a run (children, their children, ...), not the run itself.
    pub(crate) fn subtree(&self, root: usize) -> Vec<usize> {
        let mut found = Vec::new();
        let mut seen = std::collections::HashSet::from([root]);
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            for child in &self.runs[i].children {
                if let Some(&c) = self.run_index.get(child)
                    && seen.insert(c)
                {
                    found.push(c);
                    stack.push(c);
                }
            }
        }
        found
    }

    pub(crate) fn insert_run(&mut self, run: Run) -> usize {
        let idx = self.runs.len();
        self.run_index.insert(run.id.clone(), idx);
        if !matches!(run.progress, Progress::Frozen) {
            self.moving.insert(idx);
        }
        self.runs.push(run);
        idx
    }

    /// Creates a run through the API; returns its index.
    pub(crate) fn create_run(&mut self, new: NewRun, now: DateTime<Utc>) -> ApiResult<usize> {
        self.check_new_run(&new)?;
        if self.credits == Some(0) {
            return Err(ApiError::out_of_credits());
        }
        if let Some(limit) = self.concurrency_limit {
            let live = self.live_run_count(now);
            if live >= limit {
                return Err(ApiError::at_cloud_agent_capacity(live as u64));
            }
        }
        let idx = self.add_run(new, now);
        self.created_runs += 1;
        if let Some(credits) = self.credits.as_mut() {
            *credits -= 1;
        }
        Ok(idx)
    }

    /// Runs that have not ended, after time-based runs caught up (a run that ends on its first
    /// read, as with [`Progression::Instant`], is live until it is read).
    pub(crate) fn live_run_count(&mut self, now: DateTime<Utc>) -> usize {
        for idx in self.moving_runs() {
            self.catch_up(idx, now);
        }
        self.runs
            .iter()
            .filter(|run| !run.phase.is_terminal())
            .count()
    }

    /// The references of a new run (parent, identity, environment) that do not exist.
    fn check_new_run(&self, new: &NewRun) -> ApiResult<()> {
        if let Some(parent) = &new.parent_run_id
            && !self.run_index.contains_key(parent)
        {
            return Err(ApiError::invalid_request(format!(
                "parent run {parent} does not exist"
            )));
        }
        if let Some(uid) = &new.agent_identity_uid
            && !self.identities.contains_key(uid)
        {
            return Err(ApiError::invalid_request(format!(
                "agent identity {uid} does not exist"
            )));
        }
        if let Some(env) = config_str(new, "environment_id")
            && self.environment(&env).is_none()
        {
            return Err(ApiError::forbidden(format!(
                "environment {env} does not exist or is not accessible"
            )));
        }
        Ok(())
    }

    /// Adds a run whose references have been checked; returns its index. It is QUEUED and
    /// advances as the progression says.
    pub(crate) fn add_run(&mut self, new: NewRun, now: DateTime<Utc>) -> usize {
        let config_str = |key: &str| config_str(&new, key);
        let environment_id = config_str("environment_id");
        let script = Script::parse(&new.prompt);
        let title = new.title.clone().unwrap_or_else(|| derive_title(&new));
        let skill = new.skill.clone().or_else(|| config_str("skill_spec"));
        let harness = new
            .config
            .as_ref()
            .and_then(|c| c.pointer("/harness/type"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let id = self.uuid();
        let source = if new.parent_run_id.is_some() {
            "ORCHESTRATION"
        } else {
            "API"
        };
        let run = Run {
            id: id.clone(),
            title,
            prompt: new.prompt.clone(),
            progress: Progress::start(self.progression, script.slow, now),
            execution_location: if script.local { "LOCAL" } else { "REMOTE" },
            script,
            phase: Phase::Queued,
            seeded: false,
            created_at: now,
            updated_at: now,
            started_at: None,
            ended_at: None,
            source,
            creator: 0,
            team: new.team,
            model_id: config_str("model_id"),
            config_name: config_str("name"),
            config: new.config,
            environment_id,
            harness,
            skill,
            metadata: new.metadata,
            parent_run_id: new.parent_run_id.clone(),
            children: Vec::new(),
            schedule: None,
            conversation_id: new.conversation_id,
            session_id: None,
            artifacts: Vec::new(),
            status_message: None,
            execution_id: 1,
            transitions: vec![(Phase::Queued, now, 1)],
            last_event_sequence: None,
            followups: Vec::new(),
            scores: Vec::new(),
            submitted_prompt: new.prompt.clone(),
            factory_uid: new.factory_uid,
            pending_task: new.pending_task,
        };
        let idx = self.insert_run(run);
        if let Some(&p) = new
            .parent_run_id
            .and_then(|parent| self.run_index.get(&parent))
        {
            self.runs[p].children.push(id.clone());
            self.emit(p, "child_agent_started", Some(id), now);
        }
        idx
    }

    /// Lets the run catch up with its progression (one read).
    pub(crate) fn observe(&mut self, idx: usize, now: DateTime<Utc>) {
        self.advance(idx, now, true);
    }

    /// Lets time-based runs catch up without counting a read (for writes such as cancel).
    pub(crate) fn catch_up(&mut self, idx: usize, now: DateTime<Utc>) {
        self.advance(idx, now, false);
    }

    fn advance(&mut self, idx: usize, now: DateTime<Utc>, read: bool) {
        let steps = self.runs[idx].due_steps(now, read);
        for (phase, at) in steps {
            self.enter(idx, phase, at);
        }
    }

    /// Observes every run that still moves.
    pub(crate) fn observe_all(&mut self, now: DateTime<Utc>) {
        for idx in self.moving_runs() {
            self.observe(idx, now);
        }
    }

    /// The runs that still move, from `moving` (checked against every run in debug builds).
    fn moving_runs(&self) -> Vec<usize> {
        debug_assert!(
            self.runs
                .iter()
                .enumerate()
                .all(|(idx, run)| matches!(run.progress, Progress::Frozen)
                    != self.moving.contains(&idx)),
            "`moving` holds exactly the runs that are not frozen"
        );
        self.moving.iter().copied().collect()
    }

    /// Stops a run's progression.
    fn freeze(&mut self, idx: usize) {
        self.runs[idx].progress = Progress::Frozen;
        self.moving.remove(&idx);
    }

    /// Moves a run to `phase` now, through the states a run passes on its own way there (see
    /// [`Phase::path`]), and stops its progression. `false` for an unknown run.
    pub(crate) fn force_phase(&mut self, run_id: &str, phase: Phase, now: DateTime<Utc>) -> bool {
        let Some(&idx) = self.run_index.get(run_id) else {
            return false;
        };
        self.force_phase_of(idx, phase, now);
        true
    }

    pub(crate) fn force_phase_of(&mut self, idx: usize, phase: Phase, now: DateTime<Utc>) {
        self.freeze(idx);
        for step in self.runs[idx].phase.path(phase) {
            self.enter(idx, step, now);
        }
    }

    /// Records a transition and what comes with it.
    fn enter(&mut self, idx: usize, phase: Phase, at: DateTime<Utc>) {
        // A factory run's task is bound to its conversation, so the run gets one as soon as
        // it leaves QUEUED.
        let needs_conversation = matches!(phase, Phase::Claimed | Phase::InProgress)
            || phase.is_terminal() && phase != Phase::Cancelled
            || phase != Phase::Queued && self.runs[idx].pending_task.is_some();
        let conversation =
            (needs_conversation && self.runs[idx].conversation_id.is_none()).then(|| self.uuid());
        let session = (phase == Phase::InProgress).then(|| self.uuid());
        let new_artifacts = if phase == Phase::Succeeded && self.runs[idx].artifacts.is_empty() {
            self.make_artifacts(idx, at)
        } else {
            Vec::new()
        };
        let run = &mut self.runs[idx];
        run.phase = phase;
        run.updated_at = at;
        self.sort_key_changes += 1;
        run.transitions.push((phase, at, run.execution_id));
        if let Some(c) = conversation {
            run.conversation_id = Some(c);
        }
        if let Some(s) = session {
            if let Some(earlier) = run.session_id.replace(s) {
                self.earlier_sessions.insert(earlier, idx);
            }
            run.started_at.get_or_insert(at);
        }
        if phase.is_terminal() {
            run.ended_at = Some(at);
            run.progress = Progress::Frozen;
            self.moving.remove(&idx);
            run.status_message = Some(status_message(phase));
        } else {
            run.ended_at = None;
        }
        let first_new = run.artifacts.len();
        run.artifacts.extend(new_artifacts);
        for (i, artifact) in run.artifacts.iter().enumerate().skip(first_new) {
            self.artifact_index.insert(artifact.uid.clone(), (idx, i));
        }
        if let Some(kind) = phase.event_type() {
            self.emit(idx, kind, None, at);
        }
        if phase != Phase::Queued
            && let Some(pending) = self.runs[idx].pending_task.take()
        {
            self.create_pending_task(idx, pending, at);
        }
        if phase == Phase::Cancelled {
            self.cancel_tasks_of_root(idx, at);
        }
    }

    fn make_artifacts(&mut self, idx: usize, at: DateTime<Utc>) -> Vec<Artifact> {
        let script = self.runs[idx].script.clone();
        let short = self.runs[idx].id[..8].to_owned();
        let mut artifacts = vec![
            Artifact {
                uid: self.uuid(),
                kind: ArtifactKind::Plan,
                created_at: at,
                title: "Implementation plan".to_owned(),
                url: format!("https://app.warp.dev/drive/notebook/{short}"),
                pr_status: "open",
            },
            Artifact {
                uid: self.uuid(),
                kind: ArtifactKind::PullRequest,
                created_at: at,
                title: format!("oz/{short}"),
                url: format!(
                    "https://github.com/warp-mock/web-app/pull/{}",
                    100 + idx % 9000
                ),
                pr_status: "open",
            },
        ];
        if script.file {
            artifacts.push(Artifact {
                uid: self.uuid(),
                kind: ArtifactKind::File,
                created_at: at,
                title: "Test report".to_owned(),
                url: String::new(),
                pr_status: "open",
            });
        }
        if script.screenshot {
            artifacts.push(Artifact {
                uid: self.uuid(),
                kind: ArtifactKind::Screenshot,
                created_at: at,
                title: "Screenshot of the fixed page".to_owned(),
                url: String::new(),
                pr_status: "open",
            });
        }
        if script.external {
            artifacts.push(Artifact {
                uid: self.uuid(),
                kind: ArtifactKind::ExternalReference,
                created_at: at,
                title: format!("MOCK-{}", 100 + idx),
                url: format!("https://linear.app/warp-mock/issue/MOCK-{}", 100 + idx),
                pr_status: "open",
            });
        }
        artifacts
    }

    /// Appends an event to the run's stream; returns its sequence number.
    pub(crate) fn emit(
        &mut self,
        idx: usize,
        event_type: &str,
        ref_id: Option<String>,
        at: DateTime<Utc>,
    ) -> i64 {
        let sequence = i64::try_from(self.events.len()).unwrap_or(i64::MAX) + 1;
        let execution_id = Some(self.runs[idx].execution_id.to_string());
        self.events.push(Event {
            sequence,
            run: idx,
            event_type: event_type.to_owned(),
            ref_id,
            execution_id,
            occurred_at: at,
        });
        self.runs[idx].last_event_sequence = Some(sequence);
        self.events_recorded.send_replace(self.events.len());
        sequence
    }

    /// Cancels a run following the API's rules.
    pub(crate) fn cancel(&mut self, idx: usize, now: DateTime<Utc>) -> ApiResult<()> {
        self.catch_up(idx, now);
        let run = &self.runs[idx];
        if !run.is_cancellable_kind() {
            return Err(ApiError::not_supported(format!(
                "{} runs cannot be cancelled through the API",
                if run.execution_location == "LOCAL" {
                    "local"
                } else {
                    "GitHub Action"
                }
            )));
        }
        if run.phase.is_terminal() {
            return Err(ApiError::invalid_request(format!(
                "run {} is already {}",
                run.id,
                run.phase.as_str()
            )));
        }
        if run.phase == Phase::Pending {
            return Err(ApiError::conflict(
                "the run is being prepared (PENDING); retry the cancellation in a moment",
            ));
        }
        self.enter(idx, Phase::Cancelled, now);
        Ok(())
    }

    /// A follow-up, routed by the run's state: appended to the prompt of a run that has not
    /// started, handed to a live session, queued while the run is being claimed, or a new
    /// execution of an ended run.
    pub(crate) fn followup(
        &mut self,
        idx: usize,
        message: String,
        has_attachments: bool,
        now: DateTime<Utc>,
    ) -> ApiResult<FollowupRouting> {
        self.catch_up(idx, now);
        if message.trim().is_empty() && !has_attachments && self.runs[idx].conversation_id.is_none()
        {
            return Err(ApiError::invalid_request(
                "message must not be empty unless attachments are given or the run has a saved conversation",
            ));
        }
        let followup_id = self.uuid();
        let progression = self.progression;
        let run = &mut self.runs[idx];
        let outcome = match run.phase {
            Phase::Queued | Phase::Pending => {
                if !message.trim().is_empty() {
                    run.submitted_prompt.push_str("\n\n");
                    run.submitted_prompt.push_str(&message);
                }
                "queued_prompt"
            }
            Phase::Claimed => "queue_pending",
            Phase::InProgress => "live_session",
            _ if run.is_cancellable_kind() => {
                run.execution_id += 1;
                run.phase = Phase::Queued;
                run.updated_at = now;
                run.ended_at = None;
                run.status_message = None;
                run.script.outcome = None;
                run.transitions.push((Phase::Queued, now, run.execution_id));
                run.progress = Progress::start(progression, run.script.slow, now);
                if !matches!(run.progress, Progress::Frozen) {
                    self.moving.insert(idx);
                }
                self.sort_key_changes += 1;
                "handoff_execution"
            }
            _ => "queue_pending",
        };
        run.followups.push(message);
        Ok(FollowupRouting {
            outcome,
            followup_id: (outcome != "queued_prompt").then_some(followup_id),
        })
    }

    pub(crate) fn artifact(&self, uid: &str) -> ApiResult<(&Run, &Artifact)> {
        let &(run, i) = self
            .artifact_index
            .get(uid)
            .ok_or_else(|| ApiError::not_found(format!("artifact {uid} not found")))?;
        Ok((&self.runs[run], &self.runs[run].artifacts[i]))
    }

    /// Whether `uid` is a SCREENSHOT artifact of a run of the conversation.
    pub(crate) fn is_screenshot_of(&self, uid: &str, conversation_id: &str) -> bool {
        self.artifact(uid).is_ok_and(|(run, a)| {
            a.kind == ArtifactKind::Screenshot
                && run.conversation_id.as_deref() == Some(conversation_id)
        })
    }

    pub(crate) fn run_by_conversation(&self, conversation_id: &str) -> Option<usize> {
        self.runs
            .iter()
            .rposition(|r| r.conversation_id.as_deref() == Some(conversation_id))
    }

    /// The run that holds or held the session.
    pub(crate) fn run_by_session(&self, session_id: &str) -> Option<usize> {
        self.runs
            .iter()
            .rposition(|r| r.session_id.as_deref() == Some(session_id))
            .or_else(|| self.earlier_sessions.get(session_id).copied())
    }

    pub(crate) fn run_by_external_reference(&self, url: &str) -> Option<&Run> {
        self.runs.iter().rev().find(|r| {
            r.artifacts
                .iter()
                .any(|a| a.kind == ArtifactKind::ExternalReference && a.url == url)
        })
    }

    // ----- messages -----

    pub(crate) fn send_message(
        &mut self,
        sender_run_id: String,
        to: Vec<String>,
        subject: String,
        body: String,
        now: DateTime<Utc>,
    ) -> ApiResult<Vec<String>> {
        if to.is_empty() {
            return Err(ApiError::invalid_request("to must name at least one run"));
        }
        self.find_run(&sender_run_id)?;
        let mut recipients = Vec::with_capacity(to.len());
        for run_id in &to {
            let idx = self.find_run(run_id)?;
            self.catch_up(idx, now);
            if self.runs[idx].phase.is_terminal() {
                return Err(ApiError::not_supported(format!(
                    "recipient run {run_id} has ended ({})",
                    self.runs[idx].phase.as_str()
                )));
            }
            recipients.push(idx);
        }
        let mut ids = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            let id = self.uuid();
            self.message_index.insert(id.clone(), self.messages.len());
            self.messages.push(Message {
                id: id.clone(),
                recipient,
                sender_run_id: sender_run_id.clone(),
                subject: subject.clone(),
                body: body.clone(),
                sent_at: now,
                delivered_at: None,
                read_at: None,
            });
            self.emit(recipient, "new_message", Some(id.clone()), now);
            ids.push(id);
        }
        Ok(ids)
    }

    pub(crate) fn message_mut(&mut self, id: &str) -> ApiResult<&mut Message> {
        let &i = self
            .message_index
            .get(id)
            .ok_or_else(|| ApiError::not_found(format!("message {id} not found")))?;
        Ok(&mut self.messages[i])
    }

    // ----- transcripts -----

    /// The transcript document of a run, about `size` bytes of JSON. Transcripts of
    /// `transcript::STREAMED_MIN` bytes or more are generated while they are sent (exactly
    /// `size` bytes), so that a gigabyte transcript costs no gigabyte of memory.
    pub(crate) fn transcript(&self, idx: usize) -> transcript::Body {
        let run = &self.runs[idx];
        let size = run.script.transcript_size.unwrap_or(self.transcript_size);
        if size >= transcript::STREAMED_MIN {
            transcript::Body::Streamed(transcript::Streamed::new(transcript_head(run), size))
        } else {
            transcript::Body::Whole(transcript_bytes(run, size))
        }
    }
}

/// A text member of a new run's config.
fn config_str(new: &NewRun, key: &str) -> Option<String> {
    new.config
        .as_ref()
        .and_then(|c| c.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn derive_title(new: &NewRun) -> String {
    if new.prompt.trim().is_empty() {
        title_from(new.skill.as_deref().unwrap_or("Agent run"))
    } else {
        title_from(&new.prompt)
    }
}

/// A title from the first line of a text, at most 80 characters.
pub(crate) fn title_from(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    let mut title: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        title.push('…');
    }
    title
}

pub(crate) fn status_message(phase: Phase) -> StatusMessage {
    let (message, error_code, retryable) = match phase {
        Phase::Succeeded => (
            "Opened a pull request with the fix; all checks pass.",
            None,
            None,
        ),
        Phase::Failed => (
            "Environment setup failed: `npm ci` exited with status 1.",
            Some("environment_setup_failed"),
            Some(false),
        ),
        Phase::Error => (
            "The agent worker stopped unexpectedly.",
            Some("internal_error"),
            Some(true),
        ),
        Phase::Blocked => ("Waiting for approval to run `terraform apply`.", None, None),
        Phase::Cancelled => ("The run was cancelled.", None, None),
        _ => ("", None, None),
    };
    StatusMessage {
        message: message.to_owned(),
        error_code,
        retryable,
    }
}

/// The start of a transcript: its header fields and the first entry (the prompt), with the
/// `entries` array left open.
fn transcript_head(run: &Run) -> String {
    let header = json!({
        "format": run.harness.as_deref().unwrap_or("oz"),
        "run_id": run.id,
        "conversation_id": run.conversation_id,
        "created_at": rfc3339(run.created_at),
    });
    let mut out = header.to_string();
    out.pop(); // the closing brace; entries follow
    out.push_str(",\"entries\":[");
    out.push_str(&json!({"index": 0, "role": "user", "text": run.prompt}).to_string());
    out
}

/// A JSON transcript of about `size` bytes (never less than a small header).
fn transcript_bytes(run: &Run, size: usize) -> Vec<u8> {
    let mut out = transcript_head(run);
    let tail = transcript::TAIL;
    let mut i = 1usize;
    loop {
        let role = if i.is_multiple_of(2) {
            "user"
        } else {
            "assistant"
        };
        let text = format!("Step {i}: inspected the repository and ran the test suite.");
        let entry = json!({"index": i, "role": role, "text": text}).to_string();
        if out.len() + 1 + entry.len() + tail.len() > size {
            break;
        }
        out.push(',');
        out.push_str(&entry);
        i += 1;
    }
    out.push_str(tail);
    out.into_bytes()
}

/// The schedule reference of runs a schedule spawned (seeded ones).
pub(crate) fn schedule_ref(id: &str, name: &str, cron: &str) -> ScheduleRef {
    ScheduleRef {
        id: id.to_owned(),
        name: name.to_owned(),
        cron: cron.to_owned(),
    }
}
