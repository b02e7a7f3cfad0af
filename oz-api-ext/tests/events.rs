//! The event tail against a real local server that answers each poll from a script, on
//! tokio's paused clock: the server runs on the test's runtime (see `support`), so the pauses
//! between polls are exact and a test that waits for nothing to happen takes no real time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use oz_api_ext::oz_api::Config;
use oz_api_ext::{EventsExt, Transport};
use serde_json::{Value, json};
use tokio::time::Instant;

mod support;
use support::{Mock, MockServer, Request, Respond, ResponseTemplate, method, path};

const FAST: Duration = Duration::from_millis(1);

fn event(sequence: i64) -> Value {
    json!({
        "run_id": if sequence % 2 == 0 { "run-b" } else { "run-a" },
        "event_type": "run_in_progress",
        "sequence": sequence,
        "occurred_at": "2025-03-14T09:26:53Z",
    })
}

/// Answers the n-th poll with the n-th page (an empty page once the script is over) and notes
/// when each poll arrived.
#[derive(Clone)]
struct Script {
    pages: Arc<Mutex<VecDeque<Vec<i64>>>>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Script {
    fn new(pages: &[&[i64]]) -> Self {
        Self {
            pages: Arc::new(Mutex::new(pages.iter().map(|p| p.to_vec()).collect())),
            arrivals: Arc::default(),
        }
    }

    async fn mount(&self, server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/api/v1/agent/events"))
            .respond_with(self.clone())
            .mount(server)
            .await;
    }

    fn gaps(&self) -> Vec<Duration> {
        let arrivals = self.arrivals.lock().unwrap();
        arrivals.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.arrivals.lock().unwrap().push(Instant::now());
        let page = self.pages.lock().unwrap().pop_front().unwrap_or_default();
        let body: Vec<Value> = page.into_iter().map(event).collect();
        ResponseTemplate::new(200).set_body_json(body)
    }
}

/// The `since` of every poll the server received, and the run ids of the first (an attempt
/// to open the stream, which the server refuses with a 404, left out).
async fn sent(server: &MockServer) -> (Vec<String>, Vec<String>) {
    let requests: Vec<_> = server
        .received_requests()
        .await
        .expect("recording is on")
        .into_iter()
        .filter(|r| r.url.path() == "/api/v1/agent/events")
        .collect();
    let since = requests
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "since")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    let run_ids = requests[0]
        .url
        .query_pairs()
        .filter(|(k, _)| k == "run_ids")
        .map(|(_, v)| v.into_owned())
        .collect();
    (since, run_ids)
}

#[tokio::test(start_paused = true)]
async fn gaps_and_repeats_yield_each_event_once_in_order() {
    let server = MockServer::start().await;
    let script = Script::new(&[&[1, 2, 3], &[3, 5], &[], &[5, 6]]);
    script.mount(&server).await;
    let client = support::client_without_timers(&server, 0);
    let mut events = client
        .events(["run-a", "run-b"])
        .min_delay(FAST)
        .max_delay(FAST)
        .stream();

    let mut sequences = Vec::new();
    let mut cursors = Vec::new();
    while sequences.len() < 5 {
        let event = events.next().await.expect("endless").expect("poll works");
        sequences.push(event.sequence);
        cursors.push(events.since());
    }

    assert_eq!(sequences, [1, 2, 3, 5, 6]);
    assert_eq!(cursors, [1, 2, 3, 5, 6]);
    let (since, run_ids) = sent(&server).await;
    assert_eq!(since, ["0", "3", "5", "5"]);
    assert_eq!(run_ids, ["run-a", "run-b"]);
}

#[tokio::test(start_paused = true)]
async fn resumes_after_a_saved_cursor() {
    let server = MockServer::start().await;
    // A server that repeats the boundary event and an older one.
    let script = Script::new(&[&[4, 5, 6, 7]]);
    script.mount(&server).await;
    let client = support::client_without_timers(&server, 0);
    let saved = 5;

    let mut events = client
        .events(["run-a"])
        .since(saved)
        .limit(50)
        .transport(Transport::Poll)
        .min_delay(FAST)
        .max_delay(FAST)
        .stream();
    assert_eq!(events.since(), 5);
    let first = events.next().await.unwrap().unwrap();
    let second = events.next().await.unwrap().unwrap();

    assert_eq!((first.sequence, second.sequence), (6, 7));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let query = requests[0].url.query().unwrap_or_default();
    assert!(
        query.contains("since=5") && query.contains("limit=50"),
        "{query}"
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_is_sent_until_polled() {
    let server = MockServer::start().await;
    Script::new(&[&[1]]).mount(&server).await;
    let client = support::client_without_timers(&server, 0);

    let events = client.events(["run-a"]).stream();
    tokio::time::sleep(Duration::from_secs(60)).await;
    drop(events);

    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn idle_polls_back_off_and_news_resets_the_wait() {
    let server = MockServer::start().await;
    let script = Script::new(&[&[1], &[], &[], &[], &[2], &[3]]);
    script.mount(&server).await;
    let client = support::client_without_timers(&server, 0);
    let min = Duration::from_millis(40);
    let max = Duration::from_millis(100);
    let mut events = client
        .events(["run-a"])
        .min_delay(min)
        .max_delay(max)
        .stream();

    assert_eq!(events.next().await.unwrap().unwrap().sequence, 1);
    assert_eq!(events.next().await.unwrap().unwrap().sequence, 2);
    assert_eq!(events.next().await.unwrap().unwrap().sequence, 3);

    // After [1]: min; after each empty poll: 40, 80, then capped at 100; after [2]: min.
    let expected = [40, 40, 80, 100, 40].map(Duration::from_millis);
    assert_eq!(script.gaps(), expected);
}

#[tokio::test(start_paused = true)]
async fn an_api_error_ends_the_stream() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/events"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "title": "Forbidden", "status": 403, "detail": "not your run"
        })))
        .mount(&server)
        .await;
    let client = support::client_without_timers(&server, 0);
    let mut events = client.events(["run-a"]).transport(Transport::Poll).stream();

    let err = events.next().await.unwrap().expect_err("forbidden");

    assert_eq!(err.operation(), "poll_agent_events");
    assert!(
        err.to_string().starts_with("poll_agent_events failed: 403"),
        "{err}"
    );
    assert_eq!(
        err.api_error().and_then(|e| e.status()).map(|s| s.as_u16()),
        Some(403)
    );
    assert!(events.next().await.is_none());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn no_run_ids_is_a_clear_error() {
    let server = MockServer::start().await;
    let client = support::client_without_timers(&server, 0);
    let mut events = client.events(Vec::<String>::new()).stream();

    let err = events.next().await.unwrap().expect_err("no run ids");

    assert!(err.to_string().contains("at least one run id"), "{err}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[test]
fn streams_can_move_to_spawned_tasks() {
    fn assert_send<T: Send>(_: &T) {}
    let client = Config::new(support::TEST_KEY)
        .build()
        .expect("valid configuration");
    assert_send(&client.events(["run-a"]).stream());
}
