//! Listing factories and factory tasks page by page against a real local server: the same
//! paginator as `list_runs`, so the same guarantees — every filter on every page, only the
//! cursor changes, nothing requested beyond `max_items`, a repeated cursor stops the listing.

use futures::{StreamExt, TryStreamExt};
use oz_api_ext::oz_api::builder::ListFactoryTasks;
use oz_api_ext::oz_api::types::{Factory, FactoryTask, FactoryTaskStage};
use oz_api_ext::{OwnedPaginateExt, PaginateExt, PaginationError};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod support;
use support::client;

const FACTORIES_PATH: &str = "/api/v1/factory";
const TASKS_PATH: &str = "/api/v1/factory/fac-1/tasks";

fn factory_json(uid: &str) -> Value {
    json!({
        "uid": uid,
        "name": format!("Factory {uid}"),
        "code_forges": [],
        "integrations": [],
        "repositories": [],
    })
}

fn task_json(uid: &str) -> Value {
    json!({
        "uid": uid,
        "factory_uid": "fac-1",
        "conversation_id": format!("conv-{uid}"),
        "stage": "TRIAGE",
        "outputs": [],
    })
}

fn page_info(next: Option<&str>) -> Value {
    match next {
        Some(cursor) => json!({"has_next_page": true, "next_cursor": cursor}),
        None => json!({"has_next_page": false}),
    }
}

fn factories_page(uids: &[&str], next: Option<&str>) -> ResponseTemplate {
    let factories: Vec<Value> = uids.iter().map(|uid| factory_json(uid)).collect();
    ResponseTemplate::new(200)
        .set_body_json(json!({"factories": factories, "page_info": page_info(next)}))
}

fn tasks_page(uids: &[&str], next: Option<&str>) -> ResponseTemplate {
    let tasks: Vec<Value> = uids.iter().map(|uid| task_json(uid)).collect();
    ResponseTemplate::new(200).set_body_json(json!({"tasks": tasks, "page_info": page_info(next)}))
}

/// Serves `template` at `at` for the request carrying `cursor` (`None`: the first request).
async fn serve(server: &MockServer, at: &str, cursor: Option<&str>, template: ResponseTemplate) {
    let mock = Mock::given(method("GET")).and(path(at));
    let mock = match cursor {
        Some(cursor) => mock.and(query_param("cursor", cursor)),
        None => mock.and(query_param_is_missing("cursor")),
    };
    mock.respond_with(template).mount(server).await;
}

/// A page that must never be requested.
async fn forbid(server: &MockServer, at: &str, cursor: &str, template: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .and(query_param("cursor", cursor))
        .respond_with(template)
        .expect(0)
        .named(format!("{at} at cursor {cursor}"))
        .mount(server)
        .await;
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording is on")
}

/// The query of a request, sorted, with repeated keys in their order.
fn sorted_query(request: &Request) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
}

