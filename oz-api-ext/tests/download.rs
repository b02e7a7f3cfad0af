//! Transcript and artifact downloads against two real servers: the API (which answers with a
//! redirect) and a storage service on another port (which serves the signed URL).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oz_api_ext::oz_api::{self, Client, Config};
use oz_api_ext::{ArtifactFile, DownloadError, DownloadExt, Progress};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod support;

const API_KEY: &str = "wk-7d2f0c94-SECRET-51ab-4e0c-9b37-2a6c8e1f4d05";
const PROXY_TOKEN: &str = "proxy-token-SECRET-e81c";
const SIGNATURE: &str = "X-Goog-Signature=9f8e7d6c5b4a39281706SIGNATURE";
const TRANSCRIPT_PATH: &str = "/api/v1/agent/runs/run-1/transcript";

/// A client with a recognisable key and a proxy header, neither of which may reach storage.
fn client_with_secrets(api: &MockServer) -> Client {
    support::config(api)
        .api_key(API_KEY)
        .header("X-Proxy-Token", PROXY_TOKEN)
        .build()
        .expect("valid configuration")
}

fn redirect_to(location: &str) -> ResponseTemplate {
    ResponseTemplate::new(302).insert_header("Location", location)
}

fn problem(status: u16, title: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("Content-Type", "application/problem+json")
        .set_body_json(json!({
            "type": "https://docs.warp.dev/reference/api/errors/not_found",
            "title": title,
            "status": status,
            "detail": "no transcript for run run-1",
        }))
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording is on")
}

/// Neither the API key nor the custom headers ever reach `server`.
async fn assert_no_credentials(server: &MockServer) {
    let requests = received(server).await;
    assert!(!requests.is_empty());
    for request in requests {
        assert_eq!(
            request.headers.get("authorization"),
            None,
            "{}",
            request.url
        );
        assert_eq!(
            request.headers.get("x-proxy-token"),
            None,
            "{}",
            request.url
        );
    }
}

/// File names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn transcript_storage_request_carries_no_credentials() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    let signed = format!("{}/transcripts/run-1.json?{SIGNATURE}", storage.uri());
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(redirect_to(&signed))
        .expect(1)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/transcripts/run-1.json"))
        .and(query_param(
            "X-Goog-Signature",
            "9f8e7d6c5b4a39281706SIGNATURE",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"messages": [1, 2]})))
        .expect(1)
        .mount(&storage)
        .await;

    let transcript: serde_json::Value = client_with_secrets(&api)
        .download_transcript("run-1")
        .json()
        .await
        .expect("download succeeds");

    assert_eq!(transcript, json!({"messages": [1, 2]}));
    let api_requests = received(&api).await;
    assert_eq!(
        api_requests[0].headers["authorization"],
        format!("Bearer {API_KEY}").as_str()
    );
    assert_eq!(api_requests[0].headers["x-proxy-token"], PROXY_TOKEN);
    assert_no_credentials(&storage).await;
}

#[tokio::test]
async fn relative_location_is_fetched_without_credentials_even_on_the_api_host() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(redirect_to(&format!("/files/run-1.json?{SIGNATURE}")))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/files/run-1.json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("[]"))
        .expect(1)
        .mount(&api)
        .await;

    let body = client_with_secrets(&api)
        .download_transcript("run-1")
        .bytes()
        .await
        .expect("download succeeds");

    assert_eq!(&body[..], b"[]");
    let requests = received(&api).await;
    assert_eq!(requests.len(), 2);
    assert!(requests[0].headers.contains_key("authorization"));
    assert_eq!(requests[1].url.path(), "/files/run-1.json");
    assert_eq!(requests[1].headers.get("authorization"), None);
    assert_eq!(requests[1].headers.get("x-proxy-token"), None);
}

