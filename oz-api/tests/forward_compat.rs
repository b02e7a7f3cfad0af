//! Values the server may add later must not break decoding, and must survive a round trip.

mod common;

use common::{client, received, run_json};
use oz_api::types::{
    ArtifactItem, ArtifactType, RunCreatorType, RunExecutionLocation, RunItem, RunSourceType,
    RunState, ScopeType,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A complete run as GET /agent/runs/{runId} returns it (every field of the RunItem schema that
/// a finished cloud run has), with a state, a source and one artifact type this SDK has never
/// heard of.
fn run_from_the_future() -> Value {
    json!({
        "run_id": "8c2f5a1e-4b7d-4e0a-9f3c-2d6b1a7e5c90",
        "task_id": "8c2f5a1e-4b7d-4e0a-9f3c-2d6b1a7e5c90",
        "title": "Fix flaky checkout integration test",
        "state": "HIBERNATING",
        "execution_location": "REMOTE",
        "prompt": "The checkout integration test fails about one run in ten on CI. Find the race and fix it.",
        "created_at": "2025-03-14T09:26:53Z",
        "updated_at": "2025-03-14T09:58:12.431Z",
        "run_time": "PT28M45S",
        "started_at": "2025-03-14T09:27:10.002Z",
        "status_message": {
            "message": "The run is hibernating until its sandbox is needed again."
        },
        "source": "CARRIER_PIGEON",
        "session_id": "5b0e7c42-1f9a-4d63-8e25-a7c3f0d9b146",
        "session_link": "https://app.warp.dev/session/5b0e7c42-1f9a-4d63-8e25-a7c3f0d9b146",
        "trigger_url": "https://linear.app/acme/issue/ENG-1234/flaky-checkout-test",
        "creator": {
            "type": "user",
            "uid": "u_Jq3XnW8pL2",
            "display_name": "Ada Lovelace",
            "email": "ada@example.com",
            "photo_url": "https://avatars.example.com/u_Jq3XnW8pL2.png"
        },
        "executor": {
            "type": "service_account",
            "uid": "sa_ci_bot_01",
            "display_name": "CI bot"
        },
        "request_usage": {
            "inference_cost": 12.5,
            "compute_cost": 3.25,
            "platform_cost": 0.5,
            "inference_cost_usd": 0.125,
            "compute_cost_usd": 0.0325,
            "platform_cost_usd": 0.005,
            "total_tokens": 48213,
            "inference_cost_breakdown_usd": {
                "input_cost_usd": 0.0625,
                "input_cache_read_cost_usd": 0.0125,
                "input_cache_write_cost_usd": 0.0,
                "output_cost_usd": 0.05
            }
        },
        "agent_config": {
            "name": "flaky-test-fixer",
            "model_id": "gpt-5-4-high",
            "environment_id": "env_9QxT2mPz",
            "runner_id": "runner_warp_hosted",
            "skill_spec": "acme/ci-tools:skills/flaky-tests/SKILL.md",
            "skills": ["acme/ci-tools:skills/flaky-tests/SKILL.md"],
            "computer_use_enabled": false,
            "idle_timeout_minutes": 10,
            "harness": {"type": "oz"}
        },
        "conversation_id": "0d9e4c7a-6b21-4f85-b3e0-9a1c5d7f2e68",
        "parent_run_id": "1f7a3c9e-2b5d-4e8f-a0c6-3d9b7e1f5a24",
        "metadata": {"ticket_id": "ENG-1234", "team": "payments"},
        "is_sandbox_running": false,
        "is_run_type_cancellable": true,
        "debug_agent_available": false,
        "artifacts": [
            {
                "artifact_type": "PLAN",
                "created_at": "2025-03-14T09:31:02Z",
                "data": {
                    "artifact_uid": "art_plan_71c2",
                    "document_uid": "doc_4e8a",
                    "notebook_uid": "nb_93f1",
                    "url": "https://app.warp.dev/drive/notebook/nb_93f1",
                    "title": "Plan: serialise the checkout fixtures"
                }
            },
            {
                "artifact_type": "HOLOGRAM",
                "created_at": "2025-03-14T09:44:40.5Z",
                "data": {
                    "artifact_uid": "art_holo_0b3d",
                    "projection": {"frames": 240, "fps": 24},
                    "viewer_url": "https://app.warp.dev/holograms/art_holo_0b3d"
                }
            },
            {
                "artifact_type": "PULL_REQUEST",
                "created_at": "2025-03-14T09:57:58Z",
                "data": {
                    "url": "https://github.com/acme/shop/pull/4711",
                    "branch": "oz/fix-flaky-checkout-test"
                }
            },
            {
                "artifact_type": "FILE",
                "created_at": "2025-03-14T09:58:01Z",
                "data": {
                    "artifact_uid": "art_file_5a6f",
                    "filepath": "reports/flaky-checkout.md",
                    "filename": "flaky-checkout.md",
                    "title": "Root cause",
                    "description": "Why the checkout test was flaky and how it was fixed.",
                    "mime_type": "text/markdown",
                    "size_bytes": 4096
                }
            }
        ],
        "agent_skill": {
            "name": "flaky-tests",
            "description": "Finds and fixes flaky tests.",
            "full_path": "skills/flaky-tests/SKILL.md"
        },
        "scope": {"type": "Team", "uid": "team_acme"},
        "last_event_sequence": 42,
        "children": ["3e6b9d2f-7a1c-4f50-8d3e-b2a4c6e8f017"]
    })
}

#[tokio::test]
async fn unknown_state_source_and_artifact_decode_and_round_trip_exactly() {
    let body = run_from_the_future();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v1/agent/runs/8c2f5a1e-4b7d-4e0a-9f3c-2d6b1a7e5c90",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(&body))
        .expect(1)
        .mount(&server)
        .await;

    let run: RunItem = client(&server)
        .get_run()
        .run_id("8c2f5a1e-4b7d-4e0a-9f3c-2d6b1a7e5c90")
        .send()
        .await
        .expect("a run with unknown values decodes")
        .into_inner();

    assert_eq!(run.state, RunState::Unknown("HIBERNATING".to_owned()));
    assert_eq!(run.state.to_string(), "HIBERNATING");
    assert_eq!(
        run.source,
        Some(RunSourceType::Unknown("CARRIER_PIGEON".to_owned()))
    );
    assert_eq!(run.artifacts.len(), 4);
    assert!(
        matches!(run.artifacts[0], ArtifactItem::PlanArtifact(ref plan)
        if plan.data.document_uid == "doc_4e8a")
    );
    match &run.artifacts[1] {
        ArtifactItem::Unknown(raw) => assert_eq!(raw, &body["artifacts"][1]),
        other => panic!("expected the unknown artifact to be kept raw, got {other:?}"),
    }
    assert!(
        matches!(run.artifacts[2], ArtifactItem::PullRequestArtifact(ref pr)
        if pr.data.branch == "oz/fix-flaky-checkout-test")
    );
    assert!(
        matches!(run.artifacts[3], ArtifactItem::FileArtifact(ref file)
        if file.data.size_bytes == Some(4096))
    );
    // Known values beside the unknown ones decode normally.
    assert_eq!(run.execution_location, Some(RunExecutionLocation::Remote));
    assert_eq!(
        run.creator.as_ref().and_then(|c| c.type_.clone()),
        Some(RunCreatorType::User)
    );
    assert_eq!(
        run.scope.as_ref().map(|s| s.type_.clone()),
        Some(ScopeType::Team)
    );
    assert_eq!(run.metadata.as_ref().unwrap()["ticket_id"], "ENG-1234");

    assert_eq!(serde_json::to_value(&run).unwrap(), body);
}

#[tokio::test]
async fn a_page_mixing_known_and_unknown_states_decodes() {
    let server = MockServer::start().await;
    let mut unknown = run_json("run_b", "DEFROSTING");
    unknown["source"] = json!("TELEPATHY");
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "runs": [run_json("run_a", "SUCCEEDED"), unknown],
            "page_info": {"has_next_page": false}
        })))
        .mount(&server)
        .await;

    let page = client(&server)
        .list_runs()
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(page.runs[0].state, RunState::Succeeded);
    assert_eq!(page.runs[1].state, RunState::Unknown("DEFROSTING".into()));
    assert_eq!(
        page.runs[1].source,
        Some(RunSourceType::Unknown("TELEPATHY".into()))
    );
}

