//! The SDK against the simulator's faults: 429 with `Retry-After`, bursts of 5xx, refused and
//! reset connections, bodies cut short, answers slower than the timeout, truncated JSON, a
//! proxy's HTML page, a 200 that does not match the schema, and a 50 MB list.
//!
//! For each fault the SDK either returns the right value after retrying, or a clear error that
//! keeps the HTTP status and at most a short excerpt of the body. Every call is bounded by
//! [`bounded`] so a hang fails the test instead of stalling the suite, and every test that
//! starts runs checks that the simulator created exactly the runs whose `create_run` it
//! processed: never a duplicate.
//!
//! Real time, small delays: the client's timeouts are real socket timeouts (paused time would
//! jump past them while a socket is waited on), so the servers ask for short retry delays
//! (`retry-after-ms`) where the fault allows it.

use std::time::Duration;

use futures::TryStreamExt;
use oz_api_ext::oz_api::types::{RunAgentRequest, RunState};
use oz_api_ext::oz_api::{Client, Config, Error};
use oz_api_ext::{DownloadError, DownloadExt, PaginateExt, RunWaitExt, is_terminal};
use oz_mock::{Fault, FaultRule, OzMock, Progression, RetryAfter};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;

/// Longest any single scenario may take before it counts as a hang.
const BOUND: Duration = Duration::from_secs(30);

async fn bounded<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

async fn simulator() -> OzMock {
    OzMock::builder()
        .progression(Progression::Instant)
        .start()
        .await
        .expect("the simulator starts")
}

/// Latency of an answer the client must give up on: four times the client's 1 s timeout, so
/// that a loaded machine that fires the timer late still fires it before the answer comes.
const SLOWER_THAN_THE_TIMEOUT: Duration = Duration::from_secs(4);

/// One-second attempts and three retries: faults are survived quickly or fail quickly.
fn config(mock: &OzMock) -> Config {
    support::config(mock)
        .timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1))
        .max_retries(3)
}

fn fast_failing_client(mock: &OzMock) -> Client {
    config(mock).build().expect("valid configuration")
}

fn request(prompt: &str) -> oz_api_ext::oz_api::types::builder::RunAgentRequest {
    RunAgentRequest::builder().prompt(prompt)
}

/// Starts a run and returns its id; panics on failure.
async fn start_run(client: &Client, prompt: &str) -> String {
    bounded(
        "create_run",
        client.create_run().body(request(prompt)).send(),
    )
    .await
    .expect("the run starts")
    .into_inner()
    .run_id
}

/// The error's one line, checked to be short and free of HTML markup beyond an
/// excerpt.
fn summary(err: &Error) -> String {
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(text.chars().count() < 400, "line too long: {text}");
    text
}

#[tokio::test]
async fn a_429_with_retry_after_seconds_is_waited_out_then_answered() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    let run_id = start_run(&client, "a run").await;
    mock.add_fault(FaultRule::operation(
        "get_run",
        Fault::TooManyRequests(RetryAfter::Seconds(1)),
    ));

    let run = bounded("get_run", client.get_run().run_id(&run_id).send())
        .await
        .expect("the retry answers");

    assert_eq!(run.run_id, run_id);
    assert_eq!(mock.request_count("get_run"), 2);
    assert_eq!(mock.created_run_count(), 1);
}

#[tokio::test]
async fn a_429_with_an_http_date_is_waited_out_then_answered() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    mock.add_fault(FaultRule::operation(
        "list_runs",
        Fault::TooManyRequests(RetryAfter::HttpDate(Duration::from_secs(1))),
    ));

    let page = bounded("list_runs", client.list_runs().send())
        .await
        .expect("the retry answers");

    assert!(page.runs.is_empty());
    assert_eq!(mock.request_count("list_runs"), 2);
}

#[tokio::test]
async fn a_429_that_persists_ends_with_a_rate_limit_error_and_the_servers_delay() {
    let mock = simulator().await;
    let client = config(&mock).max_retries(2).build().unwrap();
    mock.add_fault(
        FaultRule::operation("list_runs", Fault::TooManyRequests(RetryAfter::Millis(20))).always(),
    );

    let err = bounded("list_runs", client.list_runs().send())
        .await
        .unwrap_err();

    assert!(err.is_rate_limited() && err.is_transient(), "{err}");
    assert_eq!(err.retry_after(), Some(Duration::from_millis(20)));
    assert!(summary(&err).starts_with("429"), "{}", summary(&err));
    assert_eq!(mock.request_count("list_runs"), 3);
}

