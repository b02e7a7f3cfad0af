//! What a workflow error shows. A wait's, a listing's, a tail's and a download's `Display` is one line
//! about what the workflow was doing followed by its cause's one line, the cause staying its
//! `source()`, and their `Debug` is one line too (what `?` in `main` prints). Each error is
//! produced by a real failure against a local server. A signed URL's query string shows in
//! none of them.

use std::error::Error;
use std::time::Duration;

use futures::StreamExt;
use oz_api_ext::{
    CancelOutcome, DownloadError, DownloadExt, EventsExt, MessagesExt, PaginateExt,
    PaginationError, RunWaitExt, WaitError,
};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::client;

/// The `Display` of `err` and of each error below it, outermost first.
fn chain(err: &(dyn Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(err), |&err| err.source())
        .map(ToString::to_string)
        .collect()
}

/// `err` is one non-empty line that ends with the line of its direct source (a workflow error
/// names its cause), and `Debug` is one line as well. Returns the chain.
fn assert_names_its_cause(err: &(dyn Error + 'static), sources: usize) -> Vec<String> {
    let lines = chain(err);
    let (top, below) = lines.split_first().expect("the error itself");
    assert!(!top.is_empty(), "{err:?}");
    assert!(!top.contains('\n'), "more than one line: {top:?}");
    assert!(
        below.len() >= sources,
        "expected {sources} source(s) under {top:?}, got {below:?}"
    );
    if let Some(cause) = below.first() {
        assert!(
            top.ends_with(cause.as_str()),
            "{top:?} does not name {cause:?}"
        );
    }
    let debug = format!("{err:?}");
    assert!(
        !debug.contains('\n'),
        "Debug of more than one line: {debug}"
    );
    lines
}

fn problem(status: u16, title: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "type": "https://docs.warp.dev/reference/api-and-sdk/troubleshooting/errors/resource-not-found/",
        "title": title,
        "status": status,
    }))
}

fn run_json(run_id: &str, state: &str) -> Value {
    json!({
        "run_id": run_id,
        "task_id": run_id,
        "title": "Nightly dependency update",
        "state": state,
        "prompt": "Update dependencies",
        "created_at": "2025-03-14T09:26:53Z",
        "updated_at": "2025-03-14T09:31:07Z"
    })
}

#[tokio::test]
async fn wait_errors_name_their_cause() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/gone"))
        .respond_with(problem(404, "Run not found"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("run_1", "PENDING")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/runs/run_1/cancel"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "title": "Pending agent runs cannot be cancelled, retry after a moment.",
            "status": 409,
        })))
        .mount(&server)
        .await;
    let client = client(&server);

    let failed = client.wait_for_run("gone").send().await.unwrap_err();
    assert!(matches!(failed, WaitError::Api { .. }), "{failed:?}");
    let lines = assert_names_its_cause(&failed, 1);
    assert_eq!(
        lines[0],
        format!("get_run of run gone failed: {}", lines[1])
    );
    assert!(lines[1].contains("Run not found"), "{lines:?}");
    assert!(failed.api_error().is_some());

    // A deadline already passed after the first poll: the timeout comes at once, then the
    // cancellation fails with the 409.
    let timed_out = client
        .wait_for_run("run_1")
        .max_wait(Duration::ZERO)
        .cancel_on_timeout(true)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &timed_out,
            WaitError::ExceededMaxWait {
                cancel: CancelOutcome::Failed(_),
                ..
            }
        ),
        "{timed_out:?}"
    );
    let lines = assert_names_its_cause(&timed_out, 1);
    assert!(
        lines[0].contains("; cancelling it failed: 409"),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("409 Conflict"), "{lines:?}");
    assert!(
        timed_out.api_error().is_none(),
        "the wait ended by its deadline"
    );

    let plain = client
        .wait_for_run("run_1")
        .max_wait(Duration::ZERO)
        .send()
        .await
        .unwrap_err();
    assert_eq!(assert_names_its_cause(&plain, 0).len(), 1, "no source");
}

