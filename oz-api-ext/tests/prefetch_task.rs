//! A prefetched page is fetched on a task of its own: its answer is read and decoded while the
//! caller does not poll the stream, dropping the stream aborts that request, and a task that
//! ends without an answer is an error of the listing.
//!
//! The server is a hand-written HTTP/1.1 server on 127.0.0.1, so a test sees what the client
//! does with the connection: when it has read a whole body, when it closes. Nothing waits on a
//! clock except the bound on how long an expected event may take.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, TryStreamExt};
use oz_api_ext::PageFuture;
use oz_api_ext::oz_api::ResponseValue;
use oz_api_ext::oz_api::types::PageInfo;
use oz_api_ext::{CursorPaged, PaginateExt, PaginationError};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

mod support;

impl support::Api for Server {
    fn api_url(&self) -> String {
        self.base_url.clone()
    }
}

/// How long an event the test waits for may take on a loaded machine; it comes far sooner, or
/// never.
const BOUND: Duration = Duration::from_secs(30);

/// The second page: 16 MiB, far more than the socket buffers between server and client hold
/// (the server's send buffer is set to 64 KiB), so the server finishes writing it only if the
/// client reads it.
const BIG_PAGE_RUNS: usize = 256;
const BIG_PROMPT: usize = 64 * 1024;

/// What the server does with the request for a page.
#[derive(Clone)]
enum Answer {
    /// A 200 answer with this JSON body.
    Body(Arc<Vec<u8>>),
    /// No answer: wait until the client closes the connection.
    Hold,
}

/// What the server saw, in order, per cursor (`first` for the request without one).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Requested(String),
    /// The whole answer was handed to the socket: the client read all but the last buffers.
    BodyWritten(String),
    /// The client closed the connection of a request that was held.
    ClosedWhileHeld(String),
}

struct Server {
    base_url: String,
    events: mpsc::UnboundedReceiver<Event>,
    log: Arc<Mutex<Vec<Event>>>,
}

impl Server {
    /// Serves the listing of runs, answering each cursor as `answers` says.
    async fn start(answers: HashMap<&'static str, Answer>) -> Server {
        let socket = TcpSocket::new_v4().unwrap();
        // Accepted connections inherit the listener's buffer size.
        socket.set_send_buffer_size(64 * 1024).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(16).unwrap();
        let base_url = format!("http://{}/api/v1", listener.local_addr().unwrap());
        let (sender, events) = mpsc::unbounded_channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let answers: Arc<HashMap<String, Answer>> = Arc::new(
            answers
                .into_iter()
                .map(|(cursor, answer)| (cursor.to_owned(), answer))
                .collect(),
        );
        let seen = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let report = Reporter {
                    sender: sender.clone(),
                    log: Arc::clone(&seen),
                };
                tokio::spawn(serve_connection(stream, Arc::clone(&answers), report));
            }
        });
        Server {
            base_url,
            events,
            log,
        }
    }

    /// Waits, at most [`BOUND`], until the server reports `expected`.
    async fn saw(&mut self, expected: Event) -> bool {
        let wait = async {
            while let Some(event) = self.events.recv().await {
                if event == expected {
                    return true;
                }
            }
            false
        };
        tokio::time::timeout(BOUND, wait).await.unwrap_or(false)
    }

    /// Every event so far.
    fn log(&self) -> Vec<Event> {
        self.log.lock().unwrap().clone()
    }
}

#[derive(Clone)]
struct Reporter {
    sender: mpsc::UnboundedSender<Event>,
    log: Arc<Mutex<Vec<Event>>>,
}

impl Reporter {
    fn report(&self, event: Event) {
        self.log.lock().unwrap().push(event.clone());
        let _ = self.sender.send(event);
    }
}

/// Answers the requests of one keep-alive connection.
async fn serve_connection(
    mut stream: TcpStream,
    answers: Arc<HashMap<String, Answer>>,
    report: Reporter,
) {
    let mut buffer = Vec::new();
    loop {
        let Some(head) = read_head(&mut stream, &mut buffer).await else {
            return;
        };
        let cursor = cursor_of(&head);
        report.report(Event::Requested(cursor.clone()));
        match answers.get(&cursor) {
            Some(Answer::Body(body)) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).await.is_err()
                    || stream.write_all(body).await.is_err()
                    || stream.flush().await.is_err()
                {
                    return;
                }
                report.report(Event::BodyWritten(cursor));
            }
            Some(Answer::Hold) => {
                let mut rest = [0u8; 1024];
                while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
                report.report(Event::ClosedWhileHeld(cursor));
                return;
            }
            None => {
                let _ = stream
                    .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        }
    }
}

/// The head of the next request (these are GETs: no body), or `None` once the client closed.
async fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            buffer.drain(..end + 4);
            return Some(head);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The `cursor` query parameter of a request head, `first` without one.