#[tokio::test]
async fn large_transcript_streams_to_file_with_monotonic_progress() {
    const SIZE: usize = 5 * 1024 * 1024;
    let body: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(redirect_to(&format!(
            "{}/big.json?{SIGNATURE}",
            storage.uri()
        )))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/big.json"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(body.clone()))
        .mount(&storage)
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("transcript.json");
    let reports = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let sink = Arc::clone(&reports);

    let written = client_with_secrets(&api)
        .download_transcript("run-1")
        .on_progress(move |p| sink.lock().unwrap().push(p))
        .to_file(&target)
        .await
        .expect("download succeeds");

    assert_eq!(written, SIZE as u64);
    assert!(std::fs::read(&target).expect("file exists") == body);
    assert_eq!(entries(dir.path()), ["transcript.json"]);
    assert_no_credentials(&storage).await;
    let reports = reports.lock().unwrap().clone();
    assert!(reports.len() > 2, "one report per chunk: {}", reports.len());
    assert_eq!(reports[0].bytes, 0);
    assert!(reports.windows(2).all(|w| w[0].bytes <= w[1].bytes));
    assert!(reports.iter().all(|p| p.total == Some(SIZE as u64)));
    assert_eq!(reports.last().unwrap().bytes, SIZE as u64);

    // Without the `fsync`, the same bytes replace the file the same way.
    std::fs::write(&target, b"previous transcript").expect("seed file");
    let written = client_with_secrets(&api)
        .download_transcript("run-1")
        .durable(false)
        .to_file(&target)
        .await
        .expect("download succeeds");
    assert_eq!(written, SIZE as u64);
    assert!(std::fs::read(&target).expect("file exists") == body);
    assert_eq!(entries(dir.path()), ["transcript.json"]);
}

#[tokio::test]
async fn expired_signed_url_is_resolved_again_once() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    // The first URL handed out has expired by the time it is used; the second works.
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(redirect_to(&format!("{}/t.json?sig=old", storage.uri())))
        .up_to_n_times(1)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(redirect_to(&format!("{}/t.json?sig=new", storage.uri())))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(query_param("sig", "old"))
        .respond_with(ResponseTemplate::new(403).set_body_string("<Error>Expired</Error>"))
        .mount(&storage)
        .await;
    Mock::given(method("GET"))
        .and(query_param("sig", "new"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&storage)
        .await;

    let body = client_with_secrets(&api)
        .download_transcript("run-1")
        .bytes()
        .await
        .expect("the fresh URL works");

    assert_eq!(&body[..], b"{}");
    assert_eq!(received(&api).await.len(), 2);
    let storage_requests = received(&storage).await;
    let queries: Vec<_> = storage_requests.iter().map(|r| r.url.query()).collect();
    assert_eq!(queries, [Some("sig=old"), Some("sig=new")]);
    assert_no_credentials(&storage).await;
}

#[tokio::test]
async fn refused_again_fails_with_a_storage_error_without_the_signature() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(redirect_to(&format!(
            "{}/t.json?{SIGNATURE}",
            storage.uri()
        )))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&storage)
        .await;

    let err = client_with_secrets(&api)
        .download_transcript("run-1")
        .bytes()
        .await
        .expect_err("storage keeps refusing");

    assert!(
        matches!(&err, DownloadError::Storage { status, .. } if status.as_u16() == 403),
        "{err:?}"
    );
    assert_eq!(received(&api).await.len(), 2);
    assert_eq!(received(&storage).await.len(), 2);
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("/t.json?<redacted>"), "{shown}");
    assert!(!shown.contains("SIGNATURE"), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert_eq!(err.to_string().lines().count(), 1);
}

/// A storage server that declares `declared` bytes, sends `sent` of them and hangs up.
async fn cut_off_storage(declared: usize, sent: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n");
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&vec![b'x'; sent]).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{address}")
}

/// A client (for `api`) and a storage client whose HTTP layers arm no timer, for tests on
/// Tokio's paused clock: while a request waits for a socket, the paused clock would jump to
/// such a timer at once.
fn timerless(api: &MockServer) -> (Client, reqwest::Client) {
    let config = support::config(api).api_key(API_KEY);
    (
        support::without_timers(config),
        support::http_without_timers(),
    )
}

