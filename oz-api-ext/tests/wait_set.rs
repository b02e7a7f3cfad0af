//! Waiting for a set of runs: each run once it ended, one listing per poll for the whole set.
//! Against the simulator on Tokio's paused clock (runs advance on simulated time).

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use oz_api_ext::oz_api::Client;
use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::{PaginateExt, WaitError, WaitForRunsExt, is_terminal};
use oz_mock::{OzMock, Progression};

/// Each of QUEUED, PENDING, CLAIMED and INPROGRESS lasts this long.
const STEP: Duration = Duration::from_secs(5);

/// The simulator, its runs spending `step` in each live state.
async fn simulator(step: Duration) -> OzMock {
    OzMock::builder()
        .progression(Progression::Stepped(step))
        .start()
        .await
        .unwrap()
}

/// Starts `count` runs, `gap` apart on the simulated clock: they end in the order started.
async fn staggered_runs(client: &Client, count: usize, gap: Duration) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        let request = RunAgentRequest::builder().prompt(format!("Child task {i}"));
        ids.push(
            client
                .create_run()
                .body(request)
                .send()
                .await
                .unwrap()
                .run_id
                .clone(),
        );
        tokio::time::sleep(gap).await;
    }
    ids
}

#[tokio::test(start_paused = true)]
async fn each_run_is_yielded_once_as_it_ends_with_one_listing_per_poll() {
    let mock = simulator(STEP).await;
    let client = client_without_timers(&mock, DEFAULT_MAX_RETRIES);
    let ids = staggered_runs(&client, 6, Duration::from_secs(3)).await;

    let ended: Vec<_> = client
        .wait_for_runs(ids.iter().cloned().chain([ids[0].clone()]))
        .stream()
        .try_collect()
        .await
        .unwrap();

    let ended_ids: Vec<_> = ended.iter().map(|run| run.run_id.clone()).collect();
    assert_eq!(ended_ids, ids, "each run once, in the order they ended");
    assert!(ended.iter().all(|run| is_terminal(&run.state)));
    // The first poll reads each run (a repeated id once); every later poll is one listing.
    assert_eq!(mock.request_count("get_run"), ids.len());
    let listings = mock.request_count("list_runs");
    assert!(listings >= 1, "{listings}");
    assert!(
        listings <= 15,
        "{listings} listings for about half a minute of waiting"
    );
    mock.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn runs_already_ended_come_first_and_an_empty_set_ends_at_once() {
    let mock = simulator(STEP).await;
    let client = client_without_timers(&mock, DEFAULT_MAX_RETRIES);
    let ids = staggered_runs(&client, 2, Duration::from_secs(30)).await;
    let ended = client.wait_for_runs(ids.clone()).send().await.unwrap();
    assert_eq!(ended.len(), 2);
    assert_eq!(
        mock.request_count("list_runs"),
        0,
        "both had ended: no poll needed"
    );

    let none = client
        .wait_for_runs(Vec::<String>::new())
        .send()
        .await
        .unwrap();
    assert!(none.is_empty());
    mock.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_the_wait_naming_a_run_still_pending() {
    let mock = simulator(Duration::from_secs(600)).await;
    let client = client_without_timers(&mock, DEFAULT_MAX_RETRIES);
    let ids = staggered_runs(&client, 3, Duration::ZERO).await;
    let err = client
        .wait_for_runs(ids.clone())
        .max_wait(Duration::from_secs(20))
        .send()
        .await
        .unwrap_err();
    let WaitError::ExceededMaxWait {
        last_run, polls, ..
    } = &err
    else {
        panic!("expected a timeout, got {err}");
    };
    assert!(ids.contains(&last_run.as_ref().unwrap().run_id));
    assert_eq!(*polls as usize, 1 + mock.request_count("list_runs"));

    let unknown = client
        .wait_for_runs(["no-such-run"])
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            unknown,
            WaitError::Api {
                operation: "get_run",
                ..
            }
        ),
        "{unknown}"
    );
    assert!(unknown.api_error().is_some());
    mock.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn children_of_one_run_cost_one_listing_per_poll_from_the_first() {
    let mock = simulator(STEP).await;
    let client = client_without_timers(&mock, DEFAULT_MAX_RETRIES);
    let parent = client
        .create_run()
        .body(RunAgentRequest::builder().prompt("Orchestrate the migration"))
        .send()
        .await
        .unwrap()
        .run_id
        .clone();
    let mut children = Vec::new();
    for i in 0..5 {
        let request = RunAgentRequest::builder()
            .prompt(format!("Migrate module {i}"))
            .parent_run_id(parent.clone());
        children.push(
            client
                .create_run()
                .body(request)
                .send()
                .await
                .unwrap()
                .run_id
                .clone(),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    let ended = client
        .wait_for_runs(children.clone())
        .ancestor_run_id(&parent)
        .send()
        .await
        .unwrap();

    let ended_ids: Vec<_> = ended.iter().map(|run| run.run_id.clone()).collect();
    assert_eq!(ended_ids, children);
    assert_eq!(
        mock.request_count("get_run"),
        0,
        "no run is read on its own"
    );
    assert!(mock.request_count("list_runs") >= 2);
    mock.shutdown().await;
}

mod support;
use oz_api_ext::oz_api::DEFAULT_MAX_RETRIES;
use support::client_without_timers;

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::{Handler, Mock, MockServer, Request, ResponseTemplate, method, path};

/// A run as a server with whole-second timestamps writes it.
fn run_at(run_id: &str, state: &str, updated_at: &str) -> Value {
    json!({
        "run_id": run_id,
        "task_id": run_id,
        "title": "Child",
        "state": state,
        "prompt": "Child",
        "created_at": "2025-03-14T09:00:00Z",
        "updated_at": updated_at,
    })
}

/// `list_runs` as the service answers it: the runs of `runs()` with `updated_at` strictly after
/// `updated_after`.
fn listing(
    runs: impl Fn() -> Vec<Value> + Send + Sync + 'static,
) -> Handler<impl Fn(&Request) -> ResponseTemplate + Send + Sync + 'static> {
    Handler(move |request: &Request| {
        let after = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "updated_after")
            .map(|(_, v)| v.parse::<chrono::DateTime<chrono::Utc>>().unwrap());
        let listed: Vec<Value> = runs()
            .into_iter()
            .filter(|run| {
                let updated: chrono::DateTime<chrono::Utc> =
                    run["updated_at"].as_str().unwrap().parse().unwrap();
                after.is_none_or(|after| updated > after)
            })
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"runs": listed, "page_info": {"has_next_page": false}}))
    })
}