#[tokio::test]
async fn create_run_answered_429_is_retried_and_starts_exactly_one_run() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    mock.add_fault(
        FaultRule::operation("create_run", Fault::TooManyRequests(RetryAfter::Millis(20))).times(2),
    );

    start_run(&client, "rate limited start").await;

    assert_eq!(mock.request_count("create_run"), 3);
    assert_eq!(mock.created_run_count(), 1);
}

/// A read through a burst of two error statuses.
async fn burst_then_answer(first: u16, second: u16) {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    let run_id = start_run(&client, "a run").await;
    mock.add_fault(FaultRule::operation("get_run", Fault::Status(first)));
    mock.add_fault(FaultRule::operation("get_run", Fault::Status(second)));

    let run = bounded("get_run", client.get_run().run_id(&run_id).send())
        .await
        .unwrap_or_else(|err| panic!("{first}, {second} then success: {err}"));

    assert_eq!(run.run_id, run_id);
    assert_eq!(mock.request_count("get_run"), 3);
    assert_eq!(mock.created_run_count(), 1);
}

#[tokio::test]
async fn a_burst_of_500_and_502_is_retried_until_the_answer() {
    burst_then_answer(500, 502).await;
}

#[tokio::test]
async fn a_burst_of_503_and_504_is_retried_until_the_answer() {
    burst_then_answer(503, 504).await;
}

#[tokio::test]
async fn a_5xx_that_persists_ends_with_its_status_and_problem() {
    let mock = simulator().await;
    let client = config(&mock).max_retries(1).build().unwrap();
    mock.add_fault(FaultRule::operation("list_runs", Fault::Status(503)).always());

    let err = bounded("list_runs", client.list_runs().send())
        .await
        .unwrap_err();

    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert!(err.is_transient());
    assert!(err.trace_id().is_some(), "{err}");
    let text = summary(&err);
    assert!(text.starts_with("503"), "{text}");
    assert_eq!(mock.request_count("list_runs"), 2);
}

#[tokio::test]
async fn create_run_answered_5xx_is_not_retried_and_starts_no_run() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    for status in [500, 502, 503, 504] {
        mock.add_fault(FaultRule::operation("create_run", Fault::Status(status)));

        let err = bounded("create_run", client.create_run().body(request("x")).send())
            .await
            .unwrap_err();

        assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
    }
    // One attempt per call: the server may have acted on a 5xx, so it is never repeated.
    assert_eq!(mock.request_count("create_run"), 4);
    assert_eq!(mock.created_run_count(), 0);
}

#[tokio::test]
async fn a_closed_port_fails_with_a_connect_error_after_the_retries() {
    // Port 1: the system never hands it out to a listener asking for a free port, so no
    // server of this or another test can answer there (a port freed by dropping a listener
    // can be given to the next test that binds one).
    let client = Config::new("wk-faults")
        .base_url("http://127.0.0.1:1/api/v1")
        .timeout(Duration::from_secs(1))
        .max_retries(1)
        .build()
        .unwrap();

    let err = bounded("create_run", client.create_run().body(request("x")).send())
        .await
        .unwrap_err();

    assert!(
        matches!(&err, Error::Connection(inner) if inner.is_connect()),
        "{err}"
    );
    assert!(err.is_transient() && err.status().is_none());
    assert!(
        summary(&err).starts_with("could not connect"),
        "{}",
        summary(&err)
    );
}

#[tokio::test]
async fn a_connection_reset_before_the_answer_is_retried_for_reads() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    let run_id = start_run(&client, "a run").await;
    mock.add_fault(FaultRule::operation("get_run", Fault::ConnectionReset));

    let run = bounded("get_run", client.get_run().run_id(&run_id).send())
        .await
        .expect("the retry answers");

    assert_eq!(run.run_id, run_id);
    assert_eq!(mock.request_count("get_run"), 2);
}

#[tokio::test]
async fn a_connection_reset_on_create_run_is_not_retried_and_starts_no_run() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    mock.add_fault(FaultRule::operation("create_run", Fault::ConnectionReset));

    let err = bounded("create_run", client.create_run().body(request("x")).send())
        .await
        .unwrap_err();

    assert!(matches!(err, Error::Connection(_)), "{err}");
    assert!(err.is_transient());
    assert_eq!(mock.request_count("create_run"), 1);
    assert_eq!(mock.created_run_count(), 0);
}

