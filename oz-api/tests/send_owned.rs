//! `send_owned()`: the request of `send()` in a future that owns a clone of the client, so it
//! can be spawned and outlive the client it came from.

mod common;

use common::{API_KEY, client, error_json, problem, received, run_json};
use oz_api::types::{RunAgentRequest, RunState};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// What a request carried that the two ways of sending could differ in.
fn sent(request: &Request) -> (String, String, Vec<(String, String)>, Value) {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                value.to_str().unwrap_or("<binary>").to_owned(),
            )
        })
        .collect();
    headers.sort();
    let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    (
        request.method.to_string(),
        request.url.to_string(),
        headers,
        body,
    )
}

#[tokio::test]
async fn a_spawned_send_owned_outlives_the_client_and_answers_like_send() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_x"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-request-id", "req-7")
                .set_body_json(run_json("run_x", "SUCCEEDED")),
        )
        .expect(2)
        .mount(&server)
        .await;

    let client = client(&server);
    let borrowed = client.get_run().run_id("run_x").send().await;
    let task = tokio::spawn(client.get_run().run_id("run_x").send_owned());
    drop(client);
    let owned = task.await.expect("the task ran to its end");

    let (borrowed, owned) = (borrowed.unwrap(), owned.unwrap());
    assert_eq!(owned.status(), borrowed.status());
    assert_eq!(owned.headers()["x-request-id"], "req-7");
    let run = owned.into_inner();
    assert_eq!(run, borrowed.into_inner());
    assert_eq!(
        (run.run_id.as_str(), run.state),
        ("run_x", RunState::Succeeded)
    );
    let requests = received(&server).await;
    assert_eq!(sent(&requests[0]), sent(&requests[1]));
    assert_eq!(
        requests[1].headers["authorization"],
        format!("Bearer {API_KEY}").as_str()
    );
}

#[tokio::test]
async fn send_owned_posts_the_same_body_and_reports_the_same_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("content-type", "application/problem+json")
                .set_body_json(error_json(429, "rate_limited", "Too many requests")),
        )
        .mount(&server)
        .await;
    let client = common::config_for(&common::base_url(&server))
        .max_retries(0)
        .build()
        .unwrap();
    let request = || {
        client.create_run().body(
            RunAgentRequest::builder()
                .prompt("Fix the flaky test in ci.yml")
                .title("Flaky test"),
        )
    };

    let borrowed = request().send().await.unwrap_err();
    let owned = tokio::spawn(request().send_owned())
        .await
        .unwrap()
        .unwrap_err();

    assert_eq!(owned.status(), borrowed.status());
    assert_eq!(owned.to_string(), borrowed.to_string());
    assert_eq!(problem(owned), problem(borrowed));
    let requests = received(&server).await;
    assert_eq!(requests.len(), 2);
    assert_eq!(sent(&requests[0]), sent(&requests[1]));
    assert_eq!(
        sent(&requests[1]).3,
        json!({"prompt": "Fix the flaky test in ci.yml", "title": "Flaky test"})
    );

    // A parameter never set is refused before anything is sent, the same way.
    let borrowed = client.get_run().send().await.unwrap_err();
    let owned = client.get_run().send_owned().await.unwrap_err();
    assert!(matches!(owned, oz_api::Error::InvalidRequest(_)), "{owned}");
    assert_eq!(owned.to_string(), borrowed.to_string());
    assert_eq!(received(&server).await.len(), 2);
}

/// The future borrows nothing: it is `Send + 'static` while the client it came from is gone.
#[test]
fn the_future_needs_no_client_to_stay_alive() {
    fn assert_spawnable<F: std::future::Future + Send + 'static>(_: &F) {}
    let client = oz_api::Config::new(API_KEY).build().unwrap();
    let future = client.list_runs().limit(5u64).send_owned();
    drop(client);
    assert_spawnable(&future);
}