#[tokio::test]
async fn pagination_errors_name_their_cause() {
    let server = MockServer::start().await;
    let page = |ids: &[&str], next: &str| {
        let runs: Vec<Value> = ids.iter().map(|id| run_json(id, "FAILED")).collect();
        ResponseTemplate::new(200).set_body_json(json!({
            "runs": runs,
            "page_info": {"has_next_page": true, "next_cursor": next},
        }))
    };
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs"))
        .and(query_param_is_missing("cursor"))
        .respond_with(page(&["r1"], "c2"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs"))
        .and(query_param("cursor", "c2"))
        .respond_with(page(&["r2"], "c2"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/factory"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream overloaded"))
        .mount(&server)
        .await;
    let client = client(&server);

    let results: Vec<_> = client.list_runs().items().collect().await;
    let repeated = results.last().unwrap().as_ref().unwrap_err();
    assert!(
        matches!(repeated, PaginationError::RepeatedCursor { .. }),
        "{repeated:?}"
    );
    assert_eq!(assert_names_its_cause(repeated, 0).len(), 1, "no source");
    assert!(!repeated.to_string().contains("c2"), "the cursor stays out");
    assert!(
        !format!("{repeated:?}").contains("c2"),
        "the cursor stays out"
    );

    let results: Vec<_> = client.list_factories().pages().collect().await;
    let failed = results[0].as_ref().unwrap_err();
    assert!(matches!(failed, PaginationError::Api { .. }), "{failed:?}");
    let lines = assert_names_its_cause(failed, 1);
    assert_eq!(
        lines[0],
        format!("listing factories failed on page 1: {}", lines[1])
    );
    assert!(lines[1].starts_with("503 Service Unavailable"), "{lines:?}");
    assert!(failed.api_error().is_some());
}

#[tokio::test]
async fn tail_errors_name_their_operation_and_cause() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/events"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream overloaded"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/messages/run_1"))
        .respond_with(problem(404, "Run not found"))
        .mount(&server)
        .await;
    let client = client(&server);

    let failed = client.events(["run_1"]).stream().next().await.unwrap();
    let failed = failed.unwrap_err();
    assert_eq!(failed.operation(), "poll_agent_events");
    let lines = assert_names_its_cause(&failed, 1);
    assert_eq!(lines[0], format!("poll_agent_events failed: {}", lines[1]));
    assert!(lines[1].starts_with("503 Service Unavailable"), "{lines:?}");
    assert!(failed.api_error().is_some_and(|e| e.is_transient()));

    let failed = client.inbox("run_1").stream().next().await.unwrap();
    let failed = failed.unwrap_err();
    assert_eq!(failed.operation(), "list_agent_messages");
    let lines = assert_names_its_cause(&failed, 1);
    assert_eq!(
        lines[0],
        format!("list_agent_messages failed: {}", lines[1])
    );
    assert!(failed.api_error().is_some_and(|e| e.is_not_found()));
    assert!(
        format!("{failed:?}").starts_with("Api { operation: \"list_agent_messages\""),
        "{failed:?}"
    );
}

/// A storage service that declares `Content-Length: 100`, sends 10 bytes and hangs up.
async fn cut_off_storage() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{address}")
}

