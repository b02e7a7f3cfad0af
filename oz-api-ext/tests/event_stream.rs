//! Event tails over the real-time stream, and their fallback to polling, against a small local
//! server that serves the stream (`text/event-stream`, one connection per plan), the polls
//! and the children listing from one event log. Every stream it serves starts with a comment
//! and two messages that are not events (text, then JSON that is not an event), which the
//! tails skip. It runs on the test's runtime on tokio's
//! paused clock, so reconnect pauses and recycling are exact and take no real time.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use oz_api_ext::oz_api::types::{RunAgentRequest, RunState};
use oz_api_ext::oz_api::{Client, Config};
use oz_api_ext::{
    EventStream, EventsExt, MessagesExt, RunWaitExt, STREAM_REFUSAL_MEMORY, Transport,
    WaitForRunsExt,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const KEY: &str = "wk-3c5e9a71-SECRET-realtime";
const STREAM_PATH: &str = "/api/v1/agent/events/stream";
const POLL_PATH: &str = "/api/v1/agent/events";
const RUNS_PATH: &str = "/api/v1/agent/runs";

/// How one connection to the stream is answered.
#[derive(Clone, Debug)]
enum Plan {
    /// An error answer with this status.
    Refuse(u16),
    /// A `200` with a JSON body.
    NotAStream,
    /// The events of the log above the request's `since` (at most `count`), then `end`.
    Serve { count: Option<usize>, end: End },
}

#[derive(Clone, Copy, Debug)]
enum End {
    /// The connection stays open; events appended to the log later are sent as they come.
    Hold,
    /// The server closes the connection.
    Close,
    /// Half of the next event, then the connection is closed.
    Cut,
}

/// A request the server received.
#[derive(Clone, Debug)]
struct Received {
    at: Instant,
    path: String,
    query: String,
    authorization: Option<String>,
}

impl Received {
    fn param(&self, name: &str) -> Vec<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .collect()
    }
}

#[derive(Default)]
struct Shared {
    plans: Mutex<VecDeque<Plan>>,
    log: Mutex<Vec<Value>>,
    children: Mutex<Vec<String>>,
    /// The headers `GET /agent/messages/{id}` answers with, for any run.
    messages: Mutex<Vec<Value>>,
    /// The state `GET /agent/runs/{id}` answers with (`INPROGRESS` for runs not named).
    states: Mutex<std::collections::HashMap<String, String>>,
    received: Mutex<Vec<Received>>,
    /// Wakes held streams when the log grows.
    grew: tokio::sync::Notify,
}

struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Server {
    async fn start(plans: impl IntoIterator<Item = Plan>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        shared.plans.lock().unwrap().extend(plans);
        let serving = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, serving.clone()));
            }
        });
        Self {
            addr,
            shared,
            accept,
        }
    }

    fn api_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    fn emit(&self, sequence: i64, run_id: &str, event_type: &str) {
        self.shared
            .log
            .lock()
            .unwrap()
            .push(event(sequence, run_id, event_type));
        self.shared.grew.notify_waiters();
    }

    fn received(&self, path: &str) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    fn all_received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }
}

fn event(sequence: i64, run_id: &str, event_type: &str) -> Value {
    json!({
        "run_id": run_id,
        "event_type": event_type,
        "sequence": sequence,
        "occurred_at": "2026-12-07T09:26:53Z",
    })
}

fn run_json(run_id: &str, state: &str) -> Value {
    json!({
        "run_id": run_id, "task_id": run_id, "title": "t", "state": state,
        "prompt": "p", "created_at": "2026-12-07T09:26:53Z", "updated_at": "2026-12-07T09:26:53Z"
    })
}

