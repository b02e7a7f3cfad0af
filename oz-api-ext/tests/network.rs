//! How the client reaches the network when the application decides: through a proxy, and with
//! HTTP clients it prepared itself, for the API and for storage downloads alike. Against the
//! simulator, on loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oz_api_ext::oz_api::reqwest::{self, Proxy, Url};
use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::oz_api::{Config, DEFAULT_USER_AGENT};
use oz_api_ext::{DownloadExt, RunWaitExt};
use oz_mock::{OzMock, Progression};

async fn mock() -> OzMock {
    OzMock::builder()
        .progression(Progression::Instant)
        .start()
        .await
        .expect("simulator starts")
}

/// Starts a run and waits for it, so that its transcript exists.
async fn finished_run(client: &oz_api_ext::oz_api::Client) -> String {
    let started = client
        .create_run()
        .body(RunAgentRequest::builder().prompt("[transcript:4KB] tidy the docs".to_owned()))
        .send()
        .await
        .expect("run created");
    let run_id = started.into_inner().run_id;
    client
        .wait_for_run(&run_id)
        .min_delay(Duration::from_millis(20))
        .send()
        .await
        .expect("run ends");
    run_id
}

/// An application's own HTTP client: the SDK's TLS stack, no redirects, and default headers
/// that show which client sent a request.
fn prepared_client(headers: &[(&'static str, &'static str)]) -> reqwest::Client {
    let mut own = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        own.insert(*name, value.parse().unwrap());
    }
    oz_api_ext::oz_api::http_client_builder()
        .unwrap()
        .default_headers(own)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn api_and_storage_requests_go_through_the_configured_proxy() {
    let mock = mock().await;
    let api = Url::parse(&mock.base_url()).unwrap();
    let storage = Url::parse(&mock.storage_origin()).unwrap();
    // The proxy of this test forwards by host: the API's made-up host to the simulator's API,
    // the storage host to its storage origin (both read the absolute-form request target).
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&asked);
    let (api_origin, storage_origin) = (api.clone(), storage.clone());
    let proxy = Proxy::custom(move |url: &Url| {
        log.lock()
            .unwrap()
            .push(url.host_str().unwrap_or_default().to_owned());
        match url.host_str() {
            Some("oz-api.invalid") => Some(api_origin.clone()),
            Some(_) => Some(storage_origin.clone()),
            None => None,
        }
    });
    let client = Config::new(mock.api_key())
        // A host that does not resolve: only the proxy can reach it.
        .base_url("http://oz-api.invalid/api/v1")
        .allow_insecure_http(true)
        .proxy(proxy)
        .build()
        .expect("valid configuration");

    let run_id = finished_run(&client).await;
    let transcript = client
        .download_transcript(&run_id)
        .bytes()
        .await
        .expect("transcript through the proxy");
    assert!(transcript.len() > 3_000, "{}", transcript.len());

    let asked = asked.lock().unwrap().clone();
    assert!(
        asked.iter().any(|host| host == "oz-api.invalid"),
        "{asked:?}"
    );
    assert!(
        asked
            .iter()
            .any(|host| Some(host.as_str()) == storage.host_str()),
        "the storage request went through the proxy too: {asked:?}"
    );
    let created = mock.received_requests_for("create_run");
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0].header("host"),
        Some("oz-api.invalid"),
        "the request was meant for the API's host"
    );
    assert_eq!(mock.storage_requests().len(), 1);
    assert_eq!(mock.storage_requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn a_prepared_http_client_sends_the_key_and_the_sdk_headers() {
    let mock = mock().await;
    // A header of the configuration wins over the prepared client's header of the same name.
    let prepared = prepared_client(&[("x-pool", "shared"), ("x-request-source", "prepared")]);
    let client = Config::new(mock.api_key())
        .base_url(mock.base_url())
        .header("x-request-source", "config")
        .header("x-team-tag", "core")
        .http_client(prepared)
        .build()
        .expect("valid configuration");

    let listed = client.list_runs().limit(1).send().await.expect("listed");
    assert!(listed.runs.len() <= 1);

    let received = mock.received_requests_for("list_runs");
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.authorization, oz_mock::Authorization::ApiKey);
    assert_eq!(request.header("user-agent"), Some(DEFAULT_USER_AGENT));
    assert_eq!(request.header("x-pool"), Some("shared"));
    assert_eq!(request.header("x-team-tag"), Some("core"));
    let sources: Vec<&str> = request
        .headers
        .iter()
        .filter(|(name, _)| name == "x-request-source")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(sources, ["config"]);
}

#[tokio::test]
async fn downloads_use_the_configured_storage_client_and_the_api_never_does() {
    let mock = mock().await;
    let storage = prepared_client(&[("x-storage-pool", "mine")]);
    let client = Config::new(mock.api_key())
        .base_url(mock.base_url())
        .storage_client(storage)
        .build()
        .expect("valid configuration");

    let run_id = finished_run(&client).await;
    client
        .download_transcript(&run_id)
        .bytes()
        .await
        .expect("transcript");

    let fetched = mock.storage_requests();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].header("x-storage-pool"), Some("mine"));
    assert!(
        mock.received_requests()
            .iter()
            .all(|request| request.header("x-storage-pool").is_none()),
        "the API client is not the storage client"
    );
}
