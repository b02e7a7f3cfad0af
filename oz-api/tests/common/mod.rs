//! Helpers shared by the integration tests: a client pointed at a wiremock server, realistic
//! response bodies, and a responder that records when each request arrived.
#![allow(dead_code)] // every test binary uses a different subset

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oz_api::{Client, Config};
use serde_json::{Value, json};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

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

/// A configuration aimed at `server` with [`API_KEY`].
pub fn config(server: &MockServer) -> Config {
    Config::new(API_KEY).base_url(base_url(server))
}

pub fn client(server: &MockServer) -> Client {
    config(server).build().expect("valid configuration")
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

/// Responds with `template` and records the arrival time of each request in a log shared by
/// all the responders created from it.
#[derive(Clone, Default)]
pub struct Arrivals(Arc<Mutex<Vec<Instant>>>);

impl Arrivals {
    pub fn respond(&self, template: ResponseTemplate) -> Stamped {
        Stamped {
            template,
            arrivals: self.clone(),
        }
    }

    /// Time between consecutive arrivals.
    pub fn gaps(&self) -> Vec<Duration> {
        let times = self.0.lock().unwrap();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

pub struct Stamped {
    template: ResponseTemplate,
    arrivals: Arrivals,
}

impl Respond for Stamped {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.arrivals.0.lock().unwrap().push(Instant::now());
        self.template.clone()
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
