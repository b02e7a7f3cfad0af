//! Path parameters that would leave their URL segment are refused before any I/O.
//!
//! A URL's path is normalised before it is sent (`.` and `..` segments removed, `%2e` read as a
//! dot), so an id of `..`, `.` or `""` would move an authenticated request to another endpoint:
//! `cancel_run().run_id("..")` would `POST /agent/cancel`, `get_run().run_id("")` would list
//! runs. Every operation with a path parameter (read from openapi.json, not from a list kept
//! here) is called with each such value for each of its path parameters against a real server,
//! which must receive nothing.

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;

use oz_api::{Client, Error, types};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The values a path parameter may not take.
const ESCAPING: [&str; 3] = ["", ".", ".."];

type Sent = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;
/// Calls one operation with every required parameter set; path parameters take `path(name)`,
/// `name` being the builder method that sets it.
type Call = fn(&Client, &dyn Fn(&str) -> String) -> Sent;

fn body<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid request body")
}

fn sent<T>(future: impl Future<Output = Result<T, Error>> + Send + 'static) -> Sent {
    Box::pin(async move { future.await.map(drop) })
}

/// Every operation with a path parameter, keyed by operation id.
fn calls() -> BTreeMap<&'static str, Call> {
    let entries: Vec<(&'static str, Call)> = vec![
        ("get_run", |c, p| {
            sent(c.get_run().run_id(p("run_id")).send_owned())
        }),
        ("get_run_transcript", |c, p| {
            sent(c.get_run_transcript().run_id(p("run_id")).send_owned())
        }),
        ("get_run_conversation", |c, p| {
            sent(c.get_run_conversation().run_id(p("run_id")).send_owned())
        }),
        ("cancel_run", |c, p| {
            sent(c.cancel_run().run_id(p("run_id")).send_owned())
        }),
        ("interrupt_run", |c, p| {
            sent(c.interrupt_run().run_id(p("run_id")).send_owned())
        }),
        ("get_run_harness_usage", |c, p| {
            sent(c.get_run_harness_usage().run_id(p("run_id")).send_owned())
        }),
        ("submit_run_followup", |c, p| {
            sent(
                c.submit_run_followup()
                    .run_id(p("run_id"))
                    .body(body::<types::RunFollowupRequest>(
                        json!({"message": "go on"}),
                    ))
                    .send_owned(),
            )
        }),
        ("get_run_timeline", |c, p| {
            sent(c.get_run_timeline().run_id(p("run_id")).send_owned())
        }),
        ("report_run_scores", |c, p| {
            sent(
                c.report_run_scores()
                    .run_id(p("run_id"))
                    .body(body::<types::ReportRunScoresRequest>(
                        json!({"results": [{"scorer_id": 1, "classification": "pass"}]}),
                    ))
                    .send_owned(),
            )
        }),
        ("list_handoff_attachments", |c, p| {
            sent(
                c.list_handoff_attachments()
                    .run_id(p("run_id"))
                    .send_owned(),
            )
        }),
        ("get_conversation", |c, p| {
            sent(
                c.get_conversation()
                    .conversation_id(p("conversation_id"))
                    .send_owned(),
            )
        }),
        ("get_conversation_transcript", |c, p| {
            sent(
                c.get_conversation_transcript()
                    .conversation_id(p("conversation_id"))
                    .send_owned(),
            )
        }),
        ("get_conversation_redirect", |c, p| {
            sent(
                c.get_conversation_redirect()
                    .conversation_id(p("conversation_id"))
                    .send_owned(),
            )
        }),
        ("submit_conversation_followup", |c, p| {
            sent(
                c.submit_conversation_followup()
                    .conversation_id(p("conversation_id"))
                    .body(body::<types::RunFollowupRequest>(
                        json!({"message": "go on"}),
                    ))
                    .send_owned(),
            )
        }),
        ("interrupt_conversation", |c, p| {
            sent(
                c.interrupt_conversation()
                    .conversation_id(p("conversation_id"))
                    .send_owned(),
            )
        }),
        ("get_session_redirect", |c, p| {
            sent(
                c.get_session_redirect()
                    .session_uuid(p("session_uuid"))
                    .send_owned(),
            )
        }),
        ("get_artifact", |c, p| {
            sent(
                c.get_artifact()
                    .artifact_uid(p("artifact_uid"))
                    .send_owned(),
            )
        }),
        ("download_artifact", |c, p| {
            sent(
                c.download_artifact()
                    .artifact_uid(p("artifact_uid"))
                    .send_owned(),
            )
        }),
        ("get_schedule", |c, p| {
            sent(c.get_schedule().schedule_id(p("schedule_id")).send_owned())
        }),
        ("update_schedule", |c, p| {
            sent(
                c.update_schedule()
                    .schedule_id(p("schedule_id"))
                    .body(body::<types::UpdateScheduledAgentRequest>(json!({
                        "name": "nightly", "cron_schedule": "0 3 * * *", "enabled": true,
                        "prompt": "Update dependencies"
                    })))
                    .send_owned(),
            )
        }),
        ("delete_schedule", |c, p| {
            sent(
                c.delete_schedule()
                    .schedule_id(p("schedule_id"))
                    .send_owned(),
            )
        }),
        ("pause_schedule", |c, p| {
            sent(
                c.pause_schedule()
                    .schedule_id(p("schedule_id"))
                    .send_owned(),
            )
        }),
        ("resume_schedule", |c, p| {
            sent(
                c.resume_schedule()
                    .schedule_id(p("schedule_id"))
                    .send_owned(),
            )
        }),
        ("get_agent_identity", |c, p| {
            sent(
                c.get_agent_identity()
                    .agent_uid(p("agent_uid"))
                    .send_owned(),
            )
        }),
        ("update_agent_identity", |c, p| {
            sent(
                c.update_agent_identity()
                    .agent_uid(p("agent_uid"))
                    .body(body::<types::UpdateAgentRequest>(json!({"name": "ci-bot"})))
                    .send_owned(),
            )
        }),
        ("delete_agent_identity", |c, p| {
            sent(
                c.delete_agent_identity()
                    .agent_uid(p("agent_uid"))
                    .send_owned(),
            )
        }),
        ("list_agent_messages", |c, p| {
            sent(c.list_agent_messages().run_id(p("run_id")).send_owned())
        }),
        ("read_agent_message", |c, p| {
            sent(
                c.read_agent_message()
                    .message_id(p("message_id"))
                    .send_owned(),
            )
        }),
        ("mark_agent_message_delivered", |c, p| {
            sent(
                c.mark_agent_message_delivered()
                    .message_id(p("message_id"))
                    .send_owned(),
            )
        }),
        ("report_agent_event", |c, p| {
            sent(
                c.report_agent_event()
                    .run_id(p("run_id"))
                    .body(body::<types::ReportAgentEventRequest>(
                        json!({"event_type": "run_succeeded"}),
                    ))
                    .send_owned(),
            )
        }),
        ("download_conversation_screenshot", |c, p| {
            sent(
                c.download_conversation_screenshot()
                    .conversation_id(p("conversation_id"))
                    .screenshot_uid(p("screenshot_uid"))
                    .send_owned(),
            )
        }),
        ("get_factory", |c, p| {
            sent(c.get_factory().factory_uid(p("factory_uid")).send_owned())
        }),
        ("create_factory_run", |c, p| {
            sent(
                c.create_factory_run()
                    .factory_uid(p("factory_uid"))
                    .body(body::<types::CreateFactoryRunRequest>(
                        json!({"prompt": "go"}),
                    ))
                    .send_owned(),
            )
        }),
        ("list_factory_tasks", |c, p| {
            sent(
                c.list_factory_tasks()
                    .factory_uid(p("factory_uid"))
                    .send_owned(),
            )
        }),
        ("create_factory_task", |c, p| {
            sent(
                c.create_factory_task()
                    .factory_uid(p("factory_uid"))
                    .body(body::<types::CreateFactoryTaskRequest>(
                        json!({"conversation_id": "conv-1", "title": "Fix it"}),
                    ))
                    .send_owned(),
            )
        }),
        ("get_factory_task", |c, p| {
            sent(
                c.get_factory_task()
                    .factory_uid(p("factory_uid"))
                    .task_uid(p("task_uid"))
                    .send_owned(),
            )
        }),
        ("update_factory_task", |c, p| {
            sent(
                c.update_factory_task()
                    .factory_uid(p("factory_uid"))
                    .task_uid(p("task_uid"))
                    .body(body::<types::UpdateFactoryTaskRequest>(
                        json!({"title": "New"}),
                    ))
                    .send_owned(),
            )
        }),
        ("delete_factory_task", |c, p| {
            sent(
                c.delete_factory_task()
                    .factory_uid(p("factory_uid"))
                    .task_uid(p("task_uid"))
                    .send_owned(),
            )
        }),
        ("cancel_factory_task", |c, p| {
            sent(
                c.cancel_factory_task()
                    .factory_uid(p("factory_uid"))
                    .task_uid(p("task_uid"))
                    .send_owned(),
            )
        }),
        ("get_factory_task_by_run", |c, p| {
            sent(
                c.get_factory_task_by_run()
                    .factory_uid(p("factory_uid"))
                    .run_id("run-1")
                    .send_owned(),
            )
        }),
        ("get_factory_task_by_conversation", |c, p| {
            sent(
                c.get_factory_task_by_conversation()
                    .factory_uid(p("factory_uid"))
                    .conversation_id("conv-1")
                    .send_owned(),
            )
        }),
        ("get_factory_file_schema", |c, p| {
            sent(
                c.get_factory_file_schema()
                    .schema_version(p("schema_version"))
                    .send_owned(),
            )
        }),
        ("get_factory_file_schema_document", |c, p| {
            sent(
                c.get_factory_file_schema_document()
                    .schema_version(p("schema_version"))
                    .document(p("document"))
                    .send_owned(),
            )
        }),
    ];
    let count = entries.len();
    let table: BTreeMap<_, _> = entries.into_iter().collect();
    assert_eq!(table.len(), count, "an operation is listed twice");
    table
}

