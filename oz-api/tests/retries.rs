//! The retry policy as seen by a real HTTP server: which answers are retried, how often, and
//! how long the client waits in between.
//!
//! The client pauses through the sleep of its configuration; here that is
//! [`Pauses`](common::Pauses), which records each pause and returns at once, so the delays are
//! checked without being waited for. (Tokio's paused clock does not fit: it advances to the next
//! timer whenever the runtime is idle, and while the client waits for the server's socket that
//! timer is the request's own timeout, so every attempt would "time out" at once.)

mod common;

use std::time::Duration;

use common::{
    Pauses, base_url, client, config, error_json, get_run_1, problem, received, run_json,
};
use oz_api::types::RunAgentRequest;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RUN_PATH: &str = "/api/v1/agent/runs/run_1";

/// A 503 without any retry hint.
fn unavailable() -> ResponseTemplate {
    ResponseTemplate::new(503).set_body_string("upstream unavailable")
}

fn ok_run() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(run_json("run_1", "SUCCEEDED"))
}

fn started() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "run_id": "run_new",
        "task_id": "run_new",
        "state": "QUEUED"
    }))
}

fn run_request() -> oz_api::types::builder::RunAgentRequest {
    RunAgentRequest::builder().prompt("Fix the flaky test in ci.yml")
}

#[tokio::test]
async fn get_run_retries_two_503s_with_growing_backoff_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(unavailable())
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(ok_run())
        .expect(1)
        .mount(&server)
        .await;
    let pauses = Pauses::default();
    let client = config(&server).sleep_impl(pauses.clone()).build().unwrap();

    let run = get_run_1(&client)
        .await
        .expect("third attempt succeeds")
        .into_inner();

    assert_eq!(run.run_id, "run_1");
    assert_eq!(received(&server).await.len(), 3);
    // Backoff: 0.5 s then 1 s, each shortened by at most 25 % jitter.
    let gaps = pauses.taken();
    assert_eq!(gaps.len(), 2);
    assert!(
        (Duration::from_millis(375)..=Duration::from_millis(500)).contains(&gaps[0]),
        "{gaps:?}"
    );
    assert!(
        (Duration::from_millis(750)..=Duration::from_secs(1)).contains(&gaps[1]),
        "{gaps:?}"
    );
}

#[tokio::test]
async fn retry_after_seconds_on_a_429_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "2")
                .set_body_json(error_json(429, "rate_limited", "Too many requests")),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(ok_run())
        .expect(1)
        .mount(&server)
        .await;
    let pauses = Pauses::default();
    let client = config(&server).sleep_impl(pauses.clone()).build().unwrap();

    get_run_1(&client).await.expect("second attempt succeeds");

    // The default first backoff would be at most 0.5 s.
    assert_eq!(pauses.taken(), [Duration::from_secs(2)]);
}

#[tokio::test]
async fn x_should_retry_false_stops_a_retryable_503() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(unavailable().insert_header("x-should-retry", "false"))
        .expect(1)
        .mount(&server)
        .await;

    let err = get_run_1(&client(&server)).await.unwrap_err();

    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn retries_stop_once_max_retries_are_used_up() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(unavailable())
        .expect(3)
        .mount(&server)
        .await;

    let err = get_run_1(&client(&server)).await.unwrap_err();

    // The last answer is handed back, with its status.
    assert!(
        matches!(err, oz_api::Error::Problem(ref r) if r.status() == 503),
        "{err}"
    );
    assert_eq!(
        received(&server).await.len(),
        1 + oz_api::DEFAULT_MAX_RETRIES as usize
    );
}

