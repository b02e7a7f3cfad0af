//! The client emits one tracing event per attempt, and none of them carries the API key or the
//! query string; reading the configuration warns about a variable it ignores, without its
//! value. (Real time, not paused time: see the note at the top of retries.rs.)

mod common;

use std::io;
use std::sync::{Arc, Mutex};

use common::{API_KEY, client, run_json};
use oz_api::types::RunAgentRequest;
use serde_json::json;
use tracing::subscriber::DefaultGuard;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Everything written by a TRACE-level fmt subscriber installed for the current thread (the
/// `#[tokio::test]` runtime runs the client on the test's own thread).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture() -> (Self, DefaultGuard) {
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// The lines of the client's own warnings.
    fn warnings(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| line.contains(" WARN ") && line.contains(" oz_api: "))
            .map(str::to_owned)
            .collect()
    }

    /// The lines of the client's own events for `operation`.
    fn attempts(&self, operation: &str) -> Vec<String> {
        let needle = format!("operation=\"{operation}\"");
        self.text()
            .lines()
            .filter(|line| line.contains(" oz_api: ") && line.contains(&needle))
            .map(str::to_owned)
            .collect()
    }
}

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn one_event_per_attempt_and_never_the_api_key() {
    let (logs, _guard) = Logs::capture();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_7f3a"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("retry-after-ms", "1")
                .insert_header("x-request-id", "req_5c1d"),
        )
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_7f3a"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("run_7f3a", "SUCCEEDED")))
        .expect(1)
        .mount(&server)
        .await;

    client(&server)
        .get_run()
        .run_id("run_7f3a")
        .send()
        .await
        .expect("third attempt succeeds");

    let attempts = logs.attempts("get_run");
    assert_eq!(attempts.len(), 3, "{attempts:#?}");
    for (n, line) in attempts.iter().enumerate() {
        assert!(line.contains(&format!("attempt={}", n + 1)), "{line}");
        assert!(line.contains("/api/v1/agent/runs/run_7f3a"), "{line}");
    }
    for line in &attempts[..2] {
        assert!(line.contains("WARN") && line.contains("retrying"), "{line}");
        assert!(
            line.contains("status=503") && line.contains("req_5c1d"),
            "{line}"
        );
    }
    assert!(attempts[2].contains("DEBUG"), "{}", attempts[2]);
    assert!(attempts[2].contains("status=200"), "{}", attempts[2]);
    let all = logs.text();
    assert!(!all.contains(API_KEY), "the API key was logged:\n{all}");
    assert!(
        !all.contains("SECRET"),
        "part of the API key was logged:\n{all}"
    );
}

#[tokio::test]
async fn attempt_events_leave_out_the_query_string() {
    let (logs, _guard) = Logs::capture();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "runs": [],
            "page_info": {"has_next_page": false}
        })))
        .expect(1)
        .mount(&server)
        .await;

    client(&server)
        .list_runs()
        .q("customer acme-corp invoice 4711")
        .send()
        .await
        .unwrap();

    let attempts = logs.attempts("list_runs");
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    assert!(
        attempts[0].contains("/api/v1/agent/runs"),
        "{}",
        attempts[0]
    );
    assert!(!attempts[0].contains("acme"), "{}", attempts[0]);
}

#[tokio::test]
async fn refused_connections_are_retried_even_for_create_run() {
    // Nothing listens there: the server never sees the request, so even a create may be
    // repeated.
    let (logs, _guard) = Logs::capture();
    let client = common::config_for(common::CLOSED_PORT_BASE_URL)
        .max_retries(1)
        .build()
        .unwrap();

    let err = client
        .create_run()
        .body(RunAgentRequest::builder().prompt("Fix the flaky test"))
        .send()
        .await
        .unwrap_err();

    assert!(
        matches!(err, oz_api::Error::Connection(ref e) if e.is_connect()),
        "{err}"
    );
    let attempts = logs.attempts("create_run");
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    assert!(
        attempts
            .iter()
            .all(|line| line.contains("error=\"connect\"")),
        "{attempts:#?}"
    );
    assert!(attempts[0].contains("retrying"), "{}", attempts[0]);
    assert!(!logs.text().contains(API_KEY));
}

