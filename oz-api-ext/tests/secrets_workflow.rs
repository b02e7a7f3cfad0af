//! Secrets stay secret through a whole workflow against the simulator: the API key, a proxy
//! header configured on the client, and the signatures of signed download URLs appear in no
//! log line (TRACE level, `log` records of the HTTP stack included), no `Debug` and no `Display`
//! output; the storage origin never receives the `Authorization` header, also when an expired
//! URL is resolved again and when a download is redirected to another origin.

use std::io;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::TryStreamExt;
use oz_api_ext::oz_api::Client;
use oz_api_ext::oz_api::types::{ArtifactItem, RunAgentRequest, RunState};
use oz_api_ext::{ArtifactFile, DownloadError, DownloadExt, PaginateExt, RedactedUrl, RunWaitExt};
use oz_mock::{OzMock, Progression};
use tracing_subscriber::util::SubscriberInitExt;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;

const API_KEY: &str = "wk-7d1c5b0e-SECRET-4e2a-9f31-b8c6a0d2e417";
const PROXY_TOKEN: &str = "proxy-token-a9c3e5f10b";

/// Everything the process logs: one TRACE-level subscriber for the whole test binary, with
/// `log` records (reqwest, hyper) forwarded into it.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn global() -> &'static Logs {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            let writer = logs.clone();
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish()
                .try_init()
                .expect("the only subscriber of this test binary");
            logs
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
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

/// A client with the simulator's recognisable key and a proxy header.
fn client_with_secrets(mock: &OzMock) -> Client {
    support::config(mock)
        .header("X-Proxy-Authorization", PROXY_TOKEN)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// The `sig` values of every signed URL the storage origin was asked for.
fn signatures(mock: &OzMock) -> Vec<String> {
    mock.storage_requests()
        .iter()
        .filter_map(|request| request.query.as_deref())
        .flat_map(|query| url::form_urlencoded::parse(query.as_bytes()).into_owned())
        .filter(|(name, _)| name == "sig")
        .map(|(_, value)| value)
        .collect()
}

/// Panics if any text shows a secret.
fn assert_nothing_leaks(texts: &[(String, String)], secrets: &[String]) {
    for (what, text) in texts {
        for secret in secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{what} shows the secret {secret:?}:\n{text}"
            );
        }
    }
}

