//! Pre-created finished runs for pagination tests and benchmarks.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::run::{Progress, Script};
use super::{Phase, Run, State, schedule_ref};

const STATES: [Phase; 10] = [
    Phase::Succeeded,
    Phase::Failed,
    Phase::Succeeded,
    Phase::Error,
    Phase::Cancelled,
    Phase::Succeeded,
    Phase::Blocked,
    Phase::InProgress,
    Phase::Queued,
    Phase::Succeeded,
];

const SOURCES: [&str; 7] = [
    "API",
    "SLACK",
    "LINEAR",
    "SCHEDULED_AGENT",
    "GITHUB_ACTION",
    "CLI",
    "WEB_APP",
];

const SKILLS: [&str; 2] = [
    "warp-mock/skills:review/SKILL.md",
    "warp-mock/skills:triage/SKILL.md",
];

impl State {
    /// Adds `count` runs that do not move, created one minute apart before `now`.
    ///
    /// Run `i` (0-based) has state `STATES[i % 10]`, source `SOURCES[i % 7]` (every 13th run is a
    /// LOCAL run), skill `SKILLS[i % 4]` for `i % 4 < 2`, the first environment when `i` is even,
    /// metadata `{"batch": "b{i % 10}", "team": "core"|"infra"}` and a title containing
    /// `seeded run #{i}`.
    pub(crate) fn seed_runs(&mut self, count: usize, now: DateTime<Utc>) {
        self.runs.reserve(count);
        self.run_index.reserve(count);
        let env = self.environments[0].uid.clone();
        for i in 0..count {
            let created_at = now
                - Duration::minutes(i64::try_from(count - i).unwrap_or(i64::MAX / 120))
                - Duration::minutes(10);
            let updated_at = created_at + Duration::seconds(i64::try_from(i % 9).unwrap_or(0) * 7);
            let phase = STATES[i % STATES.len()];
            let local = i % 13 == 0;
            let source = if local {
                "LOCAL"
            } else {
                SOURCES[i % SOURCES.len()]
            };
            let id = self.uuid();
            let mut metadata = BTreeMap::new();
            metadata.insert("batch".to_owned(), format!("b{}", i % 10));
            metadata.insert(
                "team".to_owned(),
                if i % 2 == 0 { "core" } else { "infra" }.to_owned(),
            );
            let title = format!("Fix flaky test (seeded run #{i})");
            let run = Run {
                id,
                prompt: title.clone(),
                submitted_prompt: title.clone(),
                title,
                script: Script::default(),
                phase,
                progress: Progress::Frozen,
                seeded: true,
                created_at,
                updated_at,
                started_at: (phase.step() >= 3).then_some(created_at + Duration::seconds(2)),
                ended_at: phase.is_terminal().then_some(updated_at),
                source,
                execution_location: if local { "LOCAL" } else { "REMOTE" },
                creator: i % 2,
                team: i % 3 == 0,
                config: None,
                model_id: Some(if i % 2 == 0 { "auto" } else { "gpt-5-4-high" }.to_owned()),
                config_name: Some(format!("seed-agent-{}", i % 3)),
                environment_id: (i % 2 == 0).then(|| env.clone()),
                harness: None,
                skill: (i % 4 < 2).then(|| SKILLS[i % 4].to_owned()),
                metadata,
                parent_run_id: None,
                children: Vec::new(),
                schedule: (source == "SCHEDULED_AGENT")
                    .then(|| schedule_ref("sched-seeded-nightly", "Nightly triage", "0 3 * * *")),
                conversation_id: None,
                session_id: None,
                artifacts: Vec::new(),
                status_message: None,
                execution_id: 1,
                transitions: Vec::new(),
                last_event_sequence: None,
                followups: Vec::new(),
                scores: Vec::new(),
                factory_uid: None,
                pending_task: None,
            };
            self.insert_run(run);
        }
    }
}
