//! Waiting for runs against a real local server on tokio's paused clock: which run comes
//! back, when each poll is sent, and what happens at the deadline.
//!
//! The clock is paused, so tokio jumps to the next timer whenever the runtime is idle. The
//! waiters arm a timer for their deadline during every request, so the server runs on the
//! test's own runtime (see `support`): an answer is ready before the runtime goes idle, and
//! the clock moves only when every task waits for a timer. The tests use a client whose HTTP
//! layer has no timers of its own. The server notes the paused clock's time of every request it
//! receives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use oz_api_ext::oz_api::types::{RunAgentRequest, RunFollowupRequest, RunState};
use oz_api_ext::oz_api::{Config, RequestOptions};
use oz_api_ext::{CancelOutcome, RunWaitExt, WaitError};
use serde_json::{Value, json};
use tokio::time::Instant;
mod support;
use support::client_without_timers;

use support::{Mock, MockServer, Request, Respond, ResponseTemplate, method, path};

const RUN_PATH: &str = "/api/v1/agent/runs/run_1";
const CANCEL_PATH: &str = "/api/v1/agent/runs/run_1/cancel";

const MIN: Duration = Duration::from_secs(2);
const MAX: Duration = Duration::from_secs(10);

fn run_json(state: &str) -> Value {
    json!({
        "run_id": "run_1",
        "task_id": "run_1",
        "title": "Fix the flaky test",
        "state": state,
        "prompt": "Fix the flaky test in ci.yml",
        "created_at": "2025-03-14T09:26:53Z",
        "updated_at": "2025-03-14T09:31:07Z"
    })
}

/// Answers requests in turn from a script (the last answer repeats) and notes when each
/// request arrived, on the test's paused clock.
#[derive(Clone)]
struct Script {
    answers: Arc<Vec<ResponseTemplate>>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Script {
    fn new(answers: Vec<ResponseTemplate>) -> Self {
        Self {
            answers: Arc::new(answers),
            arrivals: Arc::default(),
        }
    }

    fn states(states: &[&str]) -> Self {
        Self::new(
            states
                .iter()
                .map(|s| ResponseTemplate::new(200).set_body_json(run_json(s)))
                .collect(),
        )
    }

    async fn mount(&self, server: &MockServer, http_method: &str, at: &str) {
        Mock::given(method(http_method))
            .and(path(at))
            .respond_with(self.clone())
            .mount(server)
            .await;
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().unwrap().clone()
    }

    fn gaps(&self) -> Vec<Duration> {
        self.arrivals().windows(2).map(|w| w[1] - w[0]).collect()
    }
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut arrivals = self.arrivals.lock().unwrap();
        arrivals.push(Instant::now());
        let index = (arrivals.len() - 1).min(self.answers.len() - 1);
        self.answers[index].clone()
    }
}

/// The bounds of the pause after a poll made `waited` into the wait: a fifteenth of it within
/// [MIN, MAX], less up to a fifth of jitter, never below MIN.
fn bounds(waited: Duration) -> (Duration, Duration) {
    let nominal = (waited / 15).clamp(MIN, MAX);
    (nominal.mul_f64(0.8).max(MIN), nominal)
}

/// Every pause between two polls is within the bounds of the time waited at the first of them.
fn assert_delays_follow_the_policy(arrivals: &[Instant]) {
    for (i, pair) in arrivals.windows(2).enumerate() {
        let (low, high) = bounds(pair[0] - arrivals[0]);
        let gap = pair[1] - pair[0];
        assert!(
            low <= gap && gap <= high,
            "pause {} was {gap:?}, outside [{low:?}, {high:?}] (arrivals: {arrivals:?})",
            i + 1
        );
    }
}

