//! The spans of a workflow, as a subscriber that records spans sees them: a span per wait or
//! download, the parent of the spans of the calls it makes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::{DownloadExt, RunWaitExt};
use serde_json::json;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A span as (name, `otel.name`, name of its parent).
type Node = (String, String, Option<String>);

/// Every span, in the order they were created.
#[derive(Clone, Default)]
struct Tree(Arc<Mutex<Vec<Node>>>);

struct OtelName(String);

impl tracing::field::Visit for OtelName {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "otel.name" {
            self.0 = value.to_owned();
        }
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Tree {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut otel = OtelName(String::new());
        attrs.record(&mut otel);
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .map(|p| p.name().to_owned());
        self.0
            .lock()
            .unwrap()
            .push((attrs.metadata().name().to_owned(), otel.0, parent));
    }
}

/// A client of `server` and an empty tree.
fn client_and_tree(server: &MockServer) -> (oz_api_ext::oz_api::Client, Tree) {
    let client = oz_api_ext::oz_api::Config::new("wk-test")
        .base_url(format!("{}/api/v1", server.uri()))
        .build()
        .unwrap();
    (client, Tree::default())
}

fn run(state: &str) -> serde_json::Value {
    json!({
        "run_id": "run_1", "task_id": "run_1", "title": "t", "state": state, "prompt": "p",
        "created_at": "2025-03-14T09:26:53Z", "updated_at": "2025-03-14T09:31:07Z"
    })
}

#[tokio::test]
async fn run_and_wait_is_a_span_around_its_calls() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run("QUEUED")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run("SUCCEEDED")))
        .mount(&server)
        .await;
    let (client, tree) = client_and_tree(&server);
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(tree.clone()));

    client
        .run_and_wait(RunAgentRequest::builder().prompt("Fix it".to_owned()))
        .min_delay(Duration::from_millis(1))
        .send()
        .await
        .unwrap();

    let spans = tree.0.lock().unwrap().clone();
    let wait = Some("oz_api_ext.wait".to_owned());
    assert_eq!(
        spans[0],
        ("oz_api_ext.wait".into(), "run_and_wait".into(), None)
    );
    assert_eq!(
        spans[1],
        ("oz_api.call".into(), "create_run".into(), wait.clone())
    );
    assert_eq!(spans[2].2.as_deref(), Some("oz_api.call"));
    assert_eq!(spans[3], ("oz_api.call".into(), "get_run".into(), wait));
}

#[tokio::test]
async fn a_download_is_a_span_around_its_calls() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1/transcript"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/storage/t.json?sig=1", server.uri())),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/storage/t.json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&server)
        .await;
    let (client, tree) = client_and_tree(&server);
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(tree.clone()));

    client.download_transcript("run_1").bytes().await.unwrap();

    let spans = tree.0.lock().unwrap().clone();
    assert_eq!(spans[0].0, "oz_api_ext.download");
    assert_eq!(
        spans[1],
        (
            "oz_api.call".into(),
            "get_run_transcript".into(),
            Some("oz_api_ext.download".into())
        )
    );
}
