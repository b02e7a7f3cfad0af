//! Path parameters that would escape their template: a raw client (one that sends the path as
//! written, like `curl --path-as-is`) asks for `/agent/runs/../cancel`, `/agent/schedules/.`,
//! `/agent/runs/%2e%2e/cancel` or `/agent/schedules/` (an empty id). The simulator answers each
//! with a 400 or 404 problem and never with another resource, and nothing changes.

mod support;

use std::collections::BTreeMap;

use oz_mock::{OzMock, RunState, SeedRun};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{api, get_run, http, send, spec};

/// Values of a path parameter that a normalising server or proxy would read as "this
/// directory", "the parent" or "nothing".
const ESCAPING: [&str; 7] = ["", ".", "..", "%2e%2e", "%2E%2E", "%2e", ".%2e"];

/// Sends one request with the path exactly as given and returns its status and body. A
/// blocking socket on a blocking thread: the workspace's tokio has no `io-util` here, and an
/// HTTP client would normalise the path.
async fn raw(mock: &OzMock, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let (addr, key) = (mock.api_addr(), mock.api_key().to_owned());
    let (method, path, body) = (method.to_owned(), path.to_owned(), body.map(str::to_owned));
    tokio::task::spawn_blocking(move || raw_blocking(addr, &key, &method, &path, body.as_deref()))
        .await
        .expect("raw request")
}

fn raw_blocking(
    addr: std::net::SocketAddr,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let body = body.unwrap_or("");
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n{content_type}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        addr,
        key,
        body.len(),
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn get_json(client: &reqwest::Client, mock: &OzMock, path: &str) -> Value {
    let answer = send(api(client, mock, Method::GET, path)).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
    answer.body
}

/// Everything a request could have changed, as the API shows it.
async fn snapshot(client: &reqwest::Client, mock: &OzMock, run_id: &str) -> Vec<Value> {
    let mut seen = vec![
        get_json(client, mock, "/agent/runs?limit=500").await,
        get_json(client, mock, "/agent/schedules").await,
        get_json(client, mock, "/agent/identities").await,
        get_json(client, mock, &format!("/agent/messages/{run_id}")).await,
        get_json(client, mock, &format!("/agent/events?run_ids={run_id}")).await,
        json!(mock.run_count()),
    ];
    let factories = get_json(client, mock, "/factory").await;
    for factory in factories["factories"].as_array().expect("factories") {
        let uid = factory["uid"].as_str().expect("uid");
        seen.push(get_json(client, mock, &format!("/factory/{uid}/tasks?limit=100")).await);
    }
    seen
}

/// Every operation of openapi.json with a path parameter, each parameter in turn set to each
/// escaping value (the others set to values that exist), sent by a raw client: 400 or 404,
/// never a success, and the state is as before.
#[tokio::test]
async fn a_path_parameter_never_escapes_its_template() {
    let mock = OzMock::builder()
        .seed_factory_tasks(true)
        .start()
        .await
        .expect("start");
    let client = http();
    let run_id = mock.insert_run(SeedRun::new("escaping paths").state(RunState::Inprogress));
    let run = get_run(&client, &mock, &run_id).await;
    let conversation_id = run["conversation_id"].as_str().expect("conversation_id");
    let factories = get_json(&client, &mock, "/factory").await;
    let factory_uid = factories["factories"][0]["uid"].as_str().expect("uid");
    let schedule = send(
        api(&client, &mock, Method::POST, "/agent/schedules").json(&json!({
            "name": "nightly", "cron_schedule": "0 3 * * *", "prompt": "p", "enabled": true
        })),
    )
    .await;
    assert_eq!(schedule.status, StatusCode::CREATED, "{:?}", schedule.body);
    let identity =
        send(api(&client, &mock, Method::POST, "/agent/identities").json(&json!({"name": "bot"})))
            .await;
    assert!(identity.status.is_success(), "{:?}", identity.body);
    let message = send(
        api(&client, &mock, Method::POST, "/agent/messages").json(&json!({
            "to": [run_id], "subject": "s", "body": "b", "sender_run_id": run_id
        })),
    )
    .await;
    assert_eq!(message.status, StatusCode::OK, "{:?}", message.body);
    // Values for the parameter that is not under test, so that only the one under test can
    // make a request fail.
    let existing: BTreeMap<&str, &str> = [
        ("conversationId", conversation_id),
        ("factoryUid", factory_uid),
        ("schemaVersion", "v1alpha1"),
    ]
    .into_iter()
    .collect();

    let before = snapshot(&client, &mock, &run_id).await;
    let spec = spec();
    let mut sent = 0;
    let mut wrong = Vec::new();
    for (template, item) in spec["paths"].as_object().expect("paths") {
        let segments: Vec<&str> = template.split('/').collect();
        for (method, op) in item.as_object().expect("path item") {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let id = op["operationId"].as_str().expect("operationId");
            let body = op.get("requestBody").map(|_| "{}");
            for (at, segment) in segments.iter().enumerate() {
                if !segment.starts_with('{') {
                    continue;
                }
                for value in ESCAPING {
                    let path: Vec<&str> = segments
                        .iter()
                        .enumerate()
                        .map(|(i, s)| match s.strip_prefix('{') {
                            _ if i == at => value,
                            Some(name) => existing
                                .get(name.trim_end_matches('}'))
                                .copied()
                                .unwrap_or("x"),
                            None => s,
                        })
                        .collect();
                    let path = format!("/api/v1{}", path.join("/"));
                    let method = method.to_uppercase();
                    let (status, answer) = raw(&mock, &method, &path, body).await;
                    let problem: Value = serde_json::from_str(&answer).unwrap_or_default();
                    if !(status == 400 || status == 404) || problem["status"] != status {
                        wrong.push(format!("{id}: {method} {path} answered {status}: {answer}"));
                    }
                    sent += 1;
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(sent >= 40 * ESCAPING.len(), "{sent} requests");
    assert_eq!(snapshot(&client, &mock, &run_id).await, before);
}

/// The answer names the parameter, so that whoever sent it sees what was wrong.
#[tokio::test]
async fn the_refusal_names_the_parameter() {
    let mock = OzMock::start().await.expect("start");
    for (method, path, parameter) in [
        ("POST", "/api/v1/agent/runs/../cancel", "runId"),
        ("POST", "/api/v1/agent/runs/%2E%2E/cancel", "runId"),
        ("DELETE", "/api/v1/agent/schedules/.", "scheduleId"),
        ("GET", "/api/v1/agent/messages/..", "runId"),
    ] {
        let (status, answer) = raw(&mock, method, path, None).await;
        assert_eq!(status, 400, "{path}: {answer}");
        let problem: Value = serde_json::from_str(&answer).expect("problem");
        let detail = problem["detail"].as_str().expect("detail");
        assert!(detail.contains(parameter), "{path}: {detail}");
        assert_eq!(problem["retryable"], false);
    }
    // No parameter at all: not an operation.
    let (status, _) = raw(&mock, "GET", "/api/v1/agent/runs/", None).await;
    assert_eq!(status, 404);
    let (status, _) = raw(&mock, "DELETE", "/api/v1/agent/schedules/", None).await;
    assert_eq!(status, 404);
}
