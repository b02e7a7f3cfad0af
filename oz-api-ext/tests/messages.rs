//! The inbox stream, and the client's calls that read and acknowledge what it yields, against a
//! real local server on tokio's paused clock (the server runs on the test's runtime, see
//! `support`); the pauses themselves are covered by the poll engine's unit tests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use oz_api_ext::MessagesExt;
use oz_api_ext::oz_api::Config;
use serde_json::{Value, json};

mod support;
use support::{Mock, MockServer, Request, Respond, ResponseTemplate, method, path};

const FAST: Duration = Duration::from_millis(1);
const INBOX_PATH: &str = "/api/v1/agent/messages/run-7";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("RFC 3339 time")
}

/// A message header sent at second `second` of a fixed minute.
fn header(id: &str, second: u32) -> Value {
    json!({
        "message_id": id,
        "sender_run_id": "run-parent",
        "subject": format!("subject {id}"),
        "sent_at": format!("2025-03-14T09:26:{second:02}Z"),
    })
}

/// Answers the n-th poll with the n-th page, then with empty pages.
#[derive(Clone)]
struct Script(Arc<Mutex<VecDeque<Vec<Value>>>>);

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let page = self.0.lock().unwrap().pop_front().unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(page)
    }
}

async fn mount_inbox(server: &MockServer, pages: Vec<Vec<Value>>) {
    Mock::given(method("GET"))
        .and(path(INBOX_PATH))
        .respond_with(Script(Arc::new(Mutex::new(pages.into()))))
        .mount(server)
        .await;
}

fn query(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test(start_paused = true)]
async fn overlapping_polls_yield_each_message_once() {
    let server = MockServer::start().await;
    mount_inbox(
        &server,
        vec![
            // Out of order within the page; m2 and m3 share a timestamp.
            vec![header("m2", 20), header("m1", 10)],
            vec![header("m2", 20), header("m3", 20)],
            vec![],
            vec![header("m3", 20), header("m1", 10), header("m4", 30)],
        ],
    )
    .await;
    let client = support::client_without_timers(&server, 0);
    let mut inbox = client
        .inbox("run-7")
        .unread(true)
        .min_delay(FAST)
        .max_delay(FAST)
        .stream();

    let mut ids = Vec::new();
    while ids.len() < 4 {
        let header = inbox.next().await.expect("endless").expect("poll works");
        ids.push(header.message_id);
    }

    assert_eq!(ids, ["m1", "m2", "m3", "m4"]);
    assert_eq!(inbox.since(), Some(at("2025-03-14T09:26:30Z")));
    // The polls; the inbox also asked once for the event stream, which this server refuses.
    let (streams, requests): (Vec<_>, Vec<_>) = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .partition(|r| r.url.path() == "/api/v1/agent/events/stream");
    assert_eq!(streams.len(), 1);
    assert_eq!(requests.len(), 4);
    assert!(
        requests
            .iter()
            .all(|r| query(r, "unread").as_deref() == Some("true"))
    );
    let since: Vec<Option<DateTime<Utc>>> = requests
        .iter()
        .map(|r| query(r, "since").map(|s| at(&s)))
        .collect();
    let boundary = Some(at("2025-03-14T09:26:20Z"));
    assert_eq!(since, [None, boundary, boundary, boundary]);
}

#[tokio::test(start_paused = true)]
async fn resumes_from_a_saved_time() {
    let server = MockServer::start().await;
    mount_inbox(
        &server,
        vec![vec![header("m0", 5), header("m1", 10), header("m2", 20)]],
    )
    .await;
    let client = support::client_without_timers(&server, 0);
    let saved = at("2025-03-14T09:26:10Z");
    let mut inbox = client
        .inbox("run-7")
        .since(saved)
        .limit(10)
        .min_delay(FAST)
        .max_delay(FAST)
        .stream();

    let first = inbox.next().await.unwrap().unwrap();
    let second = inbox.next().await.unwrap().unwrap();

    // m0 was sent before the saved time; m1 at it (inclusive) is new to this stream.
    assert_eq!(
        (first.message_id.as_str(), second.message_id.as_str()),
        ("m1", "m2")
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(query(&requests[0], "since").map(|s| at(&s)), Some(saved));
    assert_eq!(query(&requests[0], "limit").as_deref(), Some("10"));
    assert_eq!(query(&requests[0], "unread"), None);
}

#[tokio::test(start_paused = true)]
async fn a_header_from_the_inbox_is_read_and_acknowledged_with_the_client() {
    let server = MockServer::start().await;
    mount_inbox(&server, vec![vec![header("m1", 10)]]).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/messages/m1/read"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "message_id": "m1",
            "sender_run_id": "run-parent",
            "subject": "subject m1",
            "body": "Please rebase on main.",
            "sent_at": "2025-03-14T09:26:10Z",
            "read_at": "2025-03-14T09:27:00Z",
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agent/messages/m1/delivered"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let client = support::client_without_timers(&server, 0);
    let mut inbox = client
        .inbox("run-7")
        .min_delay(FAST)
        .max_delay(FAST)
        .stream();

    let header = inbox.next().await.unwrap().unwrap();
    client
        .mark_agent_message_delivered()
        .message_id(&header.message_id)
        .send()
        .await
        .expect("delivered");
    let message = client
        .read_agent_message()
        .message_id(&header.message_id)
        .send()
        .await
        .expect("read")
        .into_inner();

    assert_eq!(message.body, "Please rebase on main.");
    assert_eq!(message.read_at, Some(at("2025-03-14T09:27:00Z")));
    let requests = server.received_requests().await.unwrap();
    let posts: Vec<&str> = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| r.url.path())
        .collect();
    assert_eq!(
        posts,
        [
            "/api/v1/agent/messages/m1/delivered",
            "/api/v1/agent/messages/m1/read"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_api_error_ends_the_inbox() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(INBOX_PATH))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "title": "Not Found", "status": 404, "detail": "no run run-7"
        })))
        .mount(&server)
        .await;
    let client = support::client_without_timers(&server, 0);
    let mut inbox = client.inbox("run-7").stream();

    let err = inbox.next().await.unwrap().expect_err("404");

    assert_eq!(err.operation(), "list_agent_messages");
    assert!(
        err.to_string()
            .starts_with("list_agent_messages failed: 404"),
        "{err}"
    );
    assert_eq!(
        err.api_error().and_then(|e| e.status()).map(|s| s.as_u16()),
        Some(404)
    );
    assert!(inbox.next().await.is_none());
}

#[test]
fn inbox_streams_can_move_to_spawned_tasks() {
    fn assert_send<T: Send>(_: &T) {}
    let client = Config::new(support::TEST_KEY)
        .build()
        .expect("valid configuration");
    let inbox = client.inbox("run-7").stream();
    assert_send(&inbox);
}