fn with_cursor(filters: &[(&str, &str)], cursor: Option<&str>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = filters
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(cursor) = cursor {
        pairs.push(("cursor".into(), cursor.into()));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
}

fn factory_uids(factories: &[Factory]) -> Vec<&str> {
    factories.iter().map(|f| f.uid.as_str()).collect()
}

fn task_uids(tasks: &[FactoryTask]) -> Vec<&str> {
    tasks.iter().map(|t| t.uid.as_str()).collect()
}

#[tokio::test]
async fn factories_are_listed_across_pages_with_every_filter_on_every_page() {
    let server = MockServer::start().await;
    serve(
        &server,
        FACTORIES_PATH,
        None,
        factories_page(&["f1", "f2"], Some("c2")),
    )
    .await;
    serve(
        &server,
        FACTORIES_PATH,
        Some("c2"),
        factories_page(&["f3", "f4"], Some("c3")),
    )
    .await;
    serve(
        &server,
        FACTORIES_PATH,
        Some("c3"),
        factories_page(&["f5"], None),
    )
    .await;

    let factories: Vec<_> = client(&server)
        .list_factories()
        .limit(2u64)
        .search("Docs bot")
        .filter_team_uid("team-9")
        .items()
        .try_collect()
        .await
        .expect("every page");

    assert_eq!(factory_uids(&factories), ["f1", "f2", "f3", "f4", "f5"]);
    let requests = received(&server).await;
    assert_eq!(requests.len(), 3);
    let filters = [
        ("filter_team_uid", "team-9"),
        ("limit", "2"),
        ("search", "Docs bot"),
    ];
    for (request, cursor) in requests.iter().zip([None, Some("c2"), Some("c3")]) {
        assert_eq!(request.url.path(), FACTORIES_PATH);
        assert_eq!(
            sorted_query(request),
            with_cursor(&filters, cursor),
            "{}",
            request.url
        );
    }
}

#[tokio::test]
async fn factory_pages_come_whole_and_max_pages_stops_early() {
    let server = MockServer::start().await;
    serve(
        &server,
        FACTORIES_PATH,
        None,
        factories_page(&["f1"], Some("c2")).insert_header("x-request-id", "req-f1"),
    )
    .await;
    forbid(
        &server,
        FACTORIES_PATH,
        "c2",
        factories_page(&["never"], None),
    )
    .await;

    let pages: Vec<_> = client(&server)
        .list_factories()
        .pages()
        .max_pages(1)
        .try_collect()
        .await
        .expect("one page");

    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].headers()["x-request-id"], "req-f1");
    assert_eq!(pages[0].page_info.next_cursor.as_deref(), Some("c2"));
    assert_eq!(received(&server).await.len(), 1);
    server.verify().await;
}

#[tokio::test]
async fn factory_tasks_are_listed_across_pages_with_every_filter_on_every_page() {
    let server = MockServer::start().await;
    serve(
        &server,
        TASKS_PATH,
        None,
        tasks_page(&["t1", "t2"], Some("c2")),
    )
    .await;
    serve(&server, TASKS_PATH, Some("c2"), tasks_page(&["t3"], None)).await;

    let tasks: Vec<_> = client(&server)
        .list_factory_tasks()
        .factory_uid("fac-1")
        .stage(vec![FactoryTaskStage::Triage, FactoryTaskStage::Review])
        .q("flaky")
        .full_list(true)
        .limit(2u64)
        .items()
        .try_collect()
        .await
        .expect("every page");

    assert_eq!(task_uids(&tasks), ["t1", "t2", "t3"]);
    let requests = received(&server).await;
    assert_eq!(requests.len(), 2);
    let filters = [
        ("full_list", "true"),
        ("limit", "2"),
        ("q", "flaky"),
        ("stage", "TRIAGE"),
        ("stage", "REVIEW"),
    ];
    for (request, cursor) in requests.iter().zip([None, Some("c2")]) {
        assert_eq!(request.url.path(), TASKS_PATH);
        assert_eq!(
            sorted_query(request),
            with_cursor(&filters, cursor),
            "{}",
            request.url
        );
    }
}

#[tokio::test]
async fn max_items_never_requests_the_factory_task_page_after_the_last_item_needed() {
    for prefetch in [false, true] {
        let server = MockServer::start().await;
        serve(
            &server,
            TASKS_PATH,
            None,
            tasks_page(&["t1", "t2", "t3"], Some("c2")),
        )
        .await;
        serve(
            &server,
            TASKS_PATH,
            Some("c2"),
            tasks_page(&["t4", "t5", "t6"], Some("c3")),
        )
        .await;
        forbid(&server, TASKS_PATH, "c3", tasks_page(&["never"], None)).await;

        let tasks: Vec<_> = client(&server)
            .list_factory_tasks()
            .factory_uid("fac-1")
            .items()
            .max_items(5)
            .prefetch(prefetch)
            .try_collect()
            .await
            .expect("five tasks");

        assert_eq!(
            task_uids(&tasks),
            ["t1", "t2", "t3", "t4", "t5"],
            "prefetch {prefetch}"
        );
        assert_eq!(received(&server).await.len(), 2, "prefetch {prefetch}");
        server.verify().await;
    }
}

