//! Listing every run page by page against a real local server: what each request carries,
//! when the listing stops, and what is never requested.

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt, TryStreamExt};
use oz_api_ext::PageFuture;
use oz_api_ext::oz_api::types::{PageInfo, RunState};
use oz_api_ext::oz_api::{Config, MetadataFilter, ResponseValue};
use oz_api_ext::{CursorPaged, PaginateExt, PaginationError};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod support;
use support::client;

const RUNS_PATH: &str = "/api/v1/agent/runs";

fn run_json(run_id: &str) -> Value {
    json!({
        "run_id": run_id,
        "task_id": run_id,
        "title": "Nightly dependency update",
        "state": "FAILED",
        "prompt": "Update dependencies",
        "created_at": "2025-03-14T09:26:53Z",
        "updated_at": "2025-03-14T09:31:07Z"
    })
}

/// A page holding `ids`, pointing to `next` (no next page when `None`).
fn page(ids: &[&str], next: Option<&str>) -> ResponseTemplate {
    let runs: Vec<Value> = ids.iter().map(|id| run_json(id)).collect();
    let page_info = match next {
        Some(cursor) => json!({"has_next_page": true, "next_cursor": cursor}),
        None => json!({"has_next_page": false}),
    };
    ResponseTemplate::new(200).set_body_json(json!({"runs": runs, "page_info": page_info}))
}

/// Serves `template` for the request carrying `cursor` (`None`: the first request).
async fn serve(server: &MockServer, cursor: Option<&str>, template: ResponseTemplate) {
    let mock = Mock::given(method("GET")).and(path(RUNS_PATH));
    let mock = match cursor {
        Some(cursor) => mock.and(query_param("cursor", cursor)),
        None => mock.and(query_param_is_missing("cursor")),
    };
    mock.respond_with(template).mount(server).await;
}

/// A page that must never be requested.
async fn forbid(server: &MockServer, cursor: &str) {
    Mock::given(method("GET"))
        .and(path(RUNS_PATH))
        .and(query_param("cursor", cursor))
        .respond_with(page(&["never"], None))
        .expect(0)
        .named(format!("page at cursor {cursor}"))
        .mount(server)
        .await;
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording is on")
}

fn query_pairs(request: &Request) -> Vec<(String, String)> {
    request.url.query_pairs().into_owned().collect()
}

fn ids(runs: &[oz_api_ext::oz_api::types::RunItem]) -> Vec<&str> {
    runs.iter().map(|run| run.run_id.as_str()).collect()
}

/// Three pages of two runs: r1 r2 → c2 → r3 r4 → c3 → r5 (last page).
async fn three_pages(server: &MockServer) {
    serve(server, None, page(&["r1", "r2"], Some("c2"))).await;
    serve(server, Some("c2"), page(&["r3", "r4"], Some("c3"))).await;
    serve(server, Some("c3"), page(&["r5"], None)).await;
}

#[tokio::test]
async fn every_page_repeats_every_filter_and_changes_only_the_cursor() {
    let server = MockServer::start().await;
    three_pages(&server).await;

    let runs: Vec<_> = client(&server)
        .list_runs()
        .state(vec![RunState::Queued, RunState::Failed])
        .limit(2u64)
        .q("flaky test")
        .metadata(MetadataFilter::new().with("ticket", "X").unwrap())
        .items()
        .try_collect()
        .await
        .expect("every page");

    assert_eq!(ids(&runs), ["r1", "r2", "r3", "r4", "r5"]);
    let requests = received(&server).await;
    assert_eq!(requests.len(), 3);
    let filters = [
        ("limit", "2"),
        ("metadata[ticket]", "X"),
        ("q", "flaky test"),
        ("state", "QUEUED"),
        ("state", "FAILED"),
    ];
    let expected = |cursor: Option<&str>| {
        let mut pairs: Vec<(String, String)> = filters
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(cursor) = cursor {
            pairs.push(("cursor".into(), cursor.into()));
        }
        pairs.sort();
        pairs
    };
    for (request, cursor) in requests.iter().zip([None, Some("c2"), Some("c3")]) {
        let mut pairs = query_pairs(request);
        pairs.sort();
        assert_eq!(pairs, expected(cursor), "{}", request.url);
    }
    // The repeated `state` key keeps its order.
    let states: Vec<_> = query_pairs(&requests[2])
        .into_iter()
        .filter(|(k, _)| k == "state")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(states, ["QUEUED", "FAILED"]);
}