#[tokio::test]
async fn a_whole_workflow_shows_no_key_and_no_signature_anywhere() {
    let logs = Logs::global();
    let mock = OzMock::builder()
        .api_key(API_KEY)
        .progression(Progression::Instant)
        .start()
        .await
        .unwrap();
    let client = client_with_secrets(&mock);
    let mut shown: Vec<(String, String)> = Vec::new();
    let mut show = |what: &str, debug: String, display: String| {
        shown.push((format!("{what} (Debug)"), debug));
        shown.push((format!("{what} (Display)"), display));
    };

    // Create, list, wait.
    let request = RunAgentRequest::builder().prompt("[file] [transcript:8KB] tidy the docs");
    let started = client.create_run().body(request).send().await.unwrap();
    show("create_run answer", format!("{started:?}"), String::new());
    let run_id = started.into_inner().run_id;
    let runs: Vec<_> = client.list_runs().items().try_collect().await.unwrap();
    show("listed runs", format!("{runs:?}"), String::new());
    let run = client
        .wait_for_run(&run_id)
        .min_delay(Duration::from_millis(100))
        .send()
        .await
        .unwrap();
    assert_eq!(run.state, RunState::Succeeded);
    show("waited run", format!("{run:?}"), String::new());

    // Transcript download, and the signed URL itself.
    let bytes = client.download_transcript(&run_id).bytes().await.unwrap();
    assert!(bytes.len() > 7_000, "{}", bytes.len());
    let url = client.download_transcript(&run_id).url().await.unwrap();
    assert!(url.expose().query().unwrap().contains("sig="));
    show("signed URL", format!("{url:?}"), url.to_string());

    // The redirect answer of the generated operation, called directly: its error prints the
    // answer's headers, whose Location has its query string redacted. The full URL is still
    // there for whoever asks for it.
    let Err(err) = client.get_run_transcript().run_id(&run_id).send().await else {
        panic!("the API answers the transcript with a redirect");
    };
    let oz_api_ext::oz_api::Error::UnexpectedResponse(answer) = &err else {
        panic!("{err}");
    };
    assert!(answer.status().is_redirection());
    assert!(
        answer.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("?<redacted>")
    );
    let full = oz_api_ext::oz_api::redirect_location(answer).unwrap();
    assert!(full.to_str().unwrap().contains("sig="));
    show("redirect answer", format!("{err:?}"), err.to_string());

    // The re-resolve path: a URL that has expired is refused, and a fresh one is fetched.
    mock.set_signed_url_ttl(Duration::ZERO);
    let expired = client.download_transcript(&run_id).url().await.unwrap();
    mock.set_signed_url_ttl(Duration::from_secs(900));
    let again = client
        .download_transcript(&run_id)
        .signed_url(expired.clone())
        .bytes()
        .await
        .unwrap();
    assert_eq!(again, bytes);

    // A download that fails: every URL handed out is already expired.
    mock.set_signed_url_ttl(Duration::ZERO);
    let refused = client
        .download_transcript(&run_id)
        .signed_url(expired)
        .bytes()
        .await
        .unwrap_err();
    assert!(
        matches!(refused, DownloadError::Storage { .. }),
        "{refused}"
    );
    show(
        "refused download",
        format!("{refused:?}"),
        refused.to_string(),
    );
    mock.set_signed_url_ttl(Duration::from_secs(900));

    // An artifact file: metadata with its signed URL, then the file.
    let artifact_uid = run
        .artifacts
        .iter()
        .find_map(|artifact| match artifact {
            ArtifactItem::FileArtifact(file) => Some(file.data.artifact_uid.clone()),
            _ => None,
        })
        .expect("a [file] run has a FILE artifact");
    let artifact = client
        .get_artifact()
        .artifact_uid(&artifact_uid)
        .send()
        .await
        .unwrap()
        .into_inner();
    let file = ArtifactFile::try_from(artifact).unwrap();
    show("artifact file", format!("{file:?}"), String::new());
    file.download(&client).bytes().await.unwrap();
    client
        .download_artifact_file(&artifact_uid)
        .bytes()
        .await
        .unwrap();

    // An API error.
    let missing = client
        .get_run()
        .run_id("no-such-run")
        .send()
        .await
        .unwrap_err();
    assert!(missing.is_not_found());
    show("404", format!("{missing:?}"), missing.to_string());
    let missing = client
        .download_transcript("no-such-run")
        .bytes()
        .await
        .unwrap_err();
    show("404 download", format!("{missing:?}"), missing.to_string());

    // Every secret, checked everywhere.
    let mut secrets = signatures(&mock);
    assert!(secrets.len() >= 5, "{} signatures seen", secrets.len());
    secrets.sort();
    secrets.dedup();
    secrets.extend([API_KEY.to_owned(), PROXY_TOKEN.to_owned()]);
    shown.push(("logs".to_owned(), logs.text()));
    assert!(logs.text().contains("oz_api"), "the logs were captured");
    assert_nothing_leaks(&shown, &secrets);

    for request in mock.storage_requests() {
        assert_eq!(request.header("authorization"), None, "{request:?}");
        assert_eq!(request.header("x-proxy-authorization"), None, "{request:?}");
    }
}

#[tokio::test]
async fn a_download_redirected_to_another_origin_carries_no_credentials() {
    let logs = Logs::global();
    let mock = OzMock::builder()
        .api_key(API_KEY)
        .progression(Progression::Instant)
        .start()
        .await
        .unwrap();
    let client = client_with_secrets(&mock);
    let run_id = client
        .create_run()
        .body(RunAgentRequest::builder().prompt("a run"))
        .send()
        .await
        .unwrap()
        .into_inner()
        .run_id;
    client.wait_for_run(&run_id).send().await.unwrap();
    let signed = client.download_transcript(&run_id).url().await.unwrap();

    // A third origin that redirects to the storage origin, as a CDN in front of it might.
    let cdn = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", signed.expose().as_str()),
        )
        .expect(1)
        .mount(&cdn)
        .await;
    let start = RedactedUrl::parse(&format!(
        "{}/edge/transcript.json?sig=cdn-7f3a91",
        cdn.uri()
    ))
    .unwrap();

    let bytes = client
        .download_transcript(&run_id)
        .signed_url(start)
        .bytes()
        .await
        .unwrap();
    assert!(!bytes.is_empty());

    for request in cdn.received_requests().await.unwrap() {
        assert!(
            request.headers.get("authorization").is_none(),
            "{request:?}"
        );
        assert!(request.headers.get("x-proxy-authorization").is_none());
    }
    let storage = mock.storage_requests();
    assert_eq!(storage.len(), 1, "{storage:?}");
    for request in storage {
        assert_eq!(request.header("authorization"), None, "{request:?}");
        assert_eq!(request.header("x-proxy-authorization"), None, "{request:?}");
    }
    let mut secrets = signatures(&mock);
    secrets.extend(["cdn-7f3a91".to_owned(), API_KEY.to_owned()]);
    assert_nothing_leaks(&[("logs".to_owned(), logs.text())], &secrets);
}
