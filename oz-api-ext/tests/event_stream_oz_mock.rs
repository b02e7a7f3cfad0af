//! Event tails and waits over the simulator's real-time stream: the stream found on the API's
//! base URL without setup, a wait that ends on the event of the run's end, reconnects across
//! a cut, children added live on the ancestor form,
//! and the fallback to polling when the simulator refuses the stream or has it switched off.
//!
//! On tokio's paused clock, with the simulator on the test's runtime: runs advance on
//! simulated time, so the time a wait ends is exact.

use std::time::Duration;

use futures::StreamExt;
use oz_api_ext::oz_api::Client;
use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::{EventStream, EventsExt, RunWaitExt, Transport, WaitForRunsExt};
use oz_mock::{Fault, FaultRule, OzMock, OzMockBuilder, Progression, RunState, SeedRun};
use tokio::time::Instant;

mod support;
use support::client_without_timers;

const STEP: Duration = Duration::from_secs(5);

/// A simulator whose runs move one state every [`STEP`], and a client of it.
async fn simulator(builder: OzMockBuilder) -> (OzMock, Client) {
    let mock = builder
        .progression(Progression::Stepped(STEP))
        .start()
        .await
        .expect("the simulator starts");
    let client = client_without_timers(&mock, 0);
    (mock, client)
}

async fn start(client: &Client, prompt: &str) -> String {
    client
        .create_run()
        .body(RunAgentRequest::builder().prompt(prompt))
        .send()
        .await
        .unwrap()
        .run_id
        .clone()
}

/// A child of `parent`, started.
async fn start_child(client: &Client, parent: &str, i: usize) -> String {
    client
        .create_run()
        .body(
            RunAgentRequest::builder()
                .prompt(format!("child {i}"))
                .parent_run_id(parent),
        )
        .send()
        .await
        .unwrap()
        .run_id
        .clone()
}

