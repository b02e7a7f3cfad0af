//! The real-time event stream (`GET /agent/events/stream`) over real HTTP: replay after
//! `since`, live events, the ancestor form, the clean close after the maximum age, the faults,
//! the switch that turns it off, and the answers to bad requests. The stream is read with
//! reqwest's `bytes_stream` and the small server-sent-events reader below.

mod support;

use std::time::Duration;

use futures::StreamExt;
use oz_mock::{
    Authorization, Fault, FaultRule, OzMock, OzMockBuilder, Progression, RunState, SeedRun,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{api, get, http, post};
use tokio::time::Instant;

/// A bound on every wait for the stream in tests on the real clock, so that a stream that
/// stays silent by mistake fails the test instead of hanging it; passing tests never reach it.
const PATIENCE: Duration = Duration::from_secs(20);

/// The messages of one open stream.
struct Sse {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    /// Bytes received and not yet part of a whole message.
    partial: Vec<u8>,
}

/// What the stream did next.
#[derive(Debug)]
enum Next {
    /// One whole message: its `data`, parsed.
    Event(Value),
    /// The body ended cleanly.
    End,
    /// The connection failed; the bytes of the message cut short are in `partial`.
    Cut,
}

impl Sse {
    fn new(response: reqwest::Response) -> Self {
        Self {
            body: response.bytes_stream().boxed(),
            partial: Vec::new(),
        }
    }

    async fn next(&mut self) -> Next {
        loop {
            if let Some(end) = self.partial.windows(2).position(|w| w == b"\n\n") {
                let message: Vec<u8> = self.partial.drain(..end + 2).collect();
                let text = std::str::from_utf8(&message[..end]).expect("UTF-8");
                // Only `data` fields, one per message: no `id`, `event` or `retry`.
                let lines: Vec<&str> = text.lines().collect();
                assert_eq!(lines.len(), 1, "one line per message: {text:?}");
                let data = lines[0].strip_prefix("data: ").expect("a data field");
                return Next::Event(serde_json::from_str(data).expect("JSON data"));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.partial.extend_from_slice(&chunk),
                Some(Err(_)) => return Next::Cut,
                None => {
                    assert!(self.partial.is_empty(), "the body ended mid-message");
                    return Next::End;
                }
            }
        }
    }

    /// The next event, which must come.
    async fn event(&mut self) -> Value {
        match self.next().await {
            Next::Event(event) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// The next event, within [`PATIENCE`] (tests on the real clock).
    async fn event_soon(&mut self) -> Value {
        tokio::time::timeout(PATIENCE, self.event())
            .await
            .expect("an event within the patience")
    }
}

/// A simulator built by `builder`, a client, and a run put in `state` (with its events).
async fn with_run(builder: OzMockBuilder, state: RunState) -> (OzMock, reqwest::Client, String) {
    let mock = builder.start().await.expect("start");
    let run = mock.insert_run(SeedRun::new("done").state(state));
    (mock, http(), run)
}

fn stream_path(query: &str) -> String {
    format!("/agent/events/stream?{query}")
}

/// Opens the stream with `query` and checks the answer's head.
async fn open(client: &reqwest::Client, mock: &OzMock, query: &str) -> Sse {
    let response = api(client, mock, reqwest::Method::GET, &stream_path(query))
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    Sse::new(response)
}

async fn create_run(client: &reqwest::Client, mock: &OzMock, body: Value) -> String {
    let answer = post(client, mock, "/agent/runs", body).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body["run_id"].as_str().expect("run_id").to_owned()
}

/// Records an event of `run_id` through the API and returns its sequence number.
async fn report(client: &reqwest::Client, mock: &OzMock, run_id: &str, kind: &str) -> i64 {
    let answer = post(
        client,
        mock,
        &format!("/agent/events/{run_id}"),
        json!({"event_type": kind}),
    )
    .await;
    answer.body["sequence"].as_i64().expect("sequence")
}

fn summary(event: &Value) -> (String, String, i64) {
    (
        event["run_id"].as_str().unwrap_or_default().to_owned(),
        event["event_type"].as_str().unwrap_or_default().to_owned(),
        event["sequence"].as_i64().unwrap_or_default(),
    )
}

/// Two runs that ended, four events; the stream from `since=1` sends the last three, each the
/// object `GET /agent/events` returns, then only what is recorded after.
#[tokio::test]
async fn replay_sends_every_event_after_since_in_order_then_live_ones() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let a = create_run(&client, &mock, json!({"prompt": "first"})).await;
    let b = create_run(&client, &mock, json!({"prompt": "second"})).await;
    // One read ends each run (Progression::Instant): four events, sequences 1 to 4.
    get(&client, &mock, &format!("/agent/runs/{a}")).await;
    get(&client, &mock, &format!("/agent/runs/{b}")).await;
    let polled = get(
        &client,
        &mock,
        &format!("/agent/events?run_ids={a}&run_ids={b}&since=1"),
    )
    .await
    .body;
    assert_eq!(polled.as_array().map(Vec::len), Some(3));

    let mut stream = open(
        &client,
        &mock,
        &format!("run_ids[]={a}&run_ids[]={b}&since=1"),
    )
    .await;
    for expected in polled.as_array().expect("events") {
        assert_eq!(&stream.event_soon().await, expected);
    }
    let sequence = report(&client, &mock, &b, "run_blocked").await;
    assert_eq!(sequence, 5);
    assert_eq!(
        summary(&stream.event_soon().await),
        (b.clone(), "run_blocked".to_owned(), 5)
    );

    let requests = mock.received_requests_for("stream_agent_events");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].status, Some(200));
    assert_eq!(requests[0].authorization, Authorization::ApiKey);
    assert_eq!(
        requests[0].query_pairs(),
        [
            ("run_ids[]".to_owned(), a.clone()),
            ("run_ids[]".to_owned(), b.clone()),
            ("since".to_owned(), "1".to_owned())
        ]
    );
    assert_eq!(mock.request_count("stream_agent_events"), 1);
}

