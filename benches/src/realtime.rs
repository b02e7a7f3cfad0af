//! Real time: waits that follow the real-time event stream, beside the same waits polling.
//!
//! The scenarios of the waiter benchmark (`waiter.rs`) with the simulator's event stream on,
//! on the real clock: runs of 60 s waited for with `wait_for_run`, and 50 children of one
//! orchestrator waited for with `wait_for_runs(..).ancestor_run_id(..)`, through `stream()`
//! (each end confirmed by a listing) and through `ends()` (each end taken from its event); every API request
//! counted by the simulator (the stream's own included), and how long after each run ended its
//! waiter returned. The polling figures beside them are the waiter benchmark's, which runs with
//! the stream off. Then how long an event takes from the simulator recording it to an
//! `events(..)` consumer receiving it, over the stream and through the polling tail.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use oz_api_ext::oz_api::types::{AgentRunEventType, RunAgentRequest};
use oz_api_ext::oz_api::{Client, Config, chrono};
use oz_api_ext::{EventsExt, RunWaitExt, Transport, WaitForRunsExt, is_terminal};
use oz_mock::{OzMock, Progression};
use serde::{Deserialize, Serialize};

use crate::report::{Figure, Section, Target};
use crate::simulator::Host;
use crate::waiter::{MANY_GAP, MANY_RUNS, RUN_TIME, STEP};
use crate::{Result, Settings, stats};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Input {
    runs: usize,
    latency_runs: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Output {
    single: Waits,
    many: Waits,
    many_ends: Waits,
    stream_latency_ms: Vec<f64>,
    poll_latency_ms: Vec<f64>,
}

/// Waits over the stream: requests and lateness.
#[derive(Debug, Serialize, Deserialize)]
struct Waits {
    runs: usize,
    /// API requests of each wait (of the whole set for `many`), by operation, summed.
    requests: Vec<usize>,
    /// The requests of all waits, by operation.
    by_operation: Vec<(String, usize)>,
    late_s: Vec<f64>,
}

pub(crate) fn run(_host: &Host, settings: &Settings) -> Result<Section> {
    let input = Input {
        runs: if settings.quick { 5 } else { 50 },
        latency_runs: if settings.quick { 5 } else { 40 },
    };
    let out: Output = crate::worker::spawn("realtime", &input)?;
    let mut section = Section::new("7. Real time: waits on the event stream");
    let single = &out.single;
    let requests: Vec<f64> = single.requests.iter().map(|&r| r as f64).collect();
    let most = stats::percentile(&requests, 100.0);
    section.figure(
        Figure::new(
            "API requests per wait, a run of 60 s",
            format!(
                "median {:.0}, max {most:.0} ({}); polling: see block 5",
                stats::median(&requests),
                by_operation(&single.by_operation, single.runs),
            ),
        )
        .with_target(Target {
            text: "≤ 3".to_owned(),
            holds: most <= 3.0,
        }),
    );
    let median = stats::median(&single.late_s);
    section.figure(
        Figure::new(
            "return after the run ended, a run of 60 s",
            format!(
                "median {median:.3} s, p90 {:.3} s, max {:.3} s",
                stats::percentile(&single.late_s, 90.0),
                stats::percentile(&single.late_s, 100.0),
            ),
        )
        .with_target(Target {
            text: "median ≤ 0.2 s".to_owned(),
            holds: median <= 0.2,
        }),
    );
    let (many, ends) = (&out.many, &out.many_ends);
    let (total, total_ends) = (
        many.requests.iter().sum::<usize>(),
        ends.requests.iter().sum::<usize>(),
    );
    section.figure(
        Figure::new(
            format!(
                "API requests for {} children, ancestor stream, `ends()` / `stream()`",
                many.runs
            ),
            format!(
                "{total_ends} ({}) / {total} ({})",
                by_operation(&ends.by_operation, 1),
                by_operation(&many.by_operation, 1),
            ),
        )
        .with_target(Target {
            text: "`ends()` ≤ 5".to_owned(),
            holds: total_ends <= 5,
        }),
    );
    let (median, median_ends) = (stats::median(&many.late_s), stats::median(&ends.late_s));
    section.figure(
        Figure::new(
            format!(
                "return after each child ended, {} children, `ends()` / `stream()`",
                many.runs
            ),
            format!(
                "median {median_ends:.3} s / {median:.3} s, p90 {:.3} s / {:.3} s, max {:.3} s / {:.3} s",
                stats::percentile(&ends.late_s, 90.0),
                stats::percentile(&many.late_s, 90.0),
                stats::percentile(&ends.late_s, 100.0),
                stats::percentile(&many.late_s, 100.0),
            ),
        )
        .with_target(Target {
            text: "`ends()` median ≤ 0.2 s".to_owned(),
            holds: median_ends <= 0.2,
        }),
    );
    let (stream, poll) = (
        stats::median(&out.stream_latency_ms),
        stats::median(&out.poll_latency_ms),
    );
    section.figure(
        Figure::new(
            "an event from the simulator recording it to the consumer, stream / polling tail",
            format!(
                "median {stream:.1} ms / {poll:.0} ms, p90 {:.1} ms / {:.0} ms ({} / {} events)",
                stats::percentile(&out.stream_latency_ms, 90.0),
                stats::percentile(&out.poll_latency_ms, 90.0),
                out.stream_latency_ms.len(),
                out.poll_latency_ms.len(),
            ),
        )
        .with_target(Target {
            text: "stream median ≤ 20 ms".to_owned(),
            holds: stream <= 20.0,
        }),
    );
    section.note(format!(
        "The scenarios of block 5 (runs QUEUED → PENDING → CLAIMED → INPROGRESS for {} s \
         apiece and SUCCEEDED at 60 s) with the simulator's event stream on, on the real \
         clock (on Tokio's paused clock a wait on a stream would see each event only when the \
         clock jumps to its next timer): {} runs started together, each waited for by its own \
         `wait_for_run`; then an orchestrator's {} children started 0.5 s apart, waited for by \
         one `wait_for_runs(..).ancestor_run_id(orchestrator)` from the moment the last one \
         started, read through `ends()` (an end taken from its event, the run not read) and, \
         on a second simulator at the same time, through `stream()` (each end confirmed by a \
         listing; the ends that come within half a `min_delay` of the listing an end started \
         share the next one). Requests are the API requests the simulator counted (for a single run, those \
         naming it), the stream's own (`stream_agent_events`) included; block 5 gives the same \
         waits polling (it runs with the stream off, so its figures are the fallback's). \
         Lateness is the moment a waiter returned a run less the moment its creation was \
         requested and its 60 s (an upper bound). Event latency: {} runs of 1 s steps started 50 ms apart, their events read by \
         one `client.events(ids)` over the stream, then the same by \
         `.transport(Transport::Poll)` (the polling tail: 1 s after news, doubling while \
         nothing happens); latency is the moment the consumer received an event less its \
         `occurred_at`, stamped by the simulator when it recorded it (simulator and consumer \
         share the process and its clock).",
        STEP.as_secs(),
        input.runs,
        MANY_RUNS,
        input.latency_runs,
    ));
    Ok(section)
}

/// `get_run 2, stream_agent_events 1` per wait (the totals divided by `waits`).
fn by_operation(counts: &[(String, usize)], waits: usize) -> String {
    counts
        .iter()
        .map(|(operation, count)| {
            let per_wait = *count as f64 / waits.max(1) as f64;
            if waits == 1 {
                format!("{operation} {count}")
            } else {
                format!("{operation} {per_wait:.1}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn worker(input: Input) -> Result<Output> {
    // The real clock: on Tokio's paused clock a wait that follows a stream would see each
    // event only when the clock jumps to its next timer (the two-minute safety poll), since
    // the runtime advances time whenever it parks, socket data ready or not.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (mock, client) = simulator().await?;
        let single = single_runs(&mock, &client, input.runs).await?;
        mock.shutdown().await;
        let (many, many_ends) = futures::future::try_join(
            children(Collect::Runs, MANY_RUNS),
            children(Collect::Ends, MANY_RUNS),
        )
        .await?;
        let stream_latency_ms = event_latency(Transport::Stream, input.latency_runs).await?;
        let poll_latency_ms = event_latency(Transport::Poll, input.latency_runs).await?;
        Ok(Output {
            single,
            many,
            many_ends,
            stream_latency_ms,
            poll_latency_ms,
        })
    })
}

/// A simulator of block 5's runs, with its stream on, and a client of it.
async fn simulator() -> Result<(OzMock, Client)> {
    let mock = OzMock::builder()
        .progression(Progression::Stepped(STEP))
        .start()
        .await?;
    let client = Config::new(mock.api_key())
        .base_url(mock.base_url())
        .build()?;
    Ok((mock, client))
}

/// The API requests about `run_id` (its path or query names it) but its creation.
fn requests_about(mock: &OzMock, run_id: &str) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for request in mock.received_requests() {
        let names = request.path.contains(run_id)
            || request.query.as_deref().is_some_and(|q| q.contains(run_id));
        if names && request.operation_id != "create_run" {
            add(&mut counts, &[(request.operation_id.clone(), 1)]);
        }
    }
    counts
}

fn add(totals: &mut Vec<(String, usize)>, more: &[(String, usize)]) {
    for (op, n) in more {
        match totals.iter_mut().find(|(o, _)| o == op) {
            Some((_, total)) => *total += n,
            None => totals.push((op.clone(), *n)),
        }
    }
    totals.sort();
}

/// Seconds from `created_at` plus the run's 60 s to now.
fn late_since(created_at: chrono::DateTime<chrono::Utc>) -> f64 {
    let end = created_at + chrono::TimeDelta::from_std(RUN_TIME).unwrap_or_default();
    (chrono::Utc::now() - end).num_microseconds().unwrap_or(0) as f64 / 1e6
}

/// `runs` runs of 60 s started together, each waited for by its own `wait_for_run`.
async fn single_runs(mock: &OzMock, client: &Client, runs: usize) -> Result<Waits> {
    let mut started = Vec::new();
    for i in 0..runs {
        let request = RunAgentRequest::builder().prompt(format!("Fix flaky test #{i}"));
        // Before the request: the run ends 60 s after the simulator created it, a little
        // later, so the lateness measured from here is an upper bound.
        let created_at = chrono::Utc::now();
        let run = client.create_run().body(request).send().await?.into_inner();
        started.push((run.run_id, created_at));
    }
    let waits = started.iter().map(|(run_id, created_at)| {
        let wait = client.wait_for_run(run_id.clone());
        async move {
            let ended = wait.send().await?;
            if !is_terminal(&ended.state) {
                return Err(format!("the wait returned a run in {}", ended.state).into());
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(late_since(*created_at))
        }
    });
    let mut result = Waits {
        runs,
        requests: Vec::new(),
        by_operation: Vec::new(),
        late_s: Vec::new(),
    };
    for late in futures::future::join_all(waits).await {
        result.late_s.push(late?);
    }
    for (run_id, _) in &started {
        let requests = requests_about(mock, run_id);
        result.requests.push(requests.iter().map(|(_, n)| n).sum());
        add(&mut result.by_operation, &requests);
    }
    Ok(result)
}

/// How a set wait hands out its runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collect {
    /// `stream()`: each run as a listing saw it ended.
    Runs,
    /// `ends()`: each end as its event reported it.
    Ends,
}

/// An orchestrator's children started 0.5 s apart, waited for by one set waiter on the
/// ancestor stream from the moment the last one started, on a simulator of their own.
async fn children(collect: Collect, count: usize) -> Result<Waits> {
    let (mock, client) = simulator().await?;
    let parent = client
        .create_run()
        .body(RunAgentRequest::builder().prompt("Orchestrate the migration"))
        .send()
        .await?
        .into_inner()
        .run_id;
    let mut runs = Vec::new();
    for i in 0..count {
        let request = RunAgentRequest::builder()
            .prompt(format!("Migrate module #{i}"))
            .parent_run_id(parent.clone());
        let created_at = chrono::Utc::now();
        let run = client.create_run().body(request).send().await?.into_inner();
        runs.push((run.run_id, created_at));
        tokio::time::sleep(MANY_GAP).await;
    }
    let before = mock.request_counts();
    let mut late_s = Vec::new();
    let wait = client
        .wait_for_runs(runs.iter().map(|(id, _)| id.clone()))
        .ancestor_run_id(parent);
    let mut ended = match collect {
        Collect::Runs => wait.stream().map_ok(|run| run.run_id).boxed(),
        Collect::Ends => wait.ends().map_ok(|end| end.run_id).boxed(),
    };
    while let Some(run_id) = futures::TryStreamExt::try_next(&mut ended).await? {
        let created_at = runs
            .iter()
            .find(|(id, _)| *id == run_id)
            .map(|(_, at)| *at)
            .ok_or("the set waiter returned a run it was not given")?;
        late_s.push(late_since(created_at).max(0.0));
    }
    let mut requests = Vec::new();
    for (operation, n) in mock.request_counts() {
        let more = n - before.get(&operation).copied().unwrap_or(0);
        if more > 0 && operation != "create_run" {
            requests.push((operation, more));
        }
    }
    mock.shutdown().await;
    Ok(Waits {
        runs: count,
        requests: vec![requests.iter().map(|(_, n)| n).sum()],
        by_operation: requests,
        late_s,
    })
}

/// Milliseconds from each event's `occurred_at` to its arrival at an `events(..)` consumer
/// reading over `transport`, for `runs` runs of 1 s steps.
async fn event_latency(transport: Transport, runs: usize) -> Result<Vec<f64>> {
    let mock = OzMock::builder()
        .progression(Progression::Stepped(Duration::from_secs(1)))
        .start()
        .await?;
    let client = Config::new(mock.api_key())
        .base_url(mock.base_url())
        .build()?;
    let mut ids = Vec::new();
    for i in 0..runs {
        let request = RunAgentRequest::builder().prompt(format!("Latency probe #{i}"));
        ids.push(
            client
                .create_run()
                .body(request)
                .send()
                .await?
                .into_inner()
                .run_id,
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Events recorded before the consumer started are replayed: they say nothing of latency.
    let started = chrono::Utc::now();
    let mut events = client.events(ids.clone()).transport(transport).stream();
    let mut ended = 0;
    let mut latency = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_secs(60));
    tokio::pin!(deadline);
    while ended < runs {
        let event = tokio::select! {
            event = events.next() => event.ok_or("the event stream ended")??,
            () = &mut deadline => return Err("the runs' events did not all arrive in 60 s".into()),
        };
        let received = chrono::Utc::now();
        if event.occurred_at >= started {
            let age = (received - event.occurred_at)
                .num_microseconds()
                .unwrap_or(i64::MAX);
            latency.push(age as f64 / 1000.0);
        }
        if matches!(event.event_type, AgentRunEventType::RunSucceeded) {
            ended += 1;
        }
    }
    mock.shutdown().await;
    Ok(latency)
}
