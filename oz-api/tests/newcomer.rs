//! What a newcomer sees: every public error prints as one useful line, also through `Debug`
//! (what `?` in `main` shows); a create whose outcome is unknown says so and how to find the
//! run; a connection error names the host it tried.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{CLOSED_PORT_BASE_URL, error_json};
use oz_api::types::RunAgentRequest;
use oz_api::{Config, ConfigError, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What the raw server does once it has read a request's head.
#[derive(Clone, Copy)]
enum Act {
    /// Closes the connection without a word.
    Close,
    /// Answers 200 with a `Content-Length` of 1000 and 12 bytes of body, then closes.
    BreakOff,
    /// Never answers.
    Hang,
}

/// A server on loopback that acts as told on every connection; counts the requests.
async fn raw_server(act: Act) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicU64::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                match act {
                    Act::Close => {}
                    Act::BreakOff => {
                        let _ = stream
                            .write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                  content-length: 1000\r\n\r\n{\"run_id\": \"",
                            )
                            .await;
                    }
                    Act::Hang => while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {},
                }
            });
        }
    });
    (base, requests)
}

fn create_body() -> oz_api::types::builder::RunAgentRequest {
    RunAgentRequest::builder().prompt("Fix the flaky test in ci.yml")
}

/// One line, no struct dump, no headers.
fn assert_one_line(what: &str, text: &str) {
    assert!(!text.contains('\n'), "{what}: {text}");
    assert!(!text.contains(" { "), "{what} is a struct dump: {text}");
    assert!(
        text.len() < 500,
        "{what}: {} characters: {text}",
        text.len()
    );
}

#[tokio::test]
async fn a_create_cut_off_before_its_answer_says_the_run_may_exist_and_how_to_find_it() {
    let (base, requests) = raw_server(Act::Close).await;
    let client = common::config_for(&base).build().unwrap();

    let err = client
        .create_run()
        .body(create_body())
        .send()
        .await
        .unwrap_err();

    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "a create is never sent twice"
    );
    assert!(matches!(err, Error::Connection(_)), "{err:?}");
    assert_eq!(err.unknown_outcome(), Some("create_run"));
    let line = err.to_string();
    assert!(
        line.contains(
            "create_run got no answer: the run may have been created; list_runs with created_after"
        ),
        "{line}"
    );
    assert_one_line("Display", &line);
    assert_eq!(format!("{err:?}"), format!("Connection({line})"));
}

#[tokio::test]
async fn a_create_whose_answer_breaks_off_says_the_run_was_created() {
    let (base, requests) = raw_server(Act::BreakOff).await;
    let client = common::config_for(&base).build().unwrap();

    let err = client
        .create_run()
        .body(create_body())
        .send()
        .await
        .unwrap_err();

    assert_eq!(requests.load(Ordering::SeqCst), 1);
    assert!(matches!(err, Error::ResponseBody(_)), "{err:?}");
    assert_eq!(err.unknown_outcome(), Some("create_run"));
    let line = err.to_string();
    assert!(
        line.contains(
            "create_run answered 200 but its answer broke off: the run was created; list_runs"
        ),
        "{line}"
    );
    assert_one_line("Display", &line);
}