/// A run that moves with time: its events arrive as it reaches each state, once each and in
/// order, stamped with the moment of the transition, over the one request.
#[tokio::test(start_paused = true)]
async fn live_events_of_a_progressing_run_arrive_in_order_at_their_transitions() {
    let step = Duration::from_secs(1);
    let mock = OzMock::builder()
        .progression(Progression::Stepped(step))
        .start()
        .await
        .expect("start");
    let client = http();
    let started = Instant::now();
    let run = create_run(&client, &mock, json!({"prompt": "fix it [fail]"})).await;
    let mut stream = open(&client, &mock, &format!("run_ids[]={run}")).await;

    let in_progress = stream.event().await;
    assert!(started.elapsed() >= 3 * step, "not before the transition");
    let failed = stream.event().await;
    assert!(started.elapsed() >= 4 * step);
    assert_eq!(
        [summary(&in_progress), summary(&failed)],
        [
            (run.clone(), "run_in_progress".to_owned(), 1),
            (run.clone(), "run_failed".to_owned(), 2)
        ]
    );
    let created_at = get(&client, &mock, &format!("/agent/runs/{run}"))
        .await
        .body["created_at"]
        .as_str()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).expect("a date"))
        .expect("created_at");
    for (event, after) in [(&in_progress, 3 * step), (&failed, 4 * step)] {
        let at = chrono::DateTime::parse_from_rfc3339(event["occurred_at"].as_str().unwrap())
            .expect("a date");
        assert_eq!((at - created_at).to_std().unwrap(), after, "{event}");
    }
    // Nothing else comes for the ended run: the next event is one recorded later.
    let sequence = report(&client, &mock, &run, "run_errored").await;
    assert_eq!(summary(&stream.event().await).2, sequence);
    assert_eq!(mock.request_count("stream_agent_events"), 1);
    assert_eq!(mock.request_count("poll_agent_events"), 0);
}

