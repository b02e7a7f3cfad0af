//! JSON bodies in the shapes of openapi.json, with the fields the service sends.

use serde_json::{Map, Value, json};

use super::{
    Artifact, ArtifactKind, Environment, Event, Identity, Message, PRINCIPALS, Phase, Run,
    Schedule, State, TEAM_UID,
};
use crate::clock::rfc3339;

/// `RunCreatorInfo` of a principal.
pub(crate) fn principal_json(index: usize) -> Value {
    let p = &PRINCIPALS[index % PRINCIPALS.len()];
    let mut v = json!({"type": p.kind, "uid": p.uid, "display_name": p.display_name});
    if let Some(email) = p.email {
        v["email"] = json!(email);
        v["photo_url"] = json!(format!("https://avatars.example.com/{}.png", p.uid));
    }
    v
}

fn scope_json(team: bool) -> Value {
    if team {
        json!({"type": "Team", "uid": TEAM_UID})
    } else {
        json!({"type": "User", "uid": PRINCIPALS[0].uid})
    }
}

/// `ArtifactItem` as listed on a run.
pub(crate) fn artifact_item(run: &Run, a: &Artifact) -> Value {
    let data = match a.kind {
        ArtifactKind::Plan => json!({
            "artifact_uid": a.uid,
            "document_uid": format!("doc-{}", &a.uid[..8]),
            "notebook_uid": format!("nb-{}", &a.uid[..8]),
            "url": a.url,
            "title": a.title,
        }),
        ArtifactKind::PullRequest => {
            json!({"url": a.url, "branch": a.title, "status": a.pr_status})
        }
        ArtifactKind::Screenshot => json!({
            "artifact_uid": a.uid,
            "mime_type": "image/png",
            "description": a.title,
        }),
        ArtifactKind::File => json!({
            "artifact_uid": a.uid,
            "filepath": "reports/test-report.md",
            "filename": "test-report.md",
            "title": a.title,
            "description": "Summary of the test run",
            "mime_type": "text/markdown",
            "size_bytes": file_content(run).len(),
        }),
        ArtifactKind::ExternalReference => json!({
            "reference_type": "linear_issue",
            "url": a.url,
            "title": a.title,
        }),
    };
    json!({"artifact_type": a.kind.as_str(), "created_at": rfc3339(a.created_at), "data": data})
}

/// Markdown of a run's PLAN artifact.
pub(crate) fn plan_content(run: &Run) -> String {
    format!(
        "# Plan\n\n1. Reproduce: {}\n2. Fix the cause.\n3. Add a regression test.\n",
        run.title
    )
}

/// Content of a run's FILE artifact.
pub(crate) fn file_content(run: &Run) -> String {
    format!("# Test report for {}\n\n- 128 passed\n- 0 failed\n", run.id)
}

/// A tiny PNG (1×1, transparent).
pub(crate) const SCREENSHOT_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

impl State {
    /// Content type and bytes of an artifact's stored object (what storage serves); `None`
    /// for an unknown artifact or one that has no bytes (a link).
    pub(crate) fn artifact_object(&self, uid: &str) -> Option<(&'static str, Vec<u8>)> {
        let (run, a) = self.artifact(uid).ok()?;
        match a.kind {
            ArtifactKind::Plan => Some(("text/markdown", plan_content(run).into_bytes())),
            ArtifactKind::File => Some(("text/markdown", file_content(run).into_bytes())),
            ArtifactKind::Screenshot => Some(("image/png", SCREENSHOT_PNG.to_vec())),
            ArtifactKind::PullRequest | ArtifactKind::ExternalReference => None,
        }
    }

    fn seeded_artifacts(run: &Run) -> Vec<Value> {
        if run.seeded && run.phase == Phase::Succeeded {
            vec![json!({
                "artifact_type": "PULL_REQUEST",
                "created_at": rfc3339(run.updated_at),
                "data": {
                    "url": format!("https://github.com/warp-mock/backend/pull/{}", &run.id[..4]),
                    "branch": format!("oz/{}", &run.id[..8]),
                    "status": "merged",
                },
            })]
        } else {
            Vec::new()
        }
    }

    /// Kinds of artifacts a run has (seeded runs included).
    pub(crate) fn artifact_kinds(run: &Run) -> impl Iterator<Item = &'static str> + '_ {
        let seeded = (run.seeded && run.phase == Phase::Succeeded).then_some("PULL_REQUEST");
        run.artifacts.iter().map(|a| a.kind.as_str()).chain(seeded)
    }

