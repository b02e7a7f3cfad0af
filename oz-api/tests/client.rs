//! What the generated client puts on the wire: query strings, path parameters, headers of one
//! operation, and how answers are decoded.

mod common;

use chrono::{TimeZone, Utc};
use common::{client, config, error_json, get_run_1, problem, received, run_json};
use oz_api::types::{ListRunsSortBy, ListRunsSortOrder, RunSourceType, RunState};
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn list_runs_repeats_the_state_key_and_encodes_every_filter() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "runs": [run_json("run_q", "QUEUED"), run_json("run_f", "FAILED")],
            "page_info": {"has_next_page": true, "next_cursor": "eyJvZmZzZXQiOjJ9"}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let page = client(&server)
        .list_runs()
        .state(vec![RunState::Queued, RunState::Failed])
        .source(vec![RunSourceType::Api])
        .limit(25u64)
        .q("flaky test & more")
        .created_after(Utc.with_ymd_and_hms(2025, 3, 1, 8, 30, 0).unwrap())
        .sort_by(ListRunsSortBy::CreatedAt)
        .sort_order(ListRunsSortOrder::Asc)
        .cursor("c1/==")
        .send()
        .await
        .expect("page of runs")
        .into_inner();

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].url.query(),
        Some(
            "created_after=2025-03-01T08%3A30%3A00Z&cursor=c1%2F%3D%3D&limit=25\
             &q=flaky+test+%26+more&sort_by=created_at&sort_order=asc&source=API\
             &state=QUEUED&state=FAILED"
        )
    );
    let states: Vec<_> = page.runs.iter().map(|run| run.state.clone()).collect();
    assert_eq!(states, vec![RunState::Queued, RunState::Failed]);
    assert!(page.page_info.has_next_page);
    assert_eq!(
        page.page_info.next_cursor.as_deref(),
        Some("eyJvZmZzZXQiOjJ9")
    );
}

#[tokio::test]
async fn list_runs_sends_a_single_state_once_and_no_query_without_filters() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "runs": [],
            "page_info": {"has_next_page": false}
        })))
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);

    client
        .list_runs()
        .state(RunState::Blocked)
        .send()
        .await
        .unwrap();
    let page = client.list_runs().send().await.unwrap().into_inner();

    let requests = received(&server).await;
    assert_eq!(requests[0].url.query(), Some("state=BLOCKED"));
    assert_eq!(requests[1].url.query(), None);
    assert!(page.runs.is_empty() && !page.page_info.has_next_page);
}

#[tokio::test]
async fn invalid_parameters_are_refused_before_anything_is_sent() {
    let server = MockServer::start().await;

    let err = client(&server)
        .list_runs()
        .limit(0u64)
        .send()
        .await
        .unwrap_err();

    assert!(
        matches!(err, oz_api::Error::InvalidRequest(ref why) if why.contains("limit")),
        "{err}"
    );
    assert!(received(&server).await.is_empty());
}

#[tokio::test]
async fn path_parameters_are_percent_encoded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v1/agent/runs/[^/]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("any", "SUCCEEDED")))
        .mount(&server)
        .await;
    let client = client(&server);
    let cases = [
        ("a b/c", "/api/v1/agent/runs/a%20b%2Fc"),
        ("what?#100%", "/api/v1/agent/runs/what%3F%23100%25"),
        ("../admin", "/api/v1/agent/runs/..%2Fadmin"),
        ("ünï{x}", "/api/v1/agent/runs/%C3%BCn%C3%AF%7Bx%7D"),
    ];

    for (run_id, _) in cases {
        client.get_run().run_id(run_id).send().await.unwrap();
    }

    let paths: Vec<String> = received(&server)
        .await
        .iter()
        .map(|request| request.url.path().to_owned())
        .collect();
    let expected: Vec<&str> = cases.iter().map(|(_, path)| *path).collect();
    assert_eq!(paths, expected);
    assert!(
        received(&server)
            .await
            .iter()
            .all(|request| request.url.query().is_none())
    );
}

