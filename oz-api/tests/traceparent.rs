//! Feature `opentelemetry`: the W3C `traceparent` of the attempt's span goes with each request,
//! so that the application's distributed trace continues through the client. Run with
//! `cargo test -p oz-api --features opentelemetry --test traceparent`.
#![cfg(feature = "opentelemetry")]

mod common;

use common::{config, received, run_json};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A server that answers `get_run("run_1")`.
async fn server_with_run_1() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("run_1", "QUEUED")))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn each_request_carries_the_traceparent_of_the_applications_trace() {
    let server = server_with_run_1().await;
    let client = config(&server).build().unwrap();
    // OpenTelemetry's layer with its no-op tracer: spans carry the trace they continue.
    let _subscriber = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(tracing_opentelemetry::layer()),
    );
    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let remote = SpanContext::new(
        trace_id,
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let request_span = tracing::info_span!("handle_request");
    request_span
        .set_parent(opentelemetry::Context::new().with_remote_span_context(remote))
        .unwrap();

    {
        let _entered = request_span.enter();
        client.get_run().run_id("run_1").send().await.unwrap();
    }

    let requests = received(&server).await;
    let traceparent = requests[0]
        .headers
        .get("traceparent")
        .expect("a traceparent")
        .to_str()
        .unwrap();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(parts[2].len(), 16);
    assert_eq!(parts[3], "01");
}

#[tokio::test]
async fn a_span_outside_any_trace_sends_no_traceparent() {
    let server = server_with_run_1().await;
    let client = config(&server).build().unwrap();
    // A subscriber without OpenTelemetry's layer: the spans are recorded but belong to no
    // trace. (A thread without any subscriber could also leave tracing's shared cache of which
    // spans are wanted saying "none" while the other test runs.)
    let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry());

    client.get_run().run_id("run_1").send().await.unwrap();

    assert!(
        received(&server).await[0]
            .headers
            .get("traceparent")
            .is_none()
    );
}
