//! Waiter economy: runs that take 60 s (simulated: Tokio's paused clock and
//! `Progression::Stepped(15 s)`), waited for with `wait_for_run`; how many polls it sends and
//! how long after the run ended it returns, for the default policy and a CLI-like fixed 3 s
//! cadence. Then 50 runs started 2 s apart, waited for as a set (`wait_for_runs`: one listing
//! per poll) against 50 independent `wait_for_run`s: requests and lateness.

use std::time::Duration;

use oz_api_ext::is_terminal;
use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::oz_api::{Client, ClientInfo, Config};
use oz_api_ext::{RunWaitExt, WaitForRunsExt};
use oz_mock::{OzMock, Progression};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::report::{Figure, Section, Target};
use crate::simulator::Host;
use crate::{Result, Settings, stats};

/// Each of QUEUED, PENDING, CLAIMED and INPROGRESS lasts this long: 60 s in all.
pub(crate) const STEP: Duration = Duration::from_secs(15);
pub(crate) const RUN_TIME: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Input {
    runs: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Output {
    policies: Vec<PolicyResult>,
    many: ManyResult,
}

/// Fifty runs at once: requests and lateness of the set waiter and of independent waiters.
#[derive(Debug, Serialize, Deserialize)]
struct ManyResult {
    runs: usize,
    independent_requests: usize,
    independent_late_s: Vec<f64>,
    set_requests: usize,
    set_late_s: Vec<f64>,
}

/// The waits of one delay policy.
#[derive(Debug, Serialize, Deserialize)]
struct PolicyResult {
    /// `None`: the defaults.
    min_delay_s: Option<f64>,
    max_delay_s: Option<f64>,
    polls: Vec<usize>,
    /// Polls the policy allows in the time the wait took: one at the start, then at most one
    /// per `min_delay`.
    allowed: Vec<usize>,
    /// From the run's end to the waiter's return, seconds.
    late_s: Vec<f64>,
}

pub(crate) fn run(_host: &Host, settings: &Settings) -> Result<Section> {
    let input = Input {
        runs: if settings.quick { 5 } else { 50 },
    };
    let out: Output = crate::worker::spawn("waiter", &input)?;
    let mut section = Section::new("5. Waiter economy (a run of 60 s)");
    for policy in &out.policies {
        let name = match (policy.min_delay_s, policy.max_delay_s) {
            (Some(min), Some(max)) if min == max => {
                format!("fixed {min} s cadence (as Warp's CLI polls)")
            }
            (Some(min), Some(max)) => format!("min_delay {min} s, max_delay {max} s"),
            _ => format!(
                "default policy (min_delay {} s, max_delay {} s)",
                oz_api_ext::DEFAULT_MIN_DELAY.as_secs(),
                oz_api_ext::DEFAULT_MAX_DELAY.as_secs()
            ),
        };
        let polls: Vec<f64> = policy.polls.iter().map(|&p| p as f64).collect();
        let within = policy
            .polls
            .iter()
            .zip(&policy.allowed)
            .all(|(polls, allowed)| polls <= allowed);
        let most_allowed = policy.allowed.iter().min().copied().unwrap_or(0);
        section.figure(
            Figure::new(
                format!("polls, {name}"),
                format!(
                    "median {:.0}, max {:.0} (the policy would allow {most_allowed} or more in \
                     the time each wait took)",
                    stats::median(&polls),
                    stats::percentile(&polls, 100.0),
                ),
            )
            .with_target(Target {
                text: "no wait polls more than its policy allows".to_owned(),
                holds: within,
            }),
        );
        let late = Figure::new(
            format!("return after the run ended, {name}"),
            format!(
                "median {:.1} s, p90 {:.1} s, max {:.1} s",
                stats::median(&policy.late_s),
                stats::percentile(&policy.late_s, 90.0),
                stats::percentile(&policy.late_s, 100.0),
            ),
        );
        section.figure(if policy.min_delay_s.is_none() {
            late.with_target(Target {
                text: "median ≤ 3 s on a 60 s run".to_owned(),
                holds: stats::median(&policy.late_s) <= 3.0,
            })
        } else {
            late
        });
    }
    let many = &out.many;
    let ratio = many.set_requests as f64 / many.independent_requests as f64;
    section.figure(
        Figure::new(
            format!("requests for {} runs, set / independent waiters", many.runs),
            format!(
                "{} / {} = {ratio:.3}",
                many.set_requests, many.independent_requests
            ),
        )
        .with_target(Target {
            text: "≤ 0.10".to_owned(),
            holds: ratio <= 0.10,
        }),
    );
    let (set_median, independent_median) = (
        stats::median(&many.set_late_s),
        stats::median(&many.independent_late_s),
    );
    section.figure(
        Figure::new(
            "return after each run ended, set / independent waiters",
            format!(
                "median {set_median:.1} s / {independent_median:.1} s, p90 {:.1} s / {:.1} s",
                stats::percentile(&many.set_late_s, 90.0),
                stats::percentile(&many.independent_late_s, 90.0),
            ),
        )
        .with_target(Target {
            text: "set median no worse".to_owned(),
            holds: set_median <= independent_median + 0.5,
        }),
    );
    section.note(format!(
        "With the simulator's event stream off, so every wait polls (block 6 has the same \
         waits on the stream). {} runs per policy, each QUEUED → PENDING → CLAIMED → INPROGRESS for {} s apiece and \
         SUCCEEDED at 60 s, waited for one after the other in a worker process on Tokio's \
         paused clock (simulated time, so the figures are exact and cost no real minute). \
         Polls are counted by the simulator. A wait polls at its start, then pauses a \
         fifteenth of the time waited so far, within [min_delay, max_delay], less up to 20 % \
         jitter; it learns of the end up to one pause late. The set: an orchestrator's {} \
         children started 0.5 s apart (each 60 s long), waited for from the moment the last \
         one started by one `wait_for_runs(..).ancestor_run_id(orchestrator)` (one listing \
         per poll, the first included; its pauses grow with a thirtieth of the time waited, \
         the same bounds and jitter otherwise) and, in a second round of the same scenario, by {} \
         concurrent `wait_for_run`s; requests are `get_run` + `list_runs` as counted by the \
         simulator, lateness per run from its end (or the start of the wait, if later) to \
         the moment its waiter returned it.",
        input.runs,
        STEP.as_secs(),
        out.many.runs,
        out.many.runs,
    ));
    Ok(section)
}

pub(crate) fn worker(input: Input) -> Result<Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()?;
    runtime.block_on(async {
        // Polling alone: without the event stream every wait polls as its policy says (the
        // first wait's one refused stream request is remembered by the client).
        let mock = OzMock::builder()
            .progression(Progression::Stepped(STEP))
            .event_stream(false)
            .start()
            .await?;
        let client = timerless_client(&mock)?;
        let mut policies = Vec::new();
        for (min, max) in [(None, None), (Some(3.0), Some(3.0))] {
            let mut result = PolicyResult {
                min_delay_s: min,
                max_delay_s: max,
                polls: Vec::new(),
                allowed: Vec::new(),
                late_s: Vec::new(),
            };
            let min_delay = min.map_or(oz_api_ext::DEFAULT_MIN_DELAY, Duration::from_secs_f64);
            for i in 0..input.runs {
                let request = RunAgentRequest::builder().prompt(format!("Fix flaky test #{i}"));
                let run = client.create_run().body(request).send().await?.into_inner();
                let created = Instant::now();
                let before = mock.request_count("get_run");
                let mut wait = client.wait_for_run(run.run_id.clone());
                if let (Some(min), Some(max)) = (min, max) {
                    wait = wait
                        .min_delay(Duration::from_secs_f64(min))
                        .max_delay(Duration::from_secs_f64(max));
                }
                let ended = wait.send().await?;
                let returned = Instant::now();
                if !is_terminal(&ended.state) {
                    return Err(format!("the wait returned a run in {}", ended.state).into());
                }
                let took = returned - created;
                result.polls.push(mock.request_count("get_run") - before);
                result
                    .allowed
                    .push((took.as_secs_f64() / min_delay.as_secs_f64()).floor() as usize + 1);
                result
                    .late_s
                    .push(took.saturating_sub(RUN_TIME).as_secs_f64());
            }
            policies.push(result);
        }
        let many = many_runs(&mock, &client, MANY_RUNS).await?;
        mock.shutdown().await;
        Ok(Output { policies, many })
    })
}

