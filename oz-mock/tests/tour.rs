//! A tour of every operation of openapi.json against the simulator. Every answer's body is
//! validated against the schema openapi.json declares for that operation and status, and the
//! test fails if an operation of openapi.json was not called.

mod support;

use std::collections::BTreeSet;

use oz_mock::spec_validation::SpecValidator;
use oz_mock::{OzMock, RunState};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Answer, http, send};

struct Tour {
    mock: OzMock,
    client: reqwest::Client,
    validator: SpecValidator,
    called: BTreeSet<String>,
    problems: Vec<String>,
}

impl Tour {
    /// Calls `operation_id`, validates the answer and checks its status.
    async fn call(
        &mut self,
        operation_id: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        self.call_with(operation_id, method, path, body, expected, true)
            .await
            .body
    }

    async fn call_with(
        &mut self,
        operation_id: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
        auth: bool,
    ) -> Answer {
        self.call_with_headers(operation_id, method, path, body, expected, auth, &[])
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn call_with_headers(
        &mut self,
        operation_id: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
        auth: bool,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.mock.base_url()));
        if auth {
            request = request.bearer_auth(self.mock.api_key());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = send(request).await;
        self.called.insert(operation_id.to_owned());
        if answer.status != expected {
            self.problems.push(format!(
                "{operation_id} {method} {path}: expected {expected}, got {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.raw)
            ));
        }
        if !answer.raw.is_empty() && answer.body.is_null() {
            self.problems.push(format!(
                "{operation_id}: the body is not JSON: {}",
                String::from_utf8_lossy(&answer.raw)
            ));
        }
        if let Err(errors) = self.validator.validate_media(
            operation_id,
            answer.status.as_u16(),
            answer.content_type().filter(|_| !answer.raw.is_empty()),
            &answer.body,
        ) {
            self.problems.extend(errors);
        }
        answer
    }
}

