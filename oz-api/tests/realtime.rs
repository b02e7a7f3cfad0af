//! Opening the event stream (`Client::stream_agent_events`): where it goes, what it sends (the
//! key to the API's and the realtime origin only), and what each kind of answer becomes.

mod common;

use common::{API_KEY, CLOSED_PORT_BASE_URL, config, config_for, received};
use futures::StreamExt;
use oz_api::middleware::{Attempt, HttpRequest};
use tower::ServiceExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const STREAM_PATH: &str = "/api/v1/agent/events/stream";

fn event_stream(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_owned(), "text/event-stream")
}

#[tokio::test]
async fn a_local_server_is_found_on_the_api_base_url_with_the_runs_form() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(STREAM_PATH))
        .respond_with(event_stream("data: {}\n\n"))
        .mount(&server)
        .await;
    let client = config(&server)
        .header("X-Request-Source", "ci")
        .build()
        .unwrap();
    assert_eq!(client.realtime_url(), client.base_url());

    let answer = client
        .stream_agent_events()
        .run_ids(["run-a", "run b"])
        .since(7)
        .send()
        .await
        .unwrap();
    let body: Vec<_> = answer.bytes_stream().collect().await;
    assert_eq!(body.len(), 1);

    let request = &received(&server).await[0];
    assert_eq!(
        request.url.query(),
        Some("run_ids%5B%5D=run-a&run_ids%5B%5D=run+b&since=7")
    );
    let header = |name: &str| request.headers.get(name).map(|v| v.to_str().unwrap());
    assert_eq!(header("authorization"), Some(&*format!("Bearer {API_KEY}")));
    assert_eq!(header("accept"), Some("text/event-stream"));
    assert_eq!(header("x-request-source"), Some("ci"));
    assert!(header("user-agent").unwrap().starts_with("oz-api-rust/"));
}

#[tokio::test]
async fn the_ancestor_form_and_a_configured_realtime_origin() {
    let api = MockServer::start().await;
    let realtime = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rt/agent/events/stream"))
        .respond_with(event_stream(": hello\n\n"))
        .mount(&realtime)
        .await;
    let client = config(&api)
        .realtime_url(format!("{}/rt/", realtime.uri()))
        .build()
        .unwrap();

    client
        .stream_agent_events()
        .ancestor_run_id("run-parent")
        .include_self(true)
        .send()
        .await
        .unwrap();

    assert!(received(&api).await.is_empty());
    let request = &received(&realtime).await[0];
    assert_eq!(
        request.url.query(),
        Some("ancestor_run_id=run-parent&include_self=true&since=0")
    );
    assert_eq!(
        request.headers.get("authorization").unwrap(),
        &format!("Bearer {API_KEY}")
    );
}

#[tokio::test]
async fn refusals_are_problems_and_other_answers_unexpected() {
    let server = MockServer::start().await;
    let client = config(&server).build().unwrap();
    for status in [401, 403, 404, 503] {
        server.reset().await;
        Mock::given(method("GET"))
            .and(path(STREAM_PATH))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_raw(format!("refused, echoing {API_KEY}"), "text/plain"),
            )
            .mount(&server)
            .await;
        let err = client
            .stream_agent_events()
            .run_ids("run-a")
            .send()
            .await
            .unwrap_err();
        assert!(matches!(err, oz_api::Error::Problem(_)), "{err:?}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
        // Sent once: reopening is the reader's decision.
        assert_eq!(received(&server).await.len(), 1, "{status}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(API_KEY), "{shown}");
    }

    server.reset().await;
    Mock::given(method("GET"))
        .and(path(STREAM_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
        .mount(&server)
        .await;
    let err = client
        .stream_agent_events()
        .run_ids("run-a")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, oz_api::Error::UnexpectedResponse(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unreachable_service_is_a_connection_error() {
    let client = config_for(CLOSED_PORT_BASE_URL).build().unwrap();
    let err = client
        .stream_agent_events()
        .run_ids("run-a")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, oz_api::Error::Connection(_)), "{err:?}");
}

#[tokio::test]
async fn incomplete_or_mixed_forms_are_refused_before_sending() {
    let client = config_for(CLOSED_PORT_BASE_URL).build().unwrap();
    let cases = [
        client.stream_agent_events(),
        client.stream_agent_events().run_ids([""]),
        client.stream_agent_events().ancestor_run_id(" "),
        client
            .stream_agent_events()
            .run_ids("run-a")
            .ancestor_run_id("run-b"),
        client
            .stream_agent_events()
            .run_ids("run-a")
            .include_self(true),
    ];
    for request in cases {
        let err = request.send().await.unwrap_err();
        assert!(matches!(err, oz_api::Error::InvalidRequest(_)), "{err:?}");
    }
}

#[tokio::test]
async fn middleware_sees_the_stream_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(STREAM_PATH))
        .respond_with(event_stream(""))
        .mount(&server)
        .await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let layer = tower::layer::layer_fn(move |inner: oz_api::middleware::HttpService| {
        let record = record.clone();
        inner.map_request(move |request: HttpRequest| {
            let attempt = request.extensions().get::<Attempt>().copied().unwrap();
            record.lock().unwrap().push(attempt.operation_id());
            request
        })
    });
    let client = config(&server).layer(layer).build().unwrap();
    client
        .stream_agent_events()
        .run_ids("run-a")
        .send()
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), ["stream_agent_events"]);
}

#[test]
fn debug_output_of_the_client_never_shows_the_key() {
    let client = config_for("http://127.0.0.1:9/api/v1").build().unwrap();
    let shown = format!("{client:?} {:?}", client.event_stream_memo());
    assert!(!shown.contains(API_KEY), "{shown}");
    assert!(shown.contains("realtime"), "{shown}");
}