#[tokio::test(start_paused = true)]
async fn interrupted_download_leaves_no_file_and_keeps_the_existing_one() {
    let api = MockServer::start().await;
    let storage = cut_off_storage(1_000_000, 10_000).await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(redirect_to(&format!("{storage}/t.json?{SIGNATURE}")))
        .mount(&api)
        .await;
    let (client, storage_client) = timerless(&api);
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("transcript.json");
    std::fs::write(&target, b"previous transcript").expect("seed file");

    // Every answer breaks off: the download starts over three times, then gives up.
    let started = tokio::time::Instant::now();
    let err = client
        .download_transcript("run-1")
        .storage_client(storage_client.clone())
        .to_file(&target)
        .await
        .expect_err("the body is cut off");

    assert!(matches!(err, DownloadError::Transport(_)), "{err:?}");
    // Three pauses of the client's backoff: 0.5 s, 1 s and 2 s, each shortened by at most a
    // quarter.
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(2_625)..=Duration::from_millis(3_500)).contains(&waited),
        "{waited:?}"
    );
    assert_eq!(entries(dir.path()), ["transcript.json"]);
    assert_eq!(std::fs::read(&target).unwrap(), b"previous transcript");
    assert!(!err.to_string().contains("SIGNATURE"), "{err}");

    // Without an earlier file, nothing at all is left behind.
    std::fs::remove_file(&target).unwrap();
    client
        .download_transcript("run-1")
        .storage_client(storage_client)
        .to_file(&target)
        .await
        .expect_err("the body is cut off");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[tokio::test]
async fn api_error_surfaces_as_the_api_error() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(problem(404, "Transcript not found"))
        .mount(&api)
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("t.json");

    let err = client_with_secrets(&api)
        .download_transcript("run-1")
        .to_file(&target)
        .await
        .expect_err("404");

    let DownloadError::Api {
        operation,
        source: api_err,
    } = &err
    else {
        panic!("expected the API error, got {err:?}");
    };
    assert_eq!(*operation, "get_run_transcript");
    let oz_api::Error::Problem(response) = api_err.as_ref() else {
        panic!("expected an error response, got {api_err:?}");
    };
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(response.title.as_deref(), Some("Transcript not found"));
    assert!(err.api_error().is_some());
    // The line names the cause (status and problem), which stays the source.
    let cause = std::error::Error::source(&err)
        .expect("the API error")
        .to_string();
    assert_eq!(
        err.to_string(),
        format!("get_run_transcript failed: {cause}")
    );
    assert!(
        cause.starts_with("404 Not Found") && cause.contains("no transcript for run run-1"),
        "{cause}"
    );
    assert!(!cause.contains("SECRET"), "{cause}");
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn redirect_without_location_is_a_clear_error() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(ResponseTemplate::new(302))
        .mount(&api)
        .await;

    let err = client_with_secrets(&api)
        .download_transcript("run-1")
        .bytes()
        .await
        .expect_err("no Location");

    assert!(
        matches!(&err, DownloadError::MissingLocation { status } if status.as_u16() == 302),
        "{err:?}"
    );
    assert!(err.to_string().contains("without a Location"), "{err}");
}

#[tokio::test]
async fn url_hides_the_signature_until_exposed() {
    let api = MockServer::start().await;
    let signed = format!("https://storage.example.com/t/run-1.json?{SIGNATURE}");
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(redirect_to(&signed))
        .mount(&api)
        .await;

    let url = client_with_secrets(&api)
        .download_transcript("run-1")
        .url()
        .await
        .expect("the API hands out the URL");

    let shown = format!("{url} {url:?}");
    assert!(!shown.contains("SIGNATURE"), "{shown}");
    assert_eq!(
        url.to_string(),
        "https://storage.example.com/t/run-1.json?<redacted>"
    );
    assert_eq!(url.expose().as_str(), signed);
}

#[tokio::test]
async fn storage_redirects_are_followed_without_credentials() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    let mirror = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(redirect_to(&format!(
            "{}/t.json?{SIGNATURE}",
            storage.uri()
        )))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("Location", format!("{}/copy.json?sig=2", mirror.uri())),
        )
        .mount(&storage)
        .await;
    Mock::given(method("GET"))
        .and(path("/copy.json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"ok\":true}"))
        .mount(&mirror)
        .await;

    let body = client_with_secrets(&api)
        .download_transcript("run-1")
        .bytes()
        .await
        .expect("redirect followed");

    assert_eq!(&body[..], b"{\"ok\":true}");
    assert_no_credentials(&storage).await;
    assert_no_credentials(&mirror).await;
}

#[tokio::test]
async fn endless_storage_redirects_fail() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(redirect_to(&format!("{}/loop?{SIGNATURE}", storage.uri())))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .respond_with(redirect_to(&format!("/loop?{SIGNATURE}")))
        .mount(&storage)
        .await;

    let err = client_with_secrets(&api)
        .download_transcript("run-1")
        .bytes()
        .await
        .expect_err("too many redirects");

    assert!(
        matches!(err, DownloadError::TooManyRedirects { .. }),
        "{err:?}"
    );
    assert_eq!(received(&storage).await.len(), 6);
    assert!(!err.to_string().contains("SIGNATURE"), "{err}");
}

