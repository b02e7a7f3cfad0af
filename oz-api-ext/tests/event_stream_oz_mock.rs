//! Event tails and waits over the simulator's real-time stream: the stream found on the API's
//! base URL without setup, a wait that ends on the event of the run's end, reconnects across
//! a cut, children added live on the ancestor form, ends of a set taken from their events, and
//! the fallback to polling when the simulator refuses the stream or has it switched off.
//!
//! Tails and fallbacks run on tokio's paused clock, with the simulator on the test's runtime:
//! runs advance on simulated time, so the time a tail or a wait ends is exact. Waits woken by
//! the stream run on the real clock with short steps (see [`real_time_simulator`]).

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use oz_api_ext::oz_api::Client;
use oz_api_ext::oz_api::types::{RunAgentRequest, RunFollowupRequest};
use oz_api_ext::{EventStream, EventsExt, RunEnd, RunWaitExt, Transport, WaitForRunsExt};
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

/// On the real clock: a simulator whose runs move one state every `step` (four steps to an
/// end), and a client of it.
///
/// A wait that follows the stream is tested here, not on the paused clock: there the runtime
/// advances time whenever it parks, even with socket data ready, so the event of a run's end
/// and the wait's next timer (its two-minute safety poll) come due together and the poll may
/// win; the wait would end on time either way, and the test would not tell which woke it.
async fn real_time_simulator(step: Duration) -> (OzMock, Client) {
    let mock = OzMock::builder()
        .progression(Progression::Stepped(step))
        .start()
        .await
        .expect("the simulator starts");
    let client = oz_api_ext::oz_api::Config::new(mock.api_key())
        .base_url(mock.base_url())
        .build()
        .unwrap();
    (mock, client)
}

/// Well under the two-minute safety poll: a wait that ends sooner ended on an event.
const WOKEN_IN_TIME: Duration = Duration::from_secs(60);

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

#[tokio::test]
async fn a_wait_ends_on_the_simulators_event_with_three_requests() {
    let (mock, client) = real_time_simulator(Duration::from_millis(200)).await;
    let run_id = start(&client, "Fix the flaky test").await;

    let run = tokio::time::timeout(WOKEN_IN_TIME, client.wait_for_run(&run_id).send())
        .await
        .expect("woken by the end event, not the safety poll")
        .unwrap();

    assert_eq!(run.state.to_string(), "SUCCEEDED");
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

#[tokio::test]
async fn a_set_of_children_is_waited_for_through_the_ancestor_stream() {
    let (mock, client) = real_time_simulator(Duration::from_millis(200)).await;
    let parent = mock.insert_run(SeedRun::new("orchestrate").state(RunState::Inprogress));
    let mut children = Vec::new();
    for i in 0..5 {
        children.push(start_child(&client, &parent, i).await);
    }

    let wait = client
        .wait_for_runs(children.clone())
        .ancestor_run_id(&parent)
        .send();
    let ended = tokio::time::timeout(WOKEN_IN_TIME, wait)
        .await
        .expect("woken by the end events, not the safety poll")
        .unwrap();

    assert_eq!(ended.len(), 5);
    assert_eq!(mock.request_count("stream_agent_events"), 1);
    // One listing to start, one (or a few, as events come) when the children end.
    let listings = mock.request_count("list_runs");
    assert!((2..=4).contains(&listings), "{:?}", mock.request_counts());
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
    let (mock, client) = real_time_simulator(Duration::from_millis(200)).await;
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

/// On the real clock, like the test before: children that end 100 ms apart.
#[tokio::test]
async fn ends_of_children_come_from_their_events_without_a_listing_each() {
    // Steps long enough that no child has ended by the first listing on a loaded machine.
    let (mock, client) = real_time_simulator(Duration::from_secs(1)).await;
    let parent = mock.insert_run(SeedRun::new("orchestrate").state(RunState::Inprogress));
    let mut children = Vec::new();
    for i in 0..4 {
        children.push(start_child(&client, &parent, i).await);
        // Each ends 4 s after it started: 100 ms after the one before.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let ends: Vec<RunEnd> = client
        .wait_for_runs(children.clone())
        .ancestor_run_id(&parent)
        .min_delay(Duration::from_secs(4))
        .ends()
        .try_collect()
        .await
        .unwrap();

    let ids: Vec<&str> = ends.iter().map(|end| end.run_id.as_str()).collect();
    assert_eq!(ids, children.iter().map(String::as_str).collect::<Vec<_>>());
    for end in &ends {
        assert_eq!(end.state.to_string(), "SUCCEEDED");
        assert!(end.run.is_none(), "learnt from its event: {end:?}");
        let run = client.get_run().run_id(&end.run_id).send().await.unwrap();
        assert_eq!(Some(end.ended_at), run.finished_at);
    }
    // The first listing and the stream, whatever the number of children (`stream()` lists
    // three times here).
    assert_eq!(
        mock.request_count("list_runs"),
        1,
        "{:?}",
        mock.request_counts()
    );
    assert_eq!(mock.request_count("stream_agent_events"), 1);
    assert_eq!(mock.request_count("get_run"), ends.len());
}

#[tokio::test]
async fn an_end_of_an_earlier_execution_is_confirmed_not_taken() {
    let (mock, client) = real_time_simulator(Duration::from_millis(500)).await;
    let parent = mock.insert_run(SeedRun::new("orchestrate").state(RunState::Inprogress));
    let child = start_child(&client, &parent, 0).await;
    let first = client.wait_for_run(&child).send().await.unwrap();
    client
        .submit_run_followup()
        .run_id(&child)
        .body(RunFollowupRequest::builder().message("go on"))
        .send()
        .await
        .unwrap();
    mock.reset_counters();

    // The stream replays the first execution's `run_succeeded`: older than the run's last
    // change, so a listing confirms it (the run is queued again) instead of the wait ending.
    let ends = client
        .wait_for_runs([child.clone()])
        .ancestor_run_id(&parent)
        .ends()
        .try_collect::<Vec<RunEnd>>();
    let ends = tokio::time::timeout(WOKEN_IN_TIME, ends)
        .await
        .expect("woken by the end event, not the safety poll")
        .unwrap();

    assert_eq!(ends.len(), 1);
    let first_end = first.finished_at.unwrap();
    assert!(ends[0].ended_at > first_end, "{ends:?} after {first_end}");
    assert!(ends[0].run.is_none(), "the second end came from its event");
    assert_eq!(
        mock.request_count("list_runs"),
        2,
        "{:?}",
        mock.request_counts()
    );
}

#[tokio::test(start_paused = true)]
async fn without_the_stream_ends_come_from_listings_with_their_runs() {
    let (mock, client) = simulator(OzMock::builder().event_stream(false)).await;
    let parent = mock.insert_run(SeedRun::new("orchestrate").state(RunState::Inprogress));
    let mut children = Vec::new();
    for i in 0..3 {
        children.push(start_child(&client, &parent, i).await);
    }

    let ends: Vec<RunEnd> = client
        .wait_for_runs(children.clone())
        .ancestor_run_id(&parent)
        .ends()
        .try_collect()
        .await
        .unwrap();

    assert_eq!(ends.len(), 3);
    for end in &ends {
        let run = end.run.as_ref().expect("read by a listing");
        assert_eq!(run.run_id, end.run_id);
        assert_eq!(run.state, end.state);
        assert_eq!(Some(end.ended_at), run.finished_at);
    }
    assert!(mock.request_count("list_runs") >= 2);
}