#[tokio::test(start_paused = true)]
async fn waiting_returns_the_terminal_run_with_pauses_inside_the_policy() {
    let server = MockServer::start().await;
    // Two minutes of polls at least: long enough for the pauses to grow past MIN.
    let mut states = vec!["QUEUED"; 2];
    states.extend(["INPROGRESS"; 40]);
    states.push("SUCCEEDED");
    let script = Script::states(&states);
    script.mount(&server, "GET", RUN_PATH).await;
    let client = client_without_timers(&server, 0);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();

    let started = Instant::now();
    let run = client
        .wait_for_run("run_1")
        .min_delay(MIN)
        .max_delay(MAX)
        .on_state_change(move |run| recorder.lock().unwrap().push(run.state.clone()))
        .send()
        .await
        .expect("the run ends");

    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(run.run_id, "run_1");
    let arrivals = script.arrivals();
    assert_eq!(arrivals.len(), states.len());
    assert_eq!(arrivals[0], started, "the first poll is sent at once");
    assert_delays_follow_the_policy(&arrivals);
    // The pauses grow with the time waited: the first ones are MIN, the last ones longer.
    let gaps = script.gaps();
    assert_eq!(gaps[0], MIN, "{gaps:?}");
    assert!(*gaps.last().unwrap() > MIN, "{gaps:?}");
    assert_eq!(
        *seen.lock().unwrap(),
        [RunState::Queued, RunState::Inprogress, RunState::Succeeded],
        "each state is reported once"
    );
}

