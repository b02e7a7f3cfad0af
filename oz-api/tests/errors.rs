//! What a caller can learn from a failed request: status, problem body, error code,
//! retryability, retry delay and trace ids — for the answers real servers and proxies give.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{API_KEY, client_without_retries, error_json};
use oz_api::Error;
use oz_api::types::PlatformErrorCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RUN_PATH: &str = "/api/v1/agent/runs/run_1";
const CANCEL_PATH: &str = "/api/v1/agent/runs/run_1/cancel";

/// The error codes of the API's error reference.
const DOCUMENTED_CODES: &[&str] = &[
    "insufficient_credits",
    "feature_not_available",
    "external_authentication_required",
    "not_authorized",
    "invalid_request",
    "resource_not_found",
    "budget_exceeded",
    "integration_disabled",
    "integration_not_configured",
    "operation_not_supported",
    "environment_setup_failed",
    "content_policy_violation",
    "conflict",
    "authentication_required",
    "resource_unavailable",
    "internal_error",
];

async fn get_run_error(server: &MockServer, template: ResponseTemplate) -> Error {
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(template)
        .mount(server)
        .await;
    client_without_retries(server)
        .get_run()
        .run_id("run_1")
        .send()
        .await
        .expect_err("the server answered with an error")
}

/// Display and Debug are single lines without the API key.
fn assert_one_clean_line(err: &Error) {
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains('\n'), "more than one line: {text}");
        assert!(!text.contains(API_KEY), "the API key leaked: {text}");
        assert!(
            !text.contains("Bearer"),
            "an Authorization value leaked: {text}"
        );
    }
}

