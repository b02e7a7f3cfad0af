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
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.mock.base_url()));
        if auth {
            request = request.bearer_auth(self.mock.api_key());
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
    let mock = OzMock::start().await.expect("start simulator");
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