#[tokio::test(start_paused = true)]
async fn exceeding_max_wait_reports_the_last_run_and_polls_once_more_at_the_deadline() {
    let server = MockServer::start().await;
    let script = Script::states(&["QUEUED", "INPROGRESS"]);
    script.mount(&server, "GET", RUN_PATH).await;
    let max_wait = Duration::from_secs(25);

    let started = Instant::now();
    let err = client_without_timers(&server, 0)
        .wait_for_run("run_1")
        .min_delay(MIN)
        .max_delay(MAX)
        .max_wait(max_wait)
        .send()
        .await
        .expect_err("the run never ends");

    let arrivals = script.arrivals();
    let WaitError::ExceededMaxWait {
        max_wait: reported,
        elapsed,
        polls,
        last_run,
        cancel,
        ..
    } = &err
    else {
        panic!("expected a timeout, got {err}");
    };
    assert_eq!(*reported, max_wait);
    assert_eq!(*polls as usize, arrivals.len());
    assert_eq!(last_run.as_ref().unwrap().state, RunState::Inprogress);
    assert!(matches!(cancel, CancelOutcome::NotRequested));
    // The last poll is aligned to the deadline, and nothing follows it.
    assert_eq!(*arrivals.last().unwrap() - started, max_wait);
    assert_eq!(*elapsed, max_wait);
    assert_eq!(Instant::now() - started, max_wait);
    let (last, regular) = arrivals.split_last().unwrap();
    assert_delays_follow_the_policy(regular);
    let before_last = regular.last().unwrap();
    assert!(
        *last - *before_last <= bounds(*before_last - arrivals[0]).1,
        "{arrivals:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "run run_1 still INPROGRESS after 25.0 s ({polls} polls): max wait of 25.0 s exceeded"
        )
    );
    assert_eq!(err.last_run().unwrap().run_id, "run_1");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_state_keeps_the_waiter_waiting() {
    let server = MockServer::start().await;
    let script = Script::states(&["INPROGRESS", "AWAITING_REVIEW", "AWAITING_REVIEW", "FAILED"]);
    script.mount(&server, "GET", RUN_PATH).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();

    let run = client_without_timers(&server, 0)
        .wait_for_run("run_1")
        .on_state_change(move |run| recorder.lock().unwrap().push(run.state.to_string()))
        .send()
        .await
        .unwrap();

    assert_eq!(run.state, RunState::Failed);
    assert_eq!(script.arrivals().len(), 4);
    assert_eq!(
        *seen.lock().unwrap(),
        ["INPROGRESS", "AWAITING_REVIEW", "FAILED"]
    );
    // Default delays: 2 s, then up to 4 s, then up to 8 s.
    let gaps = script.gaps();
    assert_eq!(gaps[0], Duration::from_secs(2));
    assert!(gaps[1] >= Duration::from_secs(2) && gaps[1] <= Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn blocked_is_terminal() {
    let server = MockServer::start().await;
    let script = Script::states(&["INPROGRESS", "BLOCKED", "SUCCEEDED"]);
    script.mount(&server, "GET", RUN_PATH).await;

    let run = client_without_timers(&server, 0)
        .wait_for_run("run_1")
        .send()
        .await
        .unwrap();

    assert_eq!(run.state, RunState::Blocked);
    assert_eq!(script.arrivals().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn watch_run_yields_each_state_change_then_ends() {
    let server = MockServer::start().await;
    let script = Script::states(&[
        "QUEUED",
        "QUEUED",
        "CLAIMED",
        "INPROGRESS",
        "INPROGRESS",
        "CANCELLED",
        "QUEUED",
    ]);
    script.mount(&server, "GET", RUN_PATH).await;
    let client = client_without_timers(&server, 0);

    let changes = client
        .watch_run("run_1")
        .min_delay(MIN)
        .max_delay(MAX)
        .stream();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        script.arrivals().is_empty(),
        "nothing is sent before polling"
    );
    let states: Vec<_> = changes.map_ok(|run| run.state).try_collect().await.unwrap();

    assert_eq!(
        states,
        [
            RunState::Queued,
            RunState::Claimed,
            RunState::Inprogress,
            RunState::Cancelled
        ]
    );
    assert_eq!(
        script.arrivals().len(),
        6,
        "no poll after the terminal state"
    );
    assert_delays_follow_the_policy(&script.arrivals());
}

#[tokio::test(start_paused = true)]
async fn watch_run_ends_with_the_timeout_error() {
    let server = MockServer::start().await;
    Script::states(&["QUEUED", "INPROGRESS"])
        .mount(&server, "GET", RUN_PATH)
        .await;
    let client = client_without_timers(&server, 0);

    let changes = client
        .watch_run("run_1")
        .max_wait(Duration::from_secs(60))
        .stream();
    let results: Vec<_> = futures::StreamExt::collect(changes).await;

    assert_eq!(results.len(), 3, "{results:?}");
    assert_eq!(results[1].as_ref().unwrap().state, RunState::Inprogress);
    assert!(matches!(results[2], Err(WaitError::ExceededMaxWait { .. })));
}

fn conflict() -> ResponseTemplate {
    ResponseTemplate::new(409)
        .insert_header("content-type", "application/problem+json")
        .set_body_json(json!({
            "type": "/reference/api-and-sdk/troubleshooting/errors/conflict/",
            "title": "Pending agent runs cannot be cancelled, retry after a moment.",
            "status": 409,
            "error": "Pending agent runs cannot be cancelled, retry after a moment.",
            "retryable": true
        }))
}

/// The cancellation is one `cancel_run` call: the 409s of a run still being prepared are
/// repeated by the client's request hook, at the delays the server asks for.
#[tokio::test(start_paused = true)]
async fn cancel_on_timeout_cancels_the_run_once_the_client_retried_the_conflicts() {
    let server = MockServer::start().await;
    let polls = Script::states(&["PENDING"]);
    polls.mount(&server, "GET", RUN_PATH).await;
    let cancels = Script::new(vec![
        conflict().insert_header("retry-after", "1"),
        conflict().insert_header("retry-after", "5"),
        ResponseTemplate::new(200).set_body_json("run_1"),
    ]);
    cancels.mount(&server, "POST", CANCEL_PATH).await;
    let max_wait = Duration::from_secs(20);

    let started = Instant::now();
    let err = client_without_timers(&server, 2)
        .wait_for_run("run_1")
        .max_wait(max_wait)
        .cancel_on_timeout(true)
        .send()
        .await
        .unwrap_err();

    let WaitError::ExceededMaxWait {
        cancel, last_run, ..
    } = &err
    else {
        panic!("expected a timeout, got {err}");
    };
    assert!(matches!(cancel, CancelOutcome::Cancelled), "{cancel:?}");
    assert_eq!(last_run.as_ref().unwrap().state, RunState::Pending);
    let attempts = cancels.arrivals();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0] - started, max_wait, "cancelled at the deadline");
    assert_eq!(
        cancels.gaps(),
        [Duration::from_secs(1), Duration::from_secs(5)]
    );
    assert!(
        err.to_string().ends_with("; cancellation requested"),
        "{err}"
    );
}

/// A cancellation that keeps answering 409 costs exactly the client's attempts, `1 +
/// max_retries` requests: no second retry loop multiplies them.
#[tokio::test(start_paused = true)]
async fn a_cancel_that_keeps_conflicting_is_sent_once_plus_the_clients_retries() {
    for max_retries in [0, 1, 3] {
        let server = MockServer::start().await;
        Script::states(&["PENDING"])
            .mount(&server, "GET", RUN_PATH)
            .await;
        let cancels = Script::new(vec![conflict()]);
        cancels.mount(&server, "POST", CANCEL_PATH).await;

        let err = client_without_timers(&server, max_retries)
            .wait_for_run("run_1")
            .max_wait(Duration::from_secs(10))
            .cancel_on_timeout(true)
            .send()
            .await
            .unwrap_err();

        let WaitError::ExceededMaxWait {
            cancel: CancelOutcome::Failed(cause),
            ..
        } = &err
        else {
            panic!("expected a failed cancellation, got {err}");
        };
        assert_eq!(cause.status().map(|s| s.as_u16()), Some(409));
        let requests = server.received_requests().await.unwrap();
        let cancel_requests = requests
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == CANCEL_PATH)
            .count();
        assert_eq!(
            cancel_requests,
            1 + max_retries as usize,
            "max_retries {max_retries}"
        );
        assert_eq!(cancels.arrivals().len(), cancel_requests);
        assert!(
            err.to_string()
                .contains("; cancelling it failed: 409 Conflict"),
            "{err}"
        );
        let source = std::error::Error::source(&err).expect("the cancellation's error");
        assert!(source.to_string().starts_with("409 Conflict"), "{source}");
    }
}