fn sse(event: &Value) -> Vec<u8> {
    format!("data: {event}\n\n").into_bytes()
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    // The body is read (and ignored) before the answer, so that closing the connection does
    // not reset it.
    let length: usize = head
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let method = request_line
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    let target = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let authorization = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.trim().to_owned());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let received = Received {
        at: Instant::now(),
        path: path.to_owned(),
        query: query.to_owned(),
        authorization,
    };
    shared.received.lock().unwrap().push(received.clone());
    let since: i64 = received
        .param("since")
        .first()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let answer = |status: u16, content_type: &str, body: &[u8]| {
        let mut out = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    };
    let out = match path {
        RUNS_PATH if method == "POST" => {
            let body = json!({"run_id": "run-a", "state": "QUEUED"});
            answer(200, "application/json", &serde_json::to_vec(&body).unwrap())
        }
        POLL_PATH => {
            let run_ids = received.param("run_ids");
            let events: Vec<Value> = shared
                .log
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e["sequence"].as_i64().unwrap() > since)
                .filter(|e| run_ids.iter().any(|id| e["run_id"] == id.as_str()))
                .cloned()
                .collect();
            answer(
                200,
                "application/json",
                &serde_json::to_vec(&events).unwrap(),
            )
        }
        RUNS_PATH => {
            // The children, whatever the filters say (the waits check what they get).
            let states = shared.states.lock().unwrap().clone();
            let runs: Vec<Value> = shared
                .children
                .lock()
                .unwrap()
                .iter()
                .map(|id| run_json(id, states.get(id).map_or("INPROGRESS", |s| s)))
                .collect();
            let body = json!({"runs": runs, "page_info": {"has_next_page": false}});
            answer(200, "application/json", &serde_json::to_vec(&body).unwrap())
        }
        STREAM_PATH => {
            let plan = shared.plans.lock().unwrap().pop_front();
            match plan.unwrap_or(Plan::Serve {
                count: None,
                end: End::Hold,
            }) {
                Plan::Refuse(status) => answer(
                    status,
                    "application/json",
                    br#"{"title":"refused","status":401}"#,
                ),
                Plan::NotAStream => answer(200, "application/json", b"[]"),
                Plan::Serve { count, end } => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n: welcome\n\ndata: not json\r\n\r\ndata: {\"run_id\": \"run-a\"}\n\n";
                    if stream.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let mut cursor = since;
                    let mut sent = 0;
                    loop {
                        let grew = shared.grew.notified();
                        let next: Vec<Value> = shared
                            .log
                            .lock()
                            .unwrap()
                            .iter()
                            .filter(|e| e["sequence"].as_i64().unwrap() > cursor)
                            .cloned()
                            .collect();
                        for event in next {
                            if count.is_some_and(|count| sent >= count) {
                                break;
                            }
                            if stream.write_all(&sse(&event)).await.is_err() {
                                return;
                            }
                            cursor = event["sequence"].as_i64().unwrap();
                            sent += 1;
                        }
                        if count.is_some_and(|count| sent >= count) {
                            break;
                        }
                        match end {
                            End::Hold => grew.await,
                            _ => break,
                        }
                    }
                    if let End::Cut = end {
                        let _ = stream.write_all(b"data: {\"run_id\":\"run-a\",\"seq").await;
                    }
                    return;
                }
            }
        }
        _ if path.starts_with("/api/v1/agent/messages/") => {
            let messages = shared.messages.lock().unwrap().clone();
            answer(
                200,
                "application/json",
                &serde_json::to_vec(&messages).unwrap(),
            )
        }
        _ if path.starts_with("/api/v1/agent/runs/") => {
            let run_id = &path["/api/v1/agent/runs/".len()..];
            let state = shared.states.lock().unwrap().get(run_id).cloned();
            let run = run_json(run_id, state.as_deref().unwrap_or("INPROGRESS"));
            answer(200, "application/json", &serde_json::to_vec(&run).unwrap())
        }
        _ => answer(404, "application/json", b"{}"),
    };
    let _ = stream.write_all(&out).await;
}

/// A client of the server whose HTTP layer arms no timer of its own (no per-attempt time
/// limit, no idle-connection timer): on the paused clock, time moves only when the code under
/// test sleeps.
fn client(config: Config) -> Client {
    let base_url = config.base_url_str().to_owned();
    let configured = config.max_retries(0).build().unwrap();
    let http = oz_api_ext::oz_api::http_client_builder()
        .unwrap()
        .pool_idle_timeout(None)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Client::new_with_client(&base_url, http, configured.state().clone())
}

fn client_of(server: &Server) -> Client {
    client(Config::new(KEY).base_url(server.api_url()))
}