#[tokio::test]
async fn values_this_version_does_not_know_can_be_sent_as_filters() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "runs": [],
            "page_info": {"has_next_page": false}
        })))
        .expect(1)
        .mount(&server)
        .await;

    client(&server)
        .list_runs()
        .artifact_type(ArtifactType::Unknown("HOLOGRAM".into()))
        .state(vec![
            RunState::Unknown("HIBERNATING".into()),
            RunState::Error,
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(
        received(&server).await[0].url.query(),
        Some("artifact_type=HOLOGRAM&state=HIBERNATING&state=ERROR")
    );
}

/// The members the newest SDK marks required on a run but older services never sent (and the
/// deprecated `task_id` newer ones may stop sending) are optional: a run without them decodes.
#[tokio::test]
async fn a_run_without_the_newest_or_deprecated_members_decodes() {
    let mut body = run_json("run_1", "SUCCEEDED");
    body.as_object_mut().unwrap().remove("task_id");
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&body))
        .mount(&server)
        .await;
    let run = common::get_run_1(&client(&server))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(run.run_id, "run_1");
    assert_eq!(run.task_id, None);
    assert_eq!(run.root_run_id, None);
    assert_eq!(run.finished_at, None);
    assert_eq!(run.submitted_prompt, None);
    assert_eq!(run.factory_uid, None);
}

