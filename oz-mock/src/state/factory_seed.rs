//! Work already under way in the seeded factories: runs with their conversations, child runs
//! and artifacts, and the tasks bound to them in every stage.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::run::{Progress, Script};
use super::{Artifact, ArtifactKind, Phase, Run, Stage, State, Task, status_message};

/// A run to seed.
struct SeedRun {
    title: &'static str,
    phase: Phase,
    source: &'static str,
    creator: usize,
    harness: &'static str,
    factory: Option<usize>,
    parent: Option<usize>,
    /// Hours before the simulator started.
    hours_ago: i64,
    ticket: Option<(&'static str, &'static str)>,
    artifacts: &'static [(ArtifactKind, &'static str, &'static str, &'static str)],
}

impl SeedRun {
    const fn new(title: &'static str, phase: Phase) -> SeedRun {
        SeedRun {
            title,
            phase,
            source: "API",
            creator: 0,
            harness: "oz",
            factory: None,
            parent: None,
            hours_ago: 1,
            ticket: None,
            artifacts: &[],
        }
    }
}

const PR_OPEN: &str = "open";
const PR_MERGED: &str = "merged";

impl State {
    /// Seeds runs, conversations and tasks in every stage into the two seeded factories, plus
    /// one finished run whose conversation no task is bound to yet.
    pub(crate) fn seed_factory_tasks(&mut self, now: DateTime<Utc>) {
        let web = 0;
        let platform = 1;
        let factory = |f: usize| Some(f);

        let triage = self.seed_run(
            SeedRun {
                source: "LINEAR",
                factory: factory(web),
                hours_ago: 2,
                ticket: Some(("linear", "WEB-101")),
                ..SeedRun::new("Login button misaligned on Safari", Phase::InProgress)
            },
            now,
        );
        self.seed_task(web, triage, Stage::Triage, None, now);

        let spec = self.seed_run(
            SeedRun {
                source: "SLACK",
                creator: 1,
                factory: factory(web),
                hours_ago: 30,
                artifacts: &[(
                    ArtifactKind::Plan,
                    "Saved searches: spec",
                    "https://app.warp.dev/drive/notebook/saved-searches",
                    PR_OPEN,
                )],
                ..SeedRun::new("Spec saved searches", Phase::Succeeded)
            },
            now,
        );
        self.seed_task(
            web,
            spec,
            Stage::Spec,
            Some("Users want to save a search and get notified of new matches."),
            now,
        );

        let implement = self.seed_run(
            SeedRun {
                factory: factory(web),
                hours_ago: 5,
                ticket: Some(("linear", "WEB-87")),
                ..SeedRun::new("Implement the dark mode toggle", Phase::InProgress)
            },
            now,
        );
        for (title, phase) in [
            ("Implement: settings panel switch", Phase::InProgress),
            ("Implement: theme tokens", Phase::Queued),
        ] {
            self.seed_run(
                SeedRun {
                    source: "ORCHESTRATION",
                    factory: factory(web),
                    parent: Some(implement),
                    hours_ago: 4,
                    ..SeedRun::new(title, phase)
                },
                now,
            );
        }
        self.seed_task(web, implement, Stage::Implement, None, now);

        let review = self.seed_run(
            SeedRun {
                source: "LINEAR",
                factory: factory(web),
                hours_ago: 26,
                ticket: Some(("linear", "WEB-64")),
                artifacts: &[(
                    ArtifactKind::ExternalReference,
                    "WEB-64",
                    "https://linear.app/warp-mock/issue/WEB-64",
                    PR_OPEN,
                )],
                ..SeedRun::new("Fix checkout total rounding", Phase::Succeeded)
            },
            now,
        );
        self.seed_run(
            SeedRun {
                source: "ORCHESTRATION",
                factory: factory(web),
                parent: Some(review),
                hours_ago: 25,
                artifacts: &[
                    (
                        ArtifactKind::PullRequest,
                        "oz/checkout-rounding",
                        "https://github.com/warp-mock/web-app/pull/412",
                        PR_OPEN,
                    ),
                    (
                        ArtifactKind::Screenshot,
                        "Checkout page with the corrected total",
                        "",
                        PR_OPEN,
                    ),
                ],
                ..SeedRun::new("Implement: round totals half-even", Phase::Succeeded)
            },
            now,
        );
        self.seed_task(web, review, Stage::Review, None, now);

        let complete = self.seed_run(
            SeedRun {
                factory: factory(web),
                hours_ago: 72,
                artifacts: &[
                    (
                        ArtifactKind::PullRequest,
                        "oz/react-19",
                        "https://github.com/warp-mock/web-app/pull/398",
                        PR_MERGED,
                    ),
                    (ArtifactKind::File, "Upgrade notes", "", PR_OPEN),
                ],
                ..SeedRun::new("Upgrade to React 19", Phase::Succeeded)
            },
            now,
        );
        self.seed_task(web, complete, Stage::Complete, None, now);

        let cancelled = self.seed_run(
            SeedRun {
                creator: 1,
                factory: factory(web),
                hours_ago: 50,
                ..SeedRun::new("Add an end-to-end test for sign-up", Phase::Cancelled)
            },
            now,
        );
        self.seed_task(web, cancelled, Stage::Cancelled, None, now);

        let blocked = self.seed_run(
            SeedRun {
                source: "JIRA",
                harness: "claude",
                factory: factory(platform),
                hours_ago: 8,
                ticket: Some(("jira", "PLAT-12")),
                ..SeedRun::new("Rotate the database credentials", Phase::Blocked)
            },
            now,
        );
        self.seed_task(platform, blocked, Stage::Triage, None, now);

        let migrating = self.seed_run(
            SeedRun {
                harness: "claude",
                factory: factory(platform),
                hours_ago: 3,
                ticket: Some(("jira", "PLAT-9")),
                ..SeedRun::new(
                    "Move the queue workers to the new runtime",
                    Phase::InProgress,
                )
            },
            now,
        );
        self.seed_task(platform, migrating, Stage::Implement, None, now);

        let tagging = self.seed_run(
            SeedRun {
                creator: 1,
                harness: "codex",
                factory: factory(platform),
                hours_ago: 20,
                ticket: Some(("jira", "PLAT-4")),
                artifacts: &[
                    (
                        ArtifactKind::PullRequest,
                        "oz/tag-buckets",
                        "https://gitlab.com/warp-mock/platform/backend/-/merge_requests/77",
                        PR_OPEN,
                    ),
                    (
                        ArtifactKind::ExternalReference,
                        "PLAT-4",
                        "https://warp-mock.atlassian.net/browse/PLAT-4",
                        PR_OPEN,
                    ),
                ],
                ..SeedRun::new("Tag every storage bucket with its owner", Phase::Succeeded)
            },
            now,
        );
        self.seed_task(platform, tagging, Stage::Review, None, now);

        self.seed_run(
            SeedRun {
                hours_ago: 6,
                ..SeedRun::new("Investigate the flaky checkout test", Phase::Succeeded)
            },
            now,
        );
    }