#[tokio::test]
async fn pages_yield_whole_answers_and_max_pages_stops_early() {
    let server = MockServer::start().await;
    serve(
        &server,
        None,
        page(&["r1", "r2"], Some("c2")).insert_header("x-request-id", "req-1"),
    )
    .await;
    serve(&server, Some("c2"), page(&["r3", "r4"], Some("c3"))).await;
    forbid(&server, "c3").await;

    let pages: Vec<_> = client(&server)
        .list_runs()
        .limit(2u64)
        .pages()
        .max_pages(2)
        .try_collect()
        .await
        .expect("two pages");

    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].headers()["x-request-id"], "req-1");
    assert_eq!(ids(&pages[1].runs), ["r3", "r4"]);
    assert_eq!(pages[1].page_info.next_cursor.as_deref(), Some("c3"));
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn max_items_never_requests_the_page_after_the_last_item_needed() {
    for prefetch in [false, true] {
        let server = MockServer::start().await;
        serve(&server, None, page(&["r1", "r2", "r3"], Some("c2"))).await;
        serve(&server, Some("c2"), page(&["r4", "r5", "r6"], Some("c3"))).await;
        forbid(&server, "c3").await;

        let runs: Vec<_> = client(&server)
            .list_runs()
            .items()
            .max_items(4)
            .prefetch(prefetch)
            .try_collect()
            .await
            .expect("four runs");

        assert_eq!(ids(&runs), ["r1", "r2", "r3", "r4"], "prefetch {prefetch}");
        assert_eq!(received(&server).await.len(), 2, "prefetch {prefetch}");
        server.verify().await;
    }

    // A limit reached within the first page: no second request at all.
    let server = MockServer::start().await;
    serve(&server, None, page(&["r1", "r2", "r3"], Some("c2"))).await;
    forbid(&server, "c2").await;
    let runs: Vec<_> = client(&server)
        .list_runs()
        .items()
        .max_items(2)
        .prefetch(true)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&runs), ["r1", "r2"]);
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_repeated_cursor_ends_with_an_error_after_the_pages_received() {
    let server = MockServer::start().await;
    serve(&server, None, page(&["r1"], Some("c2"))).await;
    serve(&server, Some("c2"), page(&["r2"], Some("c3"))).await;
    // The third page points back to the second one.
    serve(&server, Some("c3"), page(&["r3"], Some("c2"))).await;

    let results: Vec<_> = client(&server).list_runs().items().collect().await;

    assert_eq!(results.len(), 4, "three runs, then the error: {results:?}");
    let runs: Vec<_> = results[..3]
        .iter()
        .map(|r| r.as_ref().unwrap().run_id.as_str())
        .collect();
    assert_eq!(runs, ["r1", "r2", "r3"]);
    match &results[3] {
        Err(PaginationError::RepeatedCursor { page, cursor, .. }) => {
            assert_eq!((*page, cursor.as_str()), (3, "c2"));
        }
        other => panic!("expected a repeated cursor, got {other:?}"),
    }
    let message = results[3].as_ref().unwrap_err().to_string();
    assert_eq!(
        message,
        "listing runs stopped: page 3 points back to a cursor already followed"
    );
    assert_eq!(received(&server).await.len(), 3);
}