/// The type and sequence of the next `n` events.
async fn next_events(events: &mut EventStream, n: usize) -> Vec<(String, i64)> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let event = tokio::time::timeout(Duration::from_secs(600), events.next())
            .await
            .expect("an event within ten minutes")
            .expect("endless")
            .expect("no error");
        seen.push((event.event_type.to_string(), event.sequence));
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn a_wait_ends_on_the_simulators_event_with_three_requests() {
    let (mock, client) = simulator(OzMock::builder()).await;
    let run_id = start(&client, "Fix the flaky test").await;
    let started = Instant::now();

    let run = client.wait_for_run(&run_id).send().await.unwrap();

    assert_eq!(run.state.to_string(), "SUCCEEDED");
    let ended = started.elapsed();
    assert!(
        ended.as_secs().is_multiple_of(STEP.as_secs()),
        "seen at a transition: {ended:?}"
    );
    assert_eq!(
        mock.request_count("get_run"),
        2,
        "{:?}",
        mock.request_counts()
    );
    assert_eq!(mock.request_count("stream_agent_events"), 1);
    assert_eq!(mock.request_count("poll_agent_events"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_tail_over_the_simulators_stream_resumes_across_a_cut() {
    let (mock, client) = simulator(OzMock::builder()).await;
    mock.add_fault(
        FaultRule::operation(
            "stream_agent_events",
            Fault::EventStreamCut { after_events: 1 },
        )
        .times(1),
    );
    let run_id = start(&client, "Fix the flaky test").await;
    let mut events = client.events([run_id.as_str()]).stream();

    let seen = next_events(&mut events, 2).await;

    assert_eq!(
        seen.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["run_in_progress", "run_succeeded"]
    );
    assert!(seen[0].1 < seen[1].1);
    assert_eq!(events.transport(), Transport::Stream);
    assert_eq!(mock.request_count("stream_agent_events"), 2);
    assert_eq!(mock.request_count("poll_agent_events"), 0);
}

#[tokio::test(start_paused = true)]
async fn children_started_after_the_tail_are_followed_live() {
    let (mock, client) = simulator(OzMock::builder()).await;
    let parent = mock.insert_run(SeedRun::new("orchestrate").state(RunState::Inprogress));
    let mut events = client.events_of_children(&parent).stream();
    let quiet = tokio::time::timeout(Duration::from_secs(1), events.next()).await;
    assert!(quiet.is_err(), "no child yet");

    let child = client
        .create_run()
        .body(
            RunAgentRequest::builder()
                .prompt("a child")
                .parent_run_id(parent.clone()),
        )
        .send()
        .await
        .unwrap()
        .run_id
        .clone();
    let event = tokio::time::timeout(Duration::from_secs(600), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    assert_eq!(event.run_id, child);
    assert_eq!(mock.request_count("stream_agent_events"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_set_of_children_is_waited_for_through_the_ancestor_stream() {
    let (mock, client) = simulator(OzMock::builder()).await;
    let parent = mock.insert_run(SeedRun::new("orchestrate").state(RunState::Inprogress));
    let mut children = Vec::new();
    for i in 0..5 {
        children.push(start_child(&client, &parent, i).await);
    }

    let ended = client
        .wait_for_runs(children.clone())
        .ancestor_run_id(&parent)
        .send()
        .await
        .unwrap();

    assert_eq!(ended.len(), 5);
    assert_eq!(mock.request_count("stream_agent_events"), 1);
    // One listing to start, one (or a few, as events come) when the children end.
    let listings = mock.request_count("list_runs");
    assert!((2..=3).contains(&listings), "{:?}", mock.request_counts());
    assert_eq!(mock.request_count("get_run"), 0);
}

#[tokio::test(start_paused = true)]
async fn with_the_stream_switched_off_tails_and_waits_poll() {
    let (mock, client) = simulator(OzMock::builder().event_stream(false)).await;
    let run_id = start(&client, "Fix the flaky test").await;

    let mut events = client.events([run_id.as_str()]).stream();
    let seen = next_events(&mut events, 2).await;
    assert_eq!(seen[1].0, "run_succeeded");
    assert_eq!(events.transport(), Transport::Poll);
    assert_eq!(mock.request_count("stream_agent_events"), 1);

    // Remembered: this wait polls from the start and never asks for the stream.
    let run_id = start(&client, "Fix another test").await;
    let run = client.wait_for_run(&run_id).send().await.unwrap();
    assert_eq!(run.state.to_string(), "SUCCEEDED");
    assert_eq!(mock.request_count("stream_agent_events"), 1);
    assert!(mock.request_count("get_run") > 2);
}

#[tokio::test(start_paused = true)]
async fn a_refused_stream_falls_back_and_a_silent_one_leaves_the_safety_poll() {
    let (mock, client) = simulator(OzMock::builder()).await;
    mock.add_fault(FaultRule::operation("stream_agent_events", Fault::Status(401)).times(1));
    let run_id = start(&client, "Fix the flaky test").await;
    let mut events = client.events([run_id.as_str()]).stream();
    next_events(&mut events, 2).await;
    assert_eq!(events.transport(), Transport::Poll);
    assert!(mock.request_count("poll_agent_events") > 0);

    // A client that does not remember the refusal, on a stream that says nothing.
    client.event_stream_memo().clear();
    mock.add_fault(FaultRule::operation("stream_agent_events", Fault::EventStreamSilent).always());
    let run_id = start(&client, "Fix another test").await;
    let started = Instant::now();
    client.wait_for_run(&run_id).send().await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(120));
}

/// On the real clock: on the paused one, time jumps to the next timer whenever the runtime
/// parks, which puts the children's ends together however they were spaced.
#[tokio::test]
async fn children_that_end_one_after_the_other_share_listings() {
    let mock = OzMock::builder()
        .progression(Progression::Stepped(Duration::from_millis(200)))
        .start()
        .await
        .expect("the simulator starts");
    let client = oz_api_ext::oz_api::Config::new(mock.api_key())
        .base_url(mock.base_url())
        .build()
        .unwrap();
    let parent = mock.insert_run(SeedRun::new("orchestrate").state(RunState::Inprogress));
    let mut children = Vec::new();
    for i in 0..4 {
        children.push(start_child(&client, &parent, i).await);
        // Each ends 800 ms after it started: 100 ms after the one before.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let ended = client
        .wait_for_runs(children.clone())
        .ancestor_run_id(&parent)
        .min_delay(Duration::from_secs(4))
        .send()
        .await
        .unwrap();

    assert_eq!(ended.len(), 4);
    // One listing to start, one at the first end, one for every end that came within half of
    // min_delay (2 s) after it: three, where a listing per end would be five.
    let listings = mock.request_count("list_runs");
    assert!(listings <= 3, "{:?}", mock.request_counts());
    assert_eq!(mock.request_count("stream_agent_events"), 1);
}
