//! A server that writes `null` for an empty list (`"artifacts": null`, `"children": null`):
//! the typed calls and the waiters read it as no items instead of failing to decode.

use futures::TryStreamExt;
use oz_api_ext::oz_api::types::RunState;
use oz_api_ext::{PaginateExt, RunWaitExt};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::client;

fn run_with_null_lists() -> Value {
    json!({
        "run_id": "run_1", "task_id": "run_1", "title": "t", "state": "SUCCEEDED",
        "prompt": "p", "created_at": "2025-06-03T14:02:11Z",
        "updated_at": "2025-06-03T14:23:47Z",
        "artifacts": null, "children": null
    })
}

#[tokio::test]
async fn null_lists_in_a_run_read_as_empty_in_get_run_list_runs_and_the_waiter() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_with_null_lists()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "runs": [run_with_null_lists()],
            "page_info": {"has_next_page": false, "next_cursor": null}
        })))
        .mount(&server)
        .await;
    let client = client(&server);

    let run = client.get_run().run_id("run_1").send().await.unwrap();
    assert!(run.artifacts.is_empty() && run.children.is_empty());

    let runs: Vec<_> = client.list_runs().items().try_collect().await.unwrap();
    assert_eq!(runs.len(), 1);
    assert!(runs[0].artifacts.is_empty());

    let ended = client.wait_for_run("run_1").send().await.unwrap();
    assert_eq!(ended.state, RunState::Succeeded);
}