    /// `RunItem`; `detail` adds what only single-run reads carry.
    pub(crate) fn run_json(&self, idx: usize, detail: bool) -> Value {
        let run = &self.runs[idx];
        let root = &self.runs[self.root_of(idx)];
        let mut v = json!({
            "run_id": run.id,
            "root_run_id": root.id,
            "task_id": run.id,
            "title": run.title,
            "state": run.phase.as_str(),
            "prompt": run.prompt,
            "created_at": rfc3339(run.created_at),
            "updated_at": rfc3339(run.updated_at),
            "started_at": run.started_at.map(rfc3339),
            "execution_location": run.execution_location,
            "source": run.source,
            "is_sandbox_running": matches!(run.phase, Phase::Claimed | Phase::InProgress),
            "is_run_type_cancellable": run.is_cancellable_kind(),
            "debug_agent_available": false,
        });
        // Assigned rather than written inside `json!`, which would copy each value once more.
        v["creator"] = principal_json(run.creator);
        v["executor"] = principal_json(run.creator);
        v["scope"] = scope_json(run.team);
        let mut config = run
            .config
            .clone()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        if config.get("model_id").is_none() {
            config["model_id"] = json!(run.model_id.as_deref().unwrap_or("auto"));
        }
        if let Some(name) = &run.config_name {
            config["name"] = json!(name);
        }
        if let Some(env) = &run.environment_id {
            config["environment_id"] = json!(env);
        }
        v["agent_config"] = config;
        if let Some(skill) = &run.skill {
            let name = skill
                .rsplit('/')
                .nth(1)
                .or_else(|| skill.split(':').next())
                .unwrap_or(skill);
            v["agent_skill"] = json!({"name": name, "full_path": skill});
        }
        v["submitted_prompt"] = json!(run.submitted_prompt);
        if let Some(f) = &run.factory_uid {
            v["factory_uid"] = json!(f);
        }
        // Local runs record no finish time.
        if let (Some(ended), "REMOTE") = (run.ended_at, run.execution_location) {
            v["finished_at"] = json!(rfc3339(ended));
        }
        if let Some(c) = &run.conversation_id {
            v["conversation_id"] = json!(c);
        }
        if let Some(s) = &run.session_id {
            v["session_id"] = json!(s);
            v["session_link"] = json!(format!("https://app.warp.dev/session/{s}"));
        }
        if let Some(p) = &run.parent_run_id {
            v["parent_run_id"] = json!(p);
        }
        if !run.metadata.is_empty() {
            v["metadata"] = json!(run.metadata);
        }
        if let Some(s) = &run.schedule {
            v["schedule"] = json!({
                "schedule_id": s.id,
                "schedule_name": s.name,
                "cron_schedule": s.cron,
            });
        }
        let seeded_status =
            (run.seeded && run.phase.is_terminal()).then(|| super::status_message(run.phase));
        if let Some(m) = run.status_message.as_ref().or(seeded_status.as_ref()) {
            let mut status = json!({"message": m.message});
            if let Some(code) = m.error_code {
                status["error_code"] = json!(code);
            }
            if let Some(r) = m.retryable {
                status["retryable"] = json!(r);
            }
            v["status_message"] = status;
        }
        if let (Some(ended), true) = (run.ended_at, run.phase != Phase::Cancelled) {
            let secs = (ended - run.started_at.unwrap_or(run.created_at))
                .num_seconds()
                .max(0);
            v["run_time"] = json!(format!("PT{secs}S"));
            v["request_usage"] = super::usage::request_usage(run);
        }
        let mut artifacts: Vec<Value> = run
            .artifacts
            .iter()
            .map(|a| artifact_item(run, a))
            .collect();
        artifacts.extend(Self::seeded_artifacts(run));
        if !artifacts.is_empty() {
            v["artifacts"] = Value::Array(artifacts);
        }
        if detail {
            v["children"] = json!(run.children);
            if let Some(seq) = run.last_event_sequence {
                v["last_event_sequence"] = json!(seq);
            }
        }
        v
    }