/// And a newest-generation run keeps them.
#[test]
fn a_run_with_the_newest_members_keeps_them() {
    let mut body = run_json("run_2", "SUCCEEDED");
    let extra = json!({
        "root_run_id": "run_1",
        "finished_at": "2025-03-14T09:58:12Z",
        "submitted_prompt": "Fix the flaky test in ci.yml",
        "factory_uid": "fac_7Qm2",
        "request_usage": {"model_token_usage": [
            {"model_id": "claude-4-sonnet", "usage_type": "byok", "total_tokens": 1200,
             "tokens_by_category": {"primary_agent": 1000, "conversation_compaction": 200}}
        ]}
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let run: RunItem = serde_json::from_value(body).unwrap();
    assert_eq!(run.root_run_id.as_deref(), Some("run_1"));
    assert_eq!(run.factory_uid.as_deref(), Some("fac_7Qm2"));
    assert!(run.finished_at.is_some());
    let usage = &run.request_usage.unwrap().model_token_usage[0];
    assert_eq!(usage.total_tokens, Some(1200));
    assert_eq!(
        usage.tokens_by_category.get("primary_agent").copied(),
        Some(1000)
    );
}

/// `ScopeType`'s Rust names equal its wire values (`User`, `Team`); a new scope decodes and
/// round-trips like every other server-owned enum.
#[test]
fn a_new_scope_type_is_kept() {
    let scope: ScopeType = serde_json::from_value(json!("Organization")).unwrap();
    assert_eq!(scope, ScopeType::Unknown("Organization".to_owned()));
    assert_eq!(serde_json::to_value(&scope).unwrap(), json!("Organization"));
    assert_eq!(scope.to_string(), "Organization");
}

/// Unions are told apart by their discriminator: an unknown tag is kept whole, a known tag
/// with a broken member is an error naming the tag, the variant and the member — never a
/// silent `Unknown`.
#[test]
fn a_union_decodes_by_its_discriminator() {
    let file = json!({
        "artifact_type": "FILE",
        "created_at": "2025-03-14T09:26:53Z",
        "data": {"artifact_uid": "art_1", "filepath": "out/report.pdf", "filename": "report.pdf",
                 "mime_type": "application/pdf", "size_bytes": 1024}
    });
    assert!(matches!(
        serde_json::from_value::<ArtifactItem>(file.clone()).unwrap(),
        ArtifactItem::FileArtifact(_)
    ));

    let mut broken = file.clone();
    broken["data"]["size_bytes"] = json!("a kilobyte");
    let err = serde_json::from_value::<ArtifactItem>(broken)
        .unwrap_err()
        .to_string();
    assert!(err.contains("artifact_type FILE (FileArtifact)"), "{err}");
    assert!(err.contains("a kilobyte"), "{err}");
    assert!(err.ends_with("at data.size_bytes"), "{err}");

    let mut newer = file.clone();
    newer["artifact_type"] = json!("VIDEO");
    assert_eq!(
        serde_json::from_value::<ArtifactItem>(newer.clone()).unwrap(),
        ArtifactItem::Unknown(newer)
    );
    let untagged = json!({"created_at": "2025-03-14T09:26:53Z"});
    assert_eq!(
        serde_json::from_value::<ArtifactItem>(untagged.clone()).unwrap(),
        ArtifactItem::Unknown(untagged)
    );
}