#[tokio::test]
async fn max_items_within_the_first_factory_page_sends_one_request() {
    let server = MockServer::start().await;
    serve(
        &server,
        FACTORIES_PATH,
        None,
        factories_page(&["f1", "f2", "f3"], Some("c2")),
    )
    .await;
    forbid(
        &server,
        FACTORIES_PATH,
        "c2",
        factories_page(&["never"], None),
    )
    .await;

    let factories: Vec<_> = client(&server)
        .list_factories()
        .items()
        .max_items(2)
        .prefetch(true)
        .try_collect()
        .await
        .expect("two factories");

    assert_eq!(factory_uids(&factories), ["f1", "f2"]);
    assert_eq!(received(&server).await.len(), 1);
    server.verify().await;
}

#[tokio::test]
async fn a_repeated_factory_task_cursor_ends_with_an_error_naming_the_listing() {
    let server = MockServer::start().await;
    serve(&server, TASKS_PATH, None, tasks_page(&["t1"], Some("c2"))).await;
    // The second page points back to itself.
    serve(
        &server,
        TASKS_PATH,
        Some("c2"),
        tasks_page(&["t2"], Some("c2")),
    )
    .await;

    let results: Vec<_> = client(&server)
        .list_factory_tasks()
        .factory_uid("fac-1")
        .items()
        .collect()
        .await;

    assert_eq!(results.len(), 3, "two tasks, then the error: {results:?}");
    let uids: Vec<_> = results[..2]
        .iter()
        .map(|r| r.as_ref().expect("a task").uid.as_str())
        .collect();
    assert_eq!(uids, ["t1", "t2"]);
    let err = results[2].as_ref().unwrap_err();
    match err {
        PaginationError::RepeatedCursor {
            operation,
            page,
            cursor,
        } => assert_eq!(
            (*operation, *page, cursor.as_str()),
            ("list_factory_tasks", 2, "c2")
        ),
        other => panic!("expected a repeated cursor, got {other:?}"),
    }
    assert_eq!(err.operation(), "list_factory_tasks");
    assert!(err.api_error().is_none());
    assert_eq!(
        err.to_string(),
        "listing factory tasks stopped: page 2 points back to a cursor already followed"
    );
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_failed_factory_page_names_the_listing_and_keeps_the_api_error() {
    let server = MockServer::start().await;
    serve(
        &server,
        FACTORIES_PATH,
        None,
        factories_page(&["f1"], Some("c2")),
    )
    .await;
    serve(
        &server,
        FACTORIES_PATH,
        Some("c2"),
        ResponseTemplate::new(403).set_body_json(json!({
            "type": "https://docs.warp.dev/errors/forbidden",
            "title": "Forbidden",
            "status": 403,
        })),
    )
    .await;

    let results: Vec<_> = client(&server).list_factories().items().collect().await;

    assert_eq!(results.len(), 2, "{results:?}");
    let err = results[1].as_ref().unwrap_err();
    assert!(matches!(
        err,
        PaginationError::Api {
            operation: "list_factories",
            page: 2,
            ..
        }
    ));
    let status = err.api_error().and_then(|e| e.status()).map(|s| s.as_u16());
    assert_eq!(status, Some(403));
    let cause = std::error::Error::source(err).expect("the client's error");
    assert!(cause.to_string().starts_with("403"), "{cause}");
    assert_eq!(
        err.to_string(),
        format!("listing factories failed on page 2: {cause}")
    );
}

#[tokio::test]
async fn an_owned_factory_task_listing_keeps_its_filters_in_a_spawned_task() {
    let server = MockServer::start().await;
    serve(&server, TASKS_PATH, None, tasks_page(&["t1"], Some("c2"))).await;
    serve(&server, TASKS_PATH, Some("c2"), tasks_page(&["t2"], None)).await;
    let client = client(&server);

    let tasks = client
        .paginate::<ListFactoryTasks>(|client| {
            client
                .list_factory_tasks()
                .factory_uid("fac-1")
                .stage(vec![FactoryTaskStage::Implement])
        })
        .items();
    drop(client);
    let tasks = tokio::spawn(tasks.try_collect::<Vec<_>>())
        .await
        .expect("the task ran")
        .expect("every page");

    assert_eq!(task_uids(&tasks), ["t1", "t2"]);
    let requests = received(&server).await;
    for (request, cursor) in requests.iter().zip([None, Some("c2")]) {
        assert_eq!(
            sorted_query(request),
            with_cursor(&[("stage", "IMPLEMENT")], cursor),
            "{}",
            request.url
        );
    }
    assert_eq!(requests.len(), 2);
}
