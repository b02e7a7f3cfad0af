//! Answers the client reads whole are bounded by `Config::max_response_bytes`; streamed
//! downloads are not.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{API_KEY, run_json};
use oz_api::{Config, ConfigError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MIB: u64 = 1024 * 1024;

/// Reads one request's head (up to the blank line) from `stream`.
async fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&byte[..n]),
        }
    }
}

/// A server on loopback answering every request with `head` and then, when `endless`, a
/// chunked body that never ends. Returns its base URL, the body bytes it got written, and a
/// receiver that resolves when a connection's writer stopped (the client went away).
async fn raw_server(
    head: &'static str,
    endless: bool,
) -> (String, Arc<AtomicU64>, tokio::sync::mpsc::Receiver<()>) {
    let socket = TcpSocket::new_v4().unwrap();
    // A small send buffer keeps what the kernel holds for the client out of the count.
    socket.set_send_buffer_size(64 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener: TcpListener = socket.listen(16).unwrap();
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicU64::new(0));
    let (stopped_tx, stopped) = tokio::sync::mpsc::channel(16);
    let counter = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            let stopped_tx = stopped_tx.clone();
            tokio::spawn(async move {
                read_head(&mut stream).await;
                if stream.write_all(head.as_bytes()).await.is_ok() && endless {
                    let data = vec![b'7'; 64 * 1024];
                    let chunk =
                        [format!("{:x}\r\n", data.len()).as_bytes(), &data, b"\r\n"].concat();
                    while stream.write_all(&chunk).await.is_ok() {
                        counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                } else {
                    // Holds the connection open without a body.
                    let mut sink = [0u8; 64];
                    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                }
                let _ = stopped_tx.send(()).await;
            });
        }
    });
    (base, sent, stopped)
}

#[tokio::test]
async fn an_endless_success_body_fails_at_the_limit_with_a_clear_error() {
    let (base, sent, mut stopped) = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
        true,
    )
    .await;
    let client = common::config_for(&base)
        .max_response_bytes(4 * MIB)
        .build()
        .unwrap();

    let err = client.get_run().run_id("run_1").send().await.unwrap_err();

    assert!(matches!(err, oz_api::Error::ResponseBody(_)), "{err:?}");
    let line = err.to_string();
    assert!(
        line.contains(
            "the answer exceeded 4 MiB (4194304 bytes), the limit of Config::max_response_bytes"
        ),
        "{line}"
    );
    assert!(!err.is_transient(), "as large the next time: {line}");
    // The connection is dropped at the limit: the server's writes fail soon after.
    tokio::time::timeout(Duration::from_secs(30), stopped.recv())
        .await
        .expect("the client dropped the connection");
    let sent = sent.load(Ordering::Relaxed);
    assert!(sent >= 4 * MIB, "{sent}");
    assert!(sent <= 12 * MIB, "read on after the limit: {sent} bytes");
}

#[tokio::test]
async fn a_declared_length_over_the_limit_fails_before_any_body_is_read() {
    // The body never comes: only the declared length can end the call before the timeout.
    let (base, _, _stopped) = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10000000000\r\n\r\n",
        false,
    )
    .await;
    let client = common::config_for(&base)
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();

    let err = tokio::time::timeout(
        Duration::from_secs(30),
        client.get_run().run_id("run_1").send(),
    )
    .await
    .expect("no wait for a body")
    .unwrap_err();

    let line = err.to_string();
    assert!(
        line.contains("the answer exceeded 64 MiB (67108864 bytes)"),
        "the default limit: {line}"
    );
    assert_eq!(oz_api::DEFAULT_MAX_RESPONSE_BYTES, 64 * MIB);
}

#[tokio::test]
async fn an_answer_within_the_limit_decodes_and_one_byte_less_of_limit_refuses_it() {
    let server = MockServer::start().await;
    let mut run = run_json("run_1", "SUCCEEDED");
    run["prompt"] = serde_json::json!("p".repeat(MIB as usize));
    let body = serde_json::to_vec(&run).unwrap();
    let length = body.len() as u64;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    let client = |limit| {
        common::config_for(&common::base_url(&server))
            .max_response_bytes(limit)
            .build()
            .unwrap()
    };

    let run = client(length)
        .get_run()
        .run_id("run_1")
        .send()
        .await
        .unwrap();
    assert_eq!(run.prompt.len(), MIB as usize);
    let err = client(length - 1)
        .get_run()
        .run_id("run_1")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("the answer exceeded {} bytes", length - 1)),
        "{err}"
    );
}

#[tokio::test]
async fn streamed_downloads_are_not_bounded_by_the_limit() {
    let server = MockServer::start().await;
    let transcript = vec![b'x'; 3 * MIB as usize];
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1/transcript"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(transcript, "application/json"))
        .mount(&server)
        .await;
    let client = common::config_for(&common::base_url(&server))
        .max_response_bytes(MIB)
        .build()
        .unwrap();

    let answer = client
        .get_run_transcript()
        .run_id("run_1")
        .send()
        .await
        .unwrap();
    let mut stream = answer.into_inner_stream();
    let mut read = 0;
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        read += chunk.unwrap().len() as u64;
    }
    assert_eq!(read, 3 * MIB);
}

#[test]
fn a_zero_limit_is_refused_when_the_client_is_built() {
    let err = Config::new(API_KEY)
        .max_response_bytes(0)
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::InvalidMaxResponseBytes);
    assert!(err.to_string().contains("max_response_bytes"), "{err}");
}

#[tokio::test]
async fn a_create_answered_over_the_limit_says_the_run_was_created() {
    let declared = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10000000000\r\n\r\n",
        false,
    )
    .await;
    let endless = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
        true,
    )
    .await;

    for (base, how) in [(declared.0, "declared length"), (endless.0, "endless body")] {
        let client = common::config_for(&base)
            .max_response_bytes(MIB)
            .build()
            .unwrap();
        let request = oz_api::types::RunAgentRequest::builder().prompt("Fix the flaky test");

        let err = client.create_run().body(request).send().await.unwrap_err();

        assert!(
            matches!(err, oz_api::Error::ResponseBody(_)),
            "{how}: {err:?}"
        );
        let line = err.to_string();
        assert!(
            line.contains("the answer exceeded 1 MiB (1048576 bytes)"),
            "{how}: {line}"
        );
        assert!(
            line.contains(
                "create_run answered 200 but its answer exceeded the limit: the run was created; \
                 list_runs with created_after"
            ),
            "{how}: {line}"
        );
        assert_eq!(err.unknown_outcome(), Some("create_run"), "{how}");
        assert!(!err.is_transient(), "{how}: {line}");
        assert!(!line.contains('\n'), "{how}: {line}");
    }
}
