//! Every workflow that takes an id refuses one that would leave its URL segment (`..`, `.`,
//! `""`) before any request: URL normalisation would send the request, with the key, to
//! another endpoint (`wait_for_run("..")` would poll the listing of runs).

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use oz_api_ext::oz_api::Error;
use oz_api_ext::oz_api::types::RunFollowupRequest;
use oz_api_ext::{DownloadExt, EventsExt, MessagesExt, RunWaitExt, WaitForRunsExt};
use serde_json::json;
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::client;

/// A server that answers every request, so that a request that should not have been sent
/// shows up in its log instead of failing.
async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    server
}

/// The outcome of `future`, which must come at once: a refused id needs no waiting.
async fn at_once<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .expect("the workflow kept going with an id that leaves its segment")
}

/// `err` is the client's refusal of the path parameter `parameter`.
#[track_caller]
fn assert_refused(workflow: &str, err: Option<&Error>, parameter: &str) {
    match err {
        Some(Error::InvalidRequest(reason)) => assert!(
            reason.starts_with(&format!("{parameter} is \"..\"")),
            "{workflow}: {reason}"
        ),
        other => panic!("{workflow}: not refused as an invalid {parameter}: {other:?}"),
    }
}

#[tokio::test]
async fn every_workflow_refuses_a_dot_dot_id_before_any_request() {
    let server = server().await;
    let client = client(&server);
    let dir = tempfile::tempdir().unwrap();

    let err = at_once(client.wait_for_run("..").send()).await.unwrap_err();
    assert_refused("wait_for_run", err.api_error(), "run_id");

    let err = at_once(client.watch_run("..").stream().next())
        .await
        .expect("an item")
        .unwrap_err();
    assert_refused("watch_run", err.api_error(), "run_id");

    let followup = RunFollowupRequest::builder().message("go on");
    let err = at_once(client.followup_and_wait("..", followup).send())
        .await
        .unwrap_err();
    assert_refused("followup_and_wait", err.api_error(), "run_id");

    let err = at_once(client.wait_for_runs([".."]).send())
        .await
        .unwrap_err();
    assert_refused("wait_for_runs", err.api_error(), "run_id");

    let err = at_once(client.download_transcript("..").bytes())
        .await
        .unwrap_err();
    assert_refused("download_transcript", err.api_error(), "run_id");

    let file = dir.path().join("transcript.json");
    let err = at_once(client.download_transcript("..").to_file(&file))
        .await
        .unwrap_err();
    assert_refused("download_transcript to_file", err.api_error(), "run_id");
    assert!(!file.exists(), "a refused download left a file");

    let err = at_once(client.download_artifact_file("..").bytes())
        .await
        .unwrap_err();
    assert_refused("download_artifact_file", err.api_error(), "artifact_uid");

    let err = at_once(client.get_artifact().artifact_uid("..").send())
        .await
        .unwrap_err();
    assert_refused("get_artifact", Some(&err), "artifact_uid");

    let err = at_once(client.download_screenshot("..", "shot_1").bytes())
        .await
        .unwrap_err();
    assert_refused("download_screenshot", err.api_error(), "conversation_id");
    let err = at_once(client.download_screenshot("conv_1", "..").bytes())
        .await
        .unwrap_err();
    assert_refused("download_screenshot", err.api_error(), "screenshot_uid");

    let err = at_once(client.inbox("..").stream().next())
        .await
        .expect("an item")
        .unwrap_err();
    assert_eq!(err.operation(), "list_agent_messages");
    assert_refused("inbox", err.api_error(), "run_id");

    let received = server.received_requests().await.unwrap();
    assert!(
        received.is_empty(),
        "requests were sent: {:?}",
        received
            .iter()
            .map(|r| format!("{} {}", r.method, r.url))
            .collect::<Vec<_>>()
    );
}

/// The event tail names its runs in the query (`GET /agent/events/stream?run_ids[]=..`, then
/// `GET /agent/events?run_ids=..`), where a dot segment moves nothing: each request stays on
/// its endpoint.
#[tokio::test]
async fn the_event_tail_keeps_any_run_id_in_its_query() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let client = client(&server);
    let mut events = client.events(["..", "a/b"]).stream();
    // The tail waits after an empty page, so it runs on a task until the first poll arrived.
    let tail = tokio::spawn(async move { events.next().await.map(|event| event.is_ok()) });
    let received = at_once(async {
        loop {
            let received = server.received_requests().await.unwrap();
            if !received.is_empty() {
                break received;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    tail.abort();
    // The stream first (answered with JSON, so the tail falls back), then the polls.
    for request in received {
        assert!(
            ["/api/v1/agent/events/stream", "/api/v1/agent/events"].contains(&request.url.path()),
            "{}",
            request.url
        );
    }
}

/// An id with a `/` is an ordinary id: sent as `%2F`, inside its segment.
#[tokio::test]
async fn a_slash_in_an_id_stays_inside_its_segment() {
    let server = server().await;
    let client = client(&server);
    let _ = at_once(client.download_transcript("a/b").bytes()).await;
    let received = server.received_requests().await.unwrap();
    assert_eq!(
        received.first().map(|r| r.url.path().to_owned()).as_deref(),
        Some("/api/v1/agent/runs/a%2Fb/transcript")
    );
}
