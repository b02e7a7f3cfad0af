//! The spelling a newcomer tries first compiles and sends what it says, against the simulator:
//! text setters take a `&str` or `&String`, a member its type's builder, a list or a repeatable
//! filter one value or several,
//! `chrono` comes through oz-api, an attachment is made from bytes, per-call options go through
//! `with_options`, and nothing needs a progenitor trait in scope.

use std::time::Duration;

use futures::TryStreamExt;
use oz_api_ext::PaginateExt;
use oz_api_ext::oz_api::{
    Client, Config, RequestOptions,
    chrono::{TimeDelta, Utc},
    types::{AmbientAgentConfig, AttachmentInput, RunAgentRequest, RunState},
};
use oz_mock::{OzMock, SeedRun};

#[tokio::test]
async fn the_obvious_spelling_compiles_and_sends_what_it_says() {
    let mock = OzMock::start().await.unwrap();
    let client: Client = Config::new(mock.api_key())
        .base_url(mock.base_url())
        .build()
        .unwrap();
    assert_eq!(client.base_url(), mock.base_url());
    let failed = mock.insert_run(SeedRun::new("a").state(oz_mock::RunState::Failed));
    let errored = mock.insert_run(SeedRun::new("b").state(oz_mock::RunState::Error));
    mock.insert_run(SeedRun::new("c").state(oz_mock::RunState::Succeeded));

    let title = String::from("Flaky test");
    let run = client
        .create_run()
        .body(
            RunAgentRequest::builder()
                .prompt("Fix the flaky test")
                .title(&title)
                .skill(None)
                .config(AmbientAgentConfig::builder().model_id("claude-4-6-opus-high"))
                .attachments(AttachmentInput::from_bytes("ci.log", "boom")),
        )
        .send()
        .await
        .unwrap();
    let sent: serde_json::Value =
        serde_json::from_slice(&mock.received_requests_for("create_run")[0].body).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({
            "prompt": "Fix the flaky test",
            "title": "Flaky test",
            "config": {"model_id": "claude-4-6-opus-high"},
            "attachments": [{"file_name": "ci.log", "mime_type": "text/plain", "data": "Ym9vbQ=="}],
        })
    );

    let recent: Vec<_> = client
        .list_runs()
        .state(RunState::Failed)
        .created_after(Utc::now() - TimeDelta::hours(1))
        .items()
        .try_collect()
        .await
        .unwrap();
    let ended: Vec<_> = client
        .list_runs()
        .state([RunState::Failed, RunState::Error])
        .items()
        .try_collect()
        .await
        .unwrap();
    let recent: Vec<&str> = recent.iter().map(|run| run.run_id.as_str()).collect();
    let mut ended: Vec<&str> = ended.iter().map(|run| run.run_id.as_str()).collect();
    ended.sort_unstable();
    let mut expected = vec![failed.as_str(), errored.as_str()];
    expected.sort_unstable();
    assert_eq!(recent, [failed.as_str()]);
    assert_eq!(ended, expected);
    let queries: Vec<String> = mock
        .received_requests_for("list_runs")
        .into_iter()
        .map(|request| request.query.unwrap_or_default())
        .collect();
    assert!(queries[0].contains("state=FAILED"), "{queries:?}");
    assert!(queries[0].contains("created_after="), "{queries:?}");
    assert!(
        queries[1].contains("state=FAILED") && queries[1].contains("state=ERROR"),
        "{queries:?}"
    );

    let fetched = client
        .get_run()
        .run_id(&run.run_id)
        .with_options(
            RequestOptions::new()
                .timeout(Duration::from_secs(5))
                .max_retries(0)
                .header("x-request-source", "nightly"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.run_id, run.run_id);
    assert_eq!(fetched.title, "Flaky test");
    let got = mock.received_requests_for("get_run");
    assert_eq!(got[0].header("x-request-source"), Some("nightly"));
}

/// A one-element slice, a `Vec` and a borrowed `Vec` are the same filter as the value alone.
#[tokio::test]
async fn a_repeatable_filter_takes_a_slice_or_a_borrowed_vec() {
    let mock = OzMock::start().await.unwrap();
    let client = Config::new(mock.api_key())
        .base_url(mock.base_url())
        .build()
        .unwrap();
    let states = vec![RunState::Queued];
    client.list_runs().state(&states[..]).send().await.unwrap();
    client.list_runs().state(&states).send().await.unwrap();
    client.list_runs().state(states).send().await.unwrap();
    let queries: Vec<Option<String>> = mock
        .received_requests_for("list_runs")
        .into_iter()
        .map(|request| request.query)
        .collect();
    assert_eq!(queries, vec![Some("state=QUEUED".to_owned()); 3]);
}