async fn route(server: &MockServer, http_method: &str, at: &str, responder: impl support::Respond) {
    Mock::given(method(http_method))
        .and(path(at))
        .respond_with(responder)
        .mount(server)
        .await;
}

/// The run was seen at 09:31:07 while working, and ended within that same second: a strict
/// `updated_after` from what was seen would never list it.
#[tokio::test(start_paused = true)]
async fn a_run_ending_within_the_second_it_was_seen_is_listed() {
    let server = MockServer::start().await;
    route(
        &server,
        "GET",
        "/api/v1/agent/runs/r1",
        ResponseTemplate::new(200).set_body_json(run_at(
            "r1",
            "INPROGRESS",
            "2025-03-14T09:31:07Z",
        )),
    )
    .await;
    route(
        &server,
        "GET",
        "/api/v1/agent/runs",
        listing(|| vec![run_at("r1", "SUCCEEDED", "2025-03-14T09:31:07Z")]),
    )
    .await;

    let ended = client_without_timers(&server, 0)
        .wait_for_runs(["r1"])
        .max_wait(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].state.to_string(), "SUCCEEDED");
}

/// An answer about a run nobody asked for is an error for the run asked for; the others are
/// still waited for.
#[tokio::test(start_paused = true)]
async fn an_answer_about_another_run_is_an_error_for_the_run_asked_for() {
    let server = MockServer::start().await;
    route(
        &server,
        "GET",
        "/api/v1/agent/runs/asked",
        ResponseTemplate::new(200).set_body_json(run_at(
            "other",
            "SUCCEEDED",
            "2025-03-14T09:31:07Z",
        )),
    )
    .await;
    route(
        &server,
        "GET",
        "/api/v1/agent/runs/fine",
        ResponseTemplate::new(200).set_body_json(run_at("fine", "FAILED", "2025-03-14T09:31:07Z")),
    )
    .await;

    let results: Vec<_> = client_without_timers(&server, 0)
        .wait_for_runs(["asked", "fine"])
        .stream()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(results.len(), 2, "{results:?}");
    let foreign = results
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("an error");
    assert!(
        matches!(foreign, WaitError::ForeignRun { requested, answered } if requested == "asked" && answered == "other"),
        "{foreign:?}"
    );
    assert_eq!(foreign.run_id(), Some("asked"));
    let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].run_id, "fine", "the foreign run is never yielded");
}

