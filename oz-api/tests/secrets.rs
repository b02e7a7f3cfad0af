//! The API key goes to the API server as a bearer token, with every operation (the public
//! ones included), and nowhere else: not into Debug or Display output of the configuration,
//! the client or the errors it returns.

mod common;

use common::{API_KEY, client, config, error_json, get_run_1, received, run_json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PROXY_TOKEN: &str = "proxy-token-6e1b7f02";

/// Panics if `text` shows the key (whole, or its distinctive middle part).
fn assert_no_key(what: &str, text: &str) {
    assert!(
        !text.contains(API_KEY) && !text.contains("SECRET"),
        "{what} shows the API key: {text}"
    );
}

#[tokio::test]
async fn the_key_is_sent_as_a_bearer_token_with_the_sdk_headers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("run_1", "QUEUED")))
        .expect(1)
        .mount(&server)
        .await;
    let client = config(&server)
        .header("X-Request-Source", "nightly-ci")
        .header("X-Proxy-Authorization", PROXY_TOKEN)
        .team_uid("team_8Jd2kQ")
        .build()
        .unwrap();

    client.get_run().run_id("run_1").send().await.unwrap();

    let requests = received(&server).await;
    let headers = &requests[0].headers;
    let values = |name: &str| -> Vec<&str> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    };
    assert_eq!(values("authorization"), [format!("Bearer {API_KEY}")]);
    let user_agent = values("user-agent");
    assert_eq!(user_agent.len(), 1);
    assert!(user_agent[0].starts_with("oz-api-rust/"), "{user_agent:?}");
    assert_eq!(
        user_agent[0],
        concat!("oz-api-rust/", env!("CARGO_PKG_VERSION"))
    );
    assert!(headers.get("api-version").is_none(), "{headers:?}");
    assert_eq!(values("x-request-source"), ["nightly-ci"]);
    assert_eq!(values("x-proxy-authorization"), [PROXY_TOKEN]);
    assert_eq!(values("x-warp-team-uid"), ["team_8Jd2kQ"]);
}

#[tokio::test]
async fn a_replaced_user_agent_is_sent_instead() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("run_1", "QUEUED")))
        .mount(&server)
        .await;
    let client = config(&server)
        .user_agent("release-bot/3.1")
        .build()
        .unwrap();

    client.get_run().run_id("run_1").send().await.unwrap();

    let requests = received(&server).await;
    assert_eq!(requests[0].headers["user-agent"], "release-bot/3.1");
    assert!(requests[0].headers.get("x-warp-team-uid").is_none());
}

#[tokio::test]
async fn debug_of_config_and_client_hides_the_key_and_header_values() {
    let server = MockServer::start().await;
    let config = config(&server)
        .header("X-Proxy-Authorization", PROXY_TOKEN)
        .team_uid("team_8Jd2kQ");

    let text = format!("{config:?}");
    assert_no_key("Config's Debug", &text);
    assert!(!text.contains(PROXY_TOKEN), "{text}");
    assert!(text.contains("<redacted>"), "{text}");

    let client = config.build().unwrap();
    for text in [format!("{client:?}"), format!("{client:#?}")] {
        assert_no_key("Client's Debug", &text);
        assert!(!text.contains(PROXY_TOKEN), "{text}");
    }
}

#[tokio::test]
async fn an_authentication_error_does_not_show_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("content-type", "application/problem+json")
                .insert_header("www-authenticate", "Bearer realm=\"oz\"")
                .set_body_json(error_json(
                    401,
                    "authentication_required",
                    "Authentication required",
                )),
        )
        .expect(1)
        .mount(&server)
        .await;

    let err = get_run_1(&client(&server)).await.unwrap_err();

    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    let debug = format!("{err:?}");
    assert!(debug.contains("Authentication required"), "{debug}");
    assert_no_key("the 401 error's Debug", &debug);
    assert_no_key("the 401 error's Display", &err.to_string());
    assert_no_key("the 401 error's alternate Display", &format!("{err:#}"));
}

#[tokio::test]
async fn a_connection_error_does_not_show_the_key() {
    let client = common::config_for(common::CLOSED_PORT_BASE_URL)
        .max_retries(0)
        .build()
        .unwrap();

    let err = client.get_run().run_id("run_1").send().await.unwrap_err();

    assert!(
        matches!(err, oz_api::Error::Connection(ref e) if e.is_connect()),
        "{err}"
    );
    let debug = format!("{err:?}");
    assert!(debug.contains("127.0.0.1:1"), "{debug}");
    assert_no_key("the connection error's Debug", &debug);
    assert_no_key("the connection error's Display", &err.to_string());
    assert_no_key(
        "the connection error's alternate Display",
        &format!("{err:#}"),
    );
    let oz_api::Error::Connection(inner) = err else {
        unreachable!()
    };
    assert_no_key("reqwest's error Debug", &format!("{inner:?}"));
}

