//! The client on `wasm32-unknown-unknown`, run in Node.js by `wasm-bindgen-test` against a
//! running simulator whose base URL is given when the test is built:
//!
//! ```text
//! cargo run -p oz-mock &   # serves http://127.0.0.1:8080/api/v1
//! OZ_API_WASM_BASE_URL=http://127.0.0.1:8080/api/v1 \
//! CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!   cargo test -p oz-api --no-default-features --target wasm32-unknown-unknown --test wasm
//! ```
//!
//! `.ci/run` does exactly this. Requests go through fetch, pauses through JavaScript's timer,
//! clocks through `performance.now()` and `Date.now()`: what differs from native targets.
#![cfg(target_arch = "wasm32")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oz_api::time::{AsyncSleep, SharedSleep, Sleep};
use oz_api::types::{RunAgentRequest, RunState};
use wasm_bindgen_test::wasm_bindgen_test;

const BASE_URL: Option<&str> = option_env!("OZ_API_WASM_BASE_URL");
/// The simulator's default key.
const KEY: &str = "wk-oz-mock-local";

fn config(key: &str) -> oz_api::Config {
    let base_url = BASE_URL.expect("OZ_API_WASM_BASE_URL names a running oz-mock's base URL");
    oz_api::Config::new(key).base_url(base_url)
}

#[wasm_bindgen_test]
async fn a_run_is_started_read_and_listed() {
    let client = config(KEY).build().unwrap();
    let started = client
        .create_run()
        .body(RunAgentRequest::builder().prompt("Fix the flaky test"))
        .send()
        .await
        .unwrap();
    let run = client
        .get_run()
        .run_id(&started.run_id)
        .send()
        .await
        .unwrap();
    assert_eq!(run.run_id, started.run_id);
    let listed = client.list_runs().limit(100).send().await.unwrap();
    assert!(listed.runs.iter().any(|r| r.run_id == started.run_id));
    let failed = client
        .list_runs()
        .state([RunState::Failed, RunState::Error])
        .send()
        .await
        .unwrap();
    assert!(
        failed
            .runs
            .iter()
            .all(|r| matches!(r.state, RunState::Failed | RunState::Error))
    );
}

#[wasm_bindgen_test]
async fn an_error_answer_is_a_problem_with_its_status() {
    let client = config(KEY).build().unwrap();
    let err = client
        .get_run()
        .run_id("00000000-0000-4000-8000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.problem().is_some(), "{err:?}");
}

#[wasm_bindgen_test]
async fn a_refused_key_appears_nowhere_in_the_error() {
    let key = "wk-refused-wasm-key-7f3a";
    let client = config(key).build().unwrap();
    let err = client.list_runs().send().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(key), "{shown}");
}

#[wasm_bindgen_test]
async fn an_answer_over_the_bound_is_refused() {
    config(KEY)
        .build()
        .unwrap()
        .create_run()
        .body(RunAgentRequest::builder().prompt("One run, so the list is long"))
        .send()
        .await
        .unwrap();
    let bounded = config(KEY).max_response_bytes(64).build().unwrap();
    let err = bounded.list_runs().send().await.unwrap_err();
    assert!(matches!(err, oz_api::Error::Decode(..)), "{err:?}");
    assert!(err.to_string().contains("exceeded 64 bytes"), "{err}");
}

/// Records each pause and takes it on the default timer (JavaScript's).
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<Duration>>>);

impl AsyncSleep for Recorded {
    fn sleep(&self, duration: Duration) -> Sleep {
        self.0.lock().unwrap().push(duration);
        SharedSleep::default().sleep(duration)
    }
}

/// A client of a port nothing listens on, whose pauses are recorded.
fn unreachable(pauses: &Recorded) -> oz_api::Client {
    oz_api::Config::new(KEY)
        .base_url("http://127.0.0.1:9/api/v1")
        .max_retries(2)
        .sleep_impl(pauses.clone())
        .build()
        .unwrap()
}

#[wasm_bindgen_test]
async fn a_failed_request_is_retried_after_pauses_on_javascripts_timer() {
    let pauses = Recorded::default();
    let started = web_time::Instant::now();
    let err = unreachable(&pauses).list_runs().send().await.unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, oz_api::Error::Connection(_)), "{err:?}");
    let pauses = pauses.0.lock().unwrap().clone();
    assert_eq!(pauses.len(), 2, "{pauses:?}");
    assert!(
        waited >= pauses.iter().sum::<Duration>(),
        "{waited:?} {pauses:?}"
    );
}

#[wasm_bindgen_test]
async fn no_pause_outlasts_the_calls_deadline() {
    let pauses = Recorded::default();
    let err = unreachable(&pauses)
        .list_runs()
        .with_options(oz_api::RequestOptions::new().timeout(Duration::from_millis(300)))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, oz_api::Error::Connection(_)), "{err:?}");
    // The first pause (at least 375 ms) would end after the deadline: none is taken.
    assert_eq!(pauses.0.lock().unwrap().len(), 0);
}

#[wasm_bindgen_test]
async fn the_default_sleep_waits_on_javascripts_timer() {
    let started = web_time::Instant::now();
    SharedSleep::default()
        .sleep(Duration::from_millis(50))
        .await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(45), "{waited:?}");
}
