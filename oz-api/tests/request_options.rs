//! Per-call options (`with_options(RequestOptions)`) against a real HTTP server: extra headers,
//! the retry count of one call, and its deadline over attempts and pauses.
//!
//! The deadline is a wait of the configured sleep. Tests that need time to pass while the
//! server answers use [`VirtualClock`], a sleep on a clock that only the client's pauses move
//! (Tokio's paused clock would move to the deadline while the client waits for the socket).

mod common;

use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use common::{API_KEY, base_url, config, received, run_json};
use oz_api::time::{AsyncSleep, Sleep};
use oz_api::{Config, Error, RequestOptions};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RUN_PATH: &str = "/api/v1/agent/runs/run_1";

fn ok_run() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(run_json("run_1", "SUCCEEDED"))
}

/// A 503 that asks for a pause of `seconds`.
fn unavailable_for(seconds: u32) -> ResponseTemplate {
    ResponseTemplate::new(503)
        .insert_header("retry-after", seconds.to_string().as_str())
        .set_body_string("upstream unavailable")
}

#[tokio::test]
async fn extra_headers_are_sent_next_to_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .and(header("x-request-source", "nightly"))
        .and(header(
            "authorization",
            format!("Bearer {API_KEY}").as_str(),
        ))
        .respond_with(ok_run())
        .expect(1)
        .mount(&server)
        .await;
    let client = config(&server).build().unwrap();

    let run = client
        .get_run()
        .run_id("run_1")
        .with_options(RequestOptions::new().header("x-request-source", "nightly"))
        .send()
        .await
        .expect("the server saw the header");

    assert_eq!(run.run_id, "run_1");
}

#[tokio::test]
async fn a_header_that_cannot_be_sent_fails_the_call_before_anything_is_sent() {
    let server = MockServer::start().await;
    let client = config(&server).build().unwrap();
    let cases = [
        (
            RequestOptions::new().header("bad name", "x"),
            "not a valid header name",
        ),
        (
            RequestOptions::new().header("x-ok", "line\nbreak"),
            "x-ok is invalid",
        ),
        (
            RequestOptions::new().header("Authorization", "Bearer other"),
            "cannot set authorization",
        ),
    ];
    for (options, expected) in cases {
        let err = client
            .get_run()
            .run_id("run_1")
            .with_options(options)
            .send()
            .await
            .expect_err("rejected");
        assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    assert!(received(&server).await.is_empty());
}

#[tokio::test]
async fn max_retries_of_a_call_replaces_the_configured_one() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(unavailable_for(1))
        .mount(&server)
        .await;
    let client = config(&server).max_retries(3).build().unwrap();

    let err = client
        .get_run()
        .run_id("run_1")
        .with_options(RequestOptions::new().max_retries(0))
        .send()
        .await
        .expect_err("503");

    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_a_call_the_server_does_not_answer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(ok_run().set_delay(Duration::from_secs(3600)))
        .mount(&server)
        .await;
    // Tokio's timer (the default sleep), on the paused clock.
    let client = Config::new(API_KEY)
        .base_url(base_url(&server))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();

    let err = client
        .get_run()
        .run_id("run_1")
        .with_options(RequestOptions::new().timeout(Duration::from_secs(5)))
        .send()
        .await
        .expect_err("no answer within 5 s");

    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(
        err.to_string(),
        "the request timed out: the call's deadline of 5s (RequestOptions::timeout) passed after 1 attempt"
    );
}

#[tokio::test]
async fn the_deadline_counts_the_pauses_between_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(unavailable_for(3))
        .mount(&server)
        .await;
    let clock = VirtualClock::default();
    let client = config(&server)
        .max_retries(5)
        .sleep_impl(clock.clone())
        .build()
        .unwrap();

    let err = client
        .get_run()
        .run_id("run_1")
        .with_options(RequestOptions::new().timeout(Duration::from_secs(5)))
        .send()
        .await
        .expect_err("the second pause ends after the deadline");

    // Attempt at 0 s, pause to 3 s, attempt, pause to 6 s cut at the deadline.
    assert_eq!(clock.now(), Duration::from_secs(5));
    assert_eq!(received(&server).await.len(), 2);
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.to_string().contains("passed after 2 attempts"), "{err}");
}