/// The ancestor form: the events of the run's direct children, those created after the stream
/// opened included; not the ancestor's own (unless `include_self=true`), not grandchildren's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ancestor_form_follows_children_created_after_it_opened() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let parent = mock.insert_run(SeedRun::new("orchestrate").state(RunState::Inprogress));
    let child = |prompt: &str, parent: &str| json!({"prompt": prompt, "parent_run_id": parent});
    let early = create_run(&client, &mock, child("early child", &parent)).await;
    mock.set_run_state(&early, RunState::Succeeded);

    let mut children = open(&client, &mock, &format!("ancestor_run_id={parent}")).await;
    let mut family = open(
        &client,
        &mock,
        &format!("ancestor_run_id={parent}&include_self=true"),
    )
    .await;

    // Replayed: the early child's events; with include_self, the parent's events first.
    let parent_events: Vec<_> = [
        (parent.clone(), "run_in_progress".to_owned(), 1),
        (parent.clone(), "child_agent_started".to_owned(), 2),
    ]
    .into();
    let early_events = [
        (early.clone(), "run_in_progress".to_owned(), 3),
        (early.clone(), "run_succeeded".to_owned(), 4),
    ];
    for expected in &early_events {
        assert_eq!(&summary(&children.event_soon().await), expected);
    }
    for expected in parent_events.iter().chain(&early_events) {
        assert_eq!(&summary(&family.event_soon().await), expected);
    }

    // A child created now: the parent records child_agent_started, the child its own events.
    let late = create_run(&client, &mock, child("late child", &parent)).await;
    let grandchild = create_run(&client, &mock, child("grandchild", &late)).await;
    mock.set_run_state(&grandchild, RunState::Succeeded);
    mock.set_run_state(&late, RunState::Inprogress);
    let started = family.event_soon().await;
    assert_eq!(
        summary(&started),
        (parent.clone(), "child_agent_started".to_owned(), 5)
    );
    assert_eq!(started["ref_id"], late.as_str());
    // The late child's own events: its child_agent_started (6), then its run_in_progress
    // (9); 7 and 8, the grandchild's, are not followed.
    for stream in [&mut children, &mut family] {
        let spawned = stream.event_soon().await;
        assert_eq!(
            summary(&spawned),
            (late.clone(), "child_agent_started".to_owned(), 6)
        );
        assert_eq!(spawned["ref_id"], grandchild.as_str());
        assert_eq!(
            summary(&stream.event_soon().await),
            (late.clone(), "run_in_progress".to_owned(), 9)
        );
    }
    assert_eq!(mock.request_count("stream_agent_events"), 2);
}

/// With a maximum age the stream ends cleanly once it is that old: whole messages, then the
/// end of the body; reopened with the last sequence handled it goes on.
#[tokio::test(start_paused = true)]
async fn the_stream_closes_cleanly_after_its_maximum_age() {
    let max_age = Duration::from_secs(30);
    let (mock, client, run) = with_run(
        OzMock::builder().event_stream_max_age(max_age),
        RunState::Succeeded,
    )
    .await;
    let opened = Instant::now();
    let mut stream = open(&client, &mock, &format!("run_ids[]={run}")).await;
    assert_eq!(stream.event().await["sequence"], 1);
    assert_eq!(stream.event().await["sequence"], 2);
    assert!(matches!(stream.next().await, Next::End));
    assert!(opened.elapsed() >= max_age);

    let sequence = report(&client, &mock, &run, "run_errored").await;
    let mut again = open(&client, &mock, &format!("run_ids[]={run}&since=2")).await;
    assert_eq!(again.event().await["sequence"], sequence);
    assert_eq!(mock.request_count("stream_agent_events"), 2);
}

/// `EventStreamCut`: whole events, then half of the next message, then the connection closes;
/// nothing is lost for a client that reopens with the last sequence it handled.
#[tokio::test]
async fn a_cut_sends_whole_events_then_half_a_message_and_closes_the_connection() {
    let (mock, client, run) = with_run(OzMock::builder(), RunState::Succeeded).await;
    report(&client, &mock, &run, "run_blocked").await;
    mock.add_fault(FaultRule::operation(
        "stream_agent_events",
        Fault::EventStreamCut { after_events: 2 },
    ));
    let mut stream = open(&client, &mock, &format!("run_ids[]={run}")).await;
    assert_eq!(stream.event_soon().await["sequence"], 1);
    assert_eq!(stream.event_soon().await["sequence"], 2);
    let cut = tokio::time::timeout(PATIENCE, stream.next()).await.unwrap();
    assert!(matches!(cut, Next::Cut), "{cut:?}");
    let half = String::from_utf8(stream.partial.clone()).unwrap();
    assert!(half.starts_with("data: {\""), "{half:?}");
    assert!(!half.contains('\n'), "{half:?}");

    let mut again = open(&client, &mock, &format!("run_ids[]={run}&since=2")).await;
    assert_eq!(
        summary(&again.event_soon().await),
        (run.clone(), "run_blocked".to_owned(), 3)
    );
    // `TruncatedBody` on the stream cuts its first message.
    mock.add_fault(FaultRule::operation(
        "stream_agent_events",
        Fault::TruncatedBody,
    ));
    let mut cut_at_once = open(&client, &mock, &format!("run_ids[]={run}")).await;
    let cut = tokio::time::timeout(PATIENCE, cut_at_once.next())
        .await
        .unwrap();
    assert!(matches!(cut, Next::Cut), "{cut:?}");
}