#[tokio::test]
async fn artifact_download_takes_the_same_path() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/artifacts/art-1/download"))
        .respond_with(redirect_to(&format!(
            "{}/artifacts/shot.png?{SIGNATURE}",
            storage.uri()
        )))
        .expect(1)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/artifacts/shot.png"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"\x89PNG....".to_vec()))
        .expect(1)
        .mount(&storage)
        .await;
    let mut sink = Vec::new();

    let written = client_with_secrets(&api)
        .download_artifact_file("art-1")
        .to_writer(&mut sink)
        .await
        .expect("download succeeds");

    assert_eq!(written, 8);
    assert_eq!(sink, b"\x89PNG....");
    assert_no_credentials(&storage).await;
}

#[tokio::test]
async fn artifact_file_metadata_downloads_from_its_url_first() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/artifacts/art-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "artifact_uid": "art-2",
            "artifact_type": "FILE",
            "created_at": "2025-03-14T09:26:53Z",
            "data": {
                "download_url": format!("{}/files/report.md?{SIGNATURE}", storage.uri()),
                "expires_at": "2025-03-14T10:26:53Z",
                "content_type": "text/markdown",
                "filename": "report.md",
                "filepath": "docs/report.md",
                "size_bytes": 7
            }
        })))
        .expect(1)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/files/report.md"))
        .respond_with(ResponseTemplate::new(200).set_body_string("# Notes"))
        .expect(1)
        .mount(&storage)
        .await;
    let client = client_with_secrets(&api);

    let artifact = client
        .get_artifact()
        .artifact_uid("art-2")
        .send()
        .await
        .expect("the artifact")
        .into_inner();
    let file = ArtifactFile::try_from(artifact).expect("a FILE artifact");
    let body = file.download(&client).bytes().await.expect("download");

    assert_eq!(file.filename.as_deref(), Some("report.md"));
    assert_eq!(file.content_type, "text/markdown");
    assert_eq!(file.size_bytes, Some(7));
    assert!(!format!("{file:?}").contains("SIGNATURE"));
    assert_eq!(&body[..], b"# Notes");
    // The URL from the metadata was used directly: no request to the redirect endpoint.
    assert_eq!(received(&api).await.len(), 1);
    assert_no_credentials(&storage).await;
}

#[tokio::test]
async fn plan_artifact_has_no_file() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/artifacts/plan-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "artifact_uid": "plan-1",
            "artifact_type": "PLAN",
            "created_at": "2025-03-14T09:26:53Z",
            "data": {
                "document_uid": "doc-1",
                "notebook_uid": "nb-1",
                "content": "1. Fix it",
                "content_type": "text/markdown"
            }
        })))
        .mount(&api)
        .await;

    let artifact = client_with_secrets(&api)
        .get_artifact()
        .artifact_uid("plan-1")
        .send()
        .await
        .expect("the artifact")
        .into_inner();
    let err = ArtifactFile::try_from(artifact).expect_err("plans have no file");

    assert!(
        matches!(&err, DownloadError::NotDownloadable { artifact_type } if artifact_type == "PLAN"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_transcript_served_by_the_api_itself_is_streamed_too() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"inline\":true}"))
        .mount(&api)
        .await;
    let client = client_with_secrets(&api);

    let body = client.download_transcript("run-1").bytes().await;
    let url = client.download_transcript("run-1").url().await;

    assert_eq!(&body.expect("served directly")[..], b"{\"inline\":true}");
    assert!(
        matches!(&url, Err(DownloadError::MissingLocation { status }) if status.as_u16() == 200),
        "{url:?}"
    );
}

#[test]
fn downloads_can_run_on_spawned_tasks() {
    fn assert_send<T: Send>(_: &T) {}
    let client = Config::new(API_KEY).build().expect("valid configuration");
    let download = client.download_transcript("run-1").on_progress(|_| {});
    assert_send(&download);
    assert_send(&download.to_file("never-written.json"));
}

const SCREENSHOT_PATH: &str = "/api/v1/agent/conversations/conv-1/screenshots/shot-7/download";

