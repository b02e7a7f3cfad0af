//! Waiter economy: runs that take 60 s (simulated: Tokio's paused clock and
//! `Progression::Stepped(15 s)`), waited for with `wait_for_run`; how many polls it sends and
//! how long after the run ended it returns.

use std::time::Duration;

use oz_api_ext::RunWaitExt;
use oz_api_ext::is_terminal;
use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::oz_api::{Client, ClientInfo, Config};
use oz_mock::{OzMock, Progression};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::report::{Figure, Section, Target};
use crate::simulator::Host;
use crate::{Result, Settings, stats};

/// Each of QUEUED, PENDING, CLAIMED and INPROGRESS lasts this long: 60 s in all.
const STEP: Duration = Duration::from_secs(15);
const RUN_TIME: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Input {
    runs: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Output {
    policies: Vec<PolicyResult>,
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
            (Some(min), Some(max)) => format!("min_delay {min} s, max_delay {max} s"),
            _ => format!(
                "default policy (min_delay {} s, max_delay {} s)",
                oz_api_ext::waiter::DEFAULT_MIN_DELAY.as_secs(),
                oz_api_ext::waiter::DEFAULT_MAX_DELAY.as_secs()
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
        section.figure(Figure::new(
            format!("return after the run ended, {name}"),
            format!(
                "median {:.1} s, p90 {:.1} s, max {:.1} s",
                stats::median(&policy.late_s),
                stats::percentile(&policy.late_s, 90.0),
                stats::percentile(&policy.late_s, 100.0),
            ),
        ));
    }
    section.note(format!(
        "{} runs per policy, each QUEUED → PENDING → CLAIMED → INPROGRESS for {} s apiece and \
         SUCCEEDED at 60 s, waited for one after the other in a worker process on Tokio's \
         paused clock (simulated time, so the figures are exact and cost no real minute). \
         Polls are counted by the simulator. A wait polls at its start, then sleeps a random \
         time in [min_delay, min(max_delay, min_delay · 2ⁿ⁻¹)] after poll n, so it can learn \
         of the end up to one full delay late; a fixed 2 s interval would poll about 31 times \
         for the same run.",
        input.runs,
        STEP.as_secs()
    ));
    Ok(section)
}

pub(crate) fn worker(input: Input) -> Result<Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()?;
    runtime.block_on(async {
        let mock = OzMock::builder()
            .progression(Progression::Stepped(STEP))
            .start()
            .await?;
        let client = timerless_client(&mock)?;
        let mut policies = Vec::new();
        for (min, max) in [(None, None), (Some(1.0), Some(5.0))] {
            let mut result = PolicyResult {
                min_delay_s: min,
                max_delay_s: max,
                polls: Vec::new(),
                allowed: Vec::new(),
                late_s: Vec::new(),
            };
            let min_delay = min.map_or(
                oz_api_ext::waiter::DEFAULT_MIN_DELAY,
                Duration::from_secs_f64,
            );
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
        mock.shutdown().await;
        Ok(Output { policies })
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
