//! Every documented workflow (the README's and the crate docs' list: waits, follow-ups, set
//! waits, listings, downloads, event and inbox tails), as a newcomer's first integration test
//! would run it, against the
//! simulator under each of its progressions: `Instant` (a run has ended by its first read),
//! `Realistic` (about four seconds from QUEUED to the end) and `Stepped`. Each workflow must
//! finish; none may wait for its `max_wait`.
//!
//! On tokio's paused clock, with the simulator on the test's runtime: the runs advance on
//! simulated time and the clock jumps over every pause, so the whole matrix takes a moment.
//! Each workflow is bounded by a generous timeout on the same clock, so a workflow that hangs
//! fails at once instead of hanging the test run.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use oz_api_ext::oz_api::Client;
use oz_api_ext::oz_api::types::{RunAgentRequest, RunFollowupRequest, SendAgentMessageRequest};
use oz_api_ext::{
    DownloadExt, EventsExt, MessagesExt, PaginateExt, RunWaitExt, WaitForRunsExt, is_terminal,
};
use oz_mock::{OzMock, Progression, RunState as MockState, SeedRun};

mod support;
use oz_api_ext::oz_api::DEFAULT_MAX_RETRIES;
use support::client_without_timers;

/// Far beyond what any workflow needs on simulated time, far below the waiters' default
/// `max_wait` of 30 minutes: reaching it means the workflow would have hung.
const BOUND: Duration = Duration::from_secs(20 * 60);

/// Runs `workflow`, failing the test when it takes longer than [`BOUND`].
async fn bounded<T>(
    name: &str,
    progression: Progression,
    workflow: impl std::future::Future<Output = T>,
) -> T {
    match tokio::time::timeout(BOUND, workflow).await {
        Ok(value) => value,
        Err(_) => panic!("{name} under {progression:?} did not finish within {BOUND:?}"),
    }
}

fn prompt(text: &str) -> oz_api_ext::oz_api::types::builder::RunAgentRequest {
    RunAgentRequest::builder().prompt(text)
}

async fn start(client: &Client, text: &str) -> String {
    client
        .create_run()
        .body(prompt(text))
        .send()
        .await
        .unwrap()
        .run_id
        .clone()
}