#[tokio::test(start_paused = true)]
async fn run_and_wait_starts_the_run_and_returns_it_terminal() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "run_id": "run_1",
            "task_id": "run_1",
            "state": "QUEUED"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let polls = Script::states(&["QUEUED", "INPROGRESS", "SUCCEEDED"]);
    polls.mount(&server, "GET", RUN_PATH).await;

    let run = client_without_timers(&server, 0)
        .run_and_wait(RunAgentRequest::builder().prompt("Fix the flaky test in ci.yml"))
        .min_delay(Duration::from_secs(3))
        .send()
        .await
        .unwrap();

    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(polls.arrivals().len(), 3);
    assert_eq!(polls.gaps()[0], Duration::from_secs(3));
    let create = &server.received_requests().await.unwrap()[0];
    let body: Value = serde_json::from_slice(&create.body).unwrap();
    assert_eq!(body["prompt"], "Fix the flaky test in ci.yml");
}

#[tokio::test(start_paused = true)]
async fn run_and_wait_sends_its_options_with_every_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "run_id": "run_1",
            "task_id": "run_1",
            "state": "QUEUED"
        })))
        .mount(&server)
        .await;
    // The first poll fails once: with the client's 3 retries it would be repeated.
    let polls = Script::new(vec![
        ResponseTemplate::new(503),
        ResponseTemplate::new(200).set_body_json(run_json("SUCCEEDED")),
    ]);
    polls.mount(&server, "GET", RUN_PATH).await;

    let err = client_without_timers(&server, 3)
        .run_and_wait(RunAgentRequest::builder().prompt("Fix it".to_owned()))
        .with_options(
            RequestOptions::new()
                .max_retries(0)
                .header("x-request-source", "nightly"),
        )
        .send()
        .await
        .unwrap_err();

    assert_eq!(
        err.api_error().and_then(|e| e.status()).map(|s| s.as_u16()),
        Some(503)
    );
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 2, "{received:?}");
    for request in &received {
        assert_eq!(request.header("x-request-source"), Some("nightly"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_poll_ends_the_wait_with_the_request_error() {
    let server = MockServer::start().await;
    let polls = Script::new(vec![
        ResponseTemplate::new(200).set_body_json(run_json("INPROGRESS")),
        ResponseTemplate::new(404).set_body_json(json!({
            "type": "/reference/api-and-sdk/troubleshooting/errors/resource-not-found/",
            "title": "Run not found",
            "status": 404,
        })),
    ]);
    polls.mount(&server, "GET", RUN_PATH).await;

    let err = client_without_timers(&server, 0)
        .wait_for_run("run_1")
        .send()
        .await
        .unwrap_err();

    let WaitError::Api {
        operation,
        run_id,
        source,
    } = &err
    else {
        panic!("expected a request error, got {err}");
    };
    assert_eq!(*operation, "get_run");
    assert_eq!(run_id.as_deref(), Some("run_1"));
    assert!(source.is_not_found());
    assert_eq!(
        err.to_string(),
        "get_run of run run_1 failed: 404 Not Found resource_not_found: Run not found"
    );
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "404 Not Found resource_not_found: Run not found"
    );
    assert_eq!(polls.arrivals().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn run_and_wait_reports_a_failed_start() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "type": "https://docs.warp.dev/reference/api-and-sdk/troubleshooting/errors/insufficient-credits",
            "title": "Not enough credits",
            "status": 403,
        })))
        .mount(&server)
        .await;

    let err = client_without_timers(&server, 0)
        .run_and_wait(RunAgentRequest::builder().prompt("Fix it"))
        .send()
        .await
        .unwrap_err();

    let source = err.api_error().expect("a request error");
    assert_eq!(source.status().map(|s| s.as_u16()), Some(403));
    assert!(matches!(
        err,
        WaitError::Api {
            operation: "create_run",
            run_id: None,
            ..
        }
    ));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

