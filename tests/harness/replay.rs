//! A local server that answers every request with one fixture's response and records what the
//! SDK sent, and the strict comparison of those requests with the fixture's request.

use std::collections::BTreeSet;

use oz_api_ext::oz_api::{Client, Config};
use serde_json::Value;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::fixture::{FixtureRequest, FixtureResponse};

/// Path prefix of the API on the replay server, like `/api/v1` in production.
pub const API_PREFIX: &str = "/api/v1";

/// Headers the SDK may send besides those a fixture lists and `Authorization`: transport
/// headers and the client's identification. Anything else (such as `api-version`) is a
/// mismatch.
pub const TRANSPORT_HEADERS: &[&str] = &["host", "user-agent", "accept", "content-length"];

/// The placeholder key of [`client`].
pub const API_KEY: &str = "wk-conformance-placeholder";

/// What [`client`] is built with, for [`ReplayServer::check`](ReplayServer::check).
pub const CREDENTIALS: Credentials = Credentials::ApiKey(API_KEY);

/// A client for the replay server: the fixture's base URL, the placeholder [`API_KEY`], no
/// retries (every answer is the fixture's, so a retry would only repeat it).
pub fn client(base_url: &str) -> Client {
    Config::new(API_KEY)
        .base_url(base_url)
        .max_retries(0)
        .build()
        .expect("a valid configuration")
}

/// A client without credentials ([`Config::anonymous`]): a caller resolving a shared
/// link has no key to send.
pub fn anonymous_client(base_url: &str) -> Client {
    Config::anonymous()
        .base_url(base_url)
        .max_retries(0)
        .build()
        .expect("a valid configuration")
}

/// What the client under test was built with, which decides the `Authorization` header of
/// every request it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// An API key: every request carries `Authorization: Bearer <key>`, to every operation,
    /// including those `openapi.json` marks public (`security: []`) or optional-auth. The
    /// vendor's specs disagree about which operations are public, so leaving the key out risks a
    /// 401, while sending it to the API's own origin costs nothing.
    ApiKey(&'static str),
    /// No key ([`oz_api::Config::anonymous`](oz_api_ext::oz_api::Config::anonymous)): no request
    /// carries `Authorization`.
    Anonymous,
}

/// A running replay server.
pub struct ReplayServer {
    server: MockServer,
}

impl std::fmt::Debug for ReplayServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayServer")
            .field("uri", &self.server.uri())
            .finish()
    }
}

impl ReplayServer {
    /// A server on 127.0.0.1 answering every request with `response`.
    pub async fn start(response: &FixtureResponse) -> Self {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(template(response))
            .mount(&server)
            .await;
        Self { server }
    }

    /// The base URL to give the SDK.
    pub fn base_url(&self) -> String {
        format!("{}{API_PREFIX}", self.server.uri())
    }

