//! The retry signals the service sends, as the simulator sends them: `x-should-retry` with every
//! problem, and the team limits signalled with `X-Warp-Error-Code` — `OUT_OF_CREDITS` (429) and
//! `AT_CLOUD_AGENT_CAPACITY` (403, with `running_agents`) — from a fault or from the team's
//! credits and concurrency limit. A create refused this way creates nothing.

mod support;

use std::time::Duration;

use oz_mock::spec_validation::SpecValidator;
use oz_mock::{Fault, FaultRule, OzMock, Progression, RetryAfter, RunState};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Answer, api, create_run, get_run, http, send};

async fn create(client: &reqwest::Client, mock: &OzMock, prompt: &str) -> Answer {
    send(api(client, mock, Method::POST, "/agent/runs").json(&json!({"prompt": prompt}))).await
}

/// The answer is one openapi.json declares for `create_run`, body and all.
fn assert_declared(answer: &Answer) {
    SpecValidator::new(&support::spec())
        .validate_media(
            "create_run",
            answer.status.as_u16(),
            answer.content_type(),
            &answer.body,
        )
        .expect("a declared answer of create_run");
}

/// 429 OUT_OF_CREDITS as the service sends it: not retryable in the body and in the header.
fn assert_out_of_credits(answer: &Answer) {
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        answer.body
    );
    assert_eq!(answer.header("x-warp-error-code"), Some("OUT_OF_CREDITS"));
    assert_eq!(answer.header("x-should-retry"), Some("false"));
    assert_eq!(answer.content_type(), Some("application/problem+json"));
    let body = &answer.body;
    assert_eq!(body["status"], 429);
    assert_eq!(body["retryable"], false);
    assert!(
        body["userDisplayMessage"]
            .as_str()
            .is_some_and(|m| m.contains("credits")),
        "{body}"
    );
    assert!(body["error"].is_string(), "{body}");
}

/// 403 AT_CLOUD_AGENT_CAPACITY with `running_agents`.
fn assert_at_capacity(answer: &Answer, running_agents: u64) {
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{:?}", answer.body);
    assert_eq!(
        answer.header("x-warp-error-code"),
        Some("AT_CLOUD_AGENT_CAPACITY")
    );
    assert_eq!(answer.header("x-should-retry"), Some("false"));
    let body = &answer.body;
    assert_eq!(body["running_agents"], running_agents, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(body["status"], 403);
    assert_eq!(body["retryable"], false);
}

/// Every problem the simulator sends with `"retryable": false` also says
/// `x-should-retry: false`, so that a client reading either decides the same. Retryable ones
/// send no `x-should-retry: true`: clients obey it even for a create, and a create answered
/// with a 5xx may have started a run.
#[tokio::test]
async fn every_problem_says_in_a_header_whether_to_retry() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let pending = create_run(&client, &mock, "pending").await;
    assert!(mock.set_run_state(&pending, RunState::Pending));
    let ended = create_run(&client, &mock, "ended").await;
    get_run(&client, &mock, &ended).await;
    mock.add_fault(FaultRule::operation(
        "list_models",
        Fault::TooManyRequests(RetryAfter::Seconds(1)),
    ));
    mock.add_fault(FaultRule::operation(
        "list_environments",
        Fault::Status(503),
    ));
    mock.add_fault(FaultRule::operation("list_agents", Fault::Status(500)));
    let cancel = |id: &str| {
        api(
            &client,
            &mock,
            Method::POST,
            &format!("/agent/runs/{id}/cancel"),
        )
    };
    let answers = [
        (send(cancel(&pending)).await, 409, None),
        (send(cancel(&ended)).await, 400, Some("false")),
        (send(cancel("missing")).await, 404, Some("false")),
        (
            send(client.get(format!("{}/agent/runs", mock.base_url()))).await,
            401,
            Some("false"),
        ),
        (create(&client, &mock, "").await, 400, Some("false")),
        (
            send(api(&client, &mock, Method::DELETE, "/agent/runs")).await,
            405,
            Some("false"),
        ),
        (
            send(api(&client, &mock, Method::GET, "/agent/models")).await,
            429,
            None,
        ),
        (
            send(api(&client, &mock, Method::GET, "/agent/environments")).await,
            503,
            None,
        ),
        (
            send(api(&client, &mock, Method::GET, "/agent")).await,
            500,
            None,
        ),
    ];
    for (answer, status, should_retry) in answers {
        assert_eq!(answer.status.as_u16(), status, "{:?}", answer.body);
        assert_eq!(
            answer.header("x-should-retry"),
            should_retry,
            "{status}: {:?}",
            answer.body
        );
        assert_eq!(
            answer.body["retryable"],
            should_retry.is_none(),
            "{status}: {:?}",
            answer.body
        );
    }
}