fn cursor_of(head: &str) -> String {
    let target = head.split(' ').nth(1).unwrap_or_default();
    let url = url::Url::parse(&format!("http://server{target}")).expect("a request target");
    url.query_pairs()
        .find(|(key, _)| key == "cursor")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| "first".to_owned())
}

fn run_json(run_id: &str, prompt: &str) -> Value {
    json!({
        "run_id": run_id,
        "task_id": run_id,
        "title": "Nightly dependency update",
        "state": "SUCCEEDED",
        "prompt": prompt,
        "created_at": "2025-03-14T09:26:53Z",
        "updated_at": "2025-03-14T09:31:07Z"
    })
}

/// A page of runs named `prefix1`, `prefix2`… pointing to `next`.
fn page(prefix: &str, runs: usize, prompt: &str, next: Option<&str>) -> Answer {
    let runs: Vec<Value> = (1..=runs)
        .map(|n| run_json(&format!("{prefix}{n}"), prompt))
        .collect();
    let page_info = match next {
        Some(cursor) => json!({"has_next_page": true, "next_cursor": cursor}),
        None => json!({"has_next_page": false}),
    };
    let body = json!({"runs": runs, "page_info": page_info});
    Answer::Body(Arc::new(serde_json::to_vec(&body).unwrap()))
}

/// Page 1: `r1`, `r2`, pointing to `c2`; page 2: [`BIG_PAGE_RUNS`] runs of 64 KiB, the last.
fn two_pages_the_second_big() -> HashMap<&'static str, Answer> {
    HashMap::from([
        ("first", page("r", 2, "Update dependencies", Some("c2"))),
        (
            "c2",
            page("big", BIG_PAGE_RUNS, &"p".repeat(BIG_PROMPT), None),
        ),
    ])
}

/// The caller takes one item of page 1 and then awaits something else, never polling the
/// stream: the prefetched page 2 is still read to its end. (Were it advanced only when the
/// stream is polled, the server could never finish writing it.)
#[tokio::test]
async fn a_prefetched_page_is_read_while_the_caller_does_not_poll_the_stream() {
    let mut server = Server::start(two_pages_the_second_big()).await;
    let client = support::client(&server);
    let mut runs = client.list_runs().items().prefetch(true);

    let first = runs.try_next().await.unwrap().expect("a first run");
    assert_eq!(first.run_id, "r1");
    assert!(
        server.saw(Event::BodyWritten("c2".into())).await,
        "page 2 was not read while the stream was not polled; the server saw {:?}",
        server.log()
    );

    let rest: Vec<_> = runs.try_collect().await.expect("the rest of the runs");
    assert_eq!(rest.len(), 1 + BIG_PAGE_RUNS);
    assert_eq!(rest[0].run_id, "r2");
    let last = rest.last().unwrap();
    assert_eq!(
        (last.run_id.as_str(), last.prompt.len()),
        ("big256", BIG_PROMPT)
    );
    assert_eq!(
        server.log(),
        [
            Event::Requested("first".into()),
            Event::BodyWritten("first".into()),
            Event::Requested("c2".into()),
            Event::BodyWritten("c2".into()),
        ]
    );
}

/// Whole pages: the same.
#[tokio::test]
async fn a_prefetched_whole_page_is_read_while_the_caller_does_not_poll_the_stream() {
    let mut server = Server::start(two_pages_the_second_big()).await;
    let client = support::client(&server);
    let mut pages = client.list_runs().pages().prefetch(true);

    let first = pages.try_next().await.unwrap().expect("page 1");
    assert_eq!(first.runs.len(), 2);
    let written = server.saw(Event::BodyWritten("c2".into())).await;
    assert!(written, "page 2 was not read: {:?}", server.log());
    let second = pages.try_next().await.unwrap().expect("page 2");
    assert_eq!(second.runs.len(), BIG_PAGE_RUNS);
    assert!(pages.try_next().await.unwrap().is_none());
}

