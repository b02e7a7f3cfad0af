//! The spans of a call, as a subscriber that records spans sees them: one per call named
//! after the operation, one child per attempt with the fields of OpenTelemetry's HTTP client
//! conventions, against a real HTTP server.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{Pauses, config, run_json};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A span as recorded: its name, its parent's name, and every field recorded on it.
#[derive(Clone, Debug, Default)]
struct Recorded {
    name: &'static str,
    parent: Option<&'static str>,
    fields: BTreeMap<String, String>,
}

impl Recorded {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Records every span, in the order they were created.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(Id, Recorded)>>>);

impl Spans {
    fn all(&self) -> Vec<Recorded> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, s)| s.clone())
            .collect()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
}

impl<S> tracing_subscriber::Layer<S> for Spans
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut recorded = Recorded {
            name: attrs.metadata().name(),
            parent: ctx.span(id).and_then(|s| s.parent()).map(|p| p.name()),
            ..Recorded::default()
        };
        attrs.record(&mut Fields(&mut recorded.fields));
        self.0.lock().unwrap().push((id.clone(), recorded));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        if let Some((_, recorded)) = spans.iter_mut().rev().find(|(known, _)| known == id) {
            values.record(&mut Fields(&mut recorded.fields));
        }
    }
}

#[tokio::test]
async fn a_call_is_a_span_with_a_child_per_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("run_1", "QUEUED")))
        .mount(&server)
        .await;
    let client = config(&server)
        .sleep_impl(Pauses::default())
        .build()
        .unwrap();
    let spans = Spans::default();
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));

    client.get_run().run_id("run_1").send().await.unwrap();

    let all = spans.all();
    let names: Vec<_> = all.iter().map(|s| (s.name, s.parent)).collect();
    assert_eq!(
        names,
        [
            ("oz_api.call", None),
            ("oz_api.attempt", Some("oz_api.call")),
            ("oz_api.attempt", Some("oz_api.call")),
        ]
    );
    let call = &all[0];
    assert_eq!(call.field("otel.name"), Some("get_run"));
    assert_eq!(call.field("oz.operation"), Some("get_run"));
    assert_eq!(call.field("error.type"), None);
    let address = server.address();
    let (first, second) = (&all[1], &all[2]);
    for attempt in [first, second] {
        assert_eq!(attempt.field("otel.kind"), Some("client"));
        assert_eq!(attempt.field("http.request.method"), Some("GET"));
        assert_eq!(
            attempt.field("url.full"),
            Some(format!("{}/api/v1/agent/runs/run_1", server.uri()).as_str())
        );
        assert_eq!(
            attempt.field("server.address"),
            Some(address.ip().to_string().as_str())
        );
        assert_eq!(
            attempt.field("server.port"),
            Some(address.port().to_string().as_str())
        );
    }
    assert_eq!(first.field("http.response.status_code"), Some("503"));
    assert_eq!(first.field("error.type"), Some("503"));
    assert_eq!(first.field("http.request.resend_count"), None);
    assert_eq!(second.field("http.response.status_code"), Some("200"));
    assert_eq!(second.field("error.type"), None);
    assert_eq!(second.field("http.request.resend_count"), Some("1"));
}

#[tokio::test]
async fn the_url_of_an_attempt_leaves_out_the_query_and_a_failed_call_says_why() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(404).set_body_json(common::error_json(
            404,
            "resource-not-found",
            "Not found",
        )))
        .mount(&server)
        .await;
    let client = config(&server).build().unwrap();
    let spans = Spans::default();
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));

    client
        .list_runs()
        .cursor("secret-cursor")
        .send()
        .await
        .unwrap_err();

    let all = spans.all();
    assert_eq!(all[0].field("error.type"), Some("404"));
    let url = all[1].field("url.full").unwrap();
    assert!(url.ends_with("/api/v1/agent/runs?<redacted>"), "{url}");
    assert!(!format!("{all:?}").contains("secret-cursor"));
}
