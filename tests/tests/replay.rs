//! Every fixture replayed through the SDK by a local server that checks the request strictly:
//! once through the typed `oz-api` call, once through the `oz-api-ext` workflow of its
//! operation where there is one.

use std::collections::BTreeSet;

use oz_conformance::check::{self, report};
use oz_conformance::fixture::load_checked_in;
use oz_conformance::{LoadedFixture, Spec};

/// Runs `check` on every fixture, a few at a time.
async fn over_all<'a, F, Fut>(fixtures: &'a [LoadedFixture], check: F) -> Vec<String>
where
    F: Fn(&'a LoadedFixture) -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    use futures::StreamExt;
    futures::stream::iter(fixtures.iter().map(check))
        .buffer_unordered(8)
        .flat_map(futures::stream::iter)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_replays_through_the_typed_call() {
    let spec = Spec::load();
    let fixtures = load_checked_in();
    assert!(!fixtures.is_empty(), "no fixtures under tests/fixtures");
    let failures = over_all(&fixtures, |f| check::typed_call(&spec, f)).await;
    assert!(
        failures.is_empty(),
        "{}",
        report("typed call", fixtures.len(), &failures)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_replays_through_its_workflow() {
    let spec = Spec::load();
    let fixtures = load_checked_in();
    let mut failures = Vec::new();
    let mut driven = BTreeSet::new();
    for fixture in &fixtures {
        let (workflow, problems) = check::workflow(&spec, fixture).await;
        if let Some(name) = workflow {
            driven.insert((fixture.operation_id.clone(), name, fixture.is_success()));
        }
        failures.extend(problems);
    }
    assert!(
        failures.is_empty(),
        "{}",
        report("workflow", fixtures.len(), &failures)
    );
    // Each workflow ran on at least one success and one error fixture.
    for (operation, workflow) in [
        ("list_runs", "list_runs().items()"),
        ("get_run", "wait_for_run()"),
        ("get_run_transcript", "download_transcript().url()"),
        ("download_artifact", "download_artifact_file().url()"),
        (
            "download_conversation_screenshot",
            "download_screenshot().url()",
        ),
        ("list_factories", "list_factories().items()"),
        ("list_factory_tasks", "list_factory_tasks().items()"),
        ("poll_agent_events", "events().stream()"),
        ("list_agent_messages", "inbox().stream()"),
    ] {
        for success in [true, false] {
            assert!(
                driven.contains(&(operation.to_owned(), workflow, success)),
                "{workflow} never replayed a {} fixture of {operation}",
                if success { "success" } else { "error" }
            );
        }
    }
}