/// `Latency` delays the first byte, `EventStreamDelay` each later event.
#[tokio::test(start_paused = true)]
async fn delays_come_before_the_answer_and_between_events() {
    let (mock, client, run) = with_run(OzMock::builder(), RunState::Succeeded).await;
    mock.add_fault(FaultRule::operation(
        "stream_agent_events",
        Fault::Latency(Duration::from_secs(5)),
    ));
    mock.add_fault(FaultRule::operation(
        "stream_agent_events",
        Fault::EventStreamDelay(Duration::from_secs(2)),
    ));
    let start = Instant::now();
    let mut stream = open(&client, &mock, &format!("run_ids[]={run}")).await;
    assert!(start.elapsed() >= Duration::from_secs(5));
    stream.event().await;
    let first = Instant::now();
    stream.event().await;
    assert!(first.elapsed() >= Duration::from_secs(2));
}

/// `EventStreamSilent`: the stream opens and sends nothing, even as events are recorded, until
/// its maximum age ends it cleanly.
#[tokio::test(start_paused = true)]
async fn a_silent_stream_opens_and_sends_nothing_until_its_maximum_age() {
    let max_age = Duration::from_secs(60);
    let (mock, client, run) = with_run(
        OzMock::builder().event_stream_max_age(max_age),
        RunState::Inprogress,
    )
    .await;
    mock.add_fault(FaultRule::operation(
        "stream_agent_events",
        Fault::EventStreamSilent,
    ));
    let opened = Instant::now();
    let mut stream = open(&client, &mock, &format!("run_ids[]={run}")).await;
    mock.set_run_state(&run, RunState::Succeeded);
    assert!(matches!(stream.next().await, Next::End));
    assert!(opened.elapsed() >= max_age);
    // The next stream is not silent: everything is there.
    let mut next = open(&client, &mock, &format!("run_ids[]={run}")).await;
    assert_eq!(next.event().await["event_type"], "run_in_progress");
    assert_eq!(next.event().await["event_type"], "run_succeeded");
}

/// The refusals a client falls back to polling on: each fault's status with a problem body,
/// a 200 that is no event stream, and a connection closed without an answer.
#[tokio::test]
async fn faults_answer_refusals_and_answers_that_are_no_event_stream() {
    let (mock, client, run) = with_run(OzMock::builder(), RunState::Succeeded).await;
    let path = stream_path(&format!("run_ids[]={run}"));
    for status in [401, 403, 404, 500, 503] {
        mock.add_fault(FaultRule::operation(
            "stream_agent_events",
            Fault::Status(status),
        ));
        let answer = get(&client, &mock, &path).await;
        assert_eq!(answer.status.as_u16(), status);
        assert_eq!(answer.content_type(), Some("application/problem+json"));
        assert_eq!(answer.body["status"], status, "{:?}", answer.body);
    }
    mock.add_fault(FaultRule::operation(
        "stream_agent_events",
        Fault::MismatchedBody,
    ));
    let answer = get(&client, &mock, &path).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), Some("application/json"));
    assert!(answer.body.is_object());

    mock.add_fault(FaultRule::operation(
        "stream_agent_events",
        Fault::ConnectionReset,
    ));
    let error = api(&client, &mock, reqwest::Method::GET, &path)
        .send()
        .await
        .expect_err("no answer");
    assert!(!error.is_status(), "{error}");
    assert_eq!(mock.pending_faults(), 0);
    // Every attempt counts under the operation.
    assert_eq!(mock.request_count("stream_agent_events"), 7);
}

