//! Helpers shared by the simulator's integration tests.
#![allow(dead_code)]

use oz_mock::OzMock;
use reqwest::{Method, RequestBuilder, StatusCode, header::HeaderMap};
use serde_json::Value;

/// A client that never follows redirects and keeps no idle connections (no pool timers, so
/// tests with paused time do not jump ahead while waiting for the simulator).
pub fn http() -> reqwest::Client {
    oz_api::http_client_builder()
        .expect("the SDK's TLS setup")
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// One answer, with its JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Answer {
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    /// A header's value, when it is text.
    pub fn header(&self, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> &str {
        self.headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("Location header")
    }
}

pub async fn send(request: RequestBuilder) -> Answer {
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let raw = response.bytes().await.expect("body").to_vec();
    let body = if raw.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&raw).unwrap_or(Value::Null)
    };
    Answer {
        status,
        headers,
        body,
        raw,
    }
}

/// An authenticated request to `path` (relative to the base URL, e.g. `/agent/runs`).
pub fn api(client: &reqwest::Client, mock: &OzMock, method: Method, path: &str) -> RequestBuilder {
    client
        .request(method, format!("{}{path}", mock.base_url()))
        .bearer_auth(mock.api_key())
}

/// An authenticated GET of `path`.
pub async fn get(client: &reqwest::Client, mock: &OzMock, path: &str) -> Answer {
    send(api(client, mock, Method::GET, path)).await
}

/// An authenticated POST of `body` to `path`.
pub async fn post(client: &reqwest::Client, mock: &OzMock, path: &str, body: Value) -> Answer {
    send(api(client, mock, Method::POST, path).json(&body)).await
}

/// An authenticated PATCH of `body` to `path`.
pub async fn patch(client: &reqwest::Client, mock: &OzMock, path: &str, body: Value) -> Answer {
    send(api(client, mock, Method::PATCH, path).json(&body)).await
}

pub async fn create_run(client: &reqwest::Client, mock: &OzMock, prompt: &str) -> String {
    let answer = send(
        api(client, mock, Method::POST, "/agent/runs").json(&serde_json::json!({"prompt": prompt})),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body["run_id"].as_str().expect("run_id").to_owned()
}

pub async fn get_run(client: &reqwest::Client, mock: &OzMock, run_id: &str) -> Value {
    let answer = send(api(
        client,
        mock,
        Method::GET,
        &format!("/agent/runs/{run_id}"),
    ))
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body
}

/// The `artifact_type` of each artifact of a run, in order.
pub fn artifact_types(run: &Value) -> Vec<&str> {
    run["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter_map(|a| a["artifact_type"].as_str())
        .collect()
}

/// The project's openapi.json.
pub fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read openapi.json"))
        .expect("parse openapi.json")
}