#[tokio::test]
async fn the_listing_ends_on_an_empty_page_a_missing_cursor_or_no_next_page() {
    let endings = [
        // An empty page that claims more.
        json!({"runs": [], "page_info": {"has_next_page": true, "next_cursor": "c3"}}),
        // More pages but no cursor to reach them.
        json!({"runs": [run_json("r3")], "page_info": {"has_next_page": true}}),
        json!({"runs": [run_json("r3")], "page_info": {"has_next_page": true, "next_cursor": ""}}),
        // A cursor, but no next page.
        json!({"runs": [run_json("r3")], "page_info": {"has_next_page": false, "next_cursor": "c3"}}),
    ];
    for ending in endings {
        let server = MockServer::start().await;
        serve(&server, None, page(&["r1", "r2"], Some("c2"))).await;
        serve(
            &server,
            Some("c2"),
            ResponseTemplate::new(200).set_body_json(&ending),
        )
        .await;
        forbid(&server, "c3").await;

        let runs: Vec<_> = client(&server)
            .list_runs()
            .items()
            .try_collect()
            .await
            .unwrap();

        let expected: &[&str] = if ending["runs"].as_array().unwrap().is_empty() {
            &["r1", "r2"]
        } else {
            &["r1", "r2", "r3"]
        };
        assert_eq!(ids(&runs), expected, "{ending}");
        assert_eq!(received(&server).await.len(), 2, "{ending}");
    }
}

/// On tokio's paused clock, with a server on the test's own runtime (see `support`): a minute
/// passes in which every task can run and every request would arrive, at no real cost.
#[tokio::test(start_paused = true)]
async fn nothing_is_sent_before_the_stream_is_polled() {
    let server = support::MockServer::start().await;
    support::Mock::given(support::method("GET"))
        .and(support::path(RUNS_PATH))
        .respond_with(support::Handler(|request: &support::Request| {
            let first = !request.url.query_pairs().any(|(key, _)| key == "cursor");
            let (ids, next) = if first {
                (["r1", "r2"], Some("c2"))
            } else {
                (["r3", "r4"], None)
            };
            let runs: Vec<Value> = ids.iter().map(|id| run_json(id)).collect();
            let page_info = match next {
                Some(cursor) => json!({"has_next_page": true, "next_cursor": cursor}),
                None => json!({"has_next_page": false}),
            };
            support::ResponseTemplate::new(200)
                .set_body_json(json!({"runs": runs, "page_info": page_info}))
        }))
        .mount(&server)
        .await;
    let client = support::client_without_timers(&server, 0);
    let received = || async { server.received_requests().await.unwrap().len() };

    let mut runs = client.list_runs().limit(2u64).items();
    let pages = client.list_runs().pages().prefetch(true);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(received().await, 0, "requests before polling");

    let first = runs.try_next().await.unwrap().unwrap();
    assert_eq!(first.run_id, "r1");
    assert_eq!(received().await, 1);
    drop(pages);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(received().await, 1);
}

#[tokio::test]
async fn a_failed_page_ends_the_listing_with_the_request_error() {
    let server = MockServer::start().await;
    serve(&server, None, page(&["r1", "r2"], Some("c2"))).await;
    serve(
        &server,
        Some("c2"),
        ResponseTemplate::new(503)
            .insert_header("content-type", "text/html")
            .set_body_string("<html>upstream overloaded</html>"),
    )
    .await;

    let results: Vec<_> = client(&server).list_runs().items().collect().await;

    assert_eq!(results.len(), 3, "{results:?}");
    assert!(results[..2].iter().all(Result::is_ok));
    let err = results[2].as_ref().unwrap_err();
    let PaginationError::Api { page, source, .. } = err else {
        panic!("expected a request error, got {err:?}");
    };
    assert_eq!(*page, 2);
    assert_eq!(source.status().map(|s| s.as_u16()), Some(503));
    assert!(source.is_transient());
    // An undocumented status still arrives with its problem body.
    assert!(source.message().unwrap().contains("upstream overloaded"));
    let cause = std::error::Error::source(err).expect("the client's error");
    assert_eq!(
        err.to_string(),
        format!("listing runs failed on page 2: {cause}")
    );
    let cause = std::error::Error::source(err).expect("the client's error");
    assert!(
        cause.to_string().starts_with("503 Service Unavailable: "),
        "{cause}"
    );
}

#[tokio::test]
async fn prefetch_yields_the_same_runs_in_the_same_order() {
    let server = MockServer::start().await;
    three_pages(&server).await;
    let client = client(&server);

    let plain: Vec<_> = client.list_runs().items().try_collect().await.unwrap();
    let prefetched: Vec<_> = client
        .list_runs()
        .items()
        .prefetch(true)
        .try_collect()
        .await
        .unwrap();

    assert_eq!(ids(&prefetched), ["r1", "r2", "r3", "r4", "r5"]);
    assert_eq!(plain, prefetched);
    assert_eq!(received(&server).await.len(), 6);
}

