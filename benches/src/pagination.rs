//! Pagination: 20,000 runs in pages of 500, each page answered after 20 ms of server latency,
//! read with `list_runs().items()` with and without prefetch, in a worker process whose peak
//! memory is the client's alone. A fetch is broken down into the simulator's own work (from
//! its counters), the client's decode and the rest (latency, HTTP, transfer).

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use oz_api_ext::PaginateExt;
use oz_api_ext::oz_api::ClientInfo;
use oz_api_ext::oz_api::types::ListRunsResponse;
use oz_mock::{Fault, FaultRule, OzMock};
use serde::{Deserialize, Serialize};

use crate::report::{Figure, Section, Target};
use crate::simulator::{Endpoint, Host};
use crate::{Result, Settings, rss, stats};

const RUNS: usize = 20_000;
const PAGE: u64 = 500;
const SERVER_LATENCY: Duration = Duration::from_millis(20);
/// What the consumer spends on each page (a batch insert, say), as much as the server takes.
const CONSUMER_PER_PAGE: Duration = Duration::from_millis(20);
const MAX_PREFETCH_RATIO: f64 = 0.6;
const MAX_RSS_MIB: f64 = 64.0;
/// Raw requests and decodes of one page the worker times after its listings.
const RAW_FETCHES: usize = 10;
const DECODES: usize = 20;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Input {
    endpoint: Endpoint,
    rounds: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Output {
    /// Wall seconds of each listing, per variant.
    sequential: Vec<f64>,
    prefetch: Vec<f64>,
    sequential_idle: Vec<f64>,
    prefetch_idle: Vec<f64>,
    rss_before: Option<u64>,
    peak_rss: Option<u64>,
    /// Milliseconds of a raw request for a page (the SDK's `reqwest::Client`, body read, not
    /// decoded), and of the typed decode of that page, as the SDK decodes it.
    raw_fetch_ms: Vec<f64>,
    decode_ms: Vec<f64>,
}

pub(crate) fn run(host: &Host, settings: &Settings) -> Result<Section> {
    let mock = host.start_mock(OzMock::builder().seed_runs(RUNS))?;
    mock.add_fault(FaultRule::operation("list_runs", Fault::Latency(SERVER_LATENCY)).always());
    let input = Input {
        endpoint: Endpoint::of(&mock),
        rounds: if settings.quick { 1 } else { 6 },
    };
    // One listing first, in the parent: every run is rendered for the first time (what every
    // page cost before the simulator kept rendered runs); the worker's listings reuse them.
    let before = mock.list_runs_stats();
    let client = input.endpoint.client()?;
    let listed = host.block_on(async {
        let mut runs = client.list_runs().limit(PAGE).items();
        let mut count = 0usize;
        while runs.try_next().await?.is_some() {
            count += 1;
        }
        Ok::<_, oz_api_ext::PaginationError>(count)
    })?;
    if listed != RUNS {
        return Err(format!("the first listing found {listed} runs, expected {RUNS}").into());
    }
    let cold = mock.list_runs_stats();
    let first_listing_requests = mock.request_count("list_runs");
    let out: Output = crate::worker::spawn("pagination", &input)?;
    let warm = mock.list_runs_stats();
    let pages_per_listing =
        (mock.request_count("list_runs") - first_listing_requests - out.raw_fetch_ms.len()) as f64
            / (4 * input.rounds) as f64;
    host.block_on(mock.shutdown());
    let (cold, warm) = (cold.since(&before), warm.since(&cold));
    let ms_per_page = |time: Duration, pages: u64| time.as_secs_f64() * 1e3 / pages.max(1) as f64;
    let cold_select = ms_per_page(cold.selecting, cold.pages);
    let cold_render = ms_per_page(cold.rendering, cold.pages);
    let cold_rendered = cold.runs_rendered as f64 / cold.pages.max(1) as f64;
    let warm_select = ms_per_page(warm.selecting, warm.pages);
    let warm_render = ms_per_page(warm.rendering, warm.pages);
    let warm_rendered = warm.runs_rendered as f64 / warm.pages.max(1) as f64;

    let seq = stats::median(&out.sequential);
    let pre = stats::median(&out.prefetch);
    let ratio = pre / seq;
    let seq_idle = stats::median(&out.sequential_idle);
    let pre_idle = stats::median(&out.prefetch_idle);
    let peak = out.peak_rss.map(rss::mib);
    // Prefetch overlaps a page's fetch with the consumer's work on the previous page, so a
    // page cannot take less than the longer of the two: that bounds the ratio from below.
    let fetch_ms = seq_idle / pages_per_listing * 1e3;
    let consumer_ms = (seq - seq_idle) / pages_per_listing * 1e3;
    let best = fetch_ms.max(consumer_ms) / (fetch_ms + consumer_ms);
    let mut target = Target::at_most(MAX_PREFETCH_RATIO, ratio, "");
    if best > MAX_PREFETCH_RATIO {
        target.text = format!(
            "{} (out of reach in this run: the bound max(fetch, consumer) / (fetch + consumer) \
             is {best:.2})",
            target.text
        );
    }
    let mut section = Section::new("3. Pagination (20,000 runs, pages of 500, 20 ms per page)");
    section.figure(
        Figure::new(
            "wall time with prefetch / sequential loop (consumer busy 20 ms per page)",
            format!("{ratio:.2} ({pre:.2} s / {seq:.2} s); bound {best:.2}"),
        )
        .with_target(target),
    );
    section.figure(Figure::new(
        "same, consumer doing nothing",
        format!(
            "{:.2} ({pre_idle:.2} s / {seq_idle:.2} s)",
            pre_idle / seq_idle
        ),
    ));
    section.figure(Figure::new(
        "requests per listing",
        format!("{pages_per_listing:.0}"),
    ));
    section.figure(Figure::new(
        "per page: fetch (server latency, simulator work, transfer, decode) / consumer",
        format!("{fetch_ms:.1} ms / {consumer_ms:.1} ms"),
    ));
    section.figure(Figure::new(
        "lowest ratio any prefetch can reach with these: max(fetch, consumer) / (fetch + consumer)",
        format!("{best:.2} (measured {ratio:.2})"),
    ));
    let raw = stats::median(&out.raw_fetch_ms);
    let decode = stats::median(&out.decode_ms);
    let latency_ms = SERVER_LATENCY.as_secs_f64() * 1e3;
    let simulator = warm_select + warm_render;
    section.figure(Figure::new(
        "per page, a fetch broken down: server latency + simulator (select + render and \
         serialise) + HTTP and transfer + client decode",
        format!(
            "{latency_ms:.0} + {simulator:.2} ({warm_select:.2} + {warm_render:.2}) + {:.1} + \
             {decode:.1} ms; {warm_rendered:.0} of {PAGE} runs rendered, the others reused",
            raw - latency_ms - simulator
        ),
    ));
    section.figure(Figure::new(
        "per page, simulator, every run rendered (the first listing): select + render and \
         serialise",
        format!(
            "{:.2} ms ({cold_select:.2} + {cold_render:.2}); {cold_rendered:.0} of {PAGE} runs \
             rendered",
            cold_select + cold_render
        ),
    ));
    let peak_figure = Figure::new(
        "peak RSS of the client process (VmHWM)",
        match (peak, out.rss_before) {
            (Some(peak), Some(before)) => {
                format!(
                    "{peak:.1} MiB ({:.1} MiB before the first listing)",
                    rss::mib(before)
                )
            }
            _ => "not available (no /proc/self/status)".to_owned(),
        },
    );
    section.figure(match peak {
        Some(peak) => peak_figure.with_target(Target::below(MAX_RSS_MIB, peak, " MiB")),
        None => peak_figure,
    });
    section.note(format!(
        "A worker process reads all {RUNS} runs with `client.list_runs().limit(500).items()`, \
         {} times each way, alternating: without prefetch (the sequential loop: request a page, \
         process it, request the next) and with `.prefetch(true)`. The simulator, in the parent \
         process, answers each page after {} ms; the consumer spends {} ms on each page (an \
         asynchronous pause, as a batch write would). Prefetch can only hide the server's time \
         behind the consumer's: with a consumer that does nothing there is nothing to overlap. \
         The peak RSS covers every listing of the worker. The simulator's share comes from its \
         own counters (`OzMock::list_runs_stats`), over the worker's pages; it keeps each run's \
         JSON until the run changes, and the parent's one listing before the worker shows what \
         rendering every run costs. Then the worker times {RAW_FETCHES} raw requests for the \
         first page (the SDK's `reqwest::Client`, the body read but not decoded) and the typed \
         decode of that body ({DECODES} times); the rest of a raw request, after the server \
         latency and the simulator's work, is HTTP, loopback transfer and the timer's slack.",
        input.rounds,
        SERVER_LATENCY.as_millis(),
        CONSUMER_PER_PAGE.as_millis()
    ));
    Ok(section)
}

pub(crate) fn worker(input: Input) -> Result<Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = input.endpoint.client()?;
        let mut out = Output {
            rss_before: rss::peak_rss(),
            ..Output::default()
        };
        for round in 0..input.rounds {
            let variants = if round % 2 == 0 {
                [(false, true), (true, true), (false, false), (true, false)]
            } else {
                [(true, true), (false, true), (true, false), (false, false)]
            };
            for (prefetch, busy) in variants {
                let seconds = list_all(&client, prefetch, busy).await?;
                match (prefetch, busy) {
                    (false, true) => out.sequential.push(seconds),
                    (true, true) => out.prefetch.push(seconds),
                    (false, false) => out.sequential_idle.push(seconds),
                    (true, false) => out.prefetch_idle.push(seconds),
                }
            }
        }
        out.peak_rss = rss::peak_rss();
        let url = format!("{}/agent/runs?limit={PAGE}", input.endpoint.base_url);
        let mut page = None;
        for _ in 0..RAW_FETCHES {
            let started = Instant::now();
            let body = client
                .client()
                .get(&url)
                .bearer_auth(&input.endpoint.api_key)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            out.raw_fetch_ms.push(started.elapsed().as_secs_f64() * 1e3);
            page = Some(body);
        }
        let page = page.ok_or("no raw request was made")?;
        for _ in 0..DECODES {
            let started = Instant::now();
            let decoded: ListRunsResponse = serde_json::from_slice(std::hint::black_box(&page))?;
            out.decode_ms.push(started.elapsed().as_secs_f64() * 1e3);
            if decoded.runs.len() != PAGE as usize {
                return Err(format!("a page of {} runs", decoded.runs.len()).into());
            }
        }
        Ok(out)
    })
}

/// Reads every run; returns the wall time in seconds.
async fn list_all(client: &oz_api_ext::oz_api::Client, prefetch: bool, busy: bool) -> Result<f64> {
    let started = Instant::now();
    let mut runs = client.list_runs().limit(PAGE).items().prefetch(prefetch);
    let mut count = 0usize;
    let mut title_bytes = 0usize;
    while let Some(run) = runs.try_next().await? {
        count += 1;
        title_bytes += run.title.len();
        if busy && count.is_multiple_of(PAGE as usize) {
            tokio::time::sleep(CONSUMER_PER_PAGE).await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if count != RUNS || title_bytes == 0 {
        return Err(format!("listed {count} runs, expected {RUNS}").into());
    }
    Ok(seconds)
}
