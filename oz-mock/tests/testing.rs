//! What a test of an app uses besides the API itself: inserting specific runs, moving runs to a
//! state with the events of a real transition, and reading back what the API received.

mod support;

use oz_mock::{
    Authorization, Fault, FaultRule, OzMock, REDACTED, ReceivedRequest, RunState, SeedRun,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{api, create_run, get_run, http, send};

async fn event_types(client: &reqwest::Client, mock: &OzMock, run_id: &str) -> Vec<String> {
    let events = send(api(
        client,
        mock,
        Method::GET,
        &format!("/agent/events?run_ids={run_id}"),
    ))
    .await;
    assert_eq!(events.status, StatusCode::OK, "{:?}", events.body);
    events
        .body
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event_type"].as_str().expect("event_type").to_owned())
        .collect()
}

#[tokio::test]
async fn an_inserted_run_is_served_in_its_state_with_its_title_and_metadata() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let failed = mock.insert_run(
        SeedRun::new("Fix the flaky login test\nmore detail")
            .state(RunState::Failed)
            .title("Login test")
            .metadata("team", "core")
            .metadata("ticket", "T-7"),
    );
    let queued = mock.insert_run(SeedRun::new("Second task").state(RunState::Queued));
    assert_eq!(mock.run_count(), 2);
    assert_eq!(mock.created_run_count(), 0, "not created through the API");
    assert!(
        mock.received_requests().is_empty(),
        "inserting sends nothing"
    );

    let run = get_run(&client, &mock, &failed).await;
    assert_eq!(run["state"], "FAILED");
    assert_eq!(run["title"], "Login test");
    assert_eq!(run["prompt"], "Fix the flaky login test\nmore detail");
    assert_eq!(run["metadata"], json!({"team": "core", "ticket": "T-7"}));
    assert!(run["status_message"]["message"].is_string());
    // A run put in a state stays there, reads or not.
    let run = get_run(&client, &mock, &queued).await;
    assert_eq!(run["state"], "QUEUED");
    assert_eq!(run["title"], "Second task", "derived from the prompt");

    let listed = send(api(
        &client,
        &mock,
        Method::GET,
        "/agent/runs?metadata[team]=core",
    ))
    .await;
    let ids: Vec<&str> = listed.body["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    assert_eq!(ids, [failed.as_str()]);
}

#[tokio::test]
async fn an_inserted_run_without_a_state_advances_like_one_created_through_the_api() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let id = mock.insert_run(SeedRun::new("[file] write the report"));
    assert_eq!(mock.run_state(&id), Some(RunState::Queued));
    let run = get_run(&client, &mock, &id).await;
    assert_eq!(run["state"], "SUCCEEDED", "the first read with Instant");
    assert_eq!(
        support::artifact_types(&run),
        ["PLAN", "PULL_REQUEST", "FILE"],
        "markers apply"
    );
}

#[tokio::test]
async fn set_run_state_emits_the_events_and_fields_of_a_run_that_got_there_on_its_own() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    // On its own: QUEUED → ... → SUCCEEDED on the first read.
    let natural = create_run(&client, &mock, "natural").await;
    let natural_run = get_run(&client, &mock, &natural).await;
    let forced = create_run(&client, &mock, "forced").await;
    assert!(mock.set_run_state(&forced, RunState::Succeeded));
    let forced_run = get_run(&client, &mock, &forced).await;
    assert_eq!(
        event_types(&client, &mock, &forced).await,
        event_types(&client, &mock, &natural).await
    );
    assert_eq!(
        event_types(&client, &mock, &forced).await,
        ["run_in_progress", "run_succeeded"]
    );
    for field in ["started_at", "conversation_id", "session_link", "artifacts"] {
        assert_eq!(
            forced_run.get(field).is_some(),
            natural_run.get(field).is_some(),
            "{field}: {forced_run}"
        );
        assert!(forced_run.get(field).is_some(), "{field}: {forced_run}");
    }

    // Cancelling a QUEUED run through the API and setting it CANCELLED: the same events.
    let cancelled = create_run(&client, &mock, "cancelled").await;
    let answer = send(api(
        &client,
        &mock,
        Method::POST,
        &format!("/agent/runs/{cancelled}/cancel"),
    ))
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let set = create_run(&client, &mock, "set cancelled").await;
    assert!(mock.set_run_state(&set, RunState::Cancelled));
    assert_eq!(event_types(&client, &mock, &set).await, ["run_cancelled"]);
    assert_eq!(
        event_types(&client, &mock, &set).await,
        event_types(&client, &mock, &cancelled).await
    );

    // Step by step: no event is emitted twice.
    let stepped = create_run(&client, &mock, "stepped").await;
    for state in [RunState::Claimed, RunState::Inprogress, RunState::Blocked] {
        assert!(mock.set_run_state(&stepped, state));
        assert_eq!(mock.run_state(&stepped), Some(state));
    }
    assert_eq!(
        event_types(&client, &mock, &stepped).await,
        ["run_in_progress", "run_blocked"]
    );
    assert!(!mock.set_run_state("no-such-run", RunState::Failed));
}

