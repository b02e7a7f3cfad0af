//! The harness itself: a fixture or a request that does not conform makes it fail, with a
//! message naming the fixture, the operation and what differs.

use oz_conformance::check;
use oz_conformance::dispatch;
use oz_conformance::fixture::{checked_in, fixtures_dir};
use oz_conformance::replay::{self, Credentials, ReplayServer};
use oz_conformance::{LoadedFixture, Spec};
use serde_json::json;

fn joined(problems: &[String]) -> String {
    problems.join("\n")
}

#[test]
fn a_response_that_drifts_from_the_spec_names_operation_file_and_path() {
    let spec = Spec::load();
    let mut broken = checked_in("get_run", "success");
    broken.fixture.response.body.as_mut().unwrap()["status_message"]["retryable"] = json!("no");
    let problems = spec.check_fixture(&broken);
    assert_eq!(problems.len(), 1, "{}", joined(&problems));
    let message = &problems[0];
    for part in [
        "fixtures/get_run/success.json",
        "get_run 200",
        "/status_message/retryable",
    ] {
        assert!(message.contains(part), "{message}");
    }
}

#[test]
fn a_request_body_that_drifts_from_the_spec_is_reported() {
    let spec = Spec::load();
    let mut broken = checked_in("create_run", "success");
    broken.fixture.request.body.as_mut().unwrap()["mode"] = json!("turbo");
    let problems = joined(&spec.check_fixture(&broken));
    assert!(
        problems.contains("fixtures/create_run/success.json: create_run request: at /mode"),
        "{problems}"
    );
}

#[test]
fn a_spec_change_that_breaks_a_fixture_is_reported() {
    let mut document: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures_dir().join("../../openapi.json")).unwrap(),
    )
    .unwrap();
    document["components"]["schemas"]["RunItem"]["required"]
        .as_array_mut()
        .unwrap()
        .push(json!("review_state"));
    let spec = Spec::new(document);
    let problems = joined(&spec.check_fixture(&checked_in("get_run", "success")));
    assert!(
        problems.contains("fixtures/get_run/success.json: get_run 200: at /"),
        "{problems}"
    );
    assert!(problems.contains("review_state"), "{problems}");
}

#[test]
fn an_exempt_mark_on_a_valid_fixture_or_a_wrong_path_fails() {
    let spec = Spec::load();
    let mut valid = checked_in("list_runs", "success");
    valid.fixture.spec_exempt = Some(oz_conformance::SpecExempt {
        reason: "test".into(),
        paths: vec!["/runs/0/state".into()],
    });
    assert!(joined(&spec.check_fixture(&valid)).contains("drop the mark"));
    let mut wrong = checked_in("list_runs", "unknown-enum-values");
    wrong.fixture.spec_exempt.as_mut().unwrap().paths = vec!["/runs/0/state".into()];
    let problems = joined(&spec.check_fixture(&wrong));
    assert!(
        problems.contains("at /runs/0/source") && problems.contains("not an exempt path"),
        "{problems}"
    );
}

