//! Behaviour of the simulator: auth, pagination, cancellation, progression, storage and faults.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use oz_mock::spec_validation::SpecValidator;
use oz_mock::{Fault, FaultRule, OzMock, Progression, RetryAfter, RunState};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use support::{api, create_run, get_run, http, send};

#[tokio::test]
async fn wrong_or_missing_key_gets_a_401_problem() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let url = format!("{}/agent/runs", mock.base_url());
    let validator = SpecValidator::new(&support::spec());
    for request in [
        client.get(&url).bearer_auth("wk-wrong"),
        client.get(&url),
        client
            .get(&url)
            .header(header::AUTHORIZATION, mock.api_key()),
    ] {
        let answer = send(request).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.content_type(), Some("application/problem+json"));
        assert_eq!(answer.body["status"], 401);
        assert_eq!(answer.body["instance"], "/api/v1/agent/runs");
        assert!(answer.body["trace_id"].is_string());
        validator
            .validate_media("list_runs", 401, answer.content_type(), &answer.body)
            .expect("401 body follows the Error schema");
    }
    // Public operations need no key.
    let public =
        send(client.get(format!("{}/agent/sessions/nope/redirect", mock.base_url()))).await;
    assert_eq!(public.status, StatusCode::OK);
    assert_eq!(public.body, json!({}));
}

#[tokio::test]
async fn the_validator_rejects_bodies_that_break_the_schema() {
    let validator = SpecValidator::new(&support::spec());
    let errors = validator
        .validate("get_run", 200, &json!({"run_id": "r", "state": "DONE"}))
        .expect_err("missing fields and an unknown state");
    assert!(
        errors.iter().all(|e| e.starts_with("get_run 200: at ")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("/state")), "{errors:?}");
    let nullable = json!({"message_id": "m", "sender_run_id": "r", "subject": "s",
                          "sent_at": "2026-01-01T00:00:00Z", "read_at": null});
    validator
        .validate("list_agent_messages", 200, &json!([nullable]))
        .expect("nullable fields accept null");
    assert!(
        validator
            .validate("delete_agent_identity", 204, &Value::Null)
            .is_ok()
    );
    assert!(
        validator
            .validate("delete_agent_identity", 204, &json!({}))
            .is_err()
    );
}

async fn all_pages(client: &reqwest::Client, mock: &OzMock, query: &str) -> Vec<Value> {
    let mut runs = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/agent/runs?{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = send(api(client, mock, Method::GET, &path)).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        runs.extend(page.body["runs"].as_array().expect("runs").iter().cloned());
        pages += 1;
        assert!(pages < 10_000, "pagination does not end");
        if page.body["page_info"]["has_next_page"] != json!(true) {
            assert!(page.body["page_info"].get("next_cursor").is_none());
            return runs;
        }
        cursor = Some(
            page.body["page_info"]["next_cursor"]
                .as_str()
                .expect("next_cursor")
                .to_owned(),
        );
    }
}