/// A port on which nothing listens: connections to it are refused at once.
async fn refusing_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// `err`'s `Display`, `Debug` and error chain leave out `secret`.
fn assert_keeps_out(err: &(dyn Error + 'static), secret: &str) {
    let debug = format!("{err:?}");
    assert!(!debug.contains(secret), "{debug}");
    for line in chain(err) {
        assert!(!line.contains(secret), "{line}");
    }
}

#[tokio::test]
async fn download_errors_name_their_cause() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    let cut_off = cut_off_storage().await;
    let transcript = |run: &str| format!("/api/v1/agent/runs/{run}/transcript");
    let redirect = |to: String| ResponseTemplate::new(302).insert_header("Location", to.as_str());
    Mock::given(method("GET"))
        .and(path(transcript("missing")))
        .respond_with(problem(404, "Transcript not found"))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path(transcript("text")))
        .respond_with(redirect(format!("{}/t.txt?sig=SECRET", storage.uri())))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path(transcript("gone")))
        .respond_with(redirect(format!("{}/gone.json?sig=SECRET", storage.uri())))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path(transcript("cut")))
        .respond_with(redirect(format!("{cut_off}/t.json?sig=SECRET")))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/t.txt"))
        .respond_with(ResponseTemplate::new(200).set_body_string("not JSON"))
        .mount(&storage)
        .await;
    Mock::given(method("GET"))
        .and(path("/gone.json"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&storage)
        .await;
    let client = client(&api);
    let dir = tempfile::tempdir().unwrap();

    let api_failed = client
        .download_transcript("missing")
        .bytes()
        .await
        .unwrap_err();
    assert!(
        matches!(api_failed, DownloadError::Api { .. }),
        "{api_failed:?}"
    );
    let lines = assert_names_its_cause(&api_failed, 1);
    assert_eq!(lines[0], format!("get_run_transcript failed: {}", lines[1]));
    assert!(lines[1].starts_with("404 Not Found"), "{lines:?}");
    assert!(lines[1].contains("Transcript not found"), "{lines:?}");
    assert!(api_failed.api_error().is_some());
    let debug = format!("{api_failed:?}");
    assert!(
        debug.starts_with("Api { operation: \"get_run_transcript\", source: 404 Not Found"),
        "{debug}"
    );

    let decode = client
        .download_transcript("text")
        .json::<Value>()
        .await
        .unwrap_err();
    assert!(matches!(decode, DownloadError::Decode(_)), "{decode:?}");
    let lines = assert_names_its_cause(&decode, 1);
    assert!(
        lines[0].starts_with("the download is not the expected JSON: "),
        "{lines:?}"
    );
    assert!(decode.api_error().is_none());

    let unwritable = dir.path().join("no such dir").join("t.txt");
    let io = client
        .download_transcript("text")
        .to_file(&unwritable)
        .await
        .unwrap_err();
    assert!(matches!(io, DownloadError::Io(_)), "{io:?}");
    let lines = assert_names_its_cause(&io, 1);
    assert!(
        lines[0].starts_with("saving the download failed: "),
        "{lines:?}"
    );
    assert!(
        format!("{io:?}").starts_with("Io { kind: NotFound"),
        "{io:?}"
    );

    // Declares 100 bytes, sends 10 and hangs up, without ranges: the download starts over as
    // often as allowed and then fails with the last cut.
    let cut = client.download_transcript("cut").bytes().await.unwrap_err();
    assert!(matches!(cut, DownloadError::Transport(_)), "{cut:?}");
    assert_names_its_cause(&cut, 1);

    let storage_failed = client
        .download_transcript("gone")
        .bytes()
        .await
        .unwrap_err();
    assert!(
        matches!(storage_failed, DownloadError::Storage { .. }),
        "{storage_failed:?}"
    );
    assert_eq!(
        assert_names_its_cause(&storage_failed, 0).len(),
        1,
        "no source"
    );
    assert_eq!(
        format!("{storage_failed:?}"),
        format!(
            "Storage {{ status: 404 Not Found, url: RedactedUrl(\"{}/gone.json?<redacted>\") }}",
            storage.uri()
        )
    );

    for err in [&api_failed, &decode, &io, &cut, &storage_failed] {
        assert_keeps_out(err, "SECRET");
    }
}

/// A storage request that fails on the way to a signed URL (here: the connection is refused,
/// which `reqwest` reports with the URL it was sending to) shows the signature neither in the
/// download's error nor in a `Transport` error built from such a `reqwest::Error` by hand.
#[tokio::test]
async fn transport_errors_never_show_the_signature() {
    let api = MockServer::start().await;
    let port = refusing_port().await;
    let signed =
        format!("http://127.0.0.1:{port}/t.json?X-Goog-Signature=SECRET&X-Goog-Expires=900");
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/refused/transcript"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", signed.as_str()))
        .mount(&api)
        .await;
    let client = client(&api);

    let refused = client
        .download_transcript("refused")
        .bytes()
        .await
        .unwrap_err();
    let DownloadError::Transport(cause) = &refused else {
        panic!("expected a transport error, got {refused:?}");
    };
    assert!(cause.is_connect(), "{refused:?}");
    let lines = assert_names_its_cause(&refused, 1);
    assert!(
        lines[0].starts_with("the storage transfer failed: "),
        "{lines:?}"
    );
    assert!(
        format!("{refused:?}").starts_with("Transport { timeout: false, connect: true, error: "),
        "{refused:?}"
    );
    assert_keeps_out(&refused, "SECRET");
    assert_keeps_out(&refused, "X-Goog-Expires");

    // The same failure as `reqwest` reports it, URL included, wrapped by hand.
    let http = oz_api_ext::oz_api::http_client_builder()
        .unwrap()
        .build()
        .unwrap();
    let raw = http.get(&signed).send().await.unwrap_err();
    assert!(
        raw.to_string().contains("SECRET"),
        "reqwest names the URL: {raw}"
    );
    let wrapped = DownloadError::Transport(raw);
    let shown = wrapped.to_string();
    let debug = format!("{wrapped:?}");
    for text in [&shown, &debug] {
        assert!(!text.contains("SECRET"), "{text}");
        assert!(
            text.contains(&format!("127.0.0.1:{port}/t.json?<redacted>")),
            "{text}"
        );
    }
}