/// A paged operation of its own, to watch the paginator without a network or a clock: page 1
/// holds 1 2 3 and points to `c2`; page 2 holds 4 and is the last. Each request notes its
/// cursor in `log` when it is first polled (when a real request would go out), and the request
/// for page 2 answers only once `release` was notified.
#[derive(Clone)]
struct Scripted {
    cursor: Option<String>,
    log: Arc<watch::Sender<Vec<String>>>,
    release: Arc<Notify>,
}

struct ScriptedPage {
    items: Vec<u32>,
    page_info: PageInfo,
}

impl Scripted {
    fn new() -> Self {
        Self {
            cursor: None,
            log: Arc::new(watch::Sender::new(Vec::new())),
            release: Arc::new(Notify::new()),
        }
    }

    /// The requests sent so far.
    fn requested(&self) -> Vec<String> {
        self.log.borrow().clone()
    }

    /// The requests sent, once there are `count` of them. A prefetch inside a runtime goes out
    /// from a task of its own, so the test waits for it (without polling the stream); a
    /// bound keeps a regression from hanging the test.
    async fn requested_once(&self, count: usize) -> Vec<String> {
        let mut log = self.log.subscribe();
        let enough = log.wait_for(|log| log.len() >= count);
        match tokio::time::timeout(Duration::from_secs(30), enough).await {
            Ok(log) => log.expect("the log lives in `self`").clone(),
            Err(_) => panic!("only {:?} were requested", self.requested()),
        }
    }
}

impl CursorPaged for Scripted {
    const OPERATION: &'static str = "list_scripted";
    type Builder<'c> = Scripted;
    type Page = ScriptedPage;
    type Item = u32;

    fn with_cursor<'c>(mut builder: Self::Builder<'c>, cursor: String) -> Self::Builder<'c> {
        builder.cursor = Some(cursor);
        builder
    }

    fn send_page(builder: Self::Builder<'_>) -> PageFuture<ScriptedPage> {
        async move {
            let cursor = builder.cursor.clone().unwrap_or_else(|| "first".to_owned());
            builder.log.send_modify(|log| log.push(cursor.clone()));
            let (items, next) = if cursor == "first" {
                (vec![1, 2, 3], Some("c2".to_owned()))
            } else {
                builder.release.notified().await;
                (vec![4], None)
            };
            let page_info: PageInfo = PageInfo::builder()
                .has_next_page(next.is_some())
                .next_cursor(next)
                .try_into()
                .expect("a complete page info");
            let page = ScriptedPage { items, page_info };
            Ok(ResponseValue::new(
                page,
                reqwest::StatusCode::OK,
                Default::default(),
            ))
        }
        .boxed()
    }

    fn page_info(page: &ScriptedPage) -> &PageInfo {
        &page.page_info
    }

    fn items(page: &ScriptedPage) -> &[u32] {
        &page.items
    }

    fn into_items(page: ScriptedPage) -> Vec<u32> {
        page.items
    }
}

