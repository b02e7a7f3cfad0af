//! Helpers shared by the integration tests: a client pointed at a wiremock server (or any base
//! URL) that pauses without waiting, realistic response bodies, and a sleep that records the
//! pauses the client asked for.
#![allow(dead_code)] // every test binary uses a different subset

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oz_api::time::{AsyncSleep, Sleep};
use oz_api::{Client, Config};
use serde_json::{Value, json};
use wiremock::{MockServer, Request};

/// A key that looks like a real one; no test output may ever contain it.
pub const API_KEY: &str = "wk-3c5e9a71-SECRET-d04b-4f6e-8a2d-91b7c0e5f318";

/// A base URL where nothing answers: port 1 of loopback. The system never hands that port to
/// a listener asking for a free one, so no server of this or another test can be there (a port
/// freed by dropping a listener can be given to the next test that binds one).
pub const CLOSED_PORT_BASE_URL: &str = "http://127.0.0.1:1/api/v1";

/// The base URL of the API on `server`, with the version path like production.
pub fn base_url(server: &MockServer) -> String {
    format!("{}/api/v1", server.uri())
}

/// A configuration aimed at `base_url` with [`API_KEY`], whose pauses between retries do not
/// wait (see [`Pauses`]).
pub fn config_for(base_url: &str) -> Config {
    Config::new(API_KEY)
        .base_url(base_url)
        .sleep_impl(Pauses::default())
}

/// A configuration aimed at `server` with [`API_KEY`], whose pauses do not wait.
pub fn config(server: &MockServer) -> Config {
    config_for(&base_url(server))
}

/// A client of `server` with the default retries, whose pauses do not wait.
pub fn client(server: &MockServer) -> Client {
    config(server).build().expect("valid configuration")
}

/// A client of `server` that reports the first answer as it is (no retries).
pub fn client_without_retries(server: &MockServer) -> Client {
    config(server)
        .max_retries(0)
        .build()
        .expect("valid configuration")
}

/// `get_run("run_1")` through the SDK: the call most tests make.
pub async fn get_run_1(
    client: &Client,
) -> Result<oz_api::ResponseValue<oz_api::types::RunItem>, oz_api::Error> {
    client.get_run().run_id("run_1").send().await
}

/// Every request the server received, in order.
pub async fn received(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("request recording is enabled")
}

/// A minimal run satisfying the RunItem schema (all required fields).
pub fn run_json(run_id: &str, state: &str) -> Value {
    json!({
        "run_id": run_id,
        "task_id": run_id,
        "title": "Fix the flaky integration test",
        "state": state,
        "prompt": "Fix the flaky test in ci.yml",
        "created_at": "2025-03-14T09:26:53Z",
        "updated_at": "2025-03-14T09:31:07.250Z"
    })
}

/// An RFC 7807 body satisfying the Error schema.
pub fn error_json(status: u16, code: &str, title: &str) -> Value {
    json!({
        "type": format!("https://docs.warp.dev/reference/api/errors/{code}"),
        "title": title,
        "status": status,
        "detail": format!("{title} (test)"),
        "error": format!("{title}: {title} (test)"),
        "retryable": matches!(status, 408 | 409 | 429) || status >= 500,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"
    })
}

/// The client's sleep in these tests: records every pause asked for and returns at once, so a
/// test checks the delays without waiting for them (Tokio's paused clock cannot be used next
/// to real sockets: it would fire the requests' own timeouts whenever the runtime is idle).
/// Clones share the record.
#[derive(Clone, Default)]
pub struct Pauses(Arc<Mutex<Vec<Duration>>>);

impl Pauses {
    /// The pauses asked for so far, in order.
    pub fn taken(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

impl AsyncSleep for Pauses {
    fn sleep(&self, duration: Duration) -> Sleep {
        self.0.lock().unwrap().push(duration);
        Sleep::new(std::future::ready(()))
    }
}

/// The problem body of a documented error answer, as JSON (so tests do not depend on which of
/// its members the generated type makes optional).
pub fn problem(err: oz_api::Error) -> Value {
    match err {
        oz_api::Error::Problem(response) => {
            serde_json::to_value(response.into_inner()).expect("problem bodies serialise")
        }
        other => panic!("expected a documented error answer, got {other}"),
    }
}
