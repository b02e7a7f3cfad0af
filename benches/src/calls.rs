//! Per-call overhead: `get_run` through the SDK (request hook with retries, one tracing event
//! per attempt, typed decode into `RunItem`) against a hand-written call of the same endpoint
//! with the same `reqwest::Client` (same connection pool, same default headers) that decodes
//! the same bytes into the same type with `serde_json`.

use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use oz_api_ext::oz_api::types::RunItem;
use oz_api_ext::oz_api::{Client, ClientInfo};
use reqwest::header::ACCEPT;
use serde::{Deserialize, Serialize};

use crate::report::{Figure, Section, Target};
use crate::simulator::{Endpoint, Host};
use crate::{Result, Settings, stats};

const MAX_LATENCY_RATIO: f64 = 1.10;
const MIN_THROUGHPUT_RATIO: f64 = 0.90;
const IN_FLIGHT: usize = 64;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Input {
    endpoint: Endpoint,
    run_id: String,
    sequential_calls: usize,
    batches: usize,
    calls_per_batch: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Output {
    sdk_us: Vec<f64>,
    raw_us: Vec<f64>,
    /// The same sequential calls with a subscriber that records spans at INFO.
    sdk_spans_us: Vec<f64>,
    raw_spans_us: Vec<f64>,
    /// Calls per second of each batch.
    sdk_throughput: Vec<f64>,
    raw_throughput: Vec<f64>,
    body_bytes: usize,
}

pub(crate) fn run(host: &Host, settings: &Settings) -> Result<Section> {
    let input = Input {
        endpoint: host.main(),
        run_id: host.full_run_ids[0].clone(),
        sequential_calls: if settings.quick { 300 } else { 4_000 },
        batches: if settings.quick { 3 } else { 15 },
        calls_per_batch: if settings.quick { 500 } else { 2_000 },
    };
    let out: Output = crate::worker::spawn("calls", &input)?;
    let sdk = stats::median(&out.sdk_us);
    let raw = stats::median(&out.raw_us);
    let latency_ratio = sdk / raw;
    let sdk_tput = stats::median(&out.sdk_throughput);
    let raw_tput = stats::median(&out.raw_throughput);
    let tput_ratio = sdk_tput / raw_tput;
    let mut section = Section::new("1. Per-call overhead (get_run)");
    section.figure(
        Figure::new(
            "median latency, sequential: SDK / hand-written",
            format!("{latency_ratio:.3} ({sdk:.0} µs / {raw:.0} µs)"),
        )
        .with_target(Target::at_most(MAX_LATENCY_RATIO, latency_ratio, "")),
    );
    let sdk_spans = stats::median(&out.sdk_spans_us);
    let raw_spans = stats::median(&out.raw_spans_us);
    let spans_ratio = sdk_spans / raw_spans;
    section.figure(
        Figure::new(
            "median latency, sequential, a subscriber recording spans: SDK / hand-written",
            format!("{spans_ratio:.3} ({sdk_spans:.0} µs / {raw_spans:.0} µs)"),
        )
        .with_target(Target::at_most(MAX_LATENCY_RATIO, spans_ratio, "")),
    );
    section.figure(Figure::new(
        "p90 latency, sequential: SDK / hand-written",
        format!(
            "{:.0} µs / {:.0} µs",
            stats::percentile(&out.sdk_us, 90.0),
            stats::percentile(&out.raw_us, 90.0)
        ),
    ));
    section.figure(
        Figure::new(
            format!("throughput, {IN_FLIGHT} calls in flight: SDK / hand-written"),
            format!("{tput_ratio:.3} ({sdk_tput:.0} calls/s / {raw_tput:.0} calls/s)"),
        )
        .with_target(Target::at_least(MIN_THROUGHPUT_RATIO, tput_ratio, "")),
    );
    section.note(format!(
        "One worker process (current-thread Tokio runtime) calls the simulator in the parent \
         process over loopback. {} sequential calls of each kind, alternating which goes first; \
         then {} batches of {} calls of each kind with {IN_FLIGHT} in flight, alternating too. \
         The run is fully populated ({} bytes of JSON). The hand-written call uses the SDK \
         client's own `reqwest::Client` and decodes into the same `RunItem`, so the difference \
         is the SDK's own work: the builder, the request hook (retry bookkeeping, a copy of the \
         request for a retry, the spans of the call and its attempt, the tracing event) and \
         `ResponseValue`. The row with a subscriber repeats the sequential calls with a \
         subscriber at INFO that formats every span's fields into the span when it opens and \
         when a field is recorded (what a trace exporter does).",
        input.sequential_calls, input.batches, input.calls_per_batch, out.body_bytes
    ));
    Ok(section)
}

pub(crate) fn worker(input: Input) -> Result<Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(input))
}