/// With prefetch, the next page is requested as soon as a page is handed out, while the caller
/// still works on its items, and those items keep coming while that request is outstanding;
/// without it, the next page is requested only when the caller asks for an item beyond the
/// current page. Deterministic: no sockets and no clock, only the order of events.
#[tokio::test]
async fn prefetch_requests_the_next_page_while_the_current_one_is_consumed() {
    let list = Scripted::new();
    let mut items = list.clone().items().prefetch(true);
    assert_eq!(items.try_next().await.unwrap(), Some(1));
    assert_eq!(
        list.requested_once(2).await,
        ["first", "c2"],
        "requested once the first item was handed out"
    );
    assert_eq!(items.try_next().await.unwrap(), Some(2));
    assert_eq!(items.try_next().await.unwrap(), Some(3));
    list.release.notify_one();
    assert_eq!(items.try_next().await.unwrap(), Some(4));
    assert_eq!(items.try_next().await.unwrap(), None);
    assert_eq!(list.requested(), ["first", "c2"]);

    let list = Scripted::new();
    let mut items = list.clone().items();
    for expected in 1..=3 {
        assert_eq!(items.try_next().await.unwrap(), Some(expected));
    }
    assert_eq!(
        list.requested(),
        ["first"],
        "nothing asked beyond page 1 yet"
    );
    list.release.notify_one();
    assert_eq!(items.try_next().await.unwrap(), Some(4));
    assert_eq!(list.requested(), ["first", "c2"]);
    assert_eq!(items.try_next().await.unwrap(), None);

    // Whole pages: the same.
    let list = Scripted::new();
    let mut pages = list.clone().pages().prefetch(true);
    let first = pages.try_next().await.unwrap().expect("page 1");
    assert_eq!(first.items, [1, 2, 3]);
    assert_eq!(list.requested_once(2).await, ["first", "c2"]);
    list.release.notify_one();
    assert_eq!(pages.try_next().await.unwrap().expect("page 2").items, [4]);
    assert!(pages.try_next().await.unwrap().is_none());
}

/// Outside a Tokio runtime there is no task to hand the prefetch to: the stream polls it,
/// once as soon as page 1 is handed out and then whenever the stream is polled.
#[test]
fn without_a_runtime_the_stream_advances_the_prefetch_itself() {
    let list = Scripted::new();
    let mut items = list.clone().items().prefetch(true);
    futures::executor::block_on(async {
        assert_eq!(items.try_next().await.unwrap(), Some(1));
        assert_eq!(
            list.requested(),
            ["first", "c2"],
            "sent with the first item"
        );
        assert!(format!("{items:?}").contains(r#"in_flight: Some("polled by the stream")"#));
        assert_eq!(items.try_next().await.unwrap(), Some(2));
        assert_eq!(items.try_next().await.unwrap(), Some(3));
        list.release.notify_one();
        assert_eq!(items.try_next().await.unwrap(), Some(4));
        assert_eq!(items.try_next().await.unwrap(), None);
    });
}

/// `max_items` on whole pages: no page is requested once enough items arrived; the pages that
/// came are whole.
#[tokio::test]
async fn pages_stop_once_max_items_arrived() {
    let server = MockServer::start().await;
    serve(&server, None, page(&["r1", "r2"], Some("c2"))).await;
    serve(&server, Some("c2"), page(&["r3", "r4"], Some("c3"))).await;
    forbid(&server, "c3").await;

    let pages: Vec<_> = client(&server)
        .list_runs()
        .pages()
        .max_items(3)
        .try_collect()
        .await
        .expect("two pages");

    assert_eq!(pages.len(), 2);
    assert_eq!(ids(&pages[1].runs), ["r3", "r4"]);
    assert_eq!(received(&server).await.len(), 2);
    server.verify().await;
}

/// Listings can be consumed in a spawned task.
#[test]
fn streams_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let client = Config::new("wk-test-key").build().unwrap();
    assert_send(&client.list_runs().items().prefetch(true));
    assert_send(&client.list_runs().pages());
}

/// A server whose every page points to a new cursor, forever.
struct Endless;

impl wiremock::Respond for Endless {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let n: u64 = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "cursor")
            .and_then(|(_, v)| v.strip_prefix('c').and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        let id = format!("r{n}");
        page(&[id.as_str()], Some(&format!("c{}", n + 1)))
    }
}

#[tokio::test]
async fn max_pages_bounds_the_items_of_a_listing_that_never_ends() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUNS_PATH))
        .respond_with(Endless)
        .mount(&server)
        .await;
    let client = client(&server);

    let runs: Vec<_> = client
        .list_runs()
        .items()
        .max_pages(3)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&runs), ["r0", "r1", "r2"]);
    assert_eq!(received(&server).await.len(), 3, "no fourth page requested");

    // With prefetch too, no page beyond the bound is requested.
    let runs: Vec<_> = client
        .list_runs()
        .items()
        .max_pages(2)
        .prefetch(true)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&runs), ["r0", "r1"]);
    assert_eq!(received(&server).await.len(), 5);
}
