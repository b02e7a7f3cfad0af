//! Testing an application with the simulator: the application's function runs against
//! `oz-mock` in-process, with runs seeded in the states the test needs, faults injected on
//! chosen operations, and the requests it sent read back from the simulator's log.
//!
//! ```text
//! cargo run -p oz-api-ext --example testing_with_oz_mock
//! ```
//!
//! In an application the same code sits in `#[tokio::test]` functions, with `oz-mock` as a
//! dev-dependency (`oz-mock = { version = "0.1", default-features = false }`). This example
//! runs the checks in `main` and never reaches the network.

use std::time::Duration;

use futures::TryStreamExt;
use oz_api_ext::PaginateExt;
use oz_api_ext::oz_api::types::RunState;
use oz_api_ext::oz_api::{Client, Config};
use oz_mock::{Fault, FaultRule, OzMock, Progression, RetryAfter, SeedRun};

/// The application code under test: the titles of the team's failed runs tagged with `batch`.
async fn failed_titles(
    client: &Client,
    batch: &str,
) -> Result<Vec<String>, oz_api_ext::PaginationError> {
    let runs: Vec<_> = client
        .list_runs()
        .state(RunState::Failed)
        .metadata([("batch", batch)])
        .items()
        .try_collect()
        .await?;
    Ok(runs.into_iter().map(|run| run.title).collect())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. A simulator of its own (each test starts one: they share nothing), with runs seeded in
    //    the states the test needs.
    let mock = OzMock::builder()
        .progression(Progression::Instant)
        .start()
        .await?;
    for (title, state) in [
        ("Flaky login test", oz_mock::RunState::Failed),
        ("Dependency bump", oz_mock::RunState::Succeeded),
        ("Broken migration", oz_mock::RunState::Failed),
    ] {
        mock.insert_run(
            SeedRun::new(format!("Fix: {title}"))
                .title(title)
                .state(state)
                .metadata("batch", "nightly-42"),
        );
    }
    let client = Config::new(mock.api_key())
        .base_url(mock.base_url())
        .build()?;

    // 2. The happy path.
    let mut titles = failed_titles(&client, "nightly-42").await?;
    titles.sort();
    assert_eq!(titles, ["Broken migration", "Flaky login test"]);
    println!("failed runs of the batch: {titles:?}");

    // 3. The request the application sent, from the simulator's log.
    let sent = mock.received_requests_for("list_runs");
    let query = sent[0].query.as_deref().unwrap_or_default();
    assert!(query.contains("state=FAILED"), "{query}");
    assert!(query.contains("metadata%5Bbatch%5D=nightly-42"), "{query}");
    println!("it asked for: {query}");

    // 4. Faults: the next two listings are answered 429, then the service recovers; the
    //    client's retries carry the application through.
    mock.reset_counters();
    mock.add_fault(
        FaultRule::operation("list_runs", Fault::TooManyRequests(RetryAfter::Millis(50))).times(2),
    );
    let titles = failed_titles(&client, "nightly-42").await?;
    assert_eq!(titles.len(), 2);
    assert_eq!(
        mock.request_count("list_runs"),
        3,
        "two 429s, then the answer"
    );
    println!(
        "through two 429s: {} requests",
        mock.request_count("list_runs")
    );

    // 5. A fault the application must report: the service is down for longer than the
    //    retries last.
    mock.add_fault(FaultRule::operation("list_runs", Fault::Status(503)).times(10));
    let err = failed_titles(&client, "nightly-42").await.unwrap_err();
    let api = err.api_error().expect("an API error");
    assert_eq!(api.status().map(|s| s.as_u16()), Some(503));
    assert!(api.is_transient());
    println!("the outage, as the application sees it: {err}");
    mock.clear_faults();

    // 6. Moving a run on: the test decides when it ends.
    let run_id = mock.insert_run(SeedRun::new("Long task").state(oz_mock::RunState::Inprogress));
    mock.set_run_state(&run_id, oz_mock::RunState::Succeeded);
    let run = client.get_run().run_id(&run_id).send().await?;
    assert_eq!(run.state, RunState::Succeeded);
    println!("run {run_id} is {}", run.state);

    mock.shutdown_gracefully(Duration::from_secs(1)).await;
    println!("all checks passed");
    Ok(())
}