/// Replays `loaded` through the typed call and compares what the SDK sent with `expected`, a
/// changed copy of the fixture's request.
async fn sent_against(
    loaded: &LoadedFixture,
    change: impl FnOnce(&mut oz_conformance::FixtureRequest),
) -> String {
    let spec = Spec::load();
    let operation = spec.operation(&loaded.operation_id).unwrap();
    let server = ReplayServer::start(&loaded.fixture.response).await;
    let client = replay::client(&server.base_url());
    dispatch::call(&client, &operation, &loaded.fixture.request)
        .await
        .unwrap();
    let mut expected = loaded.fixture.request.clone();
    change(&mut expected);
    joined(&server.check(&expected, replay::CREDENTIALS, 1).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_differs_from_the_fixture_is_reported() {
    let runs = checked_in("list_runs", "filtered");
    assert_eq!(sent_against(&runs, |_| {}).await, "");
    let problems = sent_against(&runs, |r| r.query.push(("limit".into(), "5".into()))).await;
    assert!(
        problems.contains("missing [(\"limit\", \"5\")]"),
        "{problems}"
    );
    let problems = sent_against(&runs, |r| r.query.retain(|(n, _)| n != "state")).await;
    assert!(
        problems.contains("unexpected [(\"state\", \"ERROR\"), (\"state\", \"FAILED\")]"),
        "{problems}"
    );
    // Repeats are compared as a multiset: the same pairs in another order match.
    assert_eq!(sent_against(&runs, |r| r.query.reverse()).await, "");
    let problems = sent_against(&runs, |r| r.path = "/agent/run".into()).await;
    assert!(
        problems.contains("path: expected /api/v1/agent/run, sent /api/v1/agent/runs"),
        "{problems}"
    );
    let problems = sent_against(&runs, |r| {
        r.headers
            .insert("x-warp-team-uid".into(), "team_other".into());
    })
    .await;
    assert!(
        problems.contains("header x-warp-team-uid: expected \"team_other\""),
        "{problems}"
    );

    let message = checked_in("send_agent_message", "success");
    let problems = sent_against(&message, |r| {
        r.body.as_mut().unwrap()["subject"] = json!("Another subject");
    })
    .await;
    assert!(
        problems.contains("body: at /subject: expected \"Another subject\""),
        "{problems}"
    );
    let problems = sent_against(&message, |r| r.method = "PUT".into()).await;
    assert!(
        problems.contains("method: expected PUT, sent POST"),
        "{problems}"
    );
}

/// Replays `operation`'s success fixture through a hand-built client that has no key and sends
/// `headers` with every request, and checks what it sent as if from a client built with
/// `credentials`.
async fn hand_built_against(
    operation_id: &str,
    headers: &[(&'static str, &'static str)],
    credentials: Credentials,
) -> String {
    let spec = Spec::load();
    let loaded = checked_in(operation_id, "success");
    let operation = spec.operation(operation_id).unwrap();
    let server = ReplayServer::start(&loaded.fixture.response).await;
    let mut defaults = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        defaults.insert(*name, value.parse().unwrap());
    }
    let http = oz_api_ext::oz_api::http_client_builder()
        .unwrap()
        .default_headers(defaults)
        .build()
        .unwrap();
    let anonymous = replay::anonymous_client(&server.base_url());
    let client = oz_api_ext::oz_api::Client::new_with_client(
        &server.base_url(),
        http,
        anonymous.state().clone(),
    );
    dispatch::call(&client, &operation, &loaded.fixture.request)
        .await
        .unwrap();
    joined(&server.check(&loaded.fixture.request, credentials, 1).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_authorization_on_any_operation_and_stray_headers_are_reported() {
    // A client with a key sends it to every operation: leaving it out fails on a public
    // operation (`security: []`) just as on one that requires it.
    for operation in [
        "get_session_redirect",
        "get_conversation_redirect",
        "get_run",
    ] {
        let problems =
            hand_built_against(operation, &[("api-version", "1.0.0")], replay::CREDENTIALS).await;
        assert!(
            problems.contains("authorization: not sent, though the client has a key"),
            "{operation}: {problems}"
        );
        assert!(
            problems.contains("headers not in the fixture: {\"api-version\"}"),
            "{operation}: {problems}"
        );
    }
    let problems = hand_built_against(
        "get_session_redirect",
        &[("authorization", "Bearer wk-other")],
        replay::CREDENTIALS,
    )
    .await;
    assert!(
        problems.contains("authorization: a bearer token other than the client's key"),
        "{problems}"
    );
    let problems = hand_built_against(
        "get_run",
        &[("authorization", "Basic d2s6")],
        replay::CREDENTIALS,
    )
    .await;
    assert!(
        problems.contains("authorization: not a bearer token"),
        "{problems}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_a_client_without_a_key_are_reported() {
    let problems = hand_built_against(
        "get_session_redirect",
        &[("authorization", "Bearer wk-test")],
        Credentials::Anonymous,
    )
    .await;
    assert!(
        problems.contains("authorization: sent by a client built without a key"),
        "{problems}"
    );
    // The SDK's own anonymous client sends none, to public and authenticated operations alike.
    let spec = Spec::load();
    for operation_id in ["get_session_redirect", "get_run"] {
        let loaded = checked_in(operation_id, "success");
        let operation = spec.operation(operation_id).unwrap();
        let server = ReplayServer::start(&loaded.fixture.response).await;
        let anonymous = replay::anonymous_client(&server.base_url());
        dispatch::call(&anonymous, &operation, &loaded.fixture.request)
            .await
            .unwrap();
        let problems = joined(
            &server
                .check(&loaded.fixture.request, Credentials::Anonymous, 1)
                .await,
        );
        assert_eq!(problems, "", "{operation_id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_the_sdk_cannot_reproduce_is_reported_with_its_path() {
    let spec = Spec::load();
    // A member the SDK drops, not declared as unknown.
    let mut extra = checked_in("get_run", "success");
    extra.fixture.response.body.as_mut().unwrap()["review_state"] = json!("approved");
    let problems = joined(&check::typed_call(&spec, &extra).await);
    assert!(
        problems.contains(
            "(get_run) typed call: decoded body at /review_state: expected \"approved\", missing"
        ),
        "{problems}"
    );
    // A value the SDK cannot decode at all.
    let mut wrong = checked_in("get_run", "success");
    wrong.fixture.response.body.as_mut().unwrap()["created_at"] = json!(17);
    let problems = joined(&check::typed_call(&spec, &wrong).await);
    assert!(
        problems.contains("fixtures/get_run/success.json (get_run) typed call: the SDK failed"),
        "{problems}"
    );
    // An error the SDK reports with another status or body than the fixture's.
    let not_found = checked_in("get_run", "error-404");
    let mut body = not_found.fixture.response.body.clone().unwrap();
    body["title"] = json!("Gone");
    let outcome = oz_conformance::Outcome::Problem { status: 410, body };
    let problems = joined(&check::outcome_mismatches(&not_found, &outcome, "", true));
    assert!(
        problems.contains("status: the fixture answers 404, the SDK reports 410"),
        "{problems}"
    );
    assert!(
        problems.contains("problem body at /title: expected \"Resource not found\", got \"Gone\""),
        "{problems}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_not_modified_answer_is_checked_by_its_etag_and_needs_no_location() {
    let spec = Spec::load();
    let not_modified = checked_in("get_factory_file_schema", "not-modified");
    // A 304 is no redirect: it validates without a location, which another 3xx needs.
    assert_eq!(spec.check_fixture(&not_modified), Vec::<String>::new());
    let mut redirect = checked_in("get_run_transcript", "success");
    redirect.fixture.response.headers.remove("location");
    let problems = joined(&spec.check_fixture(&redirect));
    assert!(
        problems.contains("get_run_transcript 302: a redirect without a location header"),
        "{problems}"
    );
    // The SDK sends the fixture's If-None-Match, and only when the fixture has one.
    assert_eq!(joined(&check::typed_call(&spec, &not_modified).await), "");
    let problems = sent_against(&not_modified, |r| {
        r.headers.remove("if-none-match");
    })
    .await;
    assert!(
        problems.contains("headers not in the fixture: {\"if-none-match\"}"),
        "{problems}"
    );
    // The outcome must be Not Modified with the answer's ETag; a redirect does not do.
    let stale = oz_conformance::Outcome::NotModified {
        etag: Some("\"sv-stale\"".into()),
    };
    let problems = joined(&check::outcome_mismatches(&not_modified, &stale, "", true));
    assert!(
        problems.contains("etag: the fixture says Some(\"\\\"sv-2026-03-b7e4d2\\\"\")"),
        "{problems}"
    );
    let redirect = oz_conformance::Outcome::Redirect {
        status: 304,
        location: None,
    };
    let problems = joined(&check::outcome_mismatches(
        &not_modified,
        &redirect,
        "",
        true,
    ));
    assert!(
        problems.contains("the fixture answers 304 Not Modified, the SDK made Redirect"),
        "{problems}"
    );
}