/// A run deleted during the wait stops appearing; it is read on its own and its 404 is
/// reported long before `max_wait`.
#[tokio::test(start_paused = true)]
async fn a_run_deleted_during_the_wait_is_reported_not_waited_for() {
    let server = MockServer::start().await;
    let deleted = Arc::new(Mutex::new(false));
    let gone = deleted.clone();
    route(
        &server,
        "GET",
        "/api/v1/agent/runs/doomed",
        Handler(move |_: &Request| {
            if *gone.lock().unwrap() {
                ResponseTemplate::new(404).set_body_json(json!({
                    "type": "/reference/api-and-sdk/troubleshooting/errors/resource-not-found/",
                    "title": "Run not found",
                    "status": 404,
                }))
            } else {
                ResponseTemplate::new(200).set_body_json(run_at(
                    "doomed",
                    "INPROGRESS",
                    "2025-03-14T09:31:07Z",
                ))
            }
        }),
    )
    .await;
    route(&server, "GET", "/api/v1/agent/runs", listing(Vec::new)).await;

    let client = client_without_timers(&server, 0);
    let mut stream = client
        .wait_for_runs(["doomed"])
        .max_wait(Duration::from_secs(3_600))
        .stream();
    let started = tokio::time::Instant::now();
    let waiting = tokio::spawn(async move { stream.next().await });
    tokio::time::sleep(Duration::from_secs(10)).await;
    *deleted.lock().unwrap() = true;
    let first = waiting.await.unwrap().expect("an item");
    let err = first.unwrap_err();
    assert!(err.api_error().is_some_and(|e| e.is_not_found()), "{err:?}");
    assert_eq!(err.run_id(), Some("doomed"));
    assert!(
        started.elapsed() < Duration::from_secs(180),
        "reported after {:?}",
        started.elapsed()
    );
}

/// `ancestor_run_id` lists direct children only, at most 100 per answer: the wait still
/// reports a grandchild and every one of more than 100 children.
#[tokio::test(start_paused = true)]
async fn grandchildren_and_more_than_a_hundred_children_are_all_reported() {
    let mock = simulator(STEP).await;
    let client = client_without_timers(&mock, DEFAULT_MAX_RETRIES);
    let parent = client
        .create_run()
        .body(RunAgentRequest::builder().prompt("Orchestrate"))
        .send()
        .await
        .unwrap()
        .run_id
        .clone();
    let child = |prompt: String, parent: String| {
        let client = client.clone();
        async move {
            client
                .create_run()
                .body(
                    RunAgentRequest::builder()
                        .prompt(prompt)
                        .parent_run_id(parent),
                )
                .send()
                .await
                .unwrap()
                .run_id
                .clone()
        }
    };
    let mut ids = Vec::new();
    for i in 0..105 {
        ids.push(child(format!("Child {i}"), parent.clone()).await);
    }
    let grandchild = child("Grandchild".to_owned(), ids[0].clone()).await;

    // The simulator filters as the service does.
    let page = client
        .list_runs()
        .ancestor_run_id(parent.clone())
        .limit(500u64)
        .send()
        .await
        .unwrap();
    assert_eq!(page.runs.len(), 100, "capped at 100 whatever limit says");
    assert!(
        page.runs
            .iter()
            .all(|run| run.parent_run_id.as_deref() == Some(parent.as_str()))
    );
    let children: Vec<_> = client
        .list_runs()
        .ancestor_run_id(parent.clone())
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(children.len(), 105, "direct children only");

    let mut wanted: Vec<_> = ids.iter().cloned().chain([grandchild.clone()]).collect();
    let ended = tokio::time::timeout(
        Duration::from_secs(600),
        client
            .wait_for_runs(wanted.clone())
            .ancestor_run_id(&parent)
            .send(),
    )
    .await
    .expect("the wait finishes")
    .unwrap();
    let mut ended_ids: Vec<_> = ended.iter().map(|run| run.run_id.clone()).collect();
    ended_ids.sort();
    wanted.sort();
    assert_eq!(ended_ids, wanted);
    mock.shutdown().await;
}

#[test]
fn the_set_wait_is_a_named_stream_that_can_move_to_a_task() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let client = oz_api_ext::oz_api::Config::new(support::TEST_KEY)
        .build()
        .unwrap();
    let ended: oz_api_ext::EndedRunStream = client.wait_for_runs(["run_1"]).stream();
    assert_send_static(&ended);
    assert!(
        format!("{ended:?}").starts_with("EndedRunStream"),
        "{ended:?}"
    );
}