/// Every workflow of the README and the crate docs under one progression.
async fn every_workflow(progression: Progression) {
    let mock = OzMock::builder()
        .progression(progression)
        .start()
        .await
        .unwrap();
    let client = client_without_timers(&mock, DEFAULT_MAX_RETRIES);
    let p = progression;

    let run = bounded("run_and_wait", p, async {
        client
            .run_and_wait(prompt("Fix the flaky test"))
            .send()
            .await
            .unwrap()
    })
    .await;
    assert!(is_terminal(&run.state), "{p:?}: {}", run.state);

    let id = start(&client, "Update the dependencies").await;
    let waited = bounded("wait_for_run", p, async {
        client.wait_for_run(&id).send().await.unwrap()
    })
    .await;
    assert!(is_terminal(&waited.state));

    let id = start(&client, "Watch me").await;
    let states: Vec<_> = bounded("watch_run", p, async {
        client
            .watch_run(&id)
            .stream()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    assert!(is_terminal(&states.last().unwrap().state), "{p:?}");

    // The follow-up to a run that ended: the new execution must be recognised, however fast
    // the simulator runs it.
    let followed = bounded("followup_and_wait", p, async {
        client
            .followup_and_wait(
                &run.run_id,
                RunFollowupRequest::builder().message("Add a regression test"),
            )
            .send()
            .await
            .unwrap()
    })
    .await;
    assert!(is_terminal(&followed.state), "{p:?}");
    assert_eq!(followed.run_id, run.run_id);

    let mut children = Vec::new();
    for i in 0..3 {
        children.push(start(&client, &format!("Child {i}")).await);
    }
    let ended = bounded("wait_for_runs", p, async {
        client.wait_for_runs(children.clone()).send().await.unwrap()
    })
    .await;
    assert_eq!(ended.len(), children.len(), "{p:?}");

    let listed: Vec<_> = bounded("list_runs().items()", p, async {
        client
            .list_runs()
            .limit(2u64)
            .items()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    assert!(listed.len() >= 6, "{p:?}: {}", listed.len());
    assert!(listed.iter().any(|run| run.run_id == followed.run_id));
    let pages: Vec<_> = bounded("list_runs().pages()", p, async {
        client
            .list_runs()
            .limit(2u64)
            .pages()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(
        pages.iter().map(|page| page.runs.len()).sum::<usize>(),
        listed.len()
    );

    let transcript = bounded("download_transcript", p, async {
        client
            .download_transcript(&run.run_id)
            .bytes()
            .await
            .unwrap()
    })
    .await;
    assert!(!transcript.is_empty());

    // An artifact file and a conversation screenshot, from a run that produces both.
    let producing = bounded("run_and_wait (artifacts)", p, async {
        client
            .run_and_wait(prompt("Write the report [file] [screenshot]"))
            .send()
            .await
            .unwrap()
    })
    .await;
    let artifacts = serde_json::to_value(&producing.artifacts).unwrap();
    let uid_of = |kind: &str| {
        artifacts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["artifact_type"] == kind)
            .and_then(|a| a["data"]["artifact_uid"].as_str())
            .unwrap_or_else(|| panic!("{p:?}: no {kind} artifact in {artifacts}"))
            .to_owned()
    };
    let file = bounded("download_artifact_file", p, async {
        client
            .download_artifact_file(uid_of("FILE"))
            .bytes()
            .await
            .unwrap()
    })
    .await;
    assert!(!file.is_empty());
    let conversation = producing.conversation_id.clone().expect("a conversation");
    let screenshot = bounded("download_screenshot", p, async {
        client
            .download_screenshot(conversation, uid_of("SCREENSHOT"))
            .bytes()
            .await
            .unwrap()
    })
    .await;
    assert!(screenshot.starts_with(b"\x89PNG"));

    let factories: Vec<_> = bounded("list_factories().items()", p, async {
        client
            .list_factories()
            .items()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    assert!(!factories.is_empty(), "{p:?}");
    bounded("list_factory_tasks().items()", p, async {
        client
            .list_factory_tasks()
            .factory_uid(factories[0].uid.clone())
            .items()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;

    // A tail never ends by itself: it is read up to the event that ends the run.
    let watched = start(&client, "Emit events").await;
    bounded("events().stream()", p, async {
        let mut events = client.events([watched.clone()]).stream();
        loop {
            let event = events.try_next().await.unwrap().expect("the tail goes on");
            let kind = serde_json::to_value(&event).unwrap()["event_type"].clone();
            if kind == "run_succeeded" || kind == "run_failed" || kind == "run_errored" {
                break;
            }
        }
    })
    .await;

    let recipient = mock.insert_run(SeedRun::new("Listen").state(MockState::Inprogress));
    let sender = mock.insert_run(SeedRun::new("Talk").state(MockState::Inprogress));
    let message = SendAgentMessageRequest::builder()
        .to(vec![recipient.clone()])
        .subject("Status")
        .body("Done with step 1")
        .sender_run_id(sender);
    client
        .send_agent_message()
        .body(message)
        .send()
        .await
        .unwrap();
    let header = bounded("inbox().stream()", p, async {
        client
            .inbox(&recipient)
            .stream()
            .next()
            .await
            .expect("the message")
            .unwrap()
    })
    .await;
    assert_eq!(header.subject.to_string(), "Status");

    mock.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn every_documented_workflow_finishes_under_instant() {
    every_workflow(Progression::Instant).await;
}

#[tokio::test(start_paused = true)]
async fn every_documented_workflow_finishes_under_realistic() {
    every_workflow(Progression::Realistic).await;
}

#[tokio::test(start_paused = true)]
async fn every_documented_workflow_finishes_under_short_steps() {
    every_workflow(Progression::Stepped(Duration::from_secs(1))).await;
}

#[tokio::test(start_paused = true)]
async fn every_documented_workflow_finishes_under_long_steps() {
    every_workflow(Progression::Stepped(Duration::from_secs(45))).await;
}
