//! Building a client: what is refused, and what a configuration read from the environment
//! does on the wire.

mod common;

use std::collections::HashMap;

use common::{API_KEY, received, run_json};
use oz_api::{Config, ConfigError};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

#[test]
fn a_missing_key_is_reported_by_the_environment_variable_name() {
    for vars in [
        &[][..],
        &[("WARP_API_KEY", "")],
        &[("WARP_API_KEY", "  \t")],
    ] {
        let err = Config::from_lookup(lookup(vars))
            .expect("nothing malformed")
            .build()
            .unwrap_err();
        assert_eq!(err, ConfigError::MissingApiKey, "{vars:?}");
        assert!(err.to_string().contains("WARP_API_KEY"), "{err}");
    }
}

#[test]
fn an_empty_key_given_directly_is_missing_too() {
    for key in ["", "   "] {
        let err = Config::new(key).build().unwrap_err();
        assert_eq!(err, ConfigError::MissingApiKey, "{key:?}");
    }
}

#[test]
fn malformed_base_urls_fail_at_build() {
    for url in [
        "not a url",
        "app.warp.dev/api/v1",
        "ftp://app.warp.dev/api/v1",
        "http://",
        "https://app.warp.dev/api/v1?team=1",
        "https://app.warp.dev/api/v1#runs",
        "https://bot@app.warp.dev/api/v1",
    ] {
        // Setting it is fine; building is where it is checked.
        let config = Config::new(API_KEY).base_url(url);
        let err = config.build().unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidBaseUrl { .. }),
            "{url}: {err}"
        );
        assert!(err.to_string().starts_with("invalid base URL"), "{err}");
        assert!(!err.to_string().contains(API_KEY), "{err}");

        for name in ["WARP_BASE_URL", "OZ_API_BASE_URL"] {
            let from_env = Config::from_lookup(lookup(&[("WARP_API_KEY", API_KEY), (name, url)]))
                .unwrap()
                .build()
                .unwrap_err();
            assert_eq!(from_env, err, "{name}={url}");
        }
    }
}

#[test]
fn a_key_that_cannot_be_a_header_is_refused_without_echoing_it() {
    let err = Config::new("wk-abc\r\nX-Injected: SECRET")
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::InvalidApiKey);
    assert!(!format!("{err} {err:?}").contains("SECRET"), "{err:?}");
}

#[test]
fn malformed_custom_header_lines_are_refused() {
    let err = Config::from_lookup(lookup(&[
        ("WARP_API_KEY", API_KEY),
        ("OZ_API_CUSTOM_HEADERS", "X-One: 1\n: no name"),
    ]))
    .unwrap_err();
    assert_eq!(
        err,
        ConfigError::InvalidCustomHeadersLine { line_number: 2 }
    );
}

/// Sends `get_run` with a configuration read from `base_url_name` and `headers_name`, and
/// checks what reached the server.
async fn configuration_from_the_environment_reaches_the_server(
    base_url_name: &str,
    headers_name: &str,
) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("run_1", "QUEUED")))
        .expect(1)
        .mount(&server)
        .await;
    let base_url = format!("{}/api/v1/", server.uri());
    let config = Config::from_lookup(lookup(&[
        ("WARP_API_KEY", &format!("  {API_KEY}\n")),
        (base_url_name, &base_url),
        (
            headers_name,
            "X-Request-Source: nightly-ci\n\nX-Trace: a: b\n",
        ),
    ]))
    .unwrap();
    assert_eq!(config.base_url_str(), format!("{}/api/v1", server.uri()));

    config
        .build()
        .unwrap()
        .get_run()
        .run_id("run_1")
        .send()
        .await
        .unwrap();

    let requests = received(&server).await;
    let headers = &requests[0].headers;
    assert_eq!(headers["authorization"], format!("Bearer {API_KEY}"));
    assert_eq!(headers["x-request-source"], "nightly-ci");
    assert_eq!(headers["x-trace"], "a: b");
}