const FOLLOWUP_PATH: &str = "/api/v1/agent/runs/run_1/followups";
const TIMELINE_PATH: &str = "/api/v1/agent/runs/run_1/timeline";
/// When the server accepted the follow-up (its `Date`), and instants around it.
const ACCEPTED: &str = "Fri, 14 Mar 2025 10:00:00 GMT";
const BEFORE: &str = "2025-03-14T09:31:07Z";
const SAME_SECOND: &str = "2025-03-14T10:00:00.600Z";
const LATER: &str = "2025-03-14T10:02:00Z";

/// `run_id` in `state`, last updated at `updated_at`.
fn run_at(run_id: &str, state: &str, updated_at: &str) -> ResponseTemplate {
    let mut run = run_json(state);
    run["run_id"] = json!(run_id);
    run["updated_at"] = json!(updated_at);
    ResponseTemplate::new(200).set_body_json(run)
}

/// The answer to a follow-up, sent at [`ACCEPTED`].
async fn accept_followup(server: &MockServer, body: Value) {
    Mock::given(method("POST"))
        .and(path(FOLLOWUP_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Date", ACCEPTED)
                .set_body_json(body),
        )
        .expect(1)
        .mount(server)
        .await;
}

fn followup(message: &str) -> oz_api_ext::oz_api::types::builder::RunFollowupRequest {
    RunFollowupRequest::builder().message(message.to_owned())
}

/// Method and path of every request, in order.
async fn requests(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn followup_and_wait_skips_the_terminal_state_from_before_the_followup() {
    let server = MockServer::start().await;
    // Read before the follow-up, then polled: still the old state twice, then the new execution.
    let runs = Script::new(vec![
        run_at("run_1", "SUCCEEDED", BEFORE),
        run_at("run_1", "SUCCEEDED", BEFORE),
        run_at("run_1", "SUCCEEDED", BEFORE),
        run_at("run_1", "INPROGRESS", "2025-03-14T10:00:30Z"),
        run_at("run_1", "SUCCEEDED", LATER),
    ]);
    runs.mount(&server, "GET", RUN_PATH).await;
    accept_followup(
        &server,
        json!({"run_id": "run_1", "followup_id": "fu-1", "outcome": "handoff_execution"}),
    )
    .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();

    let run = client_without_timers(&server, 0)
        .followup_and_wait("run_1", followup("Also update the changelog"))
        .min_delay(MIN)
        .max_delay(MAX)
        .on_state_change(move |run| recorder.lock().unwrap().push(run.state.clone()))
        .send()
        .await
        .expect("the run settles again");

    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(run.updated_at.to_rfc3339(), "2025-03-14T10:02:00+00:00");
    assert_eq!(runs.arrivals().len(), 5);
    assert_delays_follow_the_policy(&runs.arrivals()[1..]);
    assert_eq!(
        requests(&server).await[..4],
        [
            format!("GET {RUN_PATH}"),
            format!("GET {TIMELINE_PATH}"),
            format!("POST {FOLLOWUP_PATH}"),
            format!("GET {RUN_PATH}")
        ]
    );
    let post = &server.received_requests().await.unwrap()[2];
    let body: Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(body, json!({"message": "Also update the changelog"}));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            RunState::Succeeded,
            RunState::Inprogress,
            RunState::Succeeded
        ],
        "each state seen after the follow-up is reported once"
    );
}

/// The timeline of run_1 with these events, each `(event_type, execution_id)`.
fn timeline(events: &[(&str, i64)]) -> ResponseTemplate {
    let events: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, (kind, execution))| {
            json!({
                "event_uuid": format!("ev-{i}"),
                "run_id": "run_1",
                "execution_id": execution,
                "event_type": kind,
                "occurred_at": BEFORE,
            })
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({ "events": events }))
}

