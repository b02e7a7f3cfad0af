//! Requests are checked against openapi.json before any handler runs: a JSON body against the
//! operation's request schema, the query against its declared parameters. Refusals are 400
//! `invalid_request` problems whose detail names the offending member; requests the SDK builds
//! from its generated types pass.

mod support;

use oz_api::types::{
    AgentEventType, AmbientAgentConfig, AttachmentInput, CreateAgentRequest,
    CreateScheduledAgentRequest, ReportAgentEventRequest, ReportRunScoresRequest, ReportedRunScore,
    RunAgentRequest, RunMetadata, RunState, SendAgentMessageRequest,
};
use oz_mock::OzMock;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Answer, api, get, http, post, send, spec};

/// A 400 `invalid_request` problem whose detail mentions each of `members`.
fn assert_refused(answer: &Answer, members: &[&str]) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:?}", answer.body);
    assert_eq!(answer.content_type(), Some("application/problem+json"));
    let body = &answer.body;
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/errors/invalid_request")),
        "{body}"
    );
    assert_eq!(body["status"], 400);
    assert_eq!(body["title"], "Invalid request");
    assert_eq!(body["retryable"], false);
    let detail = body["detail"].as_str().expect("detail");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains(detail)),
        "{body}"
    );
    for member in members {
        assert!(detail.contains(member), "{member:?} not in {detail:?}");
    }
}

#[tokio::test]
async fn a_member_of_the_wrong_type_is_refused_by_its_path() {
    let mock = OzMock::start().await.unwrap();
    let answer = post(&http(), &mock, "/agent/runs", json!({"prompt": 5})).await;
    assert_refused(&answer, &["prompt: 5 is not of type \"string\""]);
    let answer = post(
        &http(),
        &mock,
        "/agent/runs",
        json!({"prompt": "p", "config": {"idle_timeout_minutes": "ten", "skills": ["a", 3]}}),
    )
    .await;
    assert_refused(
        &answer,
        &[
            "config.idle_timeout_minutes: \"ten\" is not of type \"integer\"",
            "config.skills[1]: 3 is not of type \"string\"",
        ],
    );
    let answer = post(
        &http(),
        &mock,
        "/agent/runs",
        json!({"prompt": "p", "metadata": {"team.name": 4}}),
    )
    .await;
    assert_refused(&answer, &["metadata[\"team.name\"]: 4 is not of type"]);
    let answer = post(&http(), &mock, "/agent/runs", json!(["prompt"])).await;
    assert_refused(&answer, &["the body: ", "is not of type \"object\""]);
    // Refused before the handler: no run was made.
    assert_eq!(mock.created_run_count(), 0);
}

#[tokio::test]
async fn a_missing_required_member_is_refused_by_its_path() {
    let mock = OzMock::start().await.unwrap();
    let answer = post(&http(), &mock, "/agent/schedules", json!({"prompt": "p"})).await;
    assert_refused(&answer, &["name is required", "cron_schedule is required"]);
    let answer = post(
        &http(),
        &mock,
        "/agent/runs",
        json!({"prompt": "p", "attachments": [{"file_name": "a.png", "mime_type": "image/png"}]}),
    )
    .await;
    assert_refused(&answer, &["attachments[0].data is required"]);
    let answer = post(
        &http(),
        &mock,
        "/agent/messages",
        json!({"sender_run_id": "r", "to": ["s"], "subject": "s"}),
    )
    .await;
    assert_refused(&answer, &["body is required"]);
}

#[tokio::test]
async fn an_unknown_enum_value_is_refused_by_its_path() {
    let mock = OzMock::start().await.unwrap();
    let run_id = support::create_run(&http(), &mock, "p").await;
    let answer = post(
        &http(),
        &mock,
        &format!("/agent/events/{run_id}"),
        json!({"event_type": "run_paused"}),
    )
    .await;
    assert_refused(&answer, &["event_type: \"run_paused\" is not one of"]);
    let answer = post(
        &http(),
        &mock,
        "/agent/runs",
        json!({"prompt": "p", "mode": "fast"}),
    )
    .await;
    assert_refused(&answer, &["mode: \"fast\" is not one of"]);
    let answer = post(&http(), &mock,
        "/agent/schedules",
        json!({"name": "n", "cron_schedule": "0 * * * *", "prompt": "p", "agent_uid": "not-a-uuid"}),
    )
    .await;
    assert_refused(&answer, &["agent_uid: \"not-a-uuid\" is not a \"uuid\""]);
}

