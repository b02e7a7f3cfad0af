//! A scripted HTTP server that runs on the test's own runtime, with the few pieces of
//! wiremock's API the waiter tests use.
//!
//! Why not wiremock itself: it serves from a thread of its own. On tokio's paused clock the
//! runtime jumps to its next timer whenever it is idle, and while a request waits for another
//! thread's answer it is idle; the waiters bound every request by the wait's deadline, so the
//! clock would jump to that deadline before the answer arrived. Served from the same runtime,
//! an answer is ready before the runtime parks (loopback writes are synchronous), so the clock
//! only moves when every task waits for a timer — a server's delay included, which makes slow
//! answers testable on simulated time.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One answer: status, headers, body and how long the server takes to send it.
#[derive(Clone, Debug)]
pub struct ResponseTemplate {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
}

impl ResponseTemplate {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn set_body_json(mut self, body: impl serde::Serialize) -> Self {
        self.body = serde_json::to_vec(&body).unwrap();
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self
    }

    pub fn insert_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The server waits this long (on tokio's clock) before answering.
    pub fn set_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub url: url::Url,
    /// Names (lowercase) and values of the request's headers, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }
}

/// An HTTP method, printed as sent.
#[derive(Clone, Debug)]
pub struct Method(String);

impl Method {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Chooses the answer to a request.
pub trait Respond: Send + Sync + 'static {
    fn respond(&self, request: &Request) -> ResponseTemplate;
}

impl Respond for ResponseTemplate {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.clone()
    }
}

struct Route {
    method: String,
    path: String,
    responder: Arc<dyn Respond>,
}

#[derive(Default)]
struct Shared {
    routes: Mutex<Vec<Route>>,
    received: Mutex<Vec<Request>>,
}

/// The server; see the module docs.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl MockServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let serving = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, serving.clone(), addr));
            }
        });
        Self {
            addr,
            shared,
            accept,
        }
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn received_requests(&self) -> Option<Vec<Request>> {
        Some(self.shared.received.lock().unwrap().clone())
    }

    fn add(&self, method: &str, path: &str, responder: Arc<dyn Respond>) {
        self.shared.routes.lock().unwrap().push(Route {
            method: method.to_owned(),
            path: path.to_owned(),
            responder,
        });
    }
}

/// A route being described: `Mock::given(method("GET")).and(path("/x")).respond_with(..)`.
pub struct Mock {
    method: String,
    path: String,
    responder: Option<Arc<dyn Respond>>,
}

pub struct Matcher(MatcherKind);

enum MatcherKind {
    Method(String),
    Path(String),
}

pub fn method(name: &str) -> Matcher {
    Matcher(MatcherKind::Method(name.to_owned()))
}

pub fn path(path: &str) -> Matcher {
    Matcher(MatcherKind::Path(path.to_owned()))
}

impl Mock {
    pub fn given(matcher: Matcher) -> Self {
        Self {
            method: String::new(),
            path: String::new(),
            responder: None,
        }
        .and(matcher)
    }

    pub fn and(mut self, matcher: Matcher) -> Self {
        match matcher.0 {
            MatcherKind::Method(m) => self.method = m,
            MatcherKind::Path(p) => self.path = p,
        }
        self
    }

    pub fn respond_with(mut self, responder: impl Respond) -> Self {
        self.responder = Some(Arc::new(responder));
        self
    }

    /// Accepted for wiremock's shape; the tests count requests themselves.
    pub fn expect(self, _times: u64) -> Self {
        self
    }

    pub async fn mount(self, server: &MockServer) {
        server.add(
            &self.method,
            &self.path,
            self.responder.expect("a responder"),
        );
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>, addr: SocketAddr) {
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default().to_owned();
        let target = request_line.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buffer[head_end..head_end + length].to_vec();
        buffer.drain(..head_end + length);
        let request = Request {
            method: Method(method.clone()),
            url: url::Url::parse(&format!("http://{addr}{target}")).unwrap(),
            headers,
            body,
        };
        shared.received.lock().unwrap().push(request.clone());
        let responder = shared
            .routes
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.method == method && r.path == request.url.path())
            .map(|r| r.responder.clone());
        let answer = match responder {
            Some(responder) => responder.respond(&request),
            None => ResponseTemplate::new(404).set_body_json(Value::Null),
        };
        if !answer.delay.is_zero() {
            tokio::time::sleep(answer.delay).await;
        }
        let mut out = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
            answer.status,
            answer.body.len()
        );
        for (name, value) in &answer.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&answer.body);
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

/// A responder computed from the request.
pub struct Handler<F>(pub F);

impl<F> Respond for Handler<F>
where
    F: Fn(&Request) -> ResponseTemplate + Send + Sync + 'static,
{
    fn respond(&self, request: &Request) -> ResponseTemplate {
        (self.0)(request)
    }
}

/// The API key of the test clients of scripted servers.
pub const TEST_KEY: &str = "wk-test-key";

/// Where a test's API lives: a scripted server (under `/api/v1`) or the simulator.
pub trait Api {
    /// The base URL a client is configured with.
    fn api_url(&self) -> String;

    /// The key the API expects.
    fn key(&self) -> String {
        TEST_KEY.to_owned()
    }
}

impl Api for MockServer {
    fn api_url(&self) -> String {
        format!("{}/api/v1", self.uri())
    }
}

impl Api for wiremock::MockServer {
    fn api_url(&self) -> String {
        format!("{}/api/v1", self.uri())
    }
}

impl Api for oz_mock::OzMock {
    fn api_url(&self) -> String {
        self.base_url()
    }

    fn key(&self) -> String {
        self.api_key().to_owned()
    }
}

/// The configuration of a client of `api`: its URL and key, every other setting the default.
/// A test adds what it is about.
pub fn config(api: &impl Api) -> oz_api_ext::oz_api::Config {
    oz_api_ext::oz_api::Config::new(api.key()).base_url(api.api_url())
}

/// The client of most tests: [`config`] without retries, so every request the test sees is one
/// the code under test sent.
pub fn client(api: &impl Api) -> oz_api_ext::oz_api::Client {
    config(api)
        .max_retries(0)
        .build()
        .expect("valid configuration")
}

/// An HTTP client as the SDK builds one (no redirects followed) whose HTTP layer arms no timer
/// of its own: no per-attempt timeout and no idle-connection timer. On tokio's paused clock,
/// time then moves only when the code under test sleeps.
pub fn http_without_timers() -> reqwest::Client {
    oz_api_ext::oz_api::http_client_builder()
        .unwrap()
        .pool_idle_timeout(None)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The client `config` builds (the key, the retries, the hooks), on [`http_without_timers`].
pub fn without_timers(config: oz_api_ext::oz_api::Config) -> oz_api_ext::oz_api::Client {
    use oz_api_ext::oz_api::Client;

    let base_url = config.base_url_str().to_owned();
    let configured = config.build().expect("valid configuration");
    Client::new_with_client(&base_url, http_without_timers(), configured.state().clone())
}

/// A client of `api` with `max_retries`, [`without_timers`].
pub fn client_without_timers(api: &impl Api, max_retries: u32) -> oz_api_ext::oz_api::Client {
    without_timers(config(api).max_retries(max_retries))
}