#[tokio::test]
async fn max_retries_zero_sends_exactly_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(unavailable())
        .expect(1)
        .mount(&server)
        .await;
    let client = config(&server).max_retries(0).build().unwrap();

    let err = client.get_run().run_id("run_1").send().await.unwrap_err();

    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn create_run_answered_500_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(500).set_body_json(error_json(
            500,
            "internal_error",
            "Internal error",
        )))
        .expect(1)
        .mount(&server)
        .await;

    let err = client(&server)
        .create_run()
        .body(run_request())
        .send()
        .await
        .unwrap_err();

    assert_eq!(err.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(problem(err)["status"], 500);
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn create_run_answered_429_is_retried_with_the_same_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(429).set_body_json(error_json(
            429,
            "rate_limited",
            "Too many requests",
        )))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(started())
        .expect(1)
        .mount(&server)
        .await;

    let run = client(&server)
        .create_run()
        .body(run_request())
        .send()
        .await
        .expect("retried after the 429")
        .into_inner();

    assert_eq!(run.run_id, "run_new");
    let requests = received(&server).await;
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, requests[1].body);
    let body: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(body, json!({"prompt": "Fix the flaky test in ci.yml"}));
}

#[tokio::test]
async fn create_run_is_retried_when_the_server_says_it_is_safe() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(503).insert_header("x-should-retry", "true"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(started())
        .expect(1)
        .mount(&server)
        .await;

    client(&server)
        .create_run()
        .body(run_request())
        .send()
        .await
        .expect("retried on the server's word");

    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_successful_create_run_is_never_repeated() {
    // Even if a (misbehaving) server marks a success as retryable: repeating it would start a
    // second run.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(started().insert_header("x-should-retry", "true"))
        .expect(1)
        .mount(&server)
        .await;

    let run = client(&server)
        .create_run()
        .body(run_request())
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(run.run_id, "run_new");
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn cancel_run_is_an_idempotent_post_and_retried_on_409() {
    let server = MockServer::start().await;
    let cancel = "/api/v1/agent/runs/run_1/cancel";
    Mock::given(method("POST"))
        .and(path(cancel))
        .respond_with(ResponseTemplate::new(409).set_body_json(error_json(
            409,
            "conflict",
            "Run is still pending",
        )))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(cancel))
        .respond_with(ResponseTemplate::new(200).set_body_json("run_1"))
        .expect(1)
        .mount(&server)
        .await;

    let cancelled = client(&server)
        .cancel_run()
        .run_id("run_1")
        .send()
        .await
        .expect("retried after the 409")
        .into_inner();

    assert_eq!(cancelled, "run_1");
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(error_json(
            400,
            "invalid_request",
            "Invalid request",
        )))
        .expect(1)
        .mount(&server)
        .await;

    let err = get_run_1(&client(&server)).await.unwrap_err();

    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
}

#[tokio::test]
async fn each_attempt_is_limited_by_the_timeout_and_a_timed_out_get_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(ok_run().set_delay(Duration::from_secs(10)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(ok_run())
        .expect(1)
        .mount(&server)
        .await;
    let client = common::config_for(&base_url(&server))
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();

    let started = std::time::Instant::now();
    get_run_1(&client)
        .await
        .expect("the second attempt answers in time");

    // 0.5 s timeout + the second answer (the pause does not wait), far below the 10 s delay.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(received(&server).await.len(), 2);
}

/// The service's answer when the account is out of credits (api-facts §10.3).
fn out_of_credits() -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("x-warp-error-code", "OUT_OF_CREDITS")
        .set_body_json(json!({
            "error": "out of credits",
            "userDisplayMessage": "You are out of credits. Add credits to keep running agents.",
            "retryable": true
        }))
}

#[tokio::test]
async fn a_problem_saying_retryable_false_is_not_retried_and_not_transient() {
    let server = MockServer::start().await;
    let mut body = error_json(503, "internal_error", "Service unavailable");
    body["retryable"] = json!(false);
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;

    let err = get_run_1(&client(&server)).await.unwrap_err();

    assert_eq!(
        received(&server).await.len(),
        1,
        "the body said not retryable"
    );
    assert!(!err.is_transient(), "{err}");
}

