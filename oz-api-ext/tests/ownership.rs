//! Every stream and future of the crate owns what it needs: each is built, the client it came
//! from is dropped, and only then is it run, in a spawned task, against a real local server.
//! (A listing made from a generated builder borrows that builder's client; its owned form is
//! `paginate`.)

use futures::{StreamExt, TryStreamExt};
use oz_api_ext::oz_api::Config;
use oz_api_ext::oz_api::builder::{ListFactories, ListRuns};
use oz_api_ext::oz_api::types::RunState;
use oz_api_ext::{DownloadExt, EventsExt, MessagesExt, OwnedPaginateExt, RunWaitExt};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::client;

fn run_json(run_id: &str, state: &str) -> Value {
    json!({
        "run_id": run_id,
        "task_id": run_id,
        "title": "Nightly dependency update",
        "state": state,
        "prompt": "Update dependencies",
        "created_at": "2025-03-14T09:26:53Z",
        "updated_at": "2025-03-14T09:31:07Z"
    })
}

async fn serve_runs(server: &MockServer, cursor: Option<&str>, ids: &[&str], next: Option<&str>) {
    let runs: Vec<Value> = ids.iter().map(|id| run_json(id, "FAILED")).collect();
    let page_info = match next {
        Some(next) => json!({"has_next_page": true, "next_cursor": next}),
        None => json!({"has_next_page": false}),
    };
    let mock = Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs"))
        .and(query_param("state", "FAILED"));
    let mock = match cursor {
        Some(cursor) => mock.and(query_param("cursor", cursor)),
        None => mock.and(query_param_is_missing("cursor")),
    };
    mock.respond_with(
        ResponseTemplate::new(200).set_body_json(json!({"runs": runs, "page_info": page_info})),
    )
    .mount(server)
    .await;
}

/// `T: 'static` is what `tokio::spawn` requires; spelled out so a regression names the type.
fn is_static<T: 'static>(value: T) -> T {
    value
}

#[tokio::test]
async fn an_owned_run_listing_runs_in_a_spawned_task_after_the_client_was_dropped() {
    let server = MockServer::start().await;
    serve_runs(&server, None, &["r1", "r2"], Some("c2")).await;
    serve_runs(&server, Some("c2"), &["r3"], None).await;
    let client = client(&server);

    let items = is_static(
        client
            .paginate::<ListRuns>(|client| client.list_runs().state(RunState::Failed))
            .items()
            .prefetch(true),
    );
    let pages = is_static(
        client
            .paginate::<ListRuns>(|client| client.list_runs().state(RunState::Failed))
            .pages(),
    );
    drop(client);

    let runs = tokio::spawn(items.try_collect::<Vec<_>>())
        .await
        .expect("the task ran")
        .expect("every page");
    let pages = tokio::spawn(pages.try_collect::<Vec<_>>())
        .await
        .expect("the task ran")
        .expect("every page");

    let ids: Vec<_> = runs.iter().map(|run| run.run_id.as_str()).collect();
    assert_eq!(ids, ["r1", "r2", "r3"]);
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[1].runs[0].run_id, "r3");
    // Every request carried the filter: the mocks match only with `state=FAILED`.
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}

#[tokio::test]
async fn an_owned_listing_can_be_returned_from_the_function_that_made_the_client() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/factory"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "factories": [{"uid": "f1", "name": "Docs", "code_forges": [], "integrations": [], "repositories": []}],
            "page_info": {"has_next_page": false},
        })))
        .mount(&server)
        .await;
    let uri = server.uri();
    let factories = move || {
        let client = Config::new("wk-test-key")
            .base_url(format!("{uri}/api/v1"))
            .build()
            .expect("valid configuration");
        client
            .paginate::<ListFactories>(|client| client.list_factories().limit(10u64))
            .items()
    };

    let listed: Vec<_> = tokio::spawn(factories().try_collect::<Vec<_>>())
        .await
        .expect("the task ran")
        .expect("one page");

    assert_eq!(listed[0].uid, "f1");
}

#[tokio::test]
async fn waiters_and_watch_streams_run_after_the_client_was_dropped() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("run_1", "SUCCEEDED")))
        .mount(&server)
        .await;
    let client = client(&server);

    let wait = is_static(client.wait_for_run("run_1").send());
    let watch = is_static(client.watch_run("run_1").stream());
    drop(client);

    let run = tokio::spawn(wait).await.unwrap().expect("terminal");
    let states: Vec<_> = tokio::spawn(watch.map_ok(|run| run.state).try_collect::<Vec<_>>())
        .await
        .unwrap()
        .expect("one state");

    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(states, [RunState::Succeeded]);
}

#[tokio::test]
async fn downloads_run_after_the_client_was_dropped() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v1/agent/conversations/conv-1/screenshots/shot-1/download",
        ))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "Location",
            format!("{}/s.png?sig=1", storage.uri()).as_str(),
        ))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/s.png"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"png".to_vec()))
        .mount(&storage)
        .await;
    let client = client(&api);

    let download = is_static(client.download_screenshot("conv-1", "shot-1").bytes());
    drop(client);

    let bytes = tokio::spawn(download).await.unwrap().expect("downloaded");
    assert_eq!(&bytes[..], b"png");
}

#[tokio::test]
async fn event_and_inbox_streams_run_after_the_client_was_dropped() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/events"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "run_id": "run-a",
            "event_type": "run_in_progress",
            "sequence": 1,
            "occurred_at": "2025-03-14T09:26:53Z",
        }])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/messages/run-7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "message_id": "m1",
            "sender_run_id": "run-6",
            "subject": "hello",
            "sent_at": "2025-03-14T09:26:53Z",
        }])))
        .mount(&server)
        .await;
    let client = client(&server);

    let events = is_static(client.events(["run-a"]).stream());
    let inbox = is_static(client.inbox("run-7").stream());
    drop(client);

    let event = tokio::spawn(async move { Box::pin(events).next().await })
        .await
        .unwrap()
        .expect("an event")
        .expect("no error");
    let header = tokio::spawn(async move { Box::pin(inbox).next().await })
        .await
        .unwrap()
        .expect("a message")
        .expect("no error");

    assert_eq!(event.sequence, 1);
    assert_eq!(header.message_id, "m1");
}