/// A new execution can start and end between two polls and within the same instant as
/// everything before it (a simulator on a paused clock, whole-second timestamps): the run is
/// never seen working and its record looks exactly as before. Its timeline shows the new
/// execution ending.
#[tokio::test(start_paused = true)]
async fn followup_and_wait_recognises_a_new_execution_by_the_timeline() {
    let server = MockServer::start().await;
    let runs = Script::new(vec![run_at("run_1", "SUCCEEDED", BEFORE)]);
    runs.mount(&server, "GET", RUN_PATH).await;
    let timelines = Script::new(vec![
        timeline(&[("oz_run_created", 1), ("oz_run_done", 1)]),
        timeline(&[
            ("oz_run_created", 1),
            ("oz_run_done", 1),
            ("oz_run_created", 2),
        ]),
        timeline(&[
            ("oz_run_created", 1),
            ("oz_run_done", 1),
            ("oz_run_created", 2),
            ("oz_run_done", 2),
        ]),
    ]);
    timelines.mount(&server, "GET", TIMELINE_PATH).await;
    accept_followup(
        &server,
        json!({"run_id": "run_1", "outcome": "handoff_execution"}),
    )
    .await;

    let run = client_without_timers(&server, 0)
        .followup_and_wait("run_1", followup("Run the tests again"))
        .max_wait(Duration::from_secs(600))
        .send()
        .await
        .expect("the run settles again");

    assert_eq!(run.state, RunState::Succeeded);
    // Read before, then two polls: the second sees execution 2 ended.
    assert_eq!(runs.arrivals().len(), 3);
    assert_eq!(timelines.arrivals().len(), 3);
}