#[tokio::test]
async fn pagination_over_seeded_runs_returns_each_run_once_and_keeps_filters() {
    let mock = OzMock::builder()
        .seed_runs(3_000)
        .start()
        .await
        .expect("start");
    let client = http();
    assert_eq!(mock.run_count(), 3_000);
    assert_eq!(mock.created_run_count(), 0);

    let everything = all_pages(&client, &mock, "limit=500").await;
    assert_eq!(everything.len(), 3_000);
    let ids: HashSet<&str> = everything
        .iter()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 3_000, "every run exactly once");
    let updated: Vec<&str> = everything
        .iter()
        .filter_map(|r| r["updated_at"].as_str())
        .collect();
    assert!(
        updated.windows(2).all(|w| w[0] >= w[1]),
        "default order is updated_at desc"
    );

    let wanted = |r: &&Value| {
        ["SUCCEEDED", "FAILED"].contains(&r["state"].as_str().unwrap_or(""))
            && r["metadata"]["team"] == "core"
            && r["source"] == "SLACK"
    };
    let expected: HashSet<&str> = everything
        .iter()
        .filter(wanted)
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    assert!(!expected.is_empty());
    let filtered = all_pages(
        &client,
        &mock,
        "limit=7&state=SUCCEEDED&state=FAILED&metadata%5Bteam%5D=core&source=SLACK&sort_by=created_at&sort_order=asc",
    )
    .await;
    let got: Vec<&str> = filtered
        .iter()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    assert_eq!(got.len(), expected.len(), "no duplicates, nothing missing");
    assert_eq!(got.iter().copied().collect::<HashSet<_>>(), expected);
    let created: Vec<&str> = filtered
        .iter()
        .filter_map(|r| r["created_at"].as_str())
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] <= w[1]),
        "created_at asc across pages"
    );

    let by_title = all_pages(
        &client,
        &mock,
        "limit=333&sort_by=title&q=seeded%20run%20%2342",
    )
    .await;
    assert!(!by_title.is_empty());
    assert!(
        by_title
            .iter()
            .all(|r| r["title"].as_str().unwrap_or("").contains("seeded run #42"))
    );

    for bad in [
        "limit=0",
        "limit=501",
        "limit=x",
        "state=DONE",
        "cursor=zz",
        "sort_by=size",
    ] {
        let answer = send(api(
            &client,
            &mock,
            Method::GET,
            &format!("/agent/runs?{bad}"),
        ))
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(answer.body["status"], 400);
    }
    // A cursor only fits the sort it came from.
    let first = send(api(&client, &mock, Method::GET, "/agent/runs?limit=2")).await;
    let cursor = first.body["page_info"]["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let mismatched = send(api(
        &client,
        &mock,
        Method::GET,
        &format!("/agent/runs?sort_by=title&cursor={cursor}"),
    ))
    .await;
    assert_eq!(mismatched.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cancel_follows_the_api_rules() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let cancel = |id: String| {
        let request = api(
            &client,
            &mock,
            Method::POST,
            &format!("/agent/runs/{id}/cancel"),
        );
        async move { send(request).await }
    };

    let queued = create_run(&client, &mock, "queued").await;
    let answer = cancel(queued.clone()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!(queued),
        "the body is the run id as a JSON string"
    );
    assert_eq!(get_run(&client, &mock, &queued).await["state"], "CANCELLED");

    let again = cancel(queued.clone()).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "already terminal");
    assert_eq!(again.body["retryable"], false);

    let pending = create_run(&client, &mock, "pending").await;
    assert!(mock.set_run_state(&pending, RunState::Pending));
    let conflict = cancel(pending.clone()).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.body["retryable"], true);

    let local = create_run(&client, &mock, "[local] on a laptop").await;
    assert_eq!(cancel(local).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        cancel("missing".to_owned()).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn prompt_markers_script_the_outcome() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    for (prompt, state, code) in [
        ("[fail] please", "FAILED", Some("environment_setup_failed")),
        ("[error] please", "ERROR", Some("internal_error")),
        ("[block] please", "BLOCKED", None),
        ("all good", "SUCCEEDED", None),
    ] {
        let id = create_run(&client, &mock, prompt).await;
        let run = get_run(&client, &mock, &id).await;
        assert_eq!(run["state"], state, "{prompt}");
        assert!(run["status_message"]["message"].is_string());
        assert_eq!(run["status_message"]["error_code"].as_str(), code);
        if state == "SUCCEEDED" {
            assert_eq!(support::artifact_types(&run), ["PLAN", "PULL_REQUEST"]);
        }
    }
    // `[slow]` moves one state per read with Instant progression.
    let slow = create_run(&client, &mock, "[slow] big job").await;
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(get_run(&client, &mock, &slow).await["state"].clone());
    }
    assert_eq!(
        seen,
        [
            json!("PENDING"),
            json!("CLAIMED"),
            json!("INPROGRESS"),
            json!("SUCCEEDED"),
            json!("SUCCEEDED")
        ]
    );
    assert_eq!(mock.created_run_count(), 5);
}