/// Answers both redirect operations (marked public in our spec) on `server`, only when the
/// request's `Authorization` header is `expected` (`None`: no such header); `.expect(1)` each.
async fn mount_redirects(server: &MockServer, expected: Option<String>) {
    for route in [
        "/api/v1/agent/sessions/sess-1/redirect",
        "/api/v1/agent/conversations/conv-1/redirect",
    ] {
        let expected = expected.clone();
        Mock::given(method("GET"))
            .and(path(route))
            .and(move |request: &wiremock::Request| {
                request
                    .headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap_or_default().to_owned())
                    == expected
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
            .expect(1)
            .mount(server)
            .await;
    }
}

async fn call_redirects(client: &oz_api::Client) {
    client
        .get_session_redirect()
        .session_uuid("sess-1")
        .send()
        .await
        .expect("the session redirect matched the expected Authorization");
    client
        .get_conversation_redirect()
        .conversation_id("conv-1")
        .send()
        .await
        .expect("the conversation redirect matched the expected Authorization");
}

#[tokio::test]
async fn a_client_with_a_key_sends_it_to_the_public_redirect_operations() {
    // The vendor's own spec requires bearer auth on the session redirect, so a service that
    // enforces it would answer 401 to a client that left the key out.
    let server = MockServer::start().await;
    mount_redirects(&server, Some(format!("Bearer {API_KEY}"))).await;

    call_redirects(&client(&server)).await;

    server.verify().await;
}

#[tokio::test]
async fn an_anonymous_client_sends_no_authorization_to_any_operation() {
    let server = MockServer::start().await;
    mount_redirects(&server, None).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/agent/runs/run_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("run_1", "QUEUED")))
        .expect(1)
        .mount(&server)
        .await;
    let anonymous = oz_api::Config::anonymous()
        .base_url(common::base_url(&server))
        .build()
        .unwrap();

    call_redirects(&anonymous).await;
    get_run_1(&anonymous).await.unwrap();

    for request in received(&server).await {
        assert!(
            request.headers.get("authorization").is_none(),
            "{}",
            request.url
        );
    }
}

/// Echoes the request's `Authorization` header (value and key alone) into every member of a
/// problem body and into response headers, as a careless proxy or server might.
struct EchoAuthorization {
    json: bool,
}

impl wiremock::Respond for EchoAuthorization {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let auth = request
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let key = auth.trim_start_matches("Bearer ").to_owned();
        let template = ResponseTemplate::new(403)
            .insert_header("x-request-id", key.as_str())
            .insert_header("x-trace-id", auth.as_str())
            .insert_header("x-warp-error-code", key.as_str())
            .insert_header("x-echo", format!("you sent {auth}").as_str());
        if self.json {
            template.set_body_json(serde_json::json!({
                "type": format!("https://docs.warp.dev/errors/{key}"),
                "title": auth,
                "status": 403,
                "detail": format!("the token {key} is not allowed"),
                "error": format!("Forbidden: {auth}"),
                "trace_id": key,
                "userDisplayMessage": key,
            }))
        } else {
            template.set_body_raw(
                format!("<html>Forbidden for {auth}\n{key}</html>"),
                "text/html",
            )
        }
    }
}

#[tokio::test]
async fn a_server_that_echoes_the_key_does_not_put_it_into_the_error() {
    for json in [true, false] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(EchoAuthorization { json })
            .mount(&server)
            .await;

        let err = get_run_1(&client(&server)).await.unwrap_err();

        // The server did receive the key (the test would prove nothing otherwise).
        let sent = &received(&server).await[0].headers["authorization"];
        assert_eq!(sent.to_str().unwrap(), format!("Bearer {API_KEY}"));
        assert_eq!(err.status().map(|s| s.as_u16()), Some(403));
        let mut shown = vec![
            ("Display", err.to_string()),
            ("Debug", format!("{err:?}")),
            ("problem", format!("{:?}", err.problem())),
            ("message", format!("{:?}", err.message())),
            ("error_code", format!("{:?}", err.error_code())),
            ("warp_error_code", format!("{:?}", err.warp_error_code())),
            ("trace_id", format!("{:?}", err.trace_id())),
            ("request_id", format!("{:?}", err.request_id())),
        ];
        for (name, value) in err.response_headers().unwrap() {
            shown.push((name.as_str(), format!("{value:?} {:?}", value.to_str())));
        }
        for (what, text) in &shown {
            assert_no_key(&format!("{what} (json body: {json})"), text);
        }
        assert!(err.to_string().contains("<redacted>"), "{err}");
    }
}

#[tokio::test]
async fn bidirectional_controls_of_a_server_are_neutralised_in_the_line() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "type": "https://docs.warp.dev/errors/invalid\u{202E}txt.exe",
            "detail": "file \u{202E}gpj.exe\u{202C} and \u{2066}a\u{2069} \u{200F}b\u{200E} \u{61C}c",
            "trace_id": "t\u{2067}1",
        })))
        .mount(&server)
        .await;

    let err = get_run_1(&client(&server)).await.unwrap_err();

    let line = err.to_string();
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{61C}');
    assert!(!line.chars().any(bidi), "{line:?}");
    assert!(!format!("{err:?}").chars().any(bidi), "{err:?}");
    assert!(line.contains("file gpj.exe and a b c"), "{line}");
}

/// An HTML answer whose excerpt would hold a bidirectional control: replaced in the problem
/// the client makes of it.
#[tokio::test]
async fn bidirectional_controls_of_a_non_json_answer_are_replaced_in_its_excerpt() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(502).set_body_raw("<p>bad \u{202E}gateway</p>", "text/html"),
        )
        .mount(&server)
        .await;

    let err = common::config_for(&common::base_url(&server))
        .max_retries(0)
        .build()
        .unwrap()
        .get_run()
        .run_id("run_1")
        .send()
        .await
        .unwrap_err();

    let detail = err.problem().unwrap().detail.clone().unwrap();
    assert!(!detail.contains('\u{202E}'), "{detail:?}");
    assert!(
        detail.contains("bad  gateway") || detail.contains("bad gateway"),
        "{detail}"
    );
}