#[tokio::test]
async fn out_of_credits_and_capacity_as_faults() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    mock.add_fault(FaultRule::operation("create_run", Fault::OutOfCredits));
    assert_out_of_credits(&create(&client, &mock, "no credits").await);
    mock.add_fault(FaultRule::operation(
        "create_run",
        Fault::AtCloudAgentCapacity { running_agents: 7 },
    ));
    assert_at_capacity(&create(&client, &mock, "no capacity").await, 7);
    assert_eq!(mock.created_run_count(), 0, "refused creates made no run");
    // The faults were used up: the next create goes through.
    assert_eq!(create(&client, &mock, "now").await.status, StatusCode::OK);
    // Any operation can be given them, at any path.
    mock.add_fault(FaultRule::path_prefix("/agent/runs", Fault::OutOfCredits));
    assert_out_of_credits(&send(api(&client, &mock, Method::GET, "/agent/runs")).await);
}

#[tokio::test]
async fn a_team_without_credits_creates_nothing() {
    let mock = OzMock::builder().credits(2).start().await.expect("start");
    let client = http();
    for prompt in ["one", "two"] {
        assert_eq!(create(&client, &mock, prompt).await.status, StatusCode::OK);
    }
    assert_eq!(mock.credits(), Some(0));
    let refused = create(&client, &mock, "three").await;
    assert_out_of_credits(&refused);
    assert_declared(&refused);
    // The legacy path and factory runs draw on the same credits.
    let legacy =
        send(api(&client, &mock, Method::POST, "/agent/run").json(&json!({"prompt": "p"}))).await;
    assert_out_of_credits(&legacy);
    let factories = send(api(&client, &mock, Method::GET, "/factory")).await;
    let factory = factories.body["factories"][0]["uid"].as_str().expect("uid");
    let factory_run = send(
        api(
            &client,
            &mock,
            Method::POST,
            &format!("/factory/{factory}/runs"),
        )
        .json(&json!({"prompt": "p"})),
    )
    .await;
    assert_out_of_credits(&factory_run);
    assert_eq!(mock.created_run_count(), 2);
    assert_eq!(mock.run_count(), 2);
    // Credits added while it runs are used from the next create on.
    mock.set_credits(Some(1));
    assert_eq!(create(&client, &mock, "four").await.status, StatusCode::OK);
    assert_eq!(mock.credits(), Some(0));
    mock.set_credits(None);
    assert_eq!(create(&client, &mock, "five").await.status, StatusCode::OK);
    assert_eq!(mock.created_run_count(), 4);
}

/// Under `Instant` a run ends when it is first read: until then it holds its place.
#[tokio::test]
async fn the_concurrency_limit_counts_live_runs_and_frees_up_when_one_ends() {
    let mock = OzMock::builder()
        .concurrency_limit(2)
        .start()
        .await
        .expect("start");
    let client = http();
    let first = create_run(&client, &mock, "first").await;
    create_run(&client, &mock, "second").await;
    assert_at_capacity(&create(&client, &mock, "third").await, 2);
    assert_eq!(
        mock.created_run_count(),
        2,
        "the refused create made no run"
    );
    assert_eq!(get_run(&client, &mock, &first).await["state"], "SUCCEEDED");
    let third = create_run(&client, &mock, "third").await;
    // A cancelled run frees its place too.
    let answer = send(api(
        &client,
        &mock,
        Method::POST,
        &format!("/agent/runs/{third}/cancel"),
    ))
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    create_run(&client, &mock, "fourth").await;
    assert_at_capacity(&create(&client, &mock, "fifth").await, 2);
    mock.set_concurrency_limit(Some(3));
    create_run(&client, &mock, "fifth").await;
    mock.set_concurrency_limit(None);
    create_run(&client, &mock, "sixth").await;
    assert_eq!(mock.created_run_count(), 6);
}

/// Under a time-based progression, capacity comes back when a run ends on its own.
#[tokio::test(start_paused = true)]
async fn capacity_frees_up_as_time_ends_runs() {
    let mock = OzMock::builder()
        .progression(Progression::Realistic)
        .concurrency_limit(1)
        .start()
        .await
        .expect("start");
    let client = http();
    create_run(&client, &mock, "first").await;
    assert_at_capacity(&create(&client, &mock, "second").await, 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_at_capacity(&create(&client, &mock, "second").await, 1);
    tokio::time::advance(Duration::from_secs(3)).await;
    create_run(&client, &mock, "second").await;
    assert_eq!(mock.created_run_count(), 2);
}