#[tokio::test]
async fn a_query_parameter_out_of_range_is_refused_by_its_name() {
    let mock = OzMock::start().await.unwrap();
    let answer = get(&http(), &mock, "/agent/runs?limit=501").await;
    assert_refused(
        &answer,
        &["query parameter limit: 501 is greater than the maximum of 500"],
    );
    let answer = get(
        &http(),
        &mock,
        "/agent/runs?limit=0&state=SUCCEEDED&state=PAUSED",
    )
    .await;
    assert_refused(
        &answer,
        &[
            "query parameter limit: 0 is less than the minimum of 1",
            "query parameter state[1]: \"PAUSED\" is not one of",
        ],
    );
    let answer = get(
        &http(),
        &mock,
        "/agent/runs?limit=many&created_after=yesterday",
    )
    .await;
    assert_refused(
        &answer,
        &[
            "query parameter limit: \"many\" is not of type \"integer\"",
            "query parameter created_after: \"yesterday\" is not a \"date-time\"",
        ],
    );
    let answer = get(&http(), &mock, "/agent/events").await;
    assert_refused(&answer, &["query parameter run_ids is required"]);
    let answer = get(&http(), &mock, "/factory?limit=101").await;
    assert_refused(&answer, &["query parameter limit: 101 is greater than"]);
    // Parameters the operation does not declare are ignored, as the service does.
    let answer = get(
        &http(),
        &mock,
        "/agent/runs?limit=5&utm_source=docs&state=QUEUED",
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
}

/// The path of an operation with every parameter filled in.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every operation of openapi.json gets the checks from the document, none from code of its
/// own: a body that is no object, a missing required query parameter and an integer above its
/// maximum are refused everywhere, before the handler looks for the resource.
#[tokio::test]
async fn every_operation_is_checked_from_the_document() {
    let mock = OzMock::start().await.unwrap();
    let spec = spec();
    let methods = ["get", "put", "post", "delete", "patch"];
    let (mut bodies, mut queries) = (0, 0);
    for (template, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if !methods.contains(&method.as_str()) {
                continue;
            }
            let id = op["operationId"].as_str().expect("operationId");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let path = concrete(template);
            if op.get("requestBody").is_some() {
                let answer =
                    send(api(&http(), &mock, method.clone(), &path).json(&json!([]))).await;
                assert_eq!(
                    answer.status,
                    StatusCode::BAD_REQUEST,
                    "{id}: {:?}",
                    answer.body
                );
                assert_refused(&answer, &["the body: [] is not of type \"object\""]);
                bodies += 1;
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["in"] != "query" {
                    continue;
                }
                let name = param["name"].as_str().expect("name");
                if param["required"] == true {
                    let answer = send(api(&http(), &mock, method.clone(), &path)).await;
                    assert_refused(&answer, &[&format!("query parameter {name} is required")]);
                    queries += 1;
                }
                if let Some(max) = param["schema"]["maximum"].as_i64() {
                    let query = format!("{path}?{name}={}", max + 1);
                    let answer = send(api(&http(), &mock, method.clone(), &query)).await;
                    assert_refused(
                        &answer,
                        &[&format!("query parameter {name}: {} is greater", max + 1)],
                    );
                    queries += 1;
                }
            }
        }
    }
    assert!(
        bodies >= 15 && queries >= 8,
        "{bodies} bodies, {queries} queries"
    );
}

/// Requests the SDK builds from its generated types, rich ones included, pass the checks: the
/// simulator shares no type with the SDK, so a generated type that serialized against the
/// document would be refused here.
#[tokio::test]
async fn requests_the_sdk_builds_pass() {
    let mock = OzMock::start().await.unwrap();
    let client = oz_api::Config::new(mock.api_key())
        .base_url(mock.base_url())
        .build()
        .unwrap();

    let config: AmbientAgentConfig = AmbientAgentConfig::builder()
        .model_id("claude-4-6-opus-high")
        .idle_timeout_minutes(std::num::NonZeroU32::new(15))
        .skills(vec!["acme/tools:release-notes".to_owned()])
        .computer_use_enabled(false)
        .try_into()
        .unwrap();
    let run = RunAgentRequest::builder()
        .prompt("[file] tidy the docs")
        .title("Tidy")
        .config(config.clone())
        .metadata(RunMetadata(
            [("ticket".to_owned(), "OZ-1".to_owned())].into(),
        ))
        .attachments(vec![AttachmentInput::from_bytes("shot.png", "hello")])
        .team(true);
    let started = client.create_run().body(run).send().await.unwrap();
    let run_id = started.into_inner().run_id;
    let sender = client
        .run_agent()
        .body(RunAgentRequest::builder().prompt("[slow] report"))
        .send()
        .await
        .unwrap()
        .into_inner()
        .run_id;

    let listed = client
        .list_runs()
        .limit(500u64)
        .state(vec![RunState::Queued, RunState::Succeeded])
        .created_after(chrono::Utc::now() - chrono::Duration::hours(1))
        .send()
        .await
        .unwrap();
    assert!(!listed.runs.is_empty());

    client
        .report_agent_event()
        .run_id(&sender)
        .body(
            ReportAgentEventRequest::builder()
                .event_type(AgentEventType::RunInProgress)
                .execution_id("exec-1")
                .ref_id(None),
        )
        .send()
        .await
        .unwrap();
    client
        .poll_agent_events()
        .run_ids(vec![sender.clone()])
        .since(0)
        .limit(500u64)
        .send()
        .await
        .unwrap();
    client
        .send_agent_message()
        .body(
            SendAgentMessageRequest::builder()
                .sender_run_id(&run_id)
                .to(vec![sender.clone()])
                .subject("Build finished")
                .body("Everything passed."),
        )
        .send()
        .await
        .unwrap();
    let score: ReportedRunScore = ReportedRunScore::builder()
        .scorer_id(1)
        .classification("pass")
        .try_into()
        .unwrap();
    client
        .report_run_scores()
        .run_id(&run_id)
        .body(ReportRunScoresRequest::builder().results(vec![score]))
        .send()
        .await
        .unwrap();

    let agent = client
        .create_agent_identity()
        .body(
            CreateAgentRequest::builder()
                .name("release-bot")
                .prompt(Some("Ship releases.".to_owned()))
                .skills(vec!["acme/tools:release-notes".to_owned()]),
        )
        .send()
        .await
        .unwrap()
        .into_inner();
    client
        .create_schedule()
        .body(
            CreateScheduledAgentRequest::builder()
                .name("Weekly report")
                .cron_schedule("0 10 * * 1")
                .prompt(Some("Generate the weekly report".to_owned()))
                .enabled(true)
                .agent_uid(agent.uid.parse().ok())
                .agent_config(Some(config)),
        )
        .send()
        .await
        .unwrap();
}