#[tokio::test]
async fn a_configuration_from_the_newest_sdks_variables_reaches_the_server() {
    configuration_from_the_environment_reaches_the_server("WARP_BASE_URL", "WARP_CUSTOM_HEADERS")
        .await;
}

#[tokio::test]
async fn a_configuration_from_the_older_sdks_variables_reaches_the_server() {
    configuration_from_the_environment_reaches_the_server(
        "OZ_API_BASE_URL",
        "OZ_API_CUSTOM_HEADERS",
    )
    .await;
}

/// A self-signed root made for these tests (P-256, `CN=oz-api-test-root`), as PEM and DER.
const TEST_ROOT_PEM: &[u8] = include_bytes!("fixtures/test-root.pem");
const TEST_ROOT_DER: &[u8] = include_bytes!("fixtures/test-root.der");

#[test]
fn root_certificates_are_parsed_when_the_client_is_built() {
    Config::new("wk-example")
        .add_root_certificate_pem(TEST_ROOT_PEM)
        .add_root_certificate_der(TEST_ROOT_DER)
        .build()
        .expect("a PEM bundle and a DER certificate");
    // Two roots in one bundle.
    let bundle = [TEST_ROOT_PEM, TEST_ROOT_PEM].concat();
    Config::new("wk-example")
        .add_root_certificate_pem(bundle)
        .build()
        .expect("a bundle of two");
}

#[test]
fn what_is_not_a_certificate_is_refused_with_its_position() {
    let cases: [(Config, usize, &str); 4] = [
        (
            Config::new("wk-example").add_root_certificate_pem("no certificate here"),
            0,
            "no PEM CERTIFICATE block",
        ),
        (
            Config::new("wk-example")
                .add_root_certificate_pem(TEST_ROOT_PEM)
                .add_root_certificate_der(TEST_ROOT_PEM),
            1,
            "add_root_certificate_pem",
        ),
        (
            Config::new("wk-example").add_root_certificate_der(&TEST_ROOT_DER[..100]),
            0,
            "length",
        ),
        (
            Config::new("wk-example")
                .add_root_certificate_pem(&TEST_ROOT_PEM[..TEST_ROOT_PEM.len() - 40]),
            0,
            "",
        ),
    ];
    for (config, at, says) in cases {
        match config.build().unwrap_err() {
            ConfigError::InvalidRootCertificate { index, reason } => {
                assert_eq!(index, at, "{reason}");
                assert!(reason.contains(says), "{reason}");
            }
            other => panic!("expected InvalidRootCertificate, got {other:?}"),
        }
    }
}

#[test]
fn a_prepared_http_client_refuses_settings_only_a_builder_can_apply() {
    let prepared = || oz_api::http_client_builder().unwrap().build().unwrap();
    let with_proxy = Config::new("wk-example")
        .http_client(prepared())
        .proxy(oz_api::reqwest::Proxy::all("http://proxy.internal:3128").unwrap())
        .build()
        .unwrap_err();
    assert_eq!(
        with_proxy,
        ConfigError::PreparedHttpClient { setting: "proxy" }
    );
    assert!(
        with_proxy.to_string().contains("set it on that client"),
        "{with_proxy}"
    );
    let with_root = Config::new("wk-example")
        .http_client(prepared())
        .add_root_certificate_pem(TEST_ROOT_PEM)
        .build()
        .unwrap_err();
    assert_eq!(
        with_root,
        ConfigError::PreparedHttpClient {
            setting: "root certificates"
        }
    );
}

#[test]
fn a_proxy_with_credentials_is_counted_not_shown_in_debug() {
    let config = Config::new("wk-example").proxy(
        oz_api::reqwest::Proxy::all("http://proxy.internal:3128")
            .unwrap()
            .basic_auth("ci", "proxy-password-SECRET"),
    );
    let shown = format!("{config:?}");
    assert!(shown.contains("proxies: 1"), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(!shown.contains("proxy.internal"), "{shown}");
}