#[tokio::test]
async fn a_body_cut_short_is_a_transient_error_and_a_create_is_not_repeated() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    let run_id = start_run(&client, "a run").await;
    mock.add_fault(FaultRule::operation("get_run", Fault::TruncatedBody));

    let err = bounded("get_run", client.get_run().run_id(&run_id).send())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ResponseBody(_)), "{err}");
    assert!(err.is_transient());
    assert!(
        summary(&err).starts_with("the answer could not be read"),
        "{}",
        summary(&err)
    );

    // The simulator processed the create before cutting its answer: one run, not two.
    mock.add_fault(FaultRule::operation("create_run", Fault::TruncatedBody));
    let err = bounded("create_run", client.create_run().body(request("x")).send())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ResponseBody(_)), "{err}");
    assert_eq!(mock.request_count("create_run"), 2);
    assert_eq!(mock.created_run_count(), 2);
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_abandoned_and_retried_for_reads() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    let run_id = start_run(&client, "a run").await;
    mock.add_fault(FaultRule::operation(
        "get_run",
        Fault::Latency(Duration::from_secs(5)),
    ));

    let run = bounded("get_run", client.get_run().run_id(&run_id).send())
        .await
        .expect("the retry answers in time");

    assert_eq!(run.run_id, run_id);
    assert_eq!(mock.request_count("get_run"), 2);
}

#[tokio::test]
async fn a_create_run_slower_than_the_timeout_times_out_once_and_never_twice() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    mock.add_fault(FaultRule::operation(
        "create_run",
        Fault::Latency(SLOWER_THAN_THE_TIMEOUT),
    ));

    let err = bounded("create_run", client.create_run().body(request("x")).send())
        .await
        .unwrap_err();

    assert!(matches!(&err, Error::Timeout(_)), "{err}");
    assert!(summary(&err).contains("timed out"), "{}", summary(&err));
    // Whether the server finishes the abandoned request is up to it; it is never sent again.
    // A retry would be sent before `send` returned, so the count is final now: no need to
    // wait and see.
    assert_eq!(mock.request_count("create_run"), 1);
    assert!(mock.created_run_count() <= 1);
}

#[tokio::test]
async fn truncated_json_in_a_200_is_a_decode_error_that_is_not_retried() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    mock.add_fault(FaultRule::operation("list_runs", Fault::TruncatedJson));

    let err = bounded("list_runs", client.list_runs().send())
        .await
        .unwrap_err();

    let Error::Decode(bytes, _) = &err else {
        panic!("{err}");
    };
    assert!(!bytes.is_empty());
    assert!(!err.is_transient());
    let text = summary(&err);
    assert!(text.contains("could not be decoded"), "{text}");
    assert_eq!(mock.request_count("list_runs"), 1);
}

#[tokio::test]
async fn a_200_that_does_not_match_the_schema_names_what_is_missing() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    let run_id = start_run(&client, "a run").await;
    mock.add_fault(FaultRule::operation("get_run", Fault::MismatchedBody));
    mock.add_fault(FaultRule::operation("create_run", Fault::MismatchedBody));

    let err = bounded("get_run", client.get_run().run_id(&run_id).send())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode(..)), "{err}");
    let text = summary(&err);
    assert!(text.contains("missing field"), "{text}");

    let err = bounded("create_run", client.create_run().body(request("x")).send())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode(..)), "{err}");
    assert_eq!(mock.request_count("create_run"), 2);
    assert_eq!(mock.created_run_count(), 1);
}

#[tokio::test]
async fn a_proxys_html_502_is_retried_then_reported_with_its_status_and_an_excerpt() {
    let mock = simulator().await;
    let client = config(&mock).max_retries(1).build().unwrap();
    mock.add_fault(FaultRule::operation("list_runs", Fault::HtmlBadGateway));

    bounded("list_runs", client.list_runs().send())
        .await
        .expect("the retry answers");

    mock.add_fault(FaultRule::operation("list_runs", Fault::HtmlBadGateway).always());
    let err = bounded("list_runs", client.list_runs().send())
        .await
        .unwrap_err();

    assert_eq!(err.status().map(|s| s.as_u16()), Some(502));
    assert!(err.is_transient());
    let text = summary(&err);
    assert!(text.contains("502 Bad Gateway"), "{text}");
    assert!(
        text.contains("nginx"),
        "the excerpt shows who answered: {text}"
    );
    // One retry for the first call, two attempts for the second.
    assert_eq!(mock.request_count("list_runs"), 4);
}