/// `runId` → `run_id`: the name of the builder method progenitor makes for a parameter.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Operation id → the builder-method names of its path parameters, from openapi.json.
fn path_parameters_from_spec() -> BTreeMap<String, BTreeSet<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let resolve = |parameter: &Value| -> Value {
        match parameter["$ref"].as_str() {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                spec.pointer(pointer).cloned().expect("a resolvable $ref")
            }
            None => parameter.clone(),
        }
    };
    let mut operations = BTreeMap::new();
    for item in spec["paths"].as_object().unwrap().values() {
        let shared = item["parameters"].as_array().cloned().unwrap_or_default();
        for (method, operation) in item.as_object().unwrap() {
            let Some(id) = operation["operationId"].as_str() else {
                // The other members of a path item (a path-level `servers` names the realtime
                // origin of the event stream).
                assert!(
                    ["parameters", "servers", "summary", "description"].contains(&method.as_str()),
                    "an operation without an operationId: {method}"
                );
                continue;
            };
            let own = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let names: BTreeSet<String> = shared
                .iter()
                .chain(&own)
                .map(resolve)
                .filter(|parameter| parameter["in"] == "path")
                .map(|parameter| snake_case(parameter["name"].as_str().unwrap()))
                .collect();
            if !names.is_empty() {
                operations.insert(id.to_owned(), names);
            }
        }
    }
    operations
}