/// Switched off, the path answers 404 as a host without the stream, even to a bad key; the
/// requests still count under the operation.
#[tokio::test]
async fn switched_off_the_stream_answers_404() {
    let (mock, client, run) =
        with_run(OzMock::builder().event_stream(false), RunState::Succeeded).await;
    let path = stream_path(&format!("run_ids[]={run}"));
    let answer = get(&client, &mock, &path).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["detail"], "no such endpoint");
    let answer = support::send(
        client
            .get(format!("{}{path}", mock.base_url()))
            .bearer_auth("wk-wrong"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(mock.request_count("stream_agent_events"), 2);

    mock.set_event_stream(true);
    let mut stream = open(&client, &mock, &format!("run_ids[]={run}")).await;
    assert_eq!(stream.event_soon().await["sequence"], 1);
}

/// Auth as on the API: 401 without the key or with another one.
#[tokio::test]
async fn a_missing_or_wrong_key_is_refused_with_401() {
    let (mock, client, run) = with_run(OzMock::builder(), RunState::Succeeded).await;
    let url = format!(
        "{}{}",
        mock.base_url(),
        stream_path(&format!("run_ids[]={run}"))
    );
    for request in [client.get(&url), client.get(&url).bearer_auth("wk-wrong")] {
        let answer = support::send(request).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.content_type(), Some("application/problem+json"));
    }
}

/// Bad requests get the API's validation errors, naming what is wrong.
#[tokio::test]
async fn requests_without_runs_or_with_bad_parameters_are_refused() {
    let (mock, client, run) = with_run(OzMock::builder(), RunState::Succeeded).await;
    for (query, status, detail) in [
        ("", 400, "run_ids[] is required"),
        ("since=3", 400, "run_ids[] is required"),
        (
            &format!("run_ids[]={run}&ancestor_run_id={run}"),
            400,
            "not both",
        ),
        (
            &format!("run_ids[]={run}&include_self=true"),
            400,
            "include_self applies only with ancestor_run_id",
        ),
        (&format!("run_ids[]={run}&since=-1"), 400, "since"),
        (&format!("run_ids[]={run}&since=soon"), 400, "since"),
        (
            &format!("ancestor_run_id={run}&include_self=maybe"),
            400,
            "include_self",
        ),
        ("run_ids[]=no-such-run", 404, "no-such-run"),
        ("ancestor_run_id=no-such-run", 404, "no-such-run"),
    ] {
        let answer = get(&client, &mock, &stream_path(query)).await;
        assert_eq!(answer.status.as_u16(), status, "{query}: {:?}", answer.body);
        let said = answer.body["detail"].as_str().unwrap_or_default();
        assert!(said.contains(detail), "{query}: {said}");
    }
}

/// A graceful stop ends the open streams cleanly, so that it does not wait for them.
#[tokio::test]
async fn a_graceful_stop_ends_open_streams_cleanly() {
    let (mock, client, run) = with_run(OzMock::builder(), RunState::Succeeded).await;
    let mut stream = open(&client, &mock, &format!("run_ids[]={run}")).await;
    stream.event_soon().await;
    stream.event_soon().await;
    tokio::time::timeout(PATIENCE, mock.shutdown_gracefully(2 * PATIENCE))
        .await
        .expect("the stop does not wait out its grace");
    let end = tokio::time::timeout(PATIENCE, stream.next()).await.unwrap();
    assert!(matches!(end, Next::End), "{end:?}");
}

/// Streams opened one after another each close at their own maximum age, also while the
/// ones before them are still open.
#[tokio::test(start_paused = true)]
async fn streams_opened_one_after_another_each_close_at_their_age() {
    let max_age = Duration::from_secs(60);
    let (mock, client, run) = with_run(
        OzMock::builder().event_stream_max_age(max_age),
        RunState::Inprogress,
    )
    .await;
    let started = Instant::now();
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(open(&client, &mock, &format!("run_ids[]={run}")).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let ends = streams.into_iter().map(|mut stream| async move {
        loop {
            match stream.next().await {
                Next::Event(_) => {}
                other => return (other, Instant::now()),
            }
        }
    });
    let ends = tokio::time::timeout(Duration::from_secs(200), futures::future::join_all(ends))
        .await
        .expect("every stream ends");
    for (i, (how, at)) in ends.into_iter().enumerate() {
        assert!(matches!(how, Next::End), "stream {i}: {how:?}");
        let age = at - started;
        assert!(
            age >= max_age && age <= max_age + Duration::from_secs(3),
            "stream {i}: {age:?}"
        );
    }
}