#[tokio::test(start_paused = true)]
async fn realistic_progression_follows_tokio_time() {
    let mock = OzMock::builder()
        .progression(Progression::Realistic)
        .start()
        .await
        .expect("start");
    let client = http();
    let id = create_run(&client, &mock, "fix it").await;
    assert_eq!(get_run(&client, &mock, &id).await["state"], "QUEUED");
    tokio::time::advance(Duration::from_millis(1_200)).await;
    assert_eq!(get_run(&client, &mock, &id).await["state"], "CLAIMED");
    tokio::time::advance(Duration::from_secs(1)).await;
    let run = get_run(&client, &mock, &id).await;
    assert_eq!(run["state"], "INPROGRESS");
    assert!(run["session_link"].is_string());
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(get_run(&client, &mock, &id).await["state"], "SUCCEEDED");

    // Events arrived for each transition that has one, in order.
    let events = send(api(
        &client,
        &mock,
        Method::GET,
        &format!("/agent/events?run_ids={id}"),
    ))
    .await;
    let kinds: Vec<&str> = events
        .body
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(kinds, ["run_in_progress", "run_succeeded"]);
    let since = events.body[0]["sequence"].as_i64().expect("sequence");
    let later = send(api(
        &client,
        &mock,
        Method::GET,
        &format!("/agent/events?run_ids={id}&since={since}"),
    ))
    .await;
    assert_eq!(later.body.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn storage_serves_signed_urls_records_headers_and_rejects_bad_signatures() {
    let mock = OzMock::builder()
        .transcript_size(300 * 1024)
        .start()
        .await
        .expect("start");
    let client = http();
    let id = create_run(&client, &mock, "write a transcript").await;
    get_run(&client, &mock, &id).await;
    let redirect = send(api(
        &client,
        &mock,
        Method::GET,
        &format!("/agent/runs/{id}/transcript"),
    ))
    .await;
    assert_eq!(redirect.status, StatusCode::FOUND);
    let location = redirect.location().to_owned();
    assert!(
        location.starts_with(&mock.storage_origin()),
        "served from another origin"
    );
    assert!(!location.starts_with(&mock.base_url()));

    let object = send(client.get(&location).header("x-probe", "1")).await;
    assert_eq!(object.status, StatusCode::OK);
    assert!(
        object.raw.len() >= 290 * 1024 && object.raw.len() <= 300 * 1024,
        "{}",
        object.raw.len()
    );
    assert_eq!(object.body["run_id"], json!(id));
    let head = client.head(&location).send().await.expect("head");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()),
        Some(object.raw.len().to_string().as_str())
    );

    let tampered = location.replace("sig=", "sig=0");
    assert_eq!(
        send(client.get(&tampered)).await.status,
        StatusCode::FORBIDDEN
    );
    let unsigned = location.split('?').next().expect("path").to_owned();
    assert_eq!(
        send(client.get(&unsigned)).await.status,
        StatusCode::FORBIDDEN
    );

    mock.set_signed_url_ttl(Duration::ZERO);
    let expired_location = send(api(
        &client,
        &mock,
        Method::GET,
        &format!("/agent/runs/{id}/transcript"),
    ))
    .await
    .location()
    .to_owned();
    let expired = send(client.get(&expired_location)).await;
    assert_eq!(expired.status, StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(&expired.raw).contains("expired"));

    let recorded = mock.storage_requests();
    assert_eq!(recorded.len(), 5);
    assert_eq!(recorded[0].method, "GET");
    assert_eq!(recorded[0].header("x-probe"), Some("1"));
    assert_eq!(recorded[1].method, "HEAD");
    assert!(recorded.iter().all(|r| r.header("authorization").is_none()));
    assert!(
        !format!("{recorded:?}").contains("sig="),
        "Debug hides signatures"
    );
    assert_eq!(mock.request_count("storage_download"), 5);

    // A `[transcript:SIZE]` marker sizes one run's transcript.
    let big = create_run(&client, &mock, "[transcript:1MB] long session").await;
    get_run(&client, &mock, &big).await;
    mock.set_signed_url_ttl(Duration::from_secs(60));
    let location = send(api(
        &client,
        &mock,
        Method::GET,
        &format!("/agent/runs/{big}/transcript"),
    ))
    .await
    .location()
    .to_owned();
    let head = client.head(&location).send().await.expect("head");
    let length: usize = head.headers()[header::CONTENT_LENGTH]
        .to_str()
        .expect("len")
        .parse()
        .expect("number");
    assert!((1_000_000..=1024 * 1024).contains(&length), "{length}");
}