    /// `AIRunTimelineEvent`s derived from the run's transitions.
    pub(crate) fn timeline_json(&self, idx: usize) -> Value {
        let run = &self.runs[idx];
        let mut events = Vec::new();
        let mut push = |n: usize, kind: &str, at, execution: i64| {
            events.push(json!({
                "event_uuid": format!("{}-{n:04}", &run.id[..23]),
                "run_id": run.id,
                "execution_id": execution,
                "event_type": kind,
                "occurred_at": rfc3339(at),
                "payload": {},
            }));
        };
        if run.transitions.is_empty() {
            push(0, "oz_run_created", run.created_at, 1);
        }
        for (n, (phase, at, execution)) in run.transitions.iter().enumerate() {
            let kinds: &[&str] = match phase {
                Phase::Queued => &["oz_run_created"],
                Phase::Pending => &[],
                Phase::Claimed => &["oz_run_claimed", "worker_container_ready"],
                Phase::InProgress => &["agent_started", "shared_session_started"],
                Phase::Succeeded => &["oz_run_done", "vm_shutdown"],
                Phase::Failed => &["oz_run_failed", "vm_shutdown"],
                Phase::Error => &["oz_run_errored", "vm_shutdown"],
                Phase::Blocked => &["oz_run_blocked"],
                Phase::Cancelled => &["oz_run_cancelled", "vm_shutdown"],
            };
            for (k, kind) in kinds.iter().enumerate() {
                push(n * 4 + k + 1, kind, *at, *execution);
            }
        }
        json!({"events": events})
    }

    /// A small normalized conversation of a run.
    pub(crate) fn conversation_json(&self, idx: usize, conversation_id: &str) -> Value {
        let run = &self.runs[idx];
        let started = run.started_at.unwrap_or(run.created_at);
        let mut messages = vec![json!({
            "message_ids": [format!("{conversation_id}-m1")],
            "request_id": format!("req-{}", &run.id[..8]),
            "role": "user",
            "timestamp": rfc3339(run.created_at),
            "content": [{"type": "text", "message_id": format!("{conversation_id}-m1"), "text": run.prompt}],
        })];
        if run.phase.step() >= 3 {
            messages.push(json!({
                "message_ids": [format!("{conversation_id}-m2")],
                "role": "assistant",
                "timestamp": rfc3339(started),
                "content": [
                    {"type": "text", "text": "Let me run the test suite first."},
                    {"type": "action", "id": "act-1", "category": "command", "name": "run_command",
                     "input": {"command": "cargo test --workspace"}},
                ],
            }));
            messages.push(json!({
                "message_ids": [format!("{conversation_id}-m3")],
                "role": "tool",
                "timestamp": rfc3339(started),
                "content": [
                    {"type": "action_result", "action_id": "act-1", "category": "command",
                     "name": "run_command", "state": "completed",
                     "output": {"exit_code": 0, "stdout": "test result: ok. 128 passed"}},
                ],
            }));
        }
        if let Some(m) = &run.status_message {
            messages.push(json!({
                "message_ids": [format!("{conversation_id}-m4")],
                "role": "assistant",
                "timestamp": rfc3339(run.updated_at),
                "content": [
                    {"type": "text", "text": m.message},
                    {"type": "event", "name": "run_finished", "data": {"state": run.phase.as_str()}},
                ],
            }));
        }
        let mut step = json!({
            "id": format!("{conversation_id}-s1"),
            "summary": run.title,
            "started_at": rfc3339(run.created_at),
            "messages": messages,
            "steps": [],
        });
        if let Some(end) = run.ended_at {
            step["completed_at"] = json!(rfc3339(end));
        }
        json!({"conversation_id": conversation_id, "steps": [step]})
    }

    pub(crate) fn event_json(&self, e: &Event) -> Value {
        json!({
            "run_id": self.runs[e.run].id,
            "event_type": e.event_type,
            "ref_id": e.ref_id,
            "execution_id": e.execution_id,
            "occurred_at": rfc3339(e.occurred_at),
            "sequence": e.sequence,
        })
    }