#[tokio::test]
async fn a_problem_json_404_is_classified_as_not_found_with_its_code_and_ids() {
    let server = MockServer::start().await;
    let err = get_run_error(
        &server,
        ResponseTemplate::new(404)
            .insert_header("content-type", "application/problem+json")
            .insert_header("x-request-id", "req-7f3a")
            .set_body_json(json!({
                "type": "/reference/api-and-sdk/troubleshooting/errors/resource-not-found/",
                "title": "Run not found",
                "status": 404,
                "detail": "no run with id run_1",
                "instance": "/api/v1/agent/runs/run_1",
                "error": "Run not found (no run with id run_1)",
                "retryable": false,
                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"
            })),
    )
    .await;

    assert!(matches!(err, Error::Problem(_)), "{err}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    assert!(err.is_not_found());
    assert!(!err.is_rate_limited());
    assert!(!err.is_transient());
    assert_eq!(err.error_code(), Some(PlatformErrorCode::ResourceNotFound));
    let problem = err.problem().expect("problem body");
    assert_eq!(problem.title.as_deref(), Some("Run not found"));
    assert_eq!(
        problem.instance.as_deref(),
        Some("/api/v1/agent/runs/run_1")
    );
    assert_eq!(err.message(), Some("no run with id run_1"));
    assert_eq!(err.trace_id(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(err.request_id(), Some("req-7f3a"));
    assert_eq!(err.retry_after(), None);
    assert_eq!(
        err.to_string(),
        "404 Not Found resource_not_found: no run with id run_1 \
         (trace id 4bf92f3577b34da6a3ce929d0e0e4736)"
    );
    assert_one_clean_line(&err);
}

#[tokio::test]
async fn a_429_is_rate_limited_and_transient_with_the_servers_delay() {
    let server = MockServer::start().await;
    let err = get_run_error(
        &server,
        ResponseTemplate::new(429)
            .insert_header("retry-after", "7")
            .insert_header("x-trace-id", "trace-from-header")
            .set_body_json(json!({"title": "Too many requests", "status": 429})),
    )
    .await;

    assert_eq!(err.status().map(|s| s.as_u16()), Some(429));
    assert!(err.is_rate_limited());
    assert!(err.is_transient(), "429 without a retryable member");
    assert!(!err.is_not_found());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(err.trace_id(), Some("trace-from-header"));
    assert_eq!(err.error_code(), None);
    assert_eq!(
        err.to_string(),
        "429 Too Many Requests: Too many requests (trace id trace-from-header)"
    );
    assert_one_clean_line(&err);
}

#[tokio::test]
async fn retry_after_ms_wins_over_retry_after() {
    let server = MockServer::start().await;
    let err = get_run_error(
        &server,
        ResponseTemplate::new(429)
            .insert_header("retry-after-ms", "1500")
            .insert_header("retry-after", "9")
            .set_body_json(error_json(429, "resource-unavailable", "Slow down")),
    )
    .await;
    assert_eq!(err.retry_after(), Some(Duration::from_millis(1500)));
    assert_eq!(
        err.error_code(),
        Some(PlatformErrorCode::ResourceUnavailable)
    );
}

#[tokio::test]
async fn the_problems_retryable_member_overrides_the_status() {
    let server = MockServer::start().await;
    let mut body = error_json(500, "environment-setup-failed", "Clone failed");
    body["retryable"] = json!(false);
    let err = get_run_error(&server, ResponseTemplate::new(500).set_body_json(body)).await;
    assert!(!err.is_transient(), "retryable: false on a 500");
    assert_eq!(
        err.error_code(),
        Some(PlatformErrorCode::EnvironmentSetupFailed)
    );

    let server = MockServer::start().await;
    let mut body = error_json(409, "conflict", "Pending runs cannot be cancelled");
    body["retryable"] = json!(true);
    let err = get_run_error(&server, ResponseTemplate::new(409).set_body_json(body)).await;
    assert!(err.is_transient(), "retryable: true");
}

#[tokio::test]
async fn an_html_502_from_a_proxy_keeps_its_status_and_is_a_problem_with_an_excerpt() {
    let server = MockServer::start().await;
    let page = "<html><head><title>502 Bad Gateway</title></head>\n<body>upstream \
                connect error</body></html>";
    let err = get_run_error(
        &server,
        ResponseTemplate::new(502)
            .insert_header("content-type", "text/html")
            .insert_header("x-request-id", "lb-1234")
            .set_body_string(page),
    )
    .await;

    // get_run documents 500 only; a 502 still arrives as a problem with its status and headers.
    assert!(matches!(err, Error::Problem(_)), "{err}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(502));
    assert!(err.is_transient());
    assert_eq!(err.request_id(), Some("lb-1234"));
    let detail = err.problem().and_then(|p| p.detail.as_deref()).unwrap();
    assert!(detail.contains("upstream connect error"), "{detail}");
    assert!(
        detail.contains("<title>502 Bad Gateway</title>"),
        "{detail}"
    );
    let line = err.to_string();
    assert!(line.starts_with("502 Bad Gateway: "), "{line}");
    assert!(line.ends_with("(request id lb-1234)"), "{line}");
    assert_one_clean_line(&err);
}

#[tokio::test]
async fn an_html_500_on_a_documented_status_is_a_problem_at_once() {
    let server = MockServer::start().await;
    let err = get_run_error(
        &server,
        ResponseTemplate::new(500).set_body_string("<h1>Internal Server Error</h1>"),
    )
    .await;
    assert!(matches!(err, Error::Problem(_)), "{err}");
    assert!(
        err.message()
            .unwrap()
            .contains("<h1>Internal Server Error</h1>")
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_legacy_error_body_is_a_problem_with_only_its_message() {
    let server = MockServer::start().await;
    let err = get_run_error(
        &server,
        ResponseTemplate::new(403)
            .insert_header("x-warp-error-code", "AT_CLOUD_AGENT_CAPACITY")
            .set_body_json(json!({"error": "at capacity", "running_agents": 5})),
    )
    .await;

    assert_eq!(err.status().map(|s| s.as_u16()), Some(403));
    assert_eq!(err.message(), Some("at capacity"));
    assert_eq!(
        err.problem().and_then(|p| p.error.as_deref()),
        Some("at capacity")
    );
    assert_eq!(err.error_code(), None);
    assert_eq!(err.trace_id(), None);
    assert!(!err.is_transient());
    assert!(!err.is_not_found());
    assert!(err.is_at_capacity());
    assert_eq!(err.running_agents(), Some(5));
    assert_eq!(err.warp_error_code(), Some("AT_CLOUD_AGENT_CAPACITY"));
    assert_eq!(
        err.to_string(),
        "403 Forbidden AT_CLOUD_AGENT_CAPACITY: at capacity (the team is at its cloud agent \
         capacity with 5 runs running: it frees up when one of them ends)"
    );
    assert_one_clean_line(&err);
}

#[tokio::test]
async fn a_refused_connection_is_a_transient_transport_error_without_status() {
    let client = common::config_for(common::CLOSED_PORT_BASE_URL)
        .max_retries(0)
        .build()
        .unwrap();

    let err = client.get_run().run_id("run_1").send().await.unwrap_err();

    assert!(
        matches!(err, Error::Connection(ref e) if e.is_connect()),
        "{err}"
    );
    assert_eq!(err.status(), None);
    assert_eq!(err.problem(), None);
    assert_eq!(err.response_headers(), None);
    assert_eq!(err.retry_after(), None);
    assert!(err.is_transient());
    assert!(!err.is_not_found());
    let line = err.to_string();
    assert!(
        line.starts_with("could not connect to 127.0.0.1:1: "),
        "the host it tried: {line}"
    );
    assert!(!line.contains("/api/v1"), "paths stay out: {line}");
    assert_one_clean_line(&err);
}

#[tokio::test]
async fn an_invalid_request_is_neither_transient_nor_an_answer() {
    let server = MockServer::start().await;
    let err = client_without_retries(&server)
        .list_runs()
        .limit(0u64)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
    assert!(!err.is_transient());
    assert_eq!(err.status(), None);
    assert!(err.to_string().starts_with("invalid request: "));
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// Every error body in the shared payload collection, served with its own status by an
/// operation that documents all of them (`cancel_run`: 400, 401, 403, 404, 409, 422, 429, 500).
#[tokio::test]
async fn foreign_error_payloads_decode_with_their_status_and_code() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/payloads");
    let Ok(entries) = std::fs::read_dir(&folder) else {
        println!(
            "skipped: {} is absent (it exists in CI, not in a fresh clone)",
            folder.display()
        );
        return;
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("Error--") && name.ends_with(".json")
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no Error--*.json in {}",
        folder.display()
    );

    let mut decoded = 0;
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(file).unwrap();
        let json: Value = serde_json::from_slice(&body).expect("payloads are JSON");
        let status = json["status"].as_u64().unwrap_or(400) as u16;

        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(CANCEL_PATH))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("content-type", "application/problem+json")
                    .set_body_bytes(body.clone()),
            )
            .mount(&server)
            .await;
        let err = client_without_retries(&server)
            .cancel_run()
            .run_id("run_1")
            .send()
            .await
            .expect_err(&name);
        assert_one_clean_line(&err);

        match &err {
            // Including the docs example that repeats members: the last value of each wins.
            Error::Problem(_) => decoded += 1,
            other => panic!("{name}: {other}"),
        }
        assert_eq!(err.status().map(|s| s.as_u16()), Some(status), "{name}");
        assert_eq!(
            err.problem().and_then(|p| p.error.clone()),
            json["error"].as_str().map(str::to_owned),
            "{name}"
        );
        // `Error--docs-errors-<code>[-<commit>]--<n>`: the docs page of each code.
        if let Some(slug) = name.strip_prefix("Error--docs-errors-") {
            let slug = slug.split("--").next().unwrap();
            let slug = slug
                .rsplit_once('-')
                .filter(|(_, tail)| tail.len() == 7 && tail.chars().all(|c| c.is_ascii_hexdigit()))
                .map_or(slug, |(head, _)| head);
            let expected = if slug == "index" {
                "invalid_request".to_owned()
            } else {
                slug.replace('-', "_")
            };
            let code = err.error_code().expect(&name);
            assert_eq!(code.to_string(), expected, "{name}");
            // Codes documented with their own page are known; newer ones stay readable.
            assert_eq!(
                matches!(code, PlatformErrorCode::Unknown(_)),
                !DOCUMENTED_CODES.contains(&expected.as_str()),
                "{name}: {code:?}"
            );
            assert_eq!(
                err.is_transient(),
                json["retryable"].as_bool().unwrap(),
                "{name}"
            );
        }
    }
    println!("{decoded} of {} error payloads decoded", files.len());
    assert_eq!(decoded, files.len());
}

/// What `?` in `main` prints: one line with the status, the code, the problem's message and the
/// trace id; no headers map, no struct `Debug`, no whole body. The details stay reachable.
#[tokio::test]
async fn a_failed_call_displays_as_one_line_and_keeps_the_details_reachable() {
    let server = MockServer::start().await;
    let mut body = error_json(400, "invalid_request", "Invalid request");
    body["detail"] = json!("limit must be between 1 and 500, got 9000");
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("content-type", "application/problem+json")
                .insert_header("set-cookie", "session=private-cookie-value")
                .set_body_json(&body),
        )
        .mount(&server)
        .await;
    let err = common::get_run_1(&client_without_retries(&server))
        .await
        .unwrap_err();

    let line = format!("{err}");
    assert_eq!(
        line,
        "400 Bad Request invalid_request: limit must be between 1 and 500, got 9000 \
         (trace id 4bf92f3577b34da6a3ce929d0e0e4736)"
    );
    let debug = format!("{err:?}");
    for text in [&line, &debug] {
        assert!(!text.contains("private-cookie-value"), "{text}");
        assert!(!text.contains("headers"), "{text}");
        assert!(!text.contains(API_KEY), "{text}");
    }
    assert_eq!(debug, format!("Problem({line})"));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert!(err.response_headers().unwrap().contains_key("set-cookie"));
    assert_eq!(
        err.problem().unwrap().title.as_deref(),
        Some("Invalid request")
    );
}

/// A server's long message is quoted up to 200 characters.
#[tokio::test]
async fn a_long_problem_message_is_cut_to_an_excerpt_in_the_line() {
    let server = MockServer::start().await;
    let mut body = error_json(500, "internal_error", "Internal error");
    body["detail"] = json!("x".repeat(5_000));
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(ResponseTemplate::new(500).set_body_json(&body))
        .mount(&server)
        .await;
    let line = common::get_run_1(&client_without_retries(&server))
        .await
        .unwrap_err()
        .to_string();
    assert!(line.contains(&format!("{}…", "x".repeat(200))), "{line}");
    assert!(!line.contains(&"x".repeat(201)), "{line}");
}