/// Dropping the stream while page 2 is on its way aborts the task fetching it: the client
/// gives up the request and its connection (the client itself lives on).
#[tokio::test]
async fn dropping_the_stream_mid_prefetch_aborts_the_request() {
    let mut server = Server::start(HashMap::from([
        ("first", page("r", 2, "Update dependencies", Some("c2"))),
        ("c2", Answer::Hold),
    ]))
    .await;
    let client = support::client(&server);
    let mut runs = client.list_runs().items().prefetch(true);

    assert_eq!(runs.try_next().await.unwrap().unwrap().run_id, "r1");
    assert!(
        server.saw(Event::Requested("c2".into())).await,
        "the prefetch went out: {:?}",
        server.log()
    );
    assert!(format!("{runs:?}").contains(r#"in_flight: Some("on a task")"#));
    drop(runs);

    assert!(
        server.saw(Event::ClosedWhileHeld("c2".into())).await,
        "the request for page 2 was still open after the stream was dropped: {:?}",
        server.log()
    );
    drop(client);
}

/// Once `max_items` items arrived nothing is in flight and nothing more is requested, with the
/// prefetch on a task as without it.
#[tokio::test]
async fn max_items_reached_leaves_no_request_in_flight() {
    let server = Server::start(HashMap::from([
        ("first", page("r", 3, "Update dependencies", Some("c2"))),
        ("c2", page("s", 3, "Update dependencies", Some("c3"))),
        ("c3", Answer::Hold),
    ]))
    .await;
    let client = support::client(&server);
    let mut runs = client.list_runs().items().max_items(4).prefetch(true);

    let mut ids = Vec::new();
    while let Some(run) = runs.try_next().await.unwrap() {
        ids.push(run.run_id);
    }

    assert_eq!(ids, ["r1", "r2", "r3", "s1"]);
    let state = format!("{runs:?}");
    assert!(state.contains("in_flight: None"), "{state}");
    assert!(state.contains("finished: true"), "{state}");
    let requested: Vec<Event> = server
        .log()
        .into_iter()
        .filter(|event| matches!(event, Event::Requested(_)))
        .collect();
    assert_eq!(
        requested,
        [
            Event::Requested("first".into()),
            Event::Requested("c2".into())
        ]
    );
}

/// A prefetch task cancelled by its runtime shutting down ends the listing with an error that
/// says so; the stream does not panic.
#[test]
fn a_prefetch_cancelled_by_its_runtime_is_an_error_of_the_listing() {
    let outer = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut server = outer.block_on(Server::start(HashMap::from([
        ("first", page("r", 1, "Update dependencies", Some("c2"))),
        ("c2", Answer::Hold),
    ])));
    let client = support::client(&server);
    let mut runs = client.list_runs().items().prefetch(true);

    let inner = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    inner.block_on(async {
        assert_eq!(runs.try_next().await.unwrap().unwrap().run_id, "r1");
        assert!(server.saw(Event::Requested("c2".into())).await);
    });
    // The prefetch task belongs to `inner`: shutting it down cancels the task.
    drop(inner);

    let err = outer
        .block_on(runs.try_next())
        .expect_err("the cancelled prefetch is an error");
    assert!(
        matches!(
            err,
            PaginationError::PrefetchInterrupted {
                operation: "list_runs",
                page: 2,
                panicked: false
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "listing runs failed on page 2: the task fetching it ahead was cancelled (its runtime \
         shut down)"
    );
    assert!(err.api_error().is_none());
    assert!(
        outer.block_on(runs.try_next()).unwrap().is_none(),
        "then the listing ends"
    );
}

/// A paged operation whose second page panics while it is fetched.
#[derive(Clone, Default)]
struct PanicsOnPage2 {
    cursor: Option<String>,
}

impl CursorPaged for PanicsOnPage2 {
    const OPERATION: &'static str = "list_fragile";
    type Builder<'c> = PanicsOnPage2;
    type Page = (Vec<u32>, PageInfo);
    type Item = u32;

    fn with_cursor<'c>(mut builder: Self::Builder<'c>, cursor: String) -> Self::Builder<'c> {
        builder.cursor = Some(cursor);
        builder
    }

    fn send_page(builder: Self::Builder<'_>) -> PageFuture<Self::Page> {
        async move {
            if builder.cursor.is_some() {
                panic!("page 2 cannot be fetched");
            }
            let info: PageInfo = PageInfo::builder()
                .has_next_page(true)
                .next_cursor("c2")
                .try_into()
                .expect("a complete page info");
            Ok(ResponseValue::new(
                (vec![1, 2], info),
                reqwest::StatusCode::OK,
                Default::default(),
            ))
        }
        .boxed()
    }

    fn page_info(page: &Self::Page) -> &PageInfo {
        &page.1
    }

    fn items(page: &Self::Page) -> &[u32] {
        &page.0
    }

    fn into_items(page: Self::Page) -> Vec<u32> {
        page.0
    }
}

/// A prefetch task that panics ends the listing with an error that says so, after the items
/// received; the panic does not reach the caller.
#[tokio::test]
async fn a_prefetch_task_that_panics_is_an_error_of_the_listing() {
    let results: Vec<_> =
        futures::StreamExt::collect(PanicsOnPage2::default().items().prefetch(true)).await;

    assert_eq!(results.len(), 3, "{results:?}");
    assert_eq!(results[0].as_ref().unwrap(), &1);
    assert_eq!(results[1].as_ref().unwrap(), &2);
    let err = results[2].as_ref().unwrap_err();
    assert!(
        matches!(
            err,
            PaginationError::PrefetchInterrupted {
                page: 2,
                panicked: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "listing fragile failed on page 2: the task fetching it ahead panicked"
    );
}
