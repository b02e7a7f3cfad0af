//! Transport safety: the API key never travels over plain HTTP to another machine unless the
//! caller opts in, time limits are always set, and a server that never answers makes a call
//! fail within its timeout instead of hanging.

mod common;

use std::time::Duration;

use oz_api::{Config, ConfigError, Error};

#[test]
fn plain_http_to_another_host_is_refused_at_build_naming_the_host() {
    for (url, host) in [
        ("http://api.example.com/api/v1", "api.example.com"),
        ("http://10.1.2.3:8080/api/v1", "10.1.2.3"),
        ("http://[2001:db8::1]/api/v1", "[2001:db8::1]"),
        ("http://0.0.0.0:8080/api/v1", "0.0.0.0"),
        (
            "http://localhost.example.com/api/v1",
            "localhost.example.com",
        ),
    ] {
        let err = Config::new("wk-transport")
            .base_url(url)
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::InsecureHttp {
                host: host.to_owned()
            },
            "{url}"
        );
        let text = err.to_string();
        assert!(
            text.contains(host) && text.contains("allow_insecure_http"),
            "{text}"
        );
    }
}

#[test]
fn plain_http_to_this_machine_and_https_anywhere_are_accepted() {
    for url in [
        "http://127.0.0.1:8080/api/v1",
        "http://127.45.6.7/api/v1",
        "http://localhost:8080/api/v1",
        "http://LOCALHOST./api/v1",
        "http://[::1]:8080/api/v1",
        "http://[::ffff:127.0.0.1]/api/v1",
        "https://app.warp.dev/api/v1",
        "https://10.1.2.3/api/v1",
    ] {
        Config::new("wk-transport")
            .base_url(url)
            .build()
            .unwrap_or_else(|err| panic!("{url}: {err}"));
    }
}

#[test]
fn allow_insecure_http_opts_in_explicitly() {
    Config::new("wk-transport")
        .base_url("http://oz-mock.internal:8080/api/v1")
        .allow_insecure_http(true)
        .build()
        .expect("opted in");
    let config = Config::new("wk-transport").allow_insecure_http(true);
    assert!(format!("{config:?}").contains("allow_insecure_http: true"));
}

#[test]
fn zero_time_limits_are_refused() {
    let err = Config::new("wk-transport")
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::InvalidTimeout { which: "timeout" });
    let err = Config::new("wk-transport")
        .connect_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::InvalidTimeout {
            which: "connect_timeout"
        }
    );
    assert!(err.to_string().contains("connect_timeout"), "{err}");
}

/// A server that accepts connections, reads the requests, and never answers. It lives on a
/// thread of its own for the rest of the test process.
fn hanging_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/api/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept() {
            let mut buffer = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut buffer);
            held.push(stream);
        }
    });
    base_url
}

#[tokio::test]
async fn a_server_that_never_answers_fails_the_call_within_its_timeouts() {
    let base_url = hanging_server();
    let client = common::config_for(&base_url)
        .timeout(Duration::from_millis(300))
        .max_retries(1)
        .build()
        .unwrap();

    // Two attempts of 300 ms (the pause between them does not wait), with generous slack.
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        client.get_run().run_id("run_1").send(),
    )
    .await
    .expect("the call ends on its own")
    .unwrap_err();

    assert!(matches!(&err, Error::Timeout(_)), "{err}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("timed out"), "{err}");

    // A create is never sent twice, not even after a timeout.
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        client
            .create_run()
            .body(oz_api::types::RunAgentRequest::builder().prompt("x"))
            .send(),
    )
    .await
    .expect("the call ends on its own")
    .unwrap_err();
    assert!(matches!(&err, Error::Timeout(_)), "{err}");
}

#[test]
fn default_time_limits_are_set() {
    assert_eq!(oz_api::DEFAULT_TIMEOUT, Duration::from_secs(60));
    assert_eq!(oz_api::DEFAULT_CONNECT_TIMEOUT, Duration::from_secs(10));
    let config = Config::new("wk-transport");
    let text = format!("{config:?}");
    assert!(
        text.contains("timeout: 60s") && text.contains("connect_timeout: 10s"),
        "{text}"
    );
}