/// PNG bytes, not valid UTF-8, so a text round trip would show.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\xff\xfe";

#[tokio::test]
async fn a_screenshot_is_fetched_from_the_storage_origin_without_credentials() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    let signed = format!("{}/screenshots/shot-7.png?{SIGNATURE}", storage.uri());
    Mock::given(method("GET"))
        .and(path(SCREENSHOT_PATH))
        .respond_with(redirect_to(&signed))
        .expect(3)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/screenshots/shot-7.png"))
        .and(query_param(
            "X-Goog-Signature",
            "9f8e7d6c5b4a39281706SIGNATURE",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Content-Type", "image/png")
                .set_body_bytes(PNG),
        )
        .expect(3)
        .mount(&storage)
        .await;
    let client = client_with_secrets(&api);
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("shot-7.png");

    let in_memory = client
        .download_screenshot("conv-1", "shot-7")
        .bytes()
        .await
        .expect("bytes");
    let mut written = Vec::new();
    let to_writer = client
        .download_screenshot("conv-1", "shot-7")
        .to_writer(&mut written)
        .await
        .expect("to_writer");
    let to_file = client
        .download_screenshot("conv-1", "shot-7")
        .to_file(&target)
        .await
        .expect("to_file");

    assert_eq!(&in_memory[..], PNG);
    assert_eq!(written, PNG);
    assert_eq!((to_writer, to_file), (PNG.len() as u64, PNG.len() as u64));
    assert_eq!(std::fs::read(&target).expect("saved file"), PNG);
    // Only the file itself is left: the temporary file was renamed over it.
    assert_eq!(entries(dir.path()), ["shot-7.png"]);
    for request in received(&api).await {
        assert_eq!(
            request.headers["authorization"],
            format!("Bearer {API_KEY}").as_str()
        );
    }
    assert_no_credentials(&storage).await;
}

#[tokio::test]
async fn an_expired_screenshot_url_is_resolved_again_once() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SCREENSHOT_PATH))
        .respond_with(redirect_to(&format!("{}/s.png?sig=old", storage.uri())))
        .up_to_n_times(1)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path(SCREENSHOT_PATH))
        .respond_with(redirect_to(&format!("{}/s.png?sig=new", storage.uri())))
        .mount(&api)
        .await;
    // 410 Gone: how some stores report an expired signature.
    Mock::given(method("GET"))
        .and(query_param("sig", "old"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&storage)
        .await;
    Mock::given(method("GET"))
        .and(query_param("sig", "new"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(PNG))
        .mount(&storage)
        .await;

    let body = client_with_secrets(&api)
        .download_screenshot("conv-1", "shot-7")
        .bytes()
        .await
        .expect("the fresh URL works");

    assert_eq!(&body[..], PNG);
    assert_eq!(received(&api).await.len(), 2);
    let queries: Vec<_> = received(&storage)
        .await
        .iter()
        .map(|r| r.url.query().map(str::to_owned))
        .collect();
    assert_eq!(queries, [Some("sig=old".into()), Some("sig=new".into())]);
    assert_no_credentials(&storage).await;
}

#[tokio::test]
async fn a_screenshot_url_refused_twice_fails_without_the_signature() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SCREENSHOT_PATH))
        .respond_with(redirect_to(&format!("{}/s.png?{SIGNATURE}", storage.uri())))
        .expect(2)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403))
        .expect(2)
        .mount(&storage)
        .await;

    let err = client_with_secrets(&api)
        .download_screenshot("conv-1", "shot-7")
        .bytes()
        .await
        .unwrap_err();

    assert!(
        matches!(&err, DownloadError::Storage { status, .. } if status.as_u16() == 403),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(!message.contains("SIGNATURE"), "{message}");
    assert!(!format!("{err:?}").contains("SIGNATURE"));
}

#[tokio::test]
async fn an_unknown_screenshot_is_the_apis_404() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SCREENSHOT_PATH))
        .respond_with(problem(404, "Not found"))
        .mount(&api)
        .await;

    let err = client_with_secrets(&api)
        .download_screenshot("conv-1", "shot-7")
        .bytes()
        .await
        .unwrap_err();

    let DownloadError::Api {
        operation: "download_conversation_screenshot",
        source,
    } = &err
    else {
        panic!("expected the API's error, got {err:?}");
    };
    assert_eq!(source.status().map(|s| s.as_u16()), Some(404));
}