#[tokio::test]
async fn every_operation_answers_as_openapi_json_declares() {
    let spec = support::spec();
    let mock = OzMock::builder()
        .seed_factory_tasks(true)
        .start()
        .await
        .expect("start simulator");
    let mut t = Tour {
        mock,
        client: http(),
        validator: SpecValidator::new(&spec),
        called: BTreeSet::new(),
        problems: Vec::new(),
    };
    let ok = StatusCode::OK;

    // Catalog.
    t.call("list_models", Method::GET, "/agent/models", None, ok)
        .await;
    let envs = t
        .call(
            "list_environments",
            Method::GET,
            "/agent/environments?sort_by=name",
            None,
            ok,
        )
        .await;
    let env_id = envs["environments"][0]["uid"]
        .as_str()
        .expect("env")
        .to_owned();
    t.call(
        "list_agents",
        Method::GET,
        "/agent?include_malformed_skills=true&sort_by=last_run",
        None,
        ok,
    )
    .await;
    t.call(
        "list_agents",
        Method::GET,
        "/agent?repo=not-a-repo",
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    t.call(
        "list_connected_self_hosted_workers",
        Method::GET,
        "/agent/connected-self-hosted-workers",
        None,
        ok,
    )
    .await;

    // Agent identities.
    let agent = t
        .call(
            "create_agent_identity",
            Method::POST,
            "/agent/identities",
            Some(json!({"name": "release-bot", "prompt": "Ship releases.", "skills": ["release-notes"],
                        "memory": {"auto_memory": {"enabled": true}}, "factory_uid": "fac_1"})),
            StatusCode::CREATED,
        )
        .await;
    let agent_uid = agent["uid"].as_str().expect("uid").to_owned();
    t.call(
        "get_agent_identity",
        Method::GET,
        &format!("/agent/identities/{agent_uid}"),
        None,
        ok,
    )
    .await;
    let updated = t
        .call(
            "update_agent_identity",
            Method::PUT,
            &format!("/agent/identities/{agent_uid}"),
            Some(json!({"name": "release-bot-2", "prompt": null})),
            ok,
        )
        .await;
    assert_eq!(updated["name"], "release-bot-2");
    assert_eq!(updated["prompt"], Value::Null);
    let listed = t
        .call(
            "list_agent_identities",
            Method::GET,
            "/agent/identities?factory_uid=fac_1",
            None,
            ok,
        )
        .await;
    assert_eq!(listed["agents"].as_array().map(Vec::len), Some(1));
    t.call(
        "get_agent_identity",
        Method::GET,
        "/agent/identities/nope",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Runs.
    let created = t
        .call(
            "create_run",
            Method::POST,
            "/agent/runs",
            Some(json!({
                "prompt": "Fix the flaky login test [file] [screenshot] [external]",
                "title": "Fix flaky login test",
                "config": {"environment_id": env_id, "model_id": "claude-4-6-sonnet",
                           "harness": {"type": "claude"}, "name": "fixer"},
                "metadata": {"ticket": "VIS-238"},
                "agent_identity_uid": agent_uid,
            })),
            ok,
        )
        .await;
    let run_id = created["run_id"].as_str().expect("run_id").to_owned();
    assert_eq!(created["state"], "QUEUED");
    t.call(
        "run_agent",
        Method::POST,
        "/agent/run",
        Some(json!({"prompt": "Wait for me [block]"})),
        ok,
    )
    .await;
    t.call(
        "create_run",
        Method::POST,
        "/agent/runs",
        Some(json!({"title": "nothing to do"})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let child = t
        .call(
            "create_run",
            Method::POST,
            "/agent/runs",
            Some(json!({"prompt": "Child task", "parent_run_id": run_id})),
            ok,
        )
        .await;
    let child_id = child["run_id"].as_str().expect("child").to_owned();

    let run = t
        .call(
            "get_run",
            Method::GET,
            &format!("/agent/runs/{run_id}"),
            None,
            ok,
        )
        .await;
    assert_eq!(run["state"], "SUCCEEDED");
    assert_eq!(run["children"], json!([child_id]));
    t.call(
        "get_run",
        Method::GET,
        "/agent/runs/unknown",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let page = t
        .call(
            "list_runs",
            Method::GET,
            "/agent/runs?state=SUCCEEDED&state=BLOCKED&metadata%5Bticket%5D=VIS-238&q=flaky&sort_by=created_at&sort_order=asc&limit=5",
            None,
            ok,
        )
        .await;
    assert_eq!(page["runs"][0]["run_id"], json!(run_id));
    t.call(
        "list_runs",
        Method::GET,
        "/agent/runs?limit=501",
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    t.call(
        "list_runs",
        Method::GET,
        &format!("/agent/runs?ancestor_run_id={run_id}"),
        None,
        ok,
    )
    .await;

    // Transcript: a redirect to the storage origin, fetched without credentials.
    let transcript = t
        .call_with(
            "get_run_transcript",
            Method::GET,
            &format!("/agent/runs/{run_id}/transcript"),
            None,
            StatusCode::FOUND,
            true,
        )
        .await;
    let downloaded = send(t.client.get(transcript.location())).await;
    assert_eq!(downloaded.status, ok);
    assert_eq!(downloaded.body["run_id"], json!(run_id));

    // Conversations and share links.
    let conversation = t
        .call(
            "get_run_conversation",
            Method::GET,
            &format!("/agent/runs/{run_id}/conversation"),
            None,
            ok,
        )
        .await;
    let conversation_id = conversation["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_owned();
    t.call(
        "get_conversation",
        Method::GET,
        &format!("/agent/conversations/{conversation_id}"),
        None,
        ok,
    )
    .await;
    t.call_with(
        "get_conversation_transcript",
        Method::GET,
        &format!("/agent/conversations/{conversation_id}/transcript"),
        None,
        StatusCode::FOUND,
        true,
    )
    .await;
    t.call_with(
        "get_conversation_redirect",
        Method::GET,
        &format!("/agent/conversations/{conversation_id}/redirect"),
        None,
        ok,
        false,
    )
    .await;
    let session_id = run["session_id"].as_str().expect("session").to_owned();
    let session = t
        .call_with(
            "get_session_redirect",
            Method::GET,
            &format!("/agent/sessions/{session_id}/redirect"),
            None,
            ok,
            false,
        )
        .await;
    assert_eq!(session.body["conversation_id"], json!(conversation_id));

    // Timeline, handoff, scores, external references.
    t.call(
        "get_run_timeline",
        Method::GET,
        &format!("/agent/runs/{run_id}/timeline"),
        None,
        ok,
    )
    .await;
    let handoff = t
        .call(
            "list_handoff_attachments",
            Method::GET,
            &format!("/agent/runs/{run_id}/handoff/attachments"),
            None,
            ok,
        )
        .await;
    assert_eq!(handoff["attachments"].as_array().map(Vec::len), Some(1));
    t.call(
        "report_run_scores",
        Method::POST,
        &format!("/agent/runs/{run_id}/scores"),
        Some(json!({"results": [{"scorer_id": 1, "classification": "pass", "reason": "tests green"}]})),
        ok,
    )
    .await;
    t.call(
        "report_run_scores",
        Method::POST,
        &format!("/agent/runs/{run_id}/scores"),
        Some(json!({"results": [{"scorer_id": 1, "failed": true}, {"scorer_id": 2}]})),
        StatusCode::PARTIAL_CONTENT,
    )
    .await;
    let artifacts = run["artifacts"].as_array().expect("artifacts").clone();
    let of_type = |kind: &str| {
        artifacts
            .iter()
            .find(|a| a["artifact_type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} artifact"))
            .clone()
    };
    let external = of_type("EXTERNAL_REFERENCE")["data"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let by_ref = t
        .call(
            "get_run_by_external_reference",
            Method::GET,
            &format!("/agent/run-by-external-reference?url={external}"),
            None,
            ok,
        )
        .await;
    assert_eq!(by_ref["run_id"], json!(run_id));
    t.call(
        "get_run_by_external_reference",
        Method::GET,
        "/agent/run-by-external-reference?url=https://example.com/none",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Artifacts.
    for kind in ["PLAN", "FILE", "SCREENSHOT"] {
        let uid = of_type(kind)["data"]["artifact_uid"]
            .as_str()
            .expect("uid")
            .to_owned();
        let artifact = t
            .call(
                "get_artifact",
                Method::GET,
                &format!("/agent/artifacts/{uid}"),
                None,
                ok,
            )
            .await;
        assert_eq!(artifact["artifact_type"], kind);
        let download = t
            .call_with(
                "download_artifact",
                Method::GET,
                &format!("/agent/artifacts/{uid}/download"),
                None,
                StatusCode::FOUND,
                false,
            )
            .await;
        let object = send(t.client.get(download.location())).await;
        assert_eq!(object.status, ok, "{kind} download");
    }

    // Schedules.
    let schedule = t
        .call(
            "create_schedule",
            Method::POST,
            "/agent/schedules",
            Some(json!({"name": "Daily review", "cron_schedule": "0 9 * * *", "prompt": "Review open PRs",
                        "agent_config": {"environment_id": env_id}, "agent_uid": agent_uid})),
            StatusCode::CREATED,
        )
        .await;
    let schedule_id = schedule["id"].as_str().expect("schedule id").to_owned();
    t.call(
        "create_schedule",
        Method::POST,
        "/agent/schedules",
        Some(json!({"name": "bad", "cron_schedule": "daily", "prompt": "x"})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    t.call("list_schedules", Method::GET, "/agent/schedules", None, ok)
        .await;
    t.call(
        "get_schedule",
        Method::GET,
        &format!("/agent/schedules/{schedule_id}"),
        None,
        ok,
    )
    .await;
    t.call(
        "update_schedule",
        Method::PUT,
        &format!("/agent/schedules/{schedule_id}"),
        Some(json!({"name": "Weekly review", "cron_schedule": "0 9 * * MON", "enabled": true, "prompt": "Review"})),
        ok,
    )
    .await;
    let paused = t
        .call(
            "pause_schedule",
            Method::POST,
            &format!("/agent/schedules/{schedule_id}/pause"),
            None,
            ok,
        )
        .await;
    assert_eq!(paused["enabled"], false);
    let resumed = t
        .call(
            "resume_schedule",
            Method::POST,
            &format!("/agent/schedules/{schedule_id}/resume"),
            None,
            ok,
        )
        .await;
    assert_eq!(resumed["enabled"], true);
    t.call(
        "delete_schedule",
        Method::DELETE,
        &format!("/agent/schedules/{schedule_id}"),
        None,
        ok,
    )
    .await;
    t.call(
        "get_schedule",
        Method::GET,
        &format!("/agent/schedules/{schedule_id}"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Messages and events between runs.
    assert!(t.mock.set_run_state(&child_id, RunState::Inprogress));
    let sent = t
        .call(
            "send_agent_message",
            Method::POST,
            "/agent/messages",
            Some(json!({"sender_run_id": run_id, "to": [child_id], "subject": "Status?", "body": "How far along are you?"})),
            ok,
        )
        .await;
    let message_id = sent["message_ids"][0]
        .as_str()
        .expect("message id")
        .to_owned();
    t.call(
        "send_agent_message",
        Method::POST,
        "/agent/messages",
        Some(json!({"sender_run_id": child_id, "to": [run_id], "subject": "Done", "body": "x"})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let inbox = t
        .call(
            "list_agent_messages",
            Method::GET,
            &format!("/agent/messages/{child_id}?unread=true&limit=10"),
            None,
            ok,
        )
        .await;
    assert_eq!(inbox[0]["message_id"], json!(message_id));
    t.call_with(
        "mark_agent_message_delivered",
        Method::POST,
        &format!("/agent/messages/{message_id}/delivered"),
        None,
        StatusCode::NO_CONTENT,
        true,
    )
    .await;
    let read = t
        .call(
            "read_agent_message",
            Method::POST,
            &format!("/agent/messages/{message_id}/read"),
            None,
            ok,
        )
        .await;
    assert!(read["read_at"].is_string() && read["delivered_at"].is_string());
    let events = t
        .call(
            "poll_agent_events",
            Method::GET,
            &format!("/agent/events?run_ids={run_id}&run_ids={child_id}&since=0&limit=100"),
            None,
            ok,
        )
        .await;
    let sequences: Vec<i64> = events
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["sequence"].as_i64())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    t.call(
        "poll_agent_events",
        Method::GET,
        "/agent/events",
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let reported = t
        .call(
            "report_agent_event",
            Method::POST,
            &format!("/agent/events/{child_id}"),
            Some(json!({"event_type": "run_in_progress", "execution_id": "exec-7"})),
            ok,
        )
        .await;
    assert!(reported["sequence"].as_i64() > sequences.last().copied());

    // Cancellation rules and follow-ups.
    let cancelled = t
        .call(
            "cancel_run",
            Method::POST,
            &format!("/agent/runs/{child_id}/cancel"),
            None,
            ok,
        )
        .await;
    assert_eq!(cancelled, json!(child_id));
    t.call(
        "cancel_run",
        Method::POST,
        &format!("/agent/runs/{child_id}/cancel"),
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let pending = support::create_run(&t.client, &t.mock, "prepare").await;
    assert!(t.mock.set_run_state(&pending, RunState::Pending));
    t.call(
        "cancel_run",
        Method::POST,
        &format!("/agent/runs/{pending}/cancel"),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    let local = support::create_run(&t.client, &t.mock, "run on my laptop [local]").await;
    t.call(
        "cancel_run",
        Method::POST,
        &format!("/agent/runs/{local}/cancel"),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    t.call(
        "submit_run_followup",
        Method::POST,
        &format!("/agent/runs/{run_id}/followups"),
        Some(json!({"message": "Also update the changelog", "mode": "normal"})),
        ok,
    )
    .await;
    let again = t
        .call(
            "get_run",
            Method::GET,
            &format!("/agent/runs/{run_id}"),
            None,
            ok,
        )
        .await;
    assert_eq!(
        again["state"], "SUCCEEDED",
        "a follow-up starts a new execution that ends again"
    );

    factories_and_their_tasks(&mut t, &conversation_id).await;
    factory_files(&mut t).await;
    run_control(&mut t, &run_id, &conversation_id, &of_type("SCREENSHOT")).await;

    // The real-time event stream never ends by itself (oz-mock/tests/event_stream.rs reads
    // it); here, its answer to a request that names no run.
    t.call(
        "stream_agent_events",
        Method::GET,
        "/agent/events/stream?since=0",
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Cleanup and auth.
    t.call_with(
        "delete_agent_identity",
        Method::DELETE,
        &format!("/agent/identities/{agent_uid}"),
        None,
        StatusCode::NO_CONTENT,
        true,
    )
    .await;
    t.call_with(
        "list_runs",
        Method::GET,
        "/agent/runs",
        None,
        StatusCode::UNAUTHORIZED,
        false,
    )
    .await;

    let missing: Vec<String> = t
        .validator
        .operation_ids()
        .into_iter()
        .filter(|op| !t.called.contains(op))
        .collect();
    assert!(
        missing.is_empty(),
        "operations the tour did not call: {missing:?}"
    );
    assert!(
        t.problems.is_empty(),
        "problems:\n{}",
        t.problems.join("\n")
    );
}

/// Factories, tasks, factory runs and the new `list_runs` filters.
async fn factories_and_their_tasks(t: &mut Tour, free_conversation: &str) {
    let ok = StatusCode::OK;
    let first = t
        .call("list_factories", Method::GET, "/factory?limit=1", None, ok)
        .await;
    let cursor = first["page_info"]["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second = t
        .call(
            "list_factories",
            Method::GET,
            &format!("/factory?limit=1&cursor={cursor}"),
            None,
            ok,
        )
        .await;
    assert_eq!(second["page_info"]["has_next_page"], false);
    t.call(
        "list_factories",
        Method::GET,
        "/factory?limit=0",
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let web = first["factories"][0]["uid"]
        .as_str()
        .expect("uid")
        .to_owned();
    let other = second["factories"][0]["uid"]
        .as_str()
        .expect("uid")
        .to_owned();
    t.call(
        "get_factory",
        Method::GET,
        &format!("/factory/{web}"),
        None,
        ok,
    )
    .await;
    t.call(
        "get_factory",
        Method::GET,
        "/factory/nope",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;

    let dispatched = t
        .call(
            "create_factory_run",
            Method::POST,
            &format!("/factory/{web}/runs"),
            Some(
                json!({"prompt": "Add a dark mode screenshot test", "ticket_ref": "linear:WEB-300",
                        "ticket_url": "https://linear.app/warp-mock/issue/WEB-300"}),
            ),
            ok,
        )
        .await;
    let factory_run = dispatched["run_id"].as_str().expect("run").to_owned();
    t.call(
        "create_factory_run",
        Method::POST,
        &format!("/factory/{web}/runs"),
        Some(json!({"title": "no prompt"})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    t.call(
        "create_factory_run",
        Method::POST,
        "/factory/nope/runs",
        Some(json!({"prompt": "x"})),
        StatusCode::NOT_FOUND,
    )
    .await;
    let promised = t
        .call(
            "get_factory_task_by_run",
            Method::GET,
            &format!("/factory/{web}/task-by-run?run_id={factory_run}"),
            None,
            ok,
        )
        .await;
    assert_eq!(promised["stage"], "TRIAGE");
    t.call(
        "get_factory_task_by_run",
        Method::GET,
        &format!("/factory/{other}/task-by-run?run_id={factory_run}"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    t.call(
        "get_factory_task_by_run",
        Method::GET,
        &format!("/factory/{web}/task-by-run"),
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    t.call(
        "list_factory_tasks",
        Method::GET,
        &format!("/factory/{web}/tasks?stage=TRIAGE&stage=REVIEW&include_current_run=true&full_list=true&limit=2"),
        None,
        ok,
    )
    .await;
    t.call(
        "list_factory_tasks",
        Method::GET,
        &format!("/factory/{web}/tasks?limit=101"),
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let task = t
        .call(
            "create_factory_task",
            Method::POST,
            &format!("/factory/{web}/tasks"),
            Some(json!({"conversation_id": free_conversation, "title": "Follow up on the flaky login test",
                        "description": "Keep an eye on it", "stage": "SPEC"})),
            StatusCode::CREATED,
        )
        .await;
    let task_uid = task["uid"].as_str().expect("uid").to_owned();
    t.call(
        "create_factory_task",
        Method::POST,
        &format!("/factory/{other}/tasks"),
        Some(json!({"conversation_id": free_conversation, "title": "Twice"})),
        StatusCode::CONFLICT,
    )
    .await;
    t.call(
        "create_factory_task",
        Method::POST,
        &format!("/factory/{web}/tasks"),
        Some(json!({"conversation_id": free_conversation})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let task_path = format!("/factory/{web}/tasks/{task_uid}");
    t.call("get_factory_task", Method::GET, &task_path, None, ok)
        .await;
    t.call(
        "get_factory_task",
        Method::GET,
        &format!("/factory/{other}/tasks/{task_uid}"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let updated = t
        .call(
            "update_factory_task",
            Method::PATCH,
            &task_path,
            Some(json!({"stage": "IMPLEMENT", "description": null})),
            ok,
        )
        .await;
    assert_eq!(updated["stage"], "IMPLEMENT");
    t.call(
        "update_factory_task",
        Method::PATCH,
        &task_path,
        Some(json!({"stage": "DONE"})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    t.call(
        "get_factory_task_by_conversation",
        Method::GET,
        &format!("/factory/{web}/task-by-conversation?conversation_id={free_conversation}"),
        None,
        ok,
    )
    .await;
    t.call(
        "get_factory_task_by_conversation",
        Method::GET,
        &format!("/factory/{web}/task-by-conversation"),
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let cancelled = t
        .call(
            "cancel_factory_task",
            Method::POST,
            &format!("{task_path}/cancel"),
            None,
            ok,
        )
        .await;
    assert_eq!(cancelled["stage"], "CANCELLED");
    t.call(
        "cancel_factory_task",
        Method::POST,
        &format!("{task_path}/cancel"),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    t.call_with(
        "delete_factory_task",
        Method::DELETE,
        &task_path,
        None,
        StatusCode::NO_CONTENT,
        true,
    )
    .await;
    t.call(
        "delete_factory_task",
        Method::DELETE,
        &task_path,
        None,
        StatusCode::NOT_FOUND,
    )
    .await;

    let factory_runs = t
        .call(
            "list_runs",
            Method::GET,
            "/agent/runs?factory_only=true&task_status=running&task_status=complete&source=API&source=LINEAR",
            None,
            ok,
        )
        .await;
    assert!(!factory_runs["runs"].as_array().expect("runs").is_empty());
    t.call(
        "list_runs",
        Method::GET,
        "/agent/runs?task_status=done",
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

/// The public factory file endpoints, with conditional requests.
async fn factory_files(t: &mut Tour) {
    let ok = StatusCode::OK;
    let list = t
        .call_with(
            "list_factory_file_schemas",
            Method::GET,
            "/factory-files/schemas",
            None,
            ok,
            false,
        )
        .await;
    let etag = list.headers["etag"].to_str().expect("etag").to_owned();
    t.call_with_headers(
        "list_factory_file_schemas",
        Method::GET,
        "/factory-files/schemas",
        None,
        StatusCode::NOT_MODIFIED,
        false,
        &[("if-none-match", &etag)],
    )
    .await;
    let version = list.body["current_version"]
        .as_str()
        .expect("version")
        .to_owned();
    let bundle = t
        .call_with(
            "get_factory_file_schema",
            Method::GET,
            &format!("/factory-files/schemas/{version}"),
            None,
            ok,
            false,
        )
        .await;
    let bundle_tag = bundle.headers["etag"].to_str().expect("etag").to_owned();
    t.call_with_headers(
        "get_factory_file_schema",
        Method::GET,
        &format!("/factory-files/schemas/{version}"),
        None,
        StatusCode::NOT_MODIFIED,
        false,
        &[("if-none-match", &format!("W/{bundle_tag}"))],
    )
    .await;
    t.call_with(
        "get_factory_file_schema",
        Method::GET,
        "/factory-files/schemas/v0",
        None,
        StatusCode::NOT_FOUND,
        false,
    )
    .await;
    let document = t
        .call_with(
            "get_factory_file_schema_document",
            Method::GET,
            &format!("/factory-files/schemas/{version}/factory.schema.json"),
            None,
            ok,
            false,
        )
        .await;
    assert_eq!(document.body["$id"], "factory.schema.json");
    t.call_with(
        "get_factory_file_schema_document",
        Method::GET,
        &format!("/factory-files/schemas/{version}/nope.schema.json"),
        None,
        StatusCode::NOT_FOUND,
        false,
    )
    .await;
    let valid = t
        .call_with(
            "validate_factory_files",
            Method::POST,
            "/factory-files/validate",
            Some(json!({"files": [{"path": "factory.yaml", "content": "name: Web\ncode_forge: GITHUB\n"}]})),
            ok,
            false,
        )
        .await;
    assert_eq!(valid.body["valid"], true, "{:?}", valid.body);
    let invalid = t
        .call_with(
            "validate_factory_files",
            Method::POST,
            "/factory-files/validate",
            Some(json!({"files": [{"path": "factory.yaml", "content": "name: [unclosed\n"}]})),
            ok,
            false,
        )
        .await;
    assert_eq!(invalid.body["valid"], false);
    t.call_with(
        "validate_factory_files",
        Method::POST,
        "/factory-files/validate",
        Some(json!({})),
        StatusCode::BAD_REQUEST,
        false,
    )
    .await;
}

/// Interrupts, conversation follow-ups, harness usage, screenshots and egress ranges.
async fn run_control(t: &mut Tour, claude_run: &str, conversation_id: &str, screenshot: &Value) {
    let ok = StatusCode::OK;
    let live = support::create_run(&t.client, &t.mock, "Keep working").await;
    assert!(t.mock.set_run_state(&live, RunState::Inprogress));
    let live_run = support::get_run(&t.client, &t.mock, &live).await;
    let live_conversation = live_run["conversation_id"].as_str().expect("conversation");
    t.call_with(
        "interrupt_run",
        Method::POST,
        &format!("/agent/runs/{live}/interrupt"),
        None,
        StatusCode::ACCEPTED,
        true,
    )
    .await;
    t.call(
        "interrupt_run",
        Method::POST,
        &format!("/agent/runs/{claude_run}/interrupt"),
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let interrupted = t
        .call(
            "interrupt_conversation",
            Method::POST,
            &format!("/agent/conversations/{live_conversation}/interrupt"),
            None,
            StatusCode::ACCEPTED,
        )
        .await;
    assert_eq!(interrupted["run_id"], json!(live));
    t.call(
        "interrupt_conversation",
        Method::POST,
        "/agent/conversations/nope/interrupt",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let followup = t
        .call(
            "submit_conversation_followup",
            Method::POST,
            &format!("/agent/conversations/{live_conversation}/followups"),
            Some(json!({"message": "Also check the mobile layout", "mode": "plan"})),
            ok,
        )
        .await;
    assert_eq!(followup["outcome"], "live_session");
    t.call(
        "submit_conversation_followup",
        Method::POST,
        &format!("/agent/conversations/{live_conversation}/followups"),
        Some(json!({"attachments": [{"attachment_id": "not-prepared"}]})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(t.mock.set_run_state(&live, RunState::Succeeded));
    t.call(
        "interrupt_run",
        Method::POST,
        &format!("/agent/runs/{live}/interrupt"),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    let usage = t
        .call(
            "get_run_harness_usage",
            Method::GET,
            &format!("/agent/runs/{claude_run}/harness-usage"),
            None,
            ok,
        )
        .await;
    assert_eq!(usage["usage"]["harness"], "CLAUDE_CODE");
    t.call(
        "get_run_harness_usage",
        Method::GET,
        "/agent/runs/nope/harness-usage",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let uid = screenshot["data"]["artifact_uid"].as_str().expect("uid");
    let redirect = t
        .call_with(
            "download_conversation_screenshot",
            Method::GET,
            &format!("/agent/conversations/{conversation_id}/screenshots/{uid}/download"),
            None,
            StatusCode::FOUND,
            true,
        )
        .await;
    let image = send(t.client.get(redirect.location())).await;
    assert_eq!(image.content_type(), Some("image/png"));
    t.call(
        "download_conversation_screenshot",
        Method::GET,
        &format!("/agent/conversations/{conversation_id}/screenshots/nope/download"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let ranges = t
        .call(
            "list_egress_ranges",
            Method::GET,
            "/networking/egress-ranges",
            None,
            ok,
        )
        .await;
    assert!(!ranges["cidrs"].as_array().expect("cidrs").is_empty());
}