/// Runs of the many-runs comparison, and the simulated time between two of their starts.
pub(crate) const MANY_RUNS: usize = 50;
pub(crate) const MANY_GAP: Duration = Duration::from_millis(500);

/// An orchestrator run and `count` children started `MANY_GAP` apart (so they end 0.5 s
/// apart, over 25 s), with the instants they end.
async fn start_children(client: &Client, count: usize) -> Result<(String, Vec<(String, Instant)>)> {
    let parent = RunAgentRequest::builder().prompt("Orchestrate the migration");
    let parent = client
        .create_run()
        .body(parent)
        .send()
        .await?
        .into_inner()
        .run_id;
    let mut runs = Vec::new();
    for i in 0..count {
        let request = RunAgentRequest::builder()
            .prompt(format!("Migrate module #{i}"))
            .parent_run_id(parent.clone());
        let run = client.create_run().body(request).send().await?.into_inner();
        runs.push((run.run_id.clone(), Instant::now() + RUN_TIME));
        tokio::time::sleep(MANY_GAP).await;
    }
    Ok((parent, runs))
}

/// Seconds from the later of the run's end and the start of the wait to its return.
fn late(end: Instant, wait_started: Instant) -> f64 {
    Instant::now()
        .saturating_duration_since(end.max(wait_started))
        .as_secs_f64()
}