async fn measure(input: Input) -> Result<Output> {
    let client = input.endpoint.client()?;
    let url = format!("{}/agent/runs/{}", client.baseurl(), input.run_id);
    let id = input.run_id.as_str();
    // Both kinds of call agree, and the connection pool is warm.
    let key = input.endpoint.api_key.as_str();
    let body_bytes = client
        .client()
        .get(&url)
        .bearer_auth(key)
        .send()
        .await?
        .bytes()
        .await?
        .len();
    let (a, b) = (
        sdk_call(&client, id).await?,
        raw_call(&client, &url, key).await?,
    );
    if a != b {
        return Err("the SDK and the hand-written call decoded different runs".into());
    }
    for _ in 0..200 {
        sdk_call(&client, id).await?;
        raw_call(&client, &url, key).await?;
    }

    let (sdk_us, raw_us) = sequential(&client, id, (&url, key), input.sequential_calls).await?;

    // Opens the connections the batches need before any batch is timed.
    batch(&client, id, (&url, key), true, input.calls_per_batch).await?;
    batch(&client, id, (&url, key), false, input.calls_per_batch).await?;
    let mut sdk_throughput = Vec::with_capacity(input.batches);
    let mut raw_throughput = Vec::with_capacity(input.batches);
    for i in 0..input.batches {
        for sdk in [i % 2 == 0, i % 2 != 0] {
            let rate = batch(&client, id, (&url, key), sdk, input.calls_per_batch).await?;
            if sdk {
                sdk_throughput.push(rate);
            } else {
                raw_throughput.push(rate);
            }
        }
    }
    // Last: the subscriber is the process's from here on, as in an application.
    tracing::subscriber::set_global_default(recording_subscriber())?;
    let (sdk_spans_us, raw_spans_us) =
        sequential(&client, id, (&url, key), input.sequential_calls).await?;
    Ok(Output {
        sdk_us,
        raw_us,
        sdk_spans_us,
        raw_spans_us,
        sdk_throughput,
        raw_throughput,
        body_bytes,
    })
}

/// Microseconds of `calls` sequential calls of each kind, alternating which goes first.
async fn sequential(
    client: &Client,
    id: &str,
    (url, key): (&str, &str),
    calls: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut sdk_us = Vec::with_capacity(calls);
    let mut raw_us = Vec::with_capacity(calls);
    for i in 0..calls {
        for sdk_first in [i % 2 == 0, i % 2 != 0] {
            let started = Instant::now();
            if sdk_first {
                sdk_call(client, id).await?;
                sdk_us.push(started.elapsed().as_secs_f64() * 1e6);
            } else {
                raw_call(client, url, key).await?;
                raw_us.push(started.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    Ok((sdk_us, raw_us))
}

/// A subscriber as an application with a trace exporter has one, at INFO: every span's fields
/// formatted into the span's extensions when it opens and when a field is recorded, the span
/// counted when it closes.
fn recording_subscriber() -> impl tracing::Subscriber + Send + Sync {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;

    tracing_subscriber::registry()
        .with(SpanRecorder.with_filter(tracing_subscriber::filter::LevelFilter::INFO))
}

/// The fields of a span, formatted.
struct RecordedFields(String);

struct Formatter<'a>(&'a mut String);

impl tracing::field::Visit for Formatter<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

struct SpanRecorder;

impl<S> tracing_subscriber::Layer<S> for SpanRecorder
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = String::new();
        attrs.record(&mut Formatter(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(RecordedFields(fields));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<RecordedFields>()
        {
            values.record(&mut Formatter(&mut fields.0));
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            std::hint::black_box(span.extensions().get::<RecordedFields>().map(|f| f.0.len()));
        }
    }
}

async fn sdk_call(client: &Client, id: &str) -> Result<RunItem> {
    Ok(client.get_run().run_id(id).send().await?.into_inner())
}

/// What a hand-written call does: the same pooled `reqwest::Client`, its own bearer header.
async fn raw_call(client: &Client, url: &str, key: &str) -> Result<RunItem> {
    let response = client
        .client()
        .get(url)
        .bearer_auth(key)
        .header(ACCEPT, "application/json")
        .send()
        .await?
        .error_for_status()?;
    let body = response.bytes().await?;
    Ok(serde_json::from_slice(&body)?)
}

/// Calls per second of `calls` calls with [`IN_FLIGHT`] in flight.
async fn batch(
    client: &Client,
    id: &str,
    (url, key): (&str, &str),
    sdk: bool,
    calls: usize,
) -> Result<f64> {
    let started = Instant::now();
    futures::stream::iter(0..calls)
        .map(|_| async move {
            if sdk {
                sdk_call(client, id).await
            } else {
                raw_call(client, url, key).await
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(calls as f64 / started.elapsed().as_secs_f64())
}