/// A `list_runs` body of about 50 MB: 1,000 runs with 50 kB prompts.
fn fifty_megabyte_page() -> String {
    let prompt = "x".repeat(50 * 1024);
    let runs: Vec<serde_json::Value> = (0..1000)
        .map(|n| {
            serde_json::json!({
                "run_id": format!("run-{n:04}"),
                "task_id": format!("run-{n:04}"),
                "title": "A run with a long prompt",
                "state": "SUCCEEDED",
                "prompt": prompt,
                "created_at": "2025-03-14T09:26:53Z",
                "updated_at": "2025-03-14T09:31:07Z"
            })
        })
        .collect();
    serde_json::json!({"runs": runs, "page_info": {"has_next_page": false}}).to_string()
}

#[tokio::test]
async fn a_50_mb_list_body_decodes_and_a_50_mb_error_body_is_cut_to_an_excerpt() {
    let server = MockServer::start().await;
    let body = fifty_megabyte_page();
    assert!(body.len() > 50_000_000);
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/huge-error"))
        .respond_with(
            ResponseTemplate::new(500).set_body_raw("<p>".repeat(17_000_000), "text/html"),
        )
        .mount(&server)
        .await;
    let client = support::config(&server)
        .timeout(Duration::from_secs(60))
        .max_retries(0)
        .build()
        .unwrap();

    let page = bounded("a 50 MB page", client.list_runs().send())
        .await
        .expect("a large page decodes");
    assert_eq!(page.runs.len(), 1000);
    assert_eq!(page.runs[999].prompt.len(), 50 * 1024);

    let err = bounded(
        "a 50 MB error",
        client.get_run().run_id("huge-error").send(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500));
    let message = err.message().unwrap();
    assert!(message.len() < 400, "{} characters", message.len());
    assert!(message.ends_with('…'), "{message}");
}

#[tokio::test]
async fn run_and_wait_completes_across_transient_faults_with_one_run() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    mock.add_fault(FaultRule::operation(
        "create_run",
        Fault::TooManyRequests(RetryAfter::Millis(20)),
    ));
    mock.add_fault(FaultRule::operation("get_run", Fault::Status(503)));
    mock.add_fault(FaultRule::operation("get_run", Fault::ConnectionReset));
    mock.add_fault(FaultRule::operation(
        "get_run",
        Fault::TooManyRequests(RetryAfter::Millis(20)),
    ));

    // `[slow]` advances one state per read, so the waiter polls several times.
    let run = bounded(
        "run_and_wait",
        client
            .run_and_wait(request("[slow] wait through faults"))
            .min_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(100))
            .send(),
    )
    .await
    .expect("the wait survives transient faults");

    assert_eq!(run.state, RunState::Succeeded);
    assert!(
        mock.request_count("get_run") >= 6,
        "{:?}",
        mock.request_counts()
    );
    assert_eq!(mock.pending_faults(), 0);
    assert_eq!(mock.request_count("create_run"), 2);
    assert_eq!(mock.created_run_count(), 1);
}

#[tokio::test]
async fn pagination_completes_across_a_different_fault_on_every_page() {
    let mock = OzMock::builder()
        .progression(Progression::Instant)
        .seed_runs(120)
        .start()
        .await
        .unwrap();
    let client = fast_failing_client(&mock);
    let faults = [
        Fault::TooManyRequests(RetryAfter::Millis(20)),
        Fault::ConnectionReset,
        Fault::HtmlBadGateway,
        Fault::Latency(SLOWER_THAN_THE_TIMEOUT),
    ];
    mock.add_fault(FaultRule::operation("list_runs", faults[0].clone()));

    let mut pages = client.list_runs().limit(30u64).pages();
    let mut ids = Vec::new();
    while let Some(page) = bounded("a page", pages.try_next())
        .await
        .expect("every page arrives")
    {
        ids.extend(page.runs.iter().map(|run| run.run_id.clone()));
        if let Some(fault) = faults.get(ids.len() / 30) {
            mock.add_fault(FaultRule::operation("list_runs", fault.clone()));
        }
    }

    assert_eq!(ids.len(), 120);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 120, "no run twice");
    // Four pages, each after one faulted attempt.
    assert_eq!(mock.request_count("list_runs"), 8);
    assert_eq!(mock.pending_faults(), 0);
}