fn only(requests: Vec<ReceivedRequest>) -> ReceivedRequest {
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.into_iter().next().expect("one request")
}

#[tokio::test]
async fn the_request_log_shows_what_was_sent_and_how_it_was_answered() {
    let mock = OzMock::builder()
        .api_key("wk-log-secret")
        .start()
        .await
        .expect("start");
    let client = http();
    let body = json!({"prompt": "Review PR 12", "metadata": {"ticket": "T-1"}});
    let created = send(
        api(&client, &mock, Method::POST, "/agent/runs")
            .header("x-request-source", "my-app")
            .json(&body),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK);

    let create = only(mock.received_requests_for("create_run"));
    assert_eq!(create.method, "POST");
    assert_eq!(create.path, "/api/v1/agent/runs");
    assert_eq!(create.query, None);
    assert_eq!(create.operation_id, "create_run");
    assert_eq!(create.status, Some(200));
    assert_eq!(create.authorization, Authorization::ApiKey);
    assert_eq!(create.header("Authorization"), Some(REDACTED));
    assert_eq!(create.header("x-request-source"), Some("my-app"));
    assert_eq!(create.header("content-type"), Some("application/json"));
    assert_eq!(create.json(), Some(body));
    let debug = format!("{create:?}");
    assert!(!debug.contains("wk-log-secret"), "{debug}");
    assert!(
        create
            .headers
            .iter()
            .all(|(_, v)| !v.contains("wk-log-secret")),
        "the key is kept nowhere"
    );

    // A query, a missing key, a wrong key, a refused body, a fault, an unknown route.
    let url = format!(
        "{}/agent/runs?limit=2&state=QUEUED&state=FAILED",
        mock.base_url()
    );
    assert_eq!(
        send(client.get(&url)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(client.get(&url).bearer_auth("wk-other")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let refused =
        send(api(&client, &mock, Method::POST, "/agent/runs").json(&json!({"prompt": 5}))).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    mock.add_fault(FaultRule::operation("list_runs", Fault::Status(503)));
    let faulted = send(api(&client, &mock, Method::GET, "/agent/runs")).await;
    assert_eq!(faulted.status, StatusCode::SERVICE_UNAVAILABLE);
    let unknown = send(api(&client, &mock, Method::GET, "/agent/nothing-here")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let log = mock.received_requests();
    let summary: Vec<(&str, Option<u16>, Authorization)> = log
        .iter()
        .map(|r| (r.operation_id.as_str(), r.status, r.authorization))
        .collect();
    assert_eq!(
        summary,
        [
            ("create_run", Some(200), Authorization::ApiKey),
            ("list_runs", Some(401), Authorization::Absent),
            ("list_runs", Some(401), Authorization::Other),
            ("create_run", Some(400), Authorization::ApiKey),
            ("list_runs", Some(503), Authorization::ApiKey),
            ("unknown", Some(404), Authorization::ApiKey),
        ]
    );
    assert_eq!(log[1].header("authorization"), None);
    assert_eq!(log[2].header("authorization"), Some(REDACTED));
    assert_eq!(
        log[1].query.as_deref(),
        Some("limit=2&state=QUEUED&state=FAILED")
    );
    let pairs: Vec<(String, String)> = log[1].query_pairs();
    assert_eq!(
        pairs,
        [
            ("limit".to_owned(), "2".to_owned()),
            ("state".to_owned(), "QUEUED".to_owned()),
            ("state".to_owned(), "FAILED".to_owned()),
        ]
    );
    assert_eq!(
        log[3].json(),
        Some(json!({"prompt": 5})),
        "a refused body is kept"
    );
    assert_eq!(log[5].path, "/api/v1/agent/nothing-here");
    assert_eq!(
        mock.received_requests_for("list_runs").len(),
        mock.request_count("list_runs"),
        "the log and the counts agree"
    );

    mock.reset_counters();
    assert!(mock.received_requests().is_empty());
    let after = send(api(&client, &mock, Method::GET, "/agent/models")).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(only(mock.received_requests()).status, Some(200));
}

#[tokio::test]
async fn a_request_left_unanswered_by_a_fault_is_logged_without_a_status() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    mock.add_fault(FaultRule::operation("get_run", Fault::ConnectionReset));
    let url = format!("{}/agent/runs/some-run", mock.base_url());
    let error = client
        .get(&url)
        .bearer_auth(mock.api_key())
        .send()
        .await
        .expect_err("the connection is closed");
    assert!(!error.is_status(), "{error}");
    let dropped = only(mock.received_requests_for("get_run"));
    assert_eq!(dropped.status, None);
    assert!(dropped.body.is_empty());
    assert_eq!(dropped.json(), None);
}