/// Without a timeline (a server that has none), a record written after the one read before
/// tells the new execution, however close in time.
#[tokio::test(start_paused = true)]
async fn without_a_timeline_a_newer_record_tells_the_new_execution() {
    let server = MockServer::start().await;
    let runs = Script::new(vec![
        run_at("run_1", "SUCCEEDED", BEFORE),
        run_at("run_1", "SUCCEEDED", BEFORE),
        run_at("run_1", "SUCCEEDED", "2025-03-14T09:31:07.000001Z"),
    ]);
    runs.mount(&server, "GET", RUN_PATH).await;
    accept_followup(
        &server,
        json!({"run_id": "run_1", "outcome": "handoff_execution"}),
    )
    .await;

    let run = client_without_timers(&server, 0)
        .followup_and_wait("run_1", followup("Run the tests again"))
        .send()
        .await
        .expect("the run settles again");

    assert_eq!(
        run.updated_at.to_rfc3339(),
        "2025-03-14T09:31:07.000001+00:00"
    );
    assert_eq!(runs.arrivals().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn followup_and_wait_accepts_a_different_terminal_state_at_once() {
    let server = MockServer::start().await;
    let runs = Script::new(vec![
        run_at("run_1", "SUCCEEDED", BEFORE),
        run_at("run_1", "FAILED", SAME_SECOND),
    ]);
    runs.mount(&server, "GET", RUN_PATH).await;
    accept_followup(
        &server,
        json!({"run_id": "run_1", "outcome": "handoff_execution"}),
    )
    .await;

    let run = client_without_timers(&server, 0)
        .followup_and_wait("run_1", followup("Try the other fix"))
        .send()
        .await
        .expect("the run left its old state");

    assert_eq!(run.state, RunState::Failed);
    assert_eq!(runs.arrivals().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_followup_to_a_live_run_waits_only_for_its_next_terminal_state() {
    let server = MockServer::start().await;
    // The run was working when the follow-up reached its session; its end counts whatever the
    // clocks say.
    let runs = Script::new(vec![
        run_at("run_1", "INPROGRESS", BEFORE),
        run_at("run_1", "INPROGRESS", BEFORE),
        run_at("run_1", "SUCCEEDED", BEFORE),
    ]);
    runs.mount(&server, "GET", RUN_PATH).await;
    accept_followup(
        &server,
        json!({"run_id": "run_1", "outcome": "live_session"}),
    )
    .await;

    let run = client_without_timers(&server, 0)
        .followup_and_wait("run_1", followup("Use the staging database"))
        .send()
        .await
        .expect("the run ends");

    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(runs.arrivals().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn followup_and_wait_follows_the_run_named_in_the_answer() {
    let server = MockServer::start().await;
    let before = Script::new(vec![run_at("run_1", "SUCCEEDED", BEFORE)]);
    before.mount(&server, "GET", RUN_PATH).await;
    let other = Script::new(vec![
        run_at("run_2", "QUEUED", SAME_SECOND),
        run_at("run_2", "SUCCEEDED", LATER),
    ]);
    other
        .mount(&server, "GET", "/api/v1/agent/runs/run_2")
        .await;
    accept_followup(
        &server,
        json!({"run_id": "run_2", "outcome": "handoff_execution"}),
    )
    .await;

    let run = client_without_timers(&server, 0)
        .followup_and_wait("run_1", followup("Continue"))
        .send()
        .await
        .expect("run_2 settles");

    assert_eq!(run.run_id, "run_2");
    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(before.arrivals().len(), 1, "run_1 is read once, before");
    assert_eq!(other.arrivals().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_run_that_never_shows_the_followup_times_out_instead_of_returning_its_old_state() {
    let server = MockServer::start().await;
    let runs = Script::new(vec![run_at("run_1", "SUCCEEDED", BEFORE)]);
    runs.mount(&server, "GET", RUN_PATH).await;
    accept_followup(
        &server,
        json!({"run_id": "run_1", "outcome": "handoff_execution"}),
    )
    .await;

    let err = client_without_timers(&server, 0)
        .followup_and_wait("run_1", followup("Anything"))
        .max_wait(Duration::from_secs(60))
        .send()
        .await
        .unwrap_err();

    let WaitError::ExceededMaxWait {
        polls, last_run, ..
    } = &err
    else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(last_run.as_ref().unwrap().state, RunState::Succeeded);
    assert_eq!(*polls as usize + 1, runs.arrivals().len());
    assert!(
        err.to_string()
            .starts_with("run run_1 still SUCCEEDED after "),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_followup_ends_with_the_request_error() {
    let server = MockServer::start().await;
    let runs = Script::new(vec![run_at("run_1", "SUCCEEDED", BEFORE)]);
    runs.mount(&server, "GET", RUN_PATH).await;
    Mock::given(method("POST"))
        .and(path(FOLLOWUP_PATH))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "type": "https://docs.warp.dev/errors/unknown_attachment",
            "title": "Unknown attachment",
            "status": 422,
        })))
        .expect(1)
        .mount(&server)
        .await;

    let err = client_without_timers(&server, 0)
        .followup_and_wait("run_1", followup("With a file"))
        .send()
        .await
        .unwrap_err();

    assert!(
        matches!(
            &err,
            WaitError::Api { operation: "submit_run_followup", run_id: Some(id), .. } if id == "run_1"
        ),
        "{err:?}"
    );
    assert_eq!(
        err.api_error().and_then(|e| e.status()).map(|s| s.as_u16()),
        Some(422)
    );
    assert_eq!(
        runs.arrivals().len(),
        1,
        "no poll after a refused follow-up"
    );
}

/// Waiting can happen in a spawned task.
#[test]
fn waiters_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let client = Config::new("wk-test-key").build().unwrap();
    let counter = Arc::new(Mutex::new(0));
    assert_send(
        &client
            .wait_for_run("run_1")
            .on_state_change(move |_| *counter.lock().unwrap() += 1)
            .send(),
    );
    assert_send(
        &client
            .run_and_wait(RunAgentRequest::builder().prompt("p"))
            .send(),
    );
    assert_send(&client.watch_run("run_1").stream());
    assert_send(
        &client
            .followup_and_wait("run_1", RunFollowupRequest::builder())
            .send(),
    );
}

/// `max_wait` bounds the whole wait: a poll that the server answers slowly, or that the
/// client's request hook retries, is abandoned at the deadline.
#[tokio::test(start_paused = true)]
async fn the_wait_ends_at_its_deadline_even_with_a_poll_in_flight() {
    let server = MockServer::start().await;
    let slow = Script::new(vec![
        ResponseTemplate::new(200)
            .set_body_json(run_json("INPROGRESS"))
            .set_delay(Duration::from_secs(30)),
    ]);
    slow.mount(&server, "GET", RUN_PATH).await;
    let max_wait = Duration::from_secs(2);

    let started = Instant::now();
    let err = client_without_timers(&server, 3)
        .wait_for_run("run_1")
        .max_wait(max_wait)
        .send()
        .await
        .unwrap_err();

    assert_eq!(Instant::now() - started, max_wait, "{err}");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.run_id(), Some("run_1"));
    assert!(err.last_run().is_none(), "no poll was answered");
    assert_eq!(
        err.to_string(),
        "run run_1 not read after 2.0 s (1 polls): max wait of 2.0 s exceeded"
    );
    assert_eq!(slow.arrivals().len(), 1);

    // A server that answers each attempt with a slow 503: the client's retries do not carry
    // the wait past its deadline either; the poll sent at the deadline has one more second.
    let server = MockServer::start().await;
    let failing = Script::new(vec![
        ResponseTemplate::new(200).set_body_json(run_json("INPROGRESS")),
        ResponseTemplate::new(503)
            .set_body_json(json!({"title": "Service Unavailable", "status": 503}))
            .set_delay(Duration::from_millis(1500)),
    ]);
    failing.mount(&server, "GET", RUN_PATH).await;
    let started = Instant::now();
    let err = client_without_timers(&server, 5)
        .wait_for_run("run_1")
        .max_wait(Duration::from_secs(5))
        .send()
        .await
        .unwrap_err();
    let waited = Instant::now() - started;
    assert!(err.is_timeout(), "{err:?}");
    assert!(waited <= Duration::from_secs(6), "waited {waited:?}: {err}");
    assert_eq!(err.last_run().unwrap().state, RunState::Inprogress);
}

/// What `?` in `main` prints: one line with the facts, not a whole run.
#[tokio::test(start_paused = true)]
async fn a_timeout_debugs_as_one_short_line() {
    let server = MockServer::start().await;
    let mut run = run_json("INPROGRESS");
    run["prompt"] = json!("x".repeat(5_000));
    Script::new(vec![ResponseTemplate::new(200).set_body_json(run)])
        .mount(&server, "GET", RUN_PATH)
        .await;
    let err = client_without_timers(&server, 0)
        .wait_for_run("run_1")
        .max_wait(Duration::from_secs(10))
        .send()
        .await
        .unwrap_err();
    let debug = format!("{err:?}");
    assert!(!debug.contains('\n'), "{debug}");
    assert!(debug.len() < 200, "{} bytes: {debug}", debug.len());
    assert!(debug.starts_with("ExceededMaxWait {"), "{debug}");
    for fact in ["run_1", "INPROGRESS", "polls", "elapsed"] {
        assert!(debug.contains(fact), "{fact} missing from {debug}");
    }
    assert_eq!(err.last_run().unwrap().prompt.len(), 5_000);
}

/// A `max_wait` of zero still reads the run once: its one poll is the poll at the deadline.
#[tokio::test(start_paused = true)]
async fn a_zero_max_wait_reads_the_run_once() {
    let server = MockServer::start().await;
    let polls = Script::states(&["QUEUED"]);
    polls.mount(&server, "GET", RUN_PATH).await;
    let err = client_without_timers(&server, 0)
        .wait_for_run("run_1")
        .max_wait(Duration::ZERO)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.last_run().unwrap().state, RunState::Queued, "{err:?}");
    assert_eq!(polls.arrivals().len(), 1);
}

/// Records every pause it is asked for and returns at once.
#[derive(Clone, Default)]
struct RecordedPauses(Arc<Mutex<Vec<Duration>>>);

impl oz_api_ext::oz_api::time::AsyncSleep for RecordedPauses {
    fn sleep(&self, duration: Duration) -> oz_api_ext::oz_api::time::Sleep {
        self.0.lock().unwrap().push(duration);
        oz_api_ext::oz_api::time::Sleep::new(std::future::ready(()))
    }
}

#[tokio::test(start_paused = true)]
async fn the_pauses_between_polls_go_through_the_clients_sleep() {
    let server = MockServer::start().await;
    let script = Script::states(&["QUEUED", "INPROGRESS", "SUCCEEDED"]);
    script.mount(&server, "GET", RUN_PATH).await;
    let pauses = RecordedPauses::default();
    let config = support::config(&server)
        .max_retries(0)
        .sleep_impl(pauses.clone());
    let client = support::without_timers(config);

    let run = client
        .wait_for_run("run_1")
        .min_delay(MIN)
        .max_delay(MAX)
        .send()
        .await
        .unwrap();

    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(script.arrivals().len(), 3);
    // Two pauses, each the policy's shortest (the wait is young), asked of the client's sleep.
    assert_eq!(*pauses.0.lock().unwrap(), [MIN, MIN]);
}