#[tokio::test]
async fn a_call_that_ends_before_its_deadline_keeps_its_answer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(unavailable_for(3))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(ok_run())
        .mount(&server)
        .await;
    let clock = VirtualClock::default();
    let client = config(&server).sleep_impl(clock.clone()).build().unwrap();

    let run = client
        .get_run()
        .run_id("run_1")
        .with_options(RequestOptions::new().timeout(Duration::from_secs(10)))
        .send()
        .await
        .expect("third attempt at 6 s");

    assert_eq!(run.run_id, "run_1");
    assert_eq!(clock.now(), Duration::from_secs(6));
}

#[tokio::test]
async fn a_create_whose_deadline_passed_says_its_outcome_is_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3600)))
        .mount(&server)
        .await;
    // Returns at once: the deadline passes while the request is on its way.
    let client = config(&server).build().unwrap();

    let err = client
        .create_run()
        .body(oz_api::types::RunAgentRequest::builder().prompt("Fix it".to_owned()))
        .with_options(RequestOptions::new().timeout(Duration::from_secs(5)))
        .send()
        .await
        .expect_err("deadline");

    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.unknown_outcome().is_some(), "{err}");
}

/// A sleep on a virtual clock that only the client's pauses move: a pause moves the clock to
/// its end, or to the end of an earlier sleep still pending (the call's deadline), which it
/// then wakes. A sleep alone (the deadline while the client waits for the server) does not
/// move it.
#[derive(Clone, Default)]
struct VirtualClock(Arc<Mutex<ClockState>>);

#[derive(Default)]
struct ClockState {
    now: Duration,
    /// End and waker of every sleep still pending, by id.
    pending: Vec<(u64, Duration, Option<Waker>)>,
    next_id: u64,
}

impl VirtualClock {
    fn now(&self) -> Duration {
        self.0.lock().unwrap().now
    }
}

impl AsyncSleep for VirtualClock {
    fn sleep(&self, duration: Duration) -> Sleep {
        let state = self.0.clone();
        let (id, end) = {
            let mut clock = state.lock().unwrap();
            let id = clock.next_id;
            clock.next_id += 1;
            let end = clock.now + duration;
            clock.pending.push((id, end, None));
            (id, end)
        };
        Sleep::new(std::future::poll_fn(move |cx| {
            let mut clock = state.lock().unwrap();
            let others = clock
                .pending
                .iter()
                .filter(|(other, ..)| *other != id)
                .map(|(_, end, _)| *end)
                .min();
            if let Some(earliest) = others {
                clock.now = clock.now.max(end.min(earliest));
            }
            if clock.now >= end {
                clock.pending.retain(|(other, ..)| *other != id);
                let now = clock.now;
                for (_, end, waker) in &mut clock.pending {
                    if *end <= now
                        && let Some(waker) = waker.take()
                    {
                        waker.wake();
                    }
                }
                return std::task::Poll::Ready(());
            }
            let now = clock.now;
            for (other, other_end, waker) in &mut clock.pending {
                if *other == id {
                    *waker = Some(cx.waker().clone());
                } else if *other_end <= now
                    && let Some(waker) = waker.take()
                {
                    waker.wake();
                }
            }
            std::task::Poll::Pending
        }))
    }
}

#[tokio::test]
async fn a_calls_options_take_precedence_over_the_clients() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .and(header("x-request-source", "call"))
        .and(header("x-team", "infra"))
        .respond_with(ok_run())
        .expect(1)
        .mount(&server)
        .await;
    let client = config(&server).build().unwrap().with_options(
        RequestOptions::new()
            .header("x-request-source", "client")
            .header("x-team", "infra"),
    );

    client
        .get_run()
        .run_id("run_1")
        .with_options(RequestOptions::new().header("x-request-source", "call"))
        .send()
        .await
        .expect("the call's header replaced the client's");
}