async fn server_answering_everything() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    server
}

#[test]
fn the_table_covers_every_operation_with_a_path_parameter() {
    let from_spec = path_parameters_from_spec();
    let in_table: BTreeSet<&str> = calls().keys().copied().collect();
    let expected: BTreeSet<&str> = from_spec.keys().map(String::as_str).collect();
    assert_eq!(in_table, expected);
    assert!(expected.len() >= 40, "{expected:?}");
}

#[tokio::test]
async fn every_path_parameter_refuses_empty_dot_and_dot_dot_before_any_io() {
    let server = server_answering_everything().await;
    let client = common::client(&server);
    let calls = calls();
    let mut checked = 0;
    for (operation, parameters) in path_parameters_from_spec() {
        let call = calls[operation.as_str()];
        for parameter in &parameters {
            for bad in ESCAPING {
                let asked = RefCell::new(BTreeSet::new());
                let value = |name: &str| {
                    asked.borrow_mut().insert(name.to_owned());
                    if name == parameter {
                        bad.to_owned()
                    } else {
                        "id-1".to_owned()
                    }
                };
                let outcome = call(&client, &value).await;
                assert_eq!(
                    *asked.borrow(),
                    parameters,
                    "{operation}: the table sets other path parameters than openapi.json lists"
                );
                match outcome {
                    Err(Error::InvalidRequest(reason)) => {
                        assert!(
                            reason.starts_with(&format!("{parameter} is {bad:?}")),
                            "{operation} with {parameter} = {bad:?}: {reason}"
                        );
                        assert!(
                            reason.contains("must not be empty, \".\" or \"..\""),
                            "{reason}"
                        );
                    }
                    other => panic!(
                        "{operation} with {parameter} = {bad:?} was not refused: {:?}",
                        other.map(|()| "sent")
                    ),
                }
                checked += 1;
            }
        }
    }
    let received = server.received_requests().await.unwrap();
    assert!(
        received.is_empty(),
        "the server received {:?}",
        received
            .iter()
            .map(|r| format!("{} {}", r.method, r.url.path()))
            .collect::<Vec<_>>()
    );
    assert!(checked >= 3 * 49, "{checked}");
}

/// The same calls with ordinary ids reach the server, each in its own segment; a `/` inside an
/// id is sent as `%2F` and a backslash as `%5C`, never as a separator.
#[tokio::test]
async fn other_ids_are_sent_inside_their_segment() {
    let server = server_answering_everything().await;
    let client = common::client(&server);
    let calls = calls();
    for (operation, parameters) in path_parameters_from_spec() {
        let call = calls[operation.as_str()];
        // Whatever the answer's decoding says, the request must have gone out.
        let _ = call(&client, &|name: &str| format!("{name}/..\\x")).await;
        let received = server.received_requests().await.unwrap();
        let last = received.last().expect("a request was sent");
        for parameter in &parameters {
            assert!(
                last.url.path().contains(&format!("/{parameter}%2F..%5Cx")),
                "{operation}: {}",
                last.url.path()
            );
        }
    }
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), path_parameters_from_spec().len());
}

#[tokio::test]
async fn a_slash_in_an_id_is_encoded_and_the_call_succeeds() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::path("/api/v1/agent/runs/a%2Fb/cancel"))
        .respond_with(ResponseTemplate::new(200).set_body_json("a/b"))
        .expect(1)
        .mount(&server)
        .await;
    let client = common::client(&server);
    let cancelled = client.cancel_run().run_id("a/b").send().await.unwrap();
    assert_eq!(cancelled.into_inner(), "a/b");
}