    /// The requests received so far.
    pub async fn received(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// Compares every received request with `expected`, sent by a client built with
    /// `credentials`; also fails when the number of requests is not `count`. Each message says
    /// what differs.
    pub async fn check(
        &self,
        expected: &FixtureRequest,
        credentials: Credentials,
        count: usize,
    ) -> Vec<String> {
        let received = self.received().await;
        let mut problems = Vec::new();
        if received.len() != count {
            problems.push(format!(
                "expected {count} request(s), the server received {}",
                received.len()
            ));
        }
        for (i, request) in received.iter().enumerate() {
            for problem in request_mismatches(expected, request, credentials) {
                problems.push(if count > 1 {
                    format!("request {}: {problem}", i + 1)
                } else {
                    problem
                });
            }
        }
        problems
    }
}

fn template(response: &FixtureResponse) -> ResponseTemplate {
    let mut template = ResponseTemplate::new(response.status);
    for (name, value) in &response.headers {
        if name != "content-type" {
            template = template.insert_header(name.as_str(), value.as_str());
        }
    }
    if let Some(body) = &response.body {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let content_type = response.content_type().unwrap_or("application/json");
        template = template.set_body_raw(bytes, content_type);
    } else if let Some(content_type) = response.content_type() {
        template = template.insert_header("content-type", content_type);
    }
    template
}

/// What differs between a received request and the fixture's: method, path, query pairs
/// (compared as a multiset: order does not matter, repeats do), JSON body by value, the
/// fixture's headers, `Authorization` by the client's `credentials` (whatever the operation's
/// `security`), and headers nobody expects.
pub fn request_mismatches(
    expected: &FixtureRequest,
    actual: &Request,
    credentials: Credentials,
) -> Vec<String> {
    let mut problems = Vec::new();
    if !actual
        .method
        .as_str()
        .eq_ignore_ascii_case(&expected.method)
    {
        problems.push(format!(
            "method: expected {}, sent {}",
            expected.method, actual.method
        ));
    }
    let expected_path = format!("{API_PREFIX}{}", expected.path);
    if actual.url.path() != expected_path {
        problems.push(format!(
            "path: expected {expected_path}, sent {}",
            actual.url.path()
        ));
    }
    let mut want: Vec<(String, String)> = expected.query.clone();
    let mut got: Vec<(String, String)> = actual
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    want.sort();
    got.sort();
    if want != got {
        let missing: Vec<_> = want.iter().filter(|p| !got.contains(p)).collect();
        let extra: Vec<_> = got.iter().filter(|p| !want.contains(p)).collect();
        problems.push(format!(
            "query: expected {want:?}, sent {got:?} (missing {missing:?}, unexpected {extra:?})"
        ));
    }
    match (&expected.body, actual.body.is_empty()) {
        (None, true) => {}
        (None, false) => problems.push(format!(
            "body: expected none, sent {}",
            String::from_utf8_lossy(&actual.body)
        )),
        (Some(_), true) => problems.push("body: expected JSON, sent none".to_owned()),
        (Some(body), false) => match serde_json::from_slice::<Value>(&actual.body) {
            Err(e) => problems.push(format!("body: not JSON ({e})")),
            Ok(sent) => {
                if let Some(d) = crate::normalise::first_difference(body, &sent) {
                    problems.push(format!("body: at {d}"));
                }
            }
        },
    }
    for (name, value) in &expected.headers {
        match actual.headers.get(name.as_str()).map(|v| v.to_str()) {
            Some(Ok(sent)) if sent == value => {}
            Some(Ok(sent)) => {
                problems.push(format!("header {name}: expected {value:?}, sent {sent:?}"))
            }
            Some(Err(_)) => problems.push(format!("header {name}: not text")),
            None => problems.push(format!("header {name}: expected {value:?}, not sent")),
        }
    }
    let authorization = actual
        .headers
        .get_all("authorization")
        .iter()
        .map(|v| v.to_str().unwrap_or("<not text>"))
        .collect::<Vec<_>>();
    match (credentials, authorization.as_slice()) {
        (Credentials::ApiKey(_), []) => problems.push(
            "authorization: not sent, though the client has a key (every operation carries it, \
             public ones included)"
                .to_owned(),
        ),
        (Credentials::ApiKey(key), [sent]) if *sent == format!("Bearer {key}") => {}
        (Credentials::ApiKey(_), [sent]) if sent.starts_with("Bearer ") => {
            problems.push("authorization: a bearer token other than the client's key".to_owned());
        }
        (Credentials::ApiKey(_), [_]) => {
            problems.push("authorization: not a bearer token".to_owned());
        }
        (Credentials::ApiKey(_), sent) => {
            problems.push(format!("authorization: sent {} times", sent.len()));
        }
        (Credentials::Anonymous, []) => {}
        (Credentials::Anonymous, _) => problems.push(
            "authorization: sent by a client built without a key (Config::anonymous)".to_owned(),
        ),
    }
    let allowed: BTreeSet<&str> = TRANSPORT_HEADERS
        .iter()
        .copied()
        .chain(["authorization"])
        .chain(expected.headers.keys().map(String::as_str))
        .collect();
    let unexpected: BTreeSet<&str> = actual
        .headers
        .keys()
        .map(|name| name.as_str())
        .filter(|name| !allowed.contains(name))
        .collect();
    if !unexpected.is_empty() {
        problems.push(format!("headers not in the fixture: {unexpected:?}"));
    }
    problems
}