/// The same scenario waited for by one set waiter, then by independent waiters.
async fn many_runs(mock: &OzMock, client: &Client, count: usize) -> Result<ManyResult> {
    let requests = || mock.request_count("get_run") + mock.request_count("list_runs");

    let (parent, runs) = start_children(client, count).await?;
    let (before, wait_started) = (requests(), Instant::now());
    let mut set_late_s = Vec::new();
    let mut ended = client
        .wait_for_runs(runs.iter().map(|(id, _)| id.clone()))
        .ancestor_run_id(parent)
        .stream();
    while let Some(run) = futures::TryStreamExt::try_next(&mut ended).await? {
        let end = runs
            .iter()
            .find(|(id, _)| *id == run.run_id)
            .map(|(_, at)| *at);
        let end = end.ok_or("the set waiter returned a run it was not given")?;
        set_late_s.push(late(end, wait_started));
    }
    let set_requests = requests() - before;

    let (_, runs) = start_children(client, count).await?;
    let (before, wait_started) = (requests(), Instant::now());
    let waits = runs.iter().map(|(id, end)| {
        let wait = client.wait_for_run(id.clone());
        async move {
            wait.send().await?;
            Ok::<_, oz_api_ext::WaitError>(late(*end, wait_started))
        }
    });
    let mut independent_late_s = Vec::new();
    for result in futures::future::join_all(waits).await {
        independent_late_s.push(result?);
    }
    Ok(ManyResult {
        runs: count,
        independent_requests: requests() - before,
        independent_late_s,
        set_requests,
        set_late_s,
    })
}

/// An SDK client whose HTTP layer arms no timer (no timeouts, no idle-connection expiry): on a
/// paused clock Tokio jumps to the next timer whenever the runtime waits, and a request that
/// waits for the simulator's socket must not jump to its own timeout.
fn timerless_client(mock: &OzMock) -> Result<Client> {
    let base = mock.base_url();
    let configured = Config::new(mock.api_key()).base_url(base.clone()).build()?;
    let mut headers = HeaderMap::new();
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", mock.api_key()))?;
    auth.set_sensitive(true);
    headers.insert(AUTHORIZATION, auth);
    let http = oz_api_ext::oz_api::http_client_builder()?
        .default_headers(headers)
        .pool_idle_timeout(None)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(Client::new_with_client(
        &base,
        http,
        configured.inner().clone(),
    ))
}