/// The variables of a configuration read through [`oz_api::Config::from_lookup`].
fn lookup(vars: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars = vars.to_vec();
    move |name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn a_base_url_under_both_names_uses_the_newer_and_warns_once_naming_the_older() {
    let (logs, _guard) = Logs::capture();
    let config = oz_api::Config::from_lookup(lookup(&[
        ("WARP_API_KEY", API_KEY),
        ("WARP_BASE_URL", "http://127.0.0.1:9/newer-7c41"),
        ("OZ_API_BASE_URL", "http://127.0.0.1:9/older-e2d8"),
    ]))
    .unwrap();

    assert_eq!(config.base_url_str(), "http://127.0.0.1:9/newer-7c41");
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("ignored=\"OZ_API_BASE_URL\"")
            && warnings[0].contains("used=\"WARP_BASE_URL\""),
        "{}",
        warnings[0]
    );
    let all = logs.text();
    assert!(
        !all.contains("newer-7c41") && !all.contains("older-e2d8"),
        "a value was logged:\n{all}"
    );
    assert!(!all.contains(API_KEY), "the API key was logged:\n{all}");
}

#[test]
fn custom_headers_under_both_names_warn_once_without_any_header_value() {
    let (logs, _guard) = Logs::capture();
    let config = oz_api::Config::from_lookup(lookup(&[
        ("WARP_API_KEY", API_KEY),
        ("WARP_CUSTOM_HEADERS", "X-Proxy-Token: newer-token-5f0a"),
        ("OZ_API_CUSTOM_HEADERS", "X-Proxy-Token: older-token-91bc"),
    ]))
    .unwrap();

    let debug = format!("{config:?}");
    assert!(debug.contains("X-Proxy-Token"), "{debug}");
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("ignored=\"OZ_API_CUSTOM_HEADERS\"")
            && warnings[0].contains("used=\"WARP_CUSTOM_HEADERS\""),
        "{}",
        warnings[0]
    );
    let all = logs.text();
    assert!(
        !all.contains("newer-token-5f0a") && !all.contains("older-token-91bc"),
        "a header value was logged:\n{all}"
    );
}

#[test]
fn one_name_per_setting_or_the_same_value_under_both_logs_no_warning() {
    let (logs, _guard) = Logs::capture();
    for vars in [
        &[
            ("WARP_BASE_URL", "http://127.0.0.1:9/api/v1"),
            ("WARP_CUSTOM_HEADERS", "X-A: 1"),
        ][..],
        &[
            ("OZ_API_BASE_URL", "http://127.0.0.1:9/api/v1"),
            ("OZ_API_CUSTOM_HEADERS", "X-A: 1"),
        ],
        &[
            ("WARP_BASE_URL", "http://127.0.0.1:9/api/v1"),
            ("OZ_API_BASE_URL", "http://127.0.0.1:9/api/v1"),
            ("WARP_CUSTOM_HEADERS", "X-A: 1"),
            ("OZ_API_CUSTOM_HEADERS", "X-A: 1"),
        ],
        // A blank newer variable counts as unset: the older one is used, nothing is ignored.
        &[
            ("WARP_BASE_URL", ""),
            ("OZ_API_BASE_URL", "http://127.0.0.1:9/api/v1"),
        ],
    ] {
        let config = oz_api::Config::from_lookup(lookup(vars)).unwrap();
        assert_eq!(
            config.base_url_str(),
            "http://127.0.0.1:9/api/v1",
            "{vars:?}"
        );
    }
    assert_eq!(logs.warnings(), Vec::<String>::new());
}