async fn take(events: &mut EventStream, n: usize) -> Vec<i64> {
    let mut sequences = Vec::new();
    while sequences.len() < n {
        let event = events.next().await.expect("endless").expect("no error");
        sequences.push(event.sequence);
    }
    sequences
}

/// The offsets in whole seconds of the requests to `path`, from the first one.
fn offsets(server: &Server, path: &str) -> Vec<u64> {
    let received = server.received(path);
    received
        .iter()
        .map(|r| (r.at - received[0].at).as_secs())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn events_arrive_over_the_stream_each_once_in_order() {
    let server = Server::start([]).await;
    server.emit(1, "run-a", "run_in_progress");
    server.emit(2, "run-b", "run_in_progress");
    let client = client_of(&server);
    let mut events = client.events(["run-a", "run-b"]).stream();
    assert_eq!(events.transport(), Transport::Stream);

    assert_eq!(take(&mut events, 2).await, [1, 2]);
    server.emit(3, "run-a", "run_succeeded");
    let third = events.next().await.unwrap().unwrap();
    assert_eq!(third.sequence, 3);
    assert_eq!(events.since(), 3);
    assert_eq!(events.transport(), Transport::Stream);

    let streams = server.received(STREAM_PATH);
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].param("run_ids[]"), ["run-a", "run-b"]);
    assert_eq!(streams[0].param("since"), ["0"]);
    assert!(server.received(POLL_PATH).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_cut_stream_is_reopened_from_the_last_sequence_without_loss_or_repeat() {
    let server = Server::start([
        Plan::Serve {
            count: Some(2),
            end: End::Cut,
        },
        Plan::Serve {
            count: Some(1),
            end: End::Close,
        },
    ])
    .await;
    for sequence in 1..=5 {
        server.emit(sequence, "run-a", "run_in_progress");
    }
    let client = client_of(&server);
    let mut events = client.events(["run-a"]).since(0).stream();

    assert_eq!(take(&mut events, 5).await, [1, 2, 3, 4, 5]);

    let since: Vec<String> = server
        .received(STREAM_PATH)
        .iter()
        .map(|r| r.param("since")[0].clone())
        .collect();
    assert_eq!(since, ["0", "2", "3"]);
    // A cut, then a close by the server: 1 s, then 1 s again (the event in between reset the
    // count of failures).
    assert_eq!(offsets(&server, STREAM_PATH), [0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn repeated_failures_back_off_one_two_five_ten_then_ten_seconds() {
    let close = Plan::Serve {
        count: Some(0),
        end: End::Close,
    };
    let server = Server::start([
        Plan::Serve {
            count: Some(1),
            end: End::Close,
        },
        close.clone(),
        close.clone(),
        Plan::Refuse(503),
        close.clone(),
    ])
    .await;
    server.emit(1, "run-a", "run_in_progress");
    let client = client_of(&server);
    let mut events = client.events(["run-a"]).stream();
    assert_eq!(take(&mut events, 1).await, [1]);
    server.emit(2, "run-a", "run_succeeded");

    assert_eq!(take(&mut events, 1).await, [2]);
    assert_eq!(offsets(&server, STREAM_PATH), [0, 1, 3, 8, 18, 28]);
    assert_eq!(events.transport(), Transport::Stream);
}

#[tokio::test(start_paused = true)]
async fn a_healthy_stream_is_recycled_after_its_period() {
    let server = Server::start([]).await;
    server.emit(1, "run-a", "run_in_progress");
    let client = client_of(&server);
    let mut events = client
        .events(["run-a"])
        .recycle_after(Duration::from_secs(60))
        .stream();
    assert_eq!(take(&mut events, 1).await, [1]);

    // Nothing happens for two periods: the stream is reopened after each, at once.
    let quiet = tokio::time::timeout(Duration::from_secs(150), events.next()).await;
    assert!(quiet.is_err(), "no event");
    server.emit(2, "run-a", "run_in_progress");
    assert_eq!(take(&mut events, 1).await, [2]);

    assert_eq!(offsets(&server, STREAM_PATH), [0, 60, 120]);
    let since: Vec<String> = server
        .received(STREAM_PATH)
        .iter()
        .map(|r| r.param("since")[0].clone())
        .collect();
    assert_eq!(since, ["0", "1", "1"]);
}

#[tokio::test(start_paused = true)]
async fn the_default_recycling_period_is_fourteen_minutes() {
    let server = Server::start([]).await;
    let client = client_of(&server);
    let mut events = client.events(["run-a"]).stream();
    let quiet = tokio::time::timeout(Duration::from_secs(15 * 60), events.next()).await;
    assert!(quiet.is_err(), "no event");
    assert_eq!(offsets(&server, STREAM_PATH), [0, 14 * 60]);
}

/// Falls back to polling after the stream was refused as `plan` says, and yields the log.
async fn falls_back(server: &Server, client: &Client) {
    server.emit(1, "run-a", "run_in_progress");
    server.emit(2, "run-a", "run_succeeded");
    let mut events = client.events(["run-a"]).stream();
    assert_eq!(events.transport(), Transport::Stream);

    assert_eq!(take(&mut events, 2).await, [1, 2]);
    assert_eq!(events.transport(), Transport::Poll);
    let polls = server.received(POLL_PATH);
    assert_eq!(polls[0].param("since"), ["0"]);
    assert!(
        client
            .event_stream_memo()
            .is_refused(Instant::now().into_std())
    );
}

#[tokio::test(start_paused = true)]
async fn refusals_and_answers_that_are_not_a_stream_fall_back_to_polling() {
    for plan in [
        Plan::Refuse(401),
        Plan::Refuse(403),
        Plan::Refuse(404),
        Plan::NotAStream,
    ] {
        let server = Server::start([plan.clone()]).await;
        let client = client_of(&server);
        falls_back(&server, &client).await;
        assert_eq!(server.received(STREAM_PATH).len(), 1, "{plan:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_stream_falls_back_to_polling() {
    let server = Server::start([]).await;
    let client = client(
        Config::new(KEY)
            .base_url(server.api_url())
            .realtime_url("http://127.0.0.1:1/api/v1"),
    );
    falls_back(&server, &client).await;
    assert!(server.received(STREAM_PATH).is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_client_and_its_clones_remember_a_refusal_for_a_while() {
    let server = Server::start([Plan::Refuse(401)]).await;
    let client = client_of(&server);
    falls_back(&server, &client).await;

    // Another tail, on a clone: polls at once, without asking the stream.
    let mut again = client.clone().events(["run-a"]).stream();
    assert_eq!(again.transport(), Transport::Poll);
    assert_eq!(take(&mut again, 2).await, [1, 2]);
    assert_eq!(server.received(STREAM_PATH).len(), 1);

    // Once the memory has passed, the stream is asked again (and now it answers).
    tokio::time::advance(STREAM_REFUSAL_MEMORY).await;
    let mut later = client.events(["run-a"]).stream();
    assert_eq!(later.transport(), Transport::Stream);
    assert_eq!(take(&mut later, 2).await, [1, 2]);
    assert_eq!(later.transport(), Transport::Stream);
    assert_eq!(server.received(STREAM_PATH).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_forced_stream_fails_on_a_refusal_and_forced_polls_never_ask_it() {
    let server = Server::start([Plan::Refuse(403)]).await;
    server.emit(1, "run-a", "run_in_progress");
    let client = client_of(&server);

    let mut events = client
        .events(["run-a"])
        .transport(Transport::Stream)
        .stream();
    let err = events.next().await.unwrap().expect_err("refused");
    assert_eq!(err.operation(), "stream_agent_events");
    assert_eq!(
        err.api_error().and_then(|e| e.status()).map(|s| s.as_u16()),
        Some(403)
    );
    assert!(events.next().await.is_none());
    assert!(server.received(POLL_PATH).is_empty());
    // A forced stream's refusal is not remembered as a fallback.
    assert!(client.event_stream_memo().refused_until().is_none());

    let mut polled = client.events(["run-a"]).transport(Transport::Poll).stream();
    assert_eq!(polled.transport(), Transport::Poll);
    assert_eq!(take(&mut polled, 1).await, [1]);
    assert_eq!(server.received(STREAM_PATH).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn three_refusals_in_a_row_end_a_stream_that_worked() {
    let plans = || {
        [
            Plan::Serve {
                count: Some(1),
                end: End::Close,
            },
            Plan::Refuse(401),
            Plan::Refuse(403),
            Plan::Refuse(401),
        ]
    };
    // Forced: an error after the third refusal, 30 s apart.
    let server = Server::start(plans()).await;
    server.emit(1, "run-a", "run_in_progress");
    let client = client_of(&server);
    let mut events = client
        .events(["run-a"])
        .transport(Transport::Stream)
        .stream();
    assert_eq!(take(&mut events, 1).await, [1]);
    let err = events.next().await.unwrap().expect_err("gave up");
    assert_eq!(err.operation(), "stream_agent_events");
    assert_eq!(offsets(&server, STREAM_PATH), [0, 1, 31, 61]);

    // Automatic: polls instead, from where the stream stopped.
    let server = Server::start(plans()).await;
    server.emit(1, "run-a", "run_in_progress");
    let client = client_of(&server);
    let mut events = client.events(["run-a"]).stream();
    assert_eq!(take(&mut events, 1).await, [1]);
    server.emit(2, "run-a", "run_succeeded");
    assert_eq!(take(&mut events, 1).await, [2]);
    assert_eq!(events.transport(), Transport::Poll);
    assert_eq!(server.received(POLL_PATH)[0].param("since"), ["1"]);
}

#[tokio::test(start_paused = true)]
async fn the_children_form_over_the_stream() {
    let server = Server::start([]).await;
    server.emit(1, "run-child-1", "run_in_progress");
    server.emit(2, "run-parent", "child_agent_started");
    let client = client_of(&server);
    let mut events = client
        .events_of_children("run-parent")
        .include_self(true)
        .stream();

    assert_eq!(take(&mut events, 2).await, [1, 2]);
    // A child started later: the server adds it to the stream.
    server.emit(3, "run-child-2", "run_in_progress");
    assert_eq!(take(&mut events, 1).await, [3]);

    let stream = &server.received(STREAM_PATH)[0];
    assert_eq!(stream.param("ancestor_run_id"), ["run-parent"]);
    assert_eq!(stream.param("include_self"), ["true"]);
    assert_eq!(stream.param("since"), ["0"]);
    assert!(stream.param("run_ids[]").is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_children_form_polls_the_listed_children_and_reads_new_ones_from_the_start() {
    let server = Server::start([Plan::Refuse(404)]).await;
    server
        .shared
        .children
        .lock()
        .unwrap()
        .push("run-child-1".into());
    server.emit(1, "run-child-1", "run_in_progress");
    server.emit(2, "run-child-2", "run_in_progress"); // not listed yet
    server.emit(3, "run-parent", "child_agent_started");
    server.emit(4, "run-child-1", "run_succeeded");
    let client = client_of(&server);
    let mut events = client
        .events_of_children("run-parent")
        .include_self(true)
        .min_delay(Duration::from_secs(1))
        .stream();

    assert_eq!(take(&mut events, 3).await, [1, 3, 4]);
    assert_eq!(events.transport(), Transport::Poll);
    // The second child shows up in the listing: its events from the start, once.
    server
        .shared
        .children
        .lock()
        .unwrap()
        .push("run-child-2".into());
    server.emit(5, "run-child-1", "run_in_progress");
    assert_eq!(take(&mut events, 2).await, [2, 5]);
    assert_eq!(events.since(), 5);
    let quiet = tokio::time::timeout(Duration::from_secs(60), events.next()).await;
    assert!(quiet.is_err(), "nothing repeated");

    let listings = server.received(RUNS_PATH);
    assert_eq!(listings[0].param("ancestor_run_id"), ["run-parent"]);
}

#[tokio::test(start_paused = true)]
async fn include_self_on_given_runs_is_a_clear_error() {
    let server = Server::start([]).await;
    let client = client_of(&server);
    let mut events = client.events(["run-a"]).include_self(true).stream();
    let err = events.next().await.unwrap().expect_err("misplaced");
    assert!(err.to_string().contains("events_of_children"), "{err}");
    assert!(server.all_received().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_key_goes_to_the_api_and_the_realtime_origin_only() {
    let api = Server::start([]).await;
    let realtime = Server::start([
        Plan::Serve {
            count: Some(1),
            end: End::Close,
        },
        Plan::Refuse(401),
        Plan::Refuse(401),
        Plan::Refuse(401),
    ])
    .await;
    realtime.emit(1, "run-a", "run_in_progress");
    api.emit(1, "run-a", "run_in_progress");
    api.emit(2, "run-a", "run_succeeded");
    let client = client(
        Config::new(KEY)
            .base_url(api.api_url())
            .realtime_url(realtime.api_url()),
    );
    let mut events = client.events(["run-a"]).stream();
    assert_eq!(take(&mut events, 2).await, [1, 2]);
    assert_eq!(events.transport(), Transport::Poll);

    let bearer = format!("Bearer {KEY}");
    let to_realtime = realtime.all_received();
    assert_eq!(to_realtime.len(), 4);
    assert!(to_realtime.iter().all(|r| r.path == STREAM_PATH));
    assert!(
        to_realtime
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&*bearer))
    );
    let to_api = api.all_received();
    assert!(to_api.iter().all(|r| r.path == POLL_PATH));
    assert!(
        to_api
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&*bearer))
    );
    let shown = format!("{events:?} {:?}", client.events(["run-a"]));
    assert!(!shown.contains("SECRET"), "{shown}");
}

/// The run `run-a` ends `after` the wait started: its state changes, and with `event` the
/// stream reports it.
fn end_run_a(server: &Arc<Server>, after: Duration, event: bool) {
    let server = Arc::clone(server);
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        server
            .shared
            .states
            .lock()
            .unwrap()
            .insert("run-a".into(), "SUCCEEDED".into());
        if event {
            server.emit(2, "run-a", "run_succeeded");
        }
    });
}

const RUN_A_PATH: &str = "/api/v1/agent/runs/run-a";

#[tokio::test(start_paused = true)]
async fn a_wait_ends_on_the_event_that_reports_the_end() {
    let server = Arc::new(Server::start([]).await);
    server.emit(1, "run-a", "run_in_progress");
    let client = client_of(&server);
    end_run_a(&server, Duration::from_secs(45), true);

    let started = Instant::now();
    let run = client.wait_for_run("run-a").send().await.unwrap();

    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(started.elapsed(), Duration::from_secs(45));
    // One read, the stream, one read that confirms the end.
    assert_eq!(offsets(&server, RUN_A_PATH), [0, 45]);
    assert_eq!(server.received(STREAM_PATH).len(), 1);
    assert_eq!(server.all_received().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn run_and_wait_wakes_up_too() {
    let server = Arc::new(Server::start([]).await);
    let client = client_of(&server);
    end_run_a(&server, Duration::from_secs(10), true);
    let run = client
        .run_and_wait(RunAgentRequest::builder().prompt("Fix the flaky test"))
        .send()
        .await
        .unwrap();
    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(offsets(&server, RUN_A_PATH), [0, 10]);
    // The start, the first read, the stream and the read that confirms the end.
    assert_eq!(server.all_received().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_wait_ends_on_the_safety_poll_when_the_stream_stays_silent() {
    let server = Arc::new(Server::start([]).await);
    let client = client_of(&server);
    end_run_a(&server, Duration::from_secs(45), false);

    let started = Instant::now();
    let run = client.wait_for_run("run-a").send().await.unwrap();

    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(started.elapsed(), Duration::from_secs(120));
    assert_eq!(offsets(&server, RUN_A_PATH), [0, 120]);
}

#[tokio::test(start_paused = true)]
async fn a_wait_that_follows_the_stream_still_ends_at_its_deadline() {
    let server = Arc::new(Server::start([]).await);
    let client = client_of(&server);
    let err = client
        .wait_for_run("run-a")
        .max_wait(Duration::from_secs(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // Safety polls every two minutes, and the last one at the deadline.
    assert_eq!(offsets(&server, RUN_A_PATH), [0, 120, 240, 300]);
}

#[tokio::test(start_paused = true)]
async fn with_the_stream_refused_a_wait_polls_as_it_always_did() {
    let server = Arc::new(Server::start([Plan::Refuse(401)]).await);
    let client = client_of(&server);
    end_run_a(&server, Duration::from_secs(9), true);

    let run = client.wait_for_run("run-a").send().await.unwrap();

    assert_eq!(run.state, RunState::Succeeded);
    // The policy's pauses (2 s while the wait is young), as without a stream.
    assert_eq!(offsets(&server, RUN_A_PATH), [0, 2, 4, 6, 8, 10]);
    assert_eq!(server.received(STREAM_PATH).len(), 1);
    assert!(server.received(POLL_PATH).is_empty());

    // The refusal is remembered: the next wait does not ask the stream.
    server
        .shared
        .states
        .lock()
        .unwrap()
        .insert("run-a".into(), "INPROGRESS".into());
    end_run_a(&server, Duration::from_secs(3), true);
    client.wait_for_run("run-a").send().await.unwrap();
    assert_eq!(server.received(STREAM_PATH).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_set_wait_through_the_ancestor_stream_lists_only_when_children_end() {
    let server = Arc::new(Server::start([]).await);
    let children = ["run-c1", "run-c2", "run-c3"];
    server
        .shared
        .children
        .lock()
        .unwrap()
        .extend(children.map(String::from));
    let client = client_of(&server);
    let ends = Arc::clone(&server);
    tokio::spawn(async move {
        // run-c1 ends after 20 s, the two others together 30 s later.
        for (pause, runs, sequence) in [(20, &["run-c1"][..], 10), (30, &["run-c2", "run-c3"], 20)]
        {
            tokio::time::sleep(Duration::from_secs(pause)).await;
            for (i, run) in runs.iter().enumerate() {
                ends.shared
                    .states
                    .lock()
                    .unwrap()
                    .insert((*run).into(), "SUCCEEDED".into());
                ends.emit(sequence + i as i64, run, "run_succeeded");
            }
        }
    });

    let started = Instant::now();
    let mut ended = client
        .wait_for_runs(children)
        .ancestor_run_id("run-parent")
        .stream();
    let mut seen = Vec::new();
    while let Some(run) = ended.next().await {
        let run = run.unwrap();
        seen.push((run.run_id, started.elapsed().as_secs()));
    }

    assert_eq!(seen[0], ("run-c1".to_owned(), 20));
    assert_eq!(seen.len(), 3);
    assert!(seen[1..].iter().all(|(_, at)| *at == 50), "{seen:?}");
    // One listing at the start, one per wake-up; the stream once, in the ancestor form.
    assert_eq!(offsets(&server, RUNS_PATH), [0, 20, 50]);
    let streams = server.received(STREAM_PATH);
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].param("ancestor_run_id"), ["run-parent"]);
    assert_eq!(server.all_received().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_inbox_polls_when_a_new_message_event_names_a_message() {
    let server = Arc::new(Server::start([]).await);
    let client = client_of(&server);
    let sender = Arc::clone(&server);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(40)).await;
        sender.shared.messages.lock().unwrap().push(json!({
            "message_id": "msg-1", "sender_run_id": "run-b", "subject": "done",
            "sent_at": "2026-12-07T09:27:33Z"
        }));
        sender.emit(7, "run-a", "new_message");
    });

    let started = Instant::now();
    let mut inbox = client.inbox("run-a").stream();
    let header = inbox.next().await.unwrap().unwrap();

    assert_eq!(header.message_id, "msg-1");
    assert_eq!(started.elapsed(), Duration::from_secs(40));
    assert_eq!(offsets(&server, "/api/v1/agent/messages/run-a"), [0, 40]);
    assert_eq!(server.received(STREAM_PATH).len(), 1);
    // Quiet again: the next poll is the safety poll, two minutes later.
    let quiet = tokio::time::timeout(Duration::from_secs(125), inbox.next()).await;
    assert!(quiet.is_err(), "nothing new");
    assert_eq!(
        offsets(&server, "/api/v1/agent/messages/run-a"),
        [0, 40, 160]
    );
}