    fn seed_run(&mut self, seed: SeedRun, now: DateTime<Utc>) -> usize {
        let created_at = now - Duration::hours(seed.hours_ago);
        let claimed_at = created_at + Duration::seconds(20);
        let started_at = created_at + Duration::seconds(45);
        let ended_at = created_at + Duration::minutes(18);
        let phase = seed.phase;
        let mut transitions = vec![(Phase::Queued, created_at, 1)];
        if phase.step() >= Phase::Claimed.step() && phase != Phase::Cancelled {
            transitions.push((Phase::Claimed, claimed_at, 1));
        }
        if phase.step() >= Phase::InProgress.step() && phase != Phase::Cancelled {
            transitions.push((Phase::InProgress, started_at, 1));
        }
        if phase.is_terminal() {
            transitions.push((phase, ended_at, 1));
        }
        let started = phase.step() >= Phase::InProgress.step() && phase != Phase::Cancelled;
        let updated_at = transitions.last().map_or(created_at, |t| t.1);
        let id = self.uuid();
        let conversation_id = (phase != Phase::Queued).then(|| self.uuid());
        let session_id = started.then(|| self.uuid());
        let factory = seed.factory.map(|f| {
            let f = &self.factories[f];
            (
                f.uid.clone(),
                f.foreman_agent,
                f.default_environment.clone(),
                f.default_model,
            )
        });
        let mut config = json!({"harness": {"type": seed.harness}});
        if let Some((_, foreman, environment, model)) = &factory {
            config["name"] = json!(if seed.parent.is_some() {
                "implementer"
            } else {
                foreman
            });
            if let Some(env) = environment {
                config["environment_id"] = json!(env);
            }
            if let Some(model) = model {
                config["model_id"] = json!(model);
            }
            if seed.harness == "claude" {
                config["harness"]["model_id"] = json!("claude-sonnet-4-6");
            }
        }
        let mut metadata = BTreeMap::new();
        if let Some((source, ticket)) = seed.ticket {
            metadata.insert("ticket_source".to_owned(), source.to_owned());
            metadata.insert("ticket_id".to_owned(), ticket.to_owned());
        }
        let artifacts: Vec<Artifact> = seed
            .artifacts
            .iter()
            .map(|&(kind, title, url, pr_status)| Artifact {
                uid: self.uuid(),
                kind,
                created_at: ended_at,
                title: title.to_owned(),
                url: url.to_owned(),
                pr_status,
            })
            .collect();
        let parent_run_id = seed.parent.map(|p| self.runs[p].id.clone());
        let run = Run {
            id: id.clone(),
            title: seed.title.to_owned(),
            prompt: seed.title.to_owned(),
            submitted_prompt: seed.title.to_owned(),
            script: Script::default(),
            phase,
            progress: Progress::Frozen,
            seeded: false,
            created_at,
            updated_at,
            started_at: started.then_some(started_at),
            ended_at: phase.is_terminal().then_some(ended_at),
            source: seed.source,
            execution_location: "REMOTE",
            creator: seed.creator,
            team: true,
            model_id: factory.as_ref().and_then(|f| f.3).map(str::to_owned),
            config_name: config
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_owned),
            environment_id: factory.as_ref().and_then(|f| f.2.clone()),
            harness: Some(seed.harness.to_owned()),
            config: Some(config),
            skill: None,
            metadata,
            parent_run_id,
            children: Vec::new(),
            schedule: None,
            conversation_id,
            session_id,
            artifacts,
            status_message: phase.is_terminal().then(|| status_message(phase)),
            execution_id: 1,
            transitions,
            last_event_sequence: None,
            followups: Vec::new(),
            scores: Vec::new(),
            factory_uid: factory.map(|f| f.0),
            pending_task: None,
        };
        let idx = self.insert_run(run);
        for (i, artifact) in self.runs[idx].artifacts.iter().enumerate() {
            self.artifact_index.insert(artifact.uid.clone(), (idx, i));
        }
        if let Some(parent) = seed.parent {
            self.runs[parent].children.push(id);
        }
        idx
    }

    fn seed_task(
        &mut self,
        factory: usize,
        run: usize,
        stage: Stage,
        description: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let uid = self.uuid();
        let r = &self.runs[run];
        let Some(conversation_id) = r.conversation_id.clone() else {
            return;
        };
        let created_at = r.created_at + Duration::minutes(1);
        let updated_at = r.updated_at.max(created_at).min(now);
        let task = Task {
            uid,
            factory_uid: self.factories[factory].uid.clone(),
            conversation_id,
            run_id: r.id.clone(),
            title: r.title.clone(),
            description: description.map(str::to_owned),
            stage,
            created_at,
            updated_at,
            deleted_at: None,
        };
        self.tasks.push(task);
    }
}