    pub(crate) fn schedule_json(&self, s: &Schedule) -> Value {
        let mut v = json!({
            "id": s.id,
            "name": s.name,
            "cron_schedule": s.cron,
            "enabled": s.enabled,
            "prompt": s.prompt,
            "last_spawn_error": null,
            "created_at": rfc3339(s.created_at),
            "updated_at": rfc3339(s.updated_at),
            "created_by": principal_json(0),
            "updated_by": principal_json(0),
            "history": {"last_ran": null, "next_run": null},
            "scope": scope_json(s.team),
        });
        if let Some(c) = &s.agent_config {
            v["agent_config"] = c.clone();
            if let Some(env) = c
                .get("environment_id")
                .and_then(Value::as_str)
                .and_then(|id| self.environment(id))
            {
                v["environment"] = environment_config(env);
            }
        }
        if let Some(uid) = &s.agent_uid {
            v["agent_uid"] = json!(uid);
        }
        if !s.metadata.is_empty() {
            v["metadata"] = json!(s.metadata);
        }
        v
    }

    pub(crate) fn environment_json(&self, e: &Environment) -> Value {
        let last = self
            .runs
            .iter()
            .rev()
            .find(|r| r.environment_id.as_deref() == Some(e.uid.as_str()));
        let mut v = json!({
            "uid": e.uid,
            "config": environment_config(e),
            "last_updated": rfc3339(e.last_updated),
            "last_task_run_timestamp": last.map(|r| rfc3339(r.created_at)),
            "setup_failed": false,
            "scope": scope_json(true),
            "creator": principal_json(0),
            "last_editor": principal_json(0),
        });
        if let Some(r) = last {
            v["last_task_created"] = json!({
                "id": r.id,
                "title": r.title,
                "state": r.phase.as_str(),
                "created_at": rfc3339(r.created_at),
                "updated_at": rfc3339(r.updated_at),
                "started_at": r.started_at.map(rfc3339),
            });
        }
        v
    }
}

fn environment_config(e: &Environment) -> Value {
    json!({
        "name": e.name,
        "description": format!("Environment for {}/{}", e.repo.0, e.repo.1),
        "docker_image": e.image,
        "github_repos": [{"owner": e.repo.0, "repo": e.repo.1}],
        "setup_commands": ["make setup"],
    })
}

pub(crate) fn message_header_json(m: &Message) -> Value {
    json!({
        "message_id": m.id,
        "sender_run_id": m.sender_run_id,
        "subject": m.subject,
        "sent_at": rfc3339(m.sent_at),
        "delivered_at": m.delivered_at.map(rfc3339),
        "read_at": m.read_at.map(rfc3339),
    })
}

pub(crate) fn message_json(m: &Message) -> Value {
    let mut v = message_header_json(m);
    v["body"] = json!(m.body);
    v
}

/// `AgentResponse` of an identity.
pub(crate) fn identity_json(i: &Identity) -> Value {
    let mut v = Map::new();
    for (k, value) in &i.fields {
        if !value.is_null() || k == "prompt" {
            v.insert(k.clone(), value.clone());
        }
    }
    v.insert("uid".into(), json!(i.uid));
    v.insert("available".into(), json!(true));
    v.insert("created_at".into(), json!(rfc3339(i.created_at)));
    v.insert("updated_at".into(), json!(rfc3339(i.updated_at)));
    v.entry("secrets").or_insert_with(|| json!([]));
    v.entry("skills").or_insert_with(|| json!([]));
    v.entry("default_runner_uid")
        .or_insert_with(|| json!("runner_mock_default"));
    v.entry("prompt").or_insert(Value::Null);
    v.entry("harness").or_insert_with(|| json!({"type": "oz"}));
    v.entry("credential_strategy")
        .or_insert_with(|| json!("EXECUTOR"));
    v.entry("on_behalf_of_enabled").or_insert(json!(false));
    v.entry("agent_type").or_insert_with(|| json!("CUSTOM"));
    v.entry("factory_uid").or_insert(Value::Null);
    let memory = match v.remove("memory") {
        Some(m)
            if m.get("auto_memory")
                .is_some_and(|a| a.get("enabled").is_some()) =>
        {
            json!({
                "auto_memory": {"enabled": m.pointer("/auto_memory/enabled").cloned().unwrap_or(json!(false))},
                "attached_stores": m.get("attached_stores").cloned().filter(Value::is_array).unwrap_or(json!([])),
            })
        }
        Some(m) => json!({
            "auto_memory": {"enabled": false},
            "attached_stores": m.get("attached_stores").cloned().filter(Value::is_array).unwrap_or(json!([])),
        }),
        None => json!({"auto_memory": {"enabled": false}, "attached_stores": []}),
    };
    v.insert("memory".into(), memory);
    v.remove("base_harness");
    Value::Object(v)
}