#[tokio::test]
async fn base_url_with_a_trailing_slash_keeps_its_path_prefix() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("run_1", "INPROGRESS")))
        .expect(1)
        .mount(&server)
        .await;
    let client = config(&server)
        .base_url(format!("{}/api/v1/", server.uri()))
        .build()
        .unwrap();

    let run = get_run_1(&client).await.unwrap().into_inner();

    assert_eq!(run.run_id, "run_1");
    assert_eq!(run.state, RunState::Inprogress);
}

#[tokio::test]
async fn a_team_given_to_one_request_replaces_the_configured_team() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "runs": [],
            "page_info": {"has_next_page": false}
        })))
        .mount(&server)
        .await;
    let client = config(&server).team_uid("team_configured").build().unwrap();

    client
        .list_runs()
        .x_warp_team_uid("team_override")
        .send()
        .await
        .unwrap();
    client.list_runs().send().await.unwrap();

    let requests = received(&server).await;
    let teams = |i: usize| -> Vec<String> {
        requests[i]
            .headers
            .get_all("x-warp-team-uid")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(teams(0), ["team_override"]);
    assert_eq!(teams(1), ["team_configured"]);
}

#[tokio::test]
async fn create_run_posts_the_request_body_as_json() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "run_id": "run_new",
            "task_id": "run_new",
            "state": "QUEUED",
            "at_capacity": false
        })))
        .expect(1)
        .mount(&server)
        .await;

    let started = client(&server)
        .create_run()
        .body(
            oz_api::types::RunAgentRequest::builder()
                .prompt("Fix the flaky test in ci.yml")
                .title("Flaky test"),
        )
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(started.run_id, "run_new");
    assert_eq!(started.state, RunState::Queued);
    let request = &received(&server).await[0];
    assert_eq!(
        request.headers.get("content-type").unwrap(),
        "application/json"
    );
    assert_eq!(request.headers.get("accept").unwrap(), "application/json");
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({"prompt": "Fix the flaky test in ci.yml", "title": "Flaky test"})
    );
}

#[tokio::test]
async fn documented_error_answers_carry_status_and_problem_details() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_missing"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("content-type", "application/problem+json")
                .set_body_json(error_json(404, "resource_not_found", "Run not found")),
        )
        .expect(1)
        .mount(&server)
        .await;

    let err = client(&server)
        .get_run()
        .run_id("run_missing")
        .send()
        .await
        .unwrap_err();

    assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    let body = problem(err);
    assert_eq!(body["status"], 404);
    assert_eq!(body["title"], "Run not found");
    assert_eq!(
        body["type"],
        "https://docs.warp.dev/reference/api/errors/resource_not_found"
    );
    assert_eq!(body["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
}

#[tokio::test]
async fn undeclared_error_statuses_arrive_as_problems_with_their_status_and_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(418).set_body_string("short and stout"))
        .expect(1)
        .mount(&server)
        .await;

    let err = get_run_1(&client(&server)).await.unwrap_err();

    let oz_api::Error::Problem(response) = err else {
        panic!("expected an error response, got {err}");
    };
    assert_eq!(response.status().as_u16(), 418);
    let detail = response.detail.as_deref().unwrap_or_default();
    assert!(detail.contains("short and stout"), "{detail}");
}

#[tokio::test]
async fn a_success_answer_without_a_body_reads_as_an_empty_object() {
    let server = MockServer::start().await;
    // An acknowledgement sent as a bare 202, without a body or a content type.
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs/run_1/interrupt"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    // A run is no acknowledgement: an empty body lacks its required members.
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;

    let accepted = client(&server)
        .interrupt_run()
        .run_id("run_1")
        .send()
        .await
        .expect("an empty 202 is an accepted interrupt");
    assert_eq!(accepted.status().as_u16(), 202);
    assert_eq!(accepted.run_id, None);

    let err = get_run_1(&client(&server)).await.unwrap_err();
    assert!(matches!(err, oz_api::Error::Decode(..)), "{err:?}");
    assert!(err.to_string().contains("missing field"), "{err}");
}