#[tokio::test]
async fn out_of_credits_is_never_retried_and_is_its_own_outcome() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(out_of_credits())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(out_of_credits().insert_header("x-should-retry", "true"))
        .expect(1)
        .mount(&server)
        .await;
    let client = config(&server).max_retries(3).build().unwrap();

    let create = client
        .create_run()
        .body(run_request())
        .send()
        .await
        .unwrap_err();
    let get = get_run_1(&client).await.unwrap_err();

    assert_eq!(received(&server).await.len(), 2, "one request each");
    for err in [create, get] {
        assert!(err.is_out_of_credits(), "{err}");
        assert!(!err.is_rate_limited(), "{err}");
        assert!(!err.is_transient(), "{err}");
        assert_eq!(err.warp_error_code(), Some("OUT_OF_CREDITS"));
        assert_eq!(
            err.problem().unwrap().user_display_message.as_deref(),
            Some("You are out of credits. Add credits to keep running agents.")
        );
        let line = err.to_string();
        assert!(
            line.contains("out of credits: waiting will not help"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn a_429_without_the_credits_code_stays_rate_limited_and_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-warp-error-code", "RATE_LIMITED")
                .set_body_json(error_json(429, "rate_limited", "Too many requests")),
        )
        .expect(3)
        .mount(&server)
        .await;

    let err = get_run_1(&client(&server)).await.unwrap_err();

    assert_eq!(received(&server).await.len(), 3);
    assert!(err.is_rate_limited() && err.is_transient() && !err.is_out_of_credits());
}

#[tokio::test]
async fn at_capacity_is_typed_with_the_running_agents_and_not_retried() {
    let server = MockServer::start().await;
    for (run, status) in [("run_403", 403), ("run_429", 429), ("run_503", 503)] {
        Mock::given(method("GET"))
            .and(path(format!("/api/v1/agent/runs/{run}")))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("x-warp-error-code", "AT_CLOUD_AGENT_CAPACITY")
                    .set_body_json(json!({"error": "at capacity", "running_agents": 4})),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let client = client(&server);

    for run in ["run_403", "run_429", "run_503"] {
        let err = client.get_run().run_id(run).send().await.unwrap_err();
        assert!(err.is_at_capacity(), "{err}");
        assert_eq!(err.running_agents(), Some(4));
        assert!(!err.is_transient() && !err.is_out_of_credits(), "{err}");
        let line = err.to_string();
        assert!(line.contains("with 4 runs running"), "{line}");
    }
    assert_eq!(received(&server).await.len(), 3, "none was retried");
}

/// For every combination of status, `x-should-retry`, the problem's `retryable` and the
/// service's error code, the client retries an idempotent call exactly when the error it
/// would return says `is_transient()`.
#[tokio::test]
async fn the_retry_hook_and_is_transient_agree_on_every_answer() {
    let server = MockServer::start().await;
    let mut cases = Vec::new();
    for status in [400u16, 403, 404, 408, 409, 422, 429, 500, 502, 503] {
        for should_retry in [None, Some("true"), Some("false")] {
            for retryable in [None, Some(true), Some(false)] {
                for code in [
                    None,
                    Some("OUT_OF_CREDITS"),
                    Some("AT_CLOUD_AGENT_CAPACITY"),
                ] {
                    let run = format!("case_{}", cases.len());
                    let mut body = json!({"error": "failed"});
                    if let Some(retryable) = retryable {
                        body["retryable"] = json!(retryable);
                    }
                    let mut template = ResponseTemplate::new(status).set_body_json(body);
                    if let Some(value) = should_retry {
                        template = template.insert_header("x-should-retry", value);
                    }
                    if let Some(code) = code {
                        template = template.insert_header("x-warp-error-code", code);
                    }
                    Mock::given(method("GET"))
                        .and(path(format!("/api/v1/agent/runs/{run}")))
                        .respond_with(template)
                        .mount(&server)
                        .await;
                    cases.push((run, (status, should_retry, retryable, code)));
                }
            }
        }
    }
    let client = config(&server).max_retries(1).build().unwrap();

    for (run, case) in &cases {
        let before = received(&server).await.len();
        let err = client.get_run().run_id(run).send().await.unwrap_err();
        let sent = received(&server).await.len() - before;
        assert_eq!(
            sent == 2,
            err.is_transient(),
            "{case:?}: {sent} requests, {err}"
        );
    }
}
