//! Decode: one 500-run page of fully populated runs, decoded into the SDK's types against a
//! parse of the same bytes into `serde_json::Value`.

use std::hint::black_box;
use std::time::Instant;

use oz_api_ext::oz_api::ClientInfo;
use oz_api_ext::oz_api::types::ListRunsResponse;
use serde::{Deserialize, Serialize};

use crate::report::{Figure, Section};
use crate::simulator::{Endpoint, FULL_RUNS, Host};
use crate::{Result, Settings, stats};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Input {
    endpoint: Endpoint,
    iterations: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Output {
    page_bytes: usize,
    runs: usize,
    artifacts: usize,
    typed_ms: Vec<f64>,
    value_ms: Vec<f64>,
    value_then_typed_ms: Vec<f64>,
}

pub(crate) fn run(host: &Host, settings: &Settings) -> Result<Section> {
    let input = Input {
        endpoint: host.main(),
        iterations: if settings.quick { 15 } else { 150 },
    };
    let out: Output = crate::worker::spawn("decode", &input)?;
    let typed = stats::median(&out.typed_ms);
    let value = stats::median(&out.value_ms);
    let twice = stats::median(&out.value_then_typed_ms);
    let runs_per_s = |ms: f64| out.runs as f64 / (ms / 1e3);
    let mb_per_s = |ms: f64| out.page_bytes as f64 / 1e6 / (ms / 1e3);
    let mut section = Section::new("2. Decode (500-run page)");
    section.figure(Figure::new(
        "page",
        format!(
            "{} runs, {} artifacts, {:.2} MB of JSON ({:.0} bytes per run)",
            out.runs,
            out.artifacts,
            out.page_bytes as f64 / 1e6,
            out.page_bytes as f64 / out.runs as f64
        ),
    ));
    section.figure(Figure::new(
        "typed decode (`ListRunsResponse`), median",
        format!(
            "{typed:.2} ms: {:.0} runs/s, {:.0} MB/s",
            runs_per_s(typed),
            mb_per_s(typed)
        ),
    ));
    section.figure(Figure::new(
        "`serde_json::Value` parse, median",
        format!(
            "{value:.2} ms: {:.0} runs/s, {:.0} MB/s",
            runs_per_s(value),
            mb_per_s(value)
        ),
    ));
    section.figure(Figure::new(
        "typed / `Value`",
        format!("{:.2}", typed / value),
    ));
    section.figure(Figure::new(
        "`Value` then `from_value` (a double parse), median",
        format!("{twice:.2} ms ({:.2}× the typed decode)", twice / typed),
    ));
    section.note(format!(
        "The page is the simulator's own answer to `list_runs?limit=500` over {FULL_RUNS} runs \
         created with every optional part (FILE, SCREENSHOT, EXTERNAL_REFERENCE, PLAN and \
         PULL_REQUEST artifacts, request usage, metadata, skill, agent config), decoded {} \
         times each way, interleaved, in a worker process. MB are 10⁶ bytes. The SDK decodes a \
         body once, straight from the bytes into its types (`serde_json::from_slice`); the \
         last row shows what a detour through `Value` would cost.",
        input.iterations
    ));
    Ok(section)
}

pub(crate) fn worker(input: Input) -> Result<Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = input.endpoint.client()?;
    let url = format!("{}/agent/runs?limit={FULL_RUNS}", input.endpoint.base_url);
    let page = runtime.block_on(async {
        let response = client
            .client()
            .get(&url)
            .bearer_auth(&input.endpoint.api_key)
            .send()
            .await?
            .error_for_status()?;
        response.bytes().await
    })?;
    let decoded: ListRunsResponse = serde_json::from_slice(&page)?;
    let artifacts = decoded.runs.iter().map(|r| r.artifacts.len()).sum();
    let mut out = Output {
        page_bytes: page.len(),
        runs: decoded.runs.len(),
        artifacts,
        typed_ms: Vec::new(),
        value_ms: Vec::new(),
        value_then_typed_ms: Vec::new(),
    };
    if out.runs != FULL_RUNS {
        return Err(format!("expected a page of {FULL_RUNS} runs, got {}", out.runs).into());
    }
    let ms = |started: Instant| started.elapsed().as_secs_f64() * 1e3;
    for i in 0..input.iterations + 3 {
        let warmup = i < 3;
        for step in 0..3 {
            let started = Instant::now();
            match (step + i) % 3 {
                0 => {
                    black_box(serde_json::from_slice::<ListRunsResponse>(black_box(
                        &page,
                    ))?);
                    if !warmup {
                        out.typed_ms.push(ms(started));
                    }
                }
                1 => {
                    black_box(serde_json::from_slice::<serde_json::Value>(black_box(
                        &page,
                    ))?);
                    if !warmup {
                        out.value_ms.push(ms(started));
                    }
                }
                _ => {
                    let value: serde_json::Value = serde_json::from_slice(black_box(&page))?;
                    black_box(serde_json::from_value::<ListRunsResponse>(value)?);
                    if !warmup {
                        out.value_then_typed_ms.push(ms(started));
                    }
                }
            }
        }
    }
    Ok(out)
}
