//! Traces: the SDK's spans (one per call, one per attempt, one per wait and download) in the
//! application's subscriber, and, with the `opentelemetry` feature, the application's
//! distributed trace continued through every request (W3C `traceparent`).
//!
//! ```text
//! cargo run -p oz-api-ext --features opentelemetry --example tracing
//! ```
//!
//! The application here is a service that received a request from a caller whose trace it
//! continues; the spans are printed as they close. Offline against the local simulator
//! unless `WARP_API_KEY` is set; offline it also shows the `traceparent` the simulator
//! received. A real service installs an OpenTelemetry SDK and exporter in place of the bare
//! layer used here.

use std::time::Duration;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::{DownloadExt, RunWaitExt};
use oz_mock::Progression;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The application's subscriber: OpenTelemetry's layer, and spans printed when they close.
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer())
        .with(
            tracing_subscriber::fmt::layer()
                .with_span_events(FmtSpan::CLOSE)
                .with_target(false),
        )
        .with(tracing_subscriber::EnvFilter::new("info"))
        .init();

    let (client, simulator) = common::connect(Progression::Instant).await?;

    // The trace of the caller, as the service's HTTP framework would read it from the incoming
    // request's `traceparent` header.
    let caller = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?,
        SpanId::from_hex("00f067aa0ba902b7")?,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let handling = tracing::info_span!("handle_report_request");
    handling
        .set_parent(opentelemetry::Context::new().with_remote_span_context(caller))
        .map_err(|err| format!("{err:?}"))?;

    async {
        let run = client
            .run_and_wait(RunAgentRequest::builder().prompt("Draft the release notes"))
            .min_delay(Duration::from_millis(100))
            .send()
            .await?;
        let bytes = client.download_transcript(&run.run_id).bytes().await?;
        tracing::info!(run_id = %run.run_id, bytes = bytes.len(), "report ready");
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .instrument(handling)
    .await?;

    if let Some(mock) = &simulator {
        for request in mock.received_requests() {
            println!(
                "{:<10} traceparent {}",
                request.operation_id,
                request.header("traceparent").unwrap_or("(none)")
            );
        }
    }
    Ok(())
}