#[tokio::test]
async fn a_transcript_download_completes_across_api_and_storage_faults() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    let run_id = start_run(&client, "[transcript:64KB] a run").await;
    let run = bounded("wait", client.wait_for_run(&run_id).send())
        .await
        .unwrap();
    assert!(is_terminal(&run.state));
    let clean = bounded("download", client.download_transcript(&run_id).bytes())
        .await
        .unwrap();
    mock.reset_counters();
    mock.add_fault(FaultRule::operation(
        "get_run_transcript",
        Fault::Status(503),
    ));
    mock.add_fault(FaultRule::operation("storage_download", Fault::Status(503)));
    mock.add_fault(FaultRule::operation(
        "storage_download",
        Fault::ConnectionReset,
    ));

    let bytes = bounded("download", client.download_transcript(&run_id).bytes())
        .await
        .expect("the download survives transient faults");

    assert_eq!(bytes, clean);
    assert!(bytes.len() > 60_000, "{}", bytes.len());
    assert_eq!(mock.request_count("get_run_transcript"), 2);
    assert_eq!(mock.request_count("storage_download"), 3);
    assert_eq!(mock.created_run_count(), 1);
}

#[tokio::test]
async fn a_storage_body_cut_short_is_continued_from_the_bytes_written() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    let run_id = start_run(&client, "[transcript:64KB] a run").await;
    bounded("wait", client.wait_for_run(&run_id).send())
        .await
        .unwrap();
    let clean = bounded("download", client.download_transcript(&run_id).bytes())
        .await
        .unwrap();
    mock.reset_counters();
    mock.add_fault(FaultRule::operation(
        "storage_download",
        Fault::TruncatedBody,
    ));
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("transcript.json");

    let written = bounded(
        "download",
        client.download_transcript(&run_id).to_file(&target),
    )
    .await
    .expect("the rest of the body is asked for with a range");

    assert_eq!(written, clean.len() as u64);
    assert_eq!(std::fs::read(&target).unwrap(), clean);
    let ranges: Vec<_> = mock
        .storage_requests()
        .iter()
        .map(|r| r.header("range").map(str::to_owned))
        .collect();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert!(
        ranges[1]
            .as_deref()
            .is_some_and(|r| r.starts_with("bytes="))
    );
}

#[tokio::test]
async fn a_storage_body_cut_short_every_time_without_ranges_fails_clearly_and_leaves_no_file() {
    let mock = OzMock::builder()
        .progression(Progression::Instant)
        .storage_ranges(false)
        .start()
        .await
        .expect("the simulator starts");
    let client = fast_failing_client(&mock);
    let run_id = start_run(&client, "[transcript:64KB] a run").await;
    bounded("wait", client.wait_for_run(&run_id).send())
        .await
        .unwrap();
    mock.add_fault(FaultRule::operation("storage_download", Fault::TruncatedBody).always());
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("transcript.json");

    let err = bounded(
        "download",
        client.download_transcript(&run_id).to_file(&target),
    )
    .await
    .unwrap_err();

    assert!(
        matches!(err, DownloadError::Transport(_) | DownloadError::Io(_)),
        "{err}"
    );
    assert!(!err.to_string().contains("sig="), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // The first answer and three more, none with a range.
    assert_eq!(mock.request_count("storage_download"), 4);
    assert!(
        mock.storage_requests()
            .iter()
            .all(|r| r.header("range").is_none())
    );
}

#[tokio::test]
async fn a_truncated_json_transcript_is_a_decode_error() {
    let mock = simulator().await;
    let client = fast_failing_client(&mock);
    let run_id = start_run(&client, "a run").await;
    bounded("wait", client.wait_for_run(&run_id).send())
        .await
        .unwrap();
    mock.add_fault(FaultRule::operation(
        "storage_download",
        Fault::TruncatedJson,
    ));

    let err = bounded(
        "download",
        client
            .download_transcript(&run_id)
            .json::<serde_json::Value>(),
    )
    .await
    .unwrap_err();

    assert!(matches!(err, DownloadError::Decode(_)), "{err}");
}