#[tokio::test(start_paused = true)]
async fn signed_urls_expire_with_tokio_time() {
    let mock = OzMock::builder()
        .signed_url_ttl(Duration::from_secs(60))
        .start()
        .await
        .expect("start");
    let client = http();
    let id = create_run(&client, &mock, "x").await;
    get_run(&client, &mock, &id).await;
    let location = send(api(
        &client,
        &mock,
        Method::GET,
        &format!("/agent/runs/{id}/transcript"),
    ))
    .await
    .location()
    .to_owned();
    assert_eq!(send(client.get(&location)).await.status, StatusCode::OK);
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        send(client.get(&location)).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn too_many_requests_carries_retry_after_and_counts_attempts() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    mock.add_fault(
        FaultRule::operation(
            "list_models",
            Fault::TooManyRequests(RetryAfter::Seconds(3)),
        )
        .times(2),
    );
    mock.add_fault(FaultRule::operation(
        "list_environments",
        Fault::TooManyRequests(RetryAfter::HttpDate(Duration::from_secs(30))),
    ));
    for _ in 0..2 {
        let answer = send(api(&client, &mock, Method::GET, "/agent/models")).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.headers[header::RETRY_AFTER], "3");
        assert_eq!(answer.body["retryable"], true);
    }
    assert_eq!(
        send(api(&client, &mock, Method::GET, "/agent/models"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(mock.request_count("list_models"), 3);

    let dated = send(api(&client, &mock, Method::GET, "/agent/environments")).await;
    assert_eq!(dated.status, StatusCode::TOO_MANY_REQUESTS);
    let date = dated.headers[header::RETRY_AFTER].to_str().expect("ascii");
    assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    assert_eq!(mock.pending_faults(), 0);
}

#[tokio::test]
async fn server_errors_html_pages_and_scopes() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    for status in [500u16, 502, 503, 504] {
        mock.add_fault(FaultRule::global(Fault::Status(status)));
        let answer = send(api(&client, &mock, Method::GET, "/agent/models")).await;
        assert_eq!(answer.status.as_u16(), status);
        assert_eq!(answer.body["status"], status);
        assert_eq!(answer.content_type(), Some("application/problem+json"));
    }
    mock.add_fault(FaultRule::global(Fault::HtmlBadGateway));
    let html = send(api(&client, &mock, Method::GET, "/agent/models")).await;
    assert_eq!(html.status, StatusCode::BAD_GATEWAY);
    assert_eq!(html.content_type(), Some("text/html"));
    assert!(String::from_utf8_lossy(&html.raw).contains("502 Bad Gateway"));

    // A path prefix touches only matching routes; `always` keeps the rule.
    mock.add_fault(FaultRule::path_prefix("/agent/runs", Fault::Status(503)).always());
    assert_eq!(
        send(api(&client, &mock, Method::GET, "/agent/models"))
            .await
            .status,
        StatusCode::OK
    );
    for _ in 0..3 {
        let answer = send(api(&client, &mock, Method::GET, "/agent/runs")).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    mock.clear_faults();
    assert_eq!(
        send(api(&client, &mock, Method::GET, "/agent/runs"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(mock.request_count("list_runs"), 4);
}

#[tokio::test(start_paused = true)]
async fn latency_delays_the_answer_in_tokio_time() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    mock.add_fault(FaultRule::operation(
        "list_models",
        Fault::Latency(Duration::from_secs(5)),
    ));
    let started = tokio::time::Instant::now();
    let answer = send(api(&client, &mock, Method::GET, "/agent/models")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_secs(5));
}

#[tokio::test]
async fn connection_reset_closes_without_answer_and_skips_processing() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    mock.add_fault(FaultRule::operation("create_run", Fault::ConnectionReset));
    let result = api(&client, &mock, Method::POST, "/agent/runs")
        .json(&json!({"prompt": "x"}))
        .send()
        .await;
    assert!(result.is_err(), "no answer: {result:?}");
    assert_eq!(mock.request_count("create_run"), 1);
    assert_eq!(mock.created_run_count(), 0, "the request was not processed");
    create_run(&client, &mock, "x").await;
    assert_eq!(mock.created_run_count(), 1);
}

#[tokio::test]
async fn truncated_body_declares_more_than_it_sends() {
    let mock = OzMock::builder()
        .seed_runs(50)
        .start()
        .await
        .expect("start");
    let client = http();
    mock.add_fault(FaultRule::operation("list_runs", Fault::TruncatedBody));
    let response = api(&client, &mock, Method::GET, "/agent/runs")
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(response.status(), StatusCode::OK);
    let declared: usize = response.headers()[header::CONTENT_LENGTH]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number");
    assert!(declared > 1_000);
    assert!(response.bytes().await.is_err(), "the body ends early");

    // Storage downloads can be cut too.
    mock.add_fault(FaultRule::operation(
        "storage_download",
        Fault::TruncatedBody,
    ));
    let id = create_run(&client, &mock, "x").await;
    get_run(&client, &mock, &id).await;
    let location = send(api(
        &client,
        &mock,
        Method::GET,
        &format!("/agent/runs/{id}/transcript"),
    ))
    .await
    .location()
    .to_owned();
    let download = client.get(&location).send().await.expect("headers arrive");
    assert!(download.bytes().await.is_err());
}

/// A graceful shutdown closes the listener and lets a request in flight finish; `shutdown`
/// would cut it off.
#[tokio::test]
async fn a_graceful_shutdown_lets_the_request_in_flight_finish() {
    let mock = OzMock::start().await.expect("start");
    mock.add_fault(FaultRule::operation(
        "list_models",
        Fault::Latency(Duration::from_millis(300)),
    ));
    let request = tokio::spawn(send(api(&http(), &mock, Method::GET, "/agent/models")));
    while mock.request_count("list_models") == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let addr = mock.api_addr();
    // The grace is an upper bound: the shutdown ends when the request does.
    mock.shutdown_gracefully(Duration::from_secs(600)).await;
    let answer = request.await.expect("the request in flight was answered");
    assert_eq!(answer.status, StatusCode::OK);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// A shared session redirects to the transcript once its sandbox has finished: not while the
/// run is live in it, and still after a follow-up moved the run to a new session.
#[tokio::test(start_paused = true)]
async fn a_session_redirects_to_its_conversation_once_its_sandbox_has_finished() {
    let mock = OzMock::builder()
        .progression(Progression::Realistic)
        .start()
        .await
        .expect("start");
    let client = http();
    let redirect = |session: String| {
        let (client, base) = (client.clone(), mock.base_url().to_owned());
        async move {
            send(client.get(format!("{base}/agent/sessions/{session}/redirect")))
                .await
                .body
        }
    };
    let id = create_run(&client, &mock, "fix it").await;
    tokio::time::advance(Duration::from_millis(2_200)).await;
    let run = get_run(&client, &mock, &id).await;
    assert_eq!(run["state"], "INPROGRESS");
    let first = run["session_id"].as_str().expect("session").to_owned();
    let conversation = run["conversation_id"].clone();
    assert_eq!(
        redirect(first.clone()).await,
        json!({}),
        "the sandbox is live"
    );

    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(get_run(&client, &mock, &id).await["state"], "SUCCEEDED");
    let finished = json!({"conversation_id": conversation});
    assert_eq!(redirect(first.clone()).await, finished);

    let followup = send(
        api(
            &client,
            &mock,
            Method::POST,
            &format!("/agent/runs/{id}/followups"),
        )
        .json(&json!({"message": "and the tests"})),
    )
    .await;
    assert!(followup.status.is_success(), "{followup:?}");
    for _ in 0..20 {
        if get_run(&client, &mock, &id).await["session_id"] != json!(first) {
            break;
        }
        tokio::time::advance(Duration::from_millis(500)).await;
    }
    let run = get_run(&client, &mock, &id).await;
    let second = run["session_id"].as_str().expect("session").to_owned();
    assert_ne!(second, first, "the new execution has its own session");
    assert_eq!(
        redirect(first).await,
        finished,
        "an earlier session of the run still leads to its conversation"
    );
}