#[tokio::test]
async fn a_create_that_times_out_says_the_run_may_exist() {
    let (base, requests) = raw_server(Act::Hang).await;
    let client = common::config_for(&base)
        // Long enough for connecting to loopback on a loaded machine: a timeout while
        // connecting would be a connect error, which is retried and of known outcome.
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();

    let err = client
        .create_run()
        .body(create_body())
        .send()
        .await
        .unwrap_err();

    assert_eq!(requests.load(Ordering::SeqCst), 1);
    let line = err.to_string();
    assert!(line.starts_with("the request timed out"), "{line}");
    assert!(line.contains("the run may have been created"), "{line}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_read_cut_off_is_retried_and_says_nothing_about_creating() {
    let (base, requests) = raw_server(Act::Close).await;
    let client = common::config_for(&base).max_retries(1).build().unwrap();

    let err = client.get_run().run_id("run_1").send().await.unwrap_err();

    assert_eq!(
        requests.load(Ordering::SeqCst),
        2,
        "an idempotent read is retried"
    );
    assert_eq!(err.unknown_outcome(), None);
    assert!(!err.to_string().contains("may have been"), "{err}");
}

#[tokio::test]
async fn a_connection_error_names_the_host_and_port_it_tried_never_the_path() {
    let client = common::config_for(CLOSED_PORT_BASE_URL)
        .max_retries(0)
        .build()
        .unwrap();

    let err = client
        .list_runs()
        .cursor("secret-cursor")
        .send()
        .await
        .unwrap_err();

    let line = err.to_string();
    assert!(
        line.starts_with("could not connect to 127.0.0.1:1: "),
        "{line}"
    );
    assert!(!line.contains("/api") && !line.contains("cursor"), "{line}");
    assert_eq!(format!("{err:?}"), format!("Connection({line})"));
}

#[tokio::test]
async fn every_error_answer_debugs_as_its_variant_and_one_line() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("set-cookie", "session=private")
                .set_body_json(error_json(404, "resource_not_found", "Run not found")),
        )
        .mount(&server)
        .await;
    let client = common::config_for(&common::base_url(&server))
        .build()
        .unwrap();

    let err = client.get_run().run_id("run_1").send().await.unwrap_err();

    let debug = format!("{err:?}");
    assert_eq!(
        debug,
        "Problem(404 Not Found resource_not_found: Run not found (test) \
         (trace id 4bf92f3577b34da6a3ce929d0e0e4736))"
    );
    // The details stay reachable.
    assert_eq!(
        err.problem().unwrap().title.as_deref(),
        Some("Run not found")
    );
    assert!(err.response_headers().unwrap().contains_key("set-cookie"));

    let invalid = Error::InvalidRequest("run_id is required".to_owned());
    assert_eq!(
        format!("{invalid:?}"),
        "InvalidRequest(invalid request: run_id is required)"
    );
    let payload = Error::Decode(
        bytes::Bytes::from_static(b"{\"run_id\": 7}"),
        serde_json::from_str::<String>("7").unwrap_err(),
    );
    assert_one_line("Decode", &format!("{payload:?}"));
    assert!(format!("{payload:?}").starts_with("Decode(the answer (13 bytes)"));
}

#[test]
fn every_configuration_error_debugs_as_one_line_that_says_what_to_do() {
    let missing = Config::from_lookup(|_| None).unwrap().build().unwrap_err();
    let debug = format!("{missing:?}");
    assert!(debug.starts_with("MissingApiKey: "), "{debug}");
    assert!(
        debug.contains("WARP_API_KEY") && debug.contains("export WARP_API_KEY="),
        "{debug}"
    );
    // What `fn main() -> Result<(), Box<dyn Error>>` prints for it.
    let boxed: Box<dyn std::error::Error> = Box::new(missing);
    assert_eq!(format!("Error: {boxed:?}"), format!("Error: {debug}"));

    let errors = [
        ConfigError::MissingApiKey,
        ConfigError::InvalidApiKey,
        Config::new("wk").base_url("ftp://x").build().unwrap_err(),
        Config::new("wk")
            .header("Bad Name", "v")
            .build()
            .unwrap_err(),
        Config::from_lookup(|name| (name == "WARP_CUSTOM_HEADERS").then(|| "oops".to_owned()))
            .unwrap_err(),
        Config::new("wk")
            .base_url("http://example.com/api")
            .build()
            .unwrap_err(),
        Config::new("wk")
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err(),
        ConfigError::Transport("no TLS\nbackend".to_owned()),
        ConfigError::InvalidMaxResponseBytes,
    ];
    for err in errors {
        let debug = format!("{err:?}");
        assert_one_line("ConfigError Debug", &debug);
        assert!(debug.ends_with(&err.to_string()), "{debug}");
    }
}
