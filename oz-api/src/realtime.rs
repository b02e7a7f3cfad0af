//! Warp's real-time event stream: where it lives, and opening it with the client's key.
//!
//! Warp's own app and CLI follow runs over a server-sent event stream,
//! `GET {realtime}/agent/events/stream`, served by Warp's realtime service rather than the
//! API host. It is not part of the vendor's published API description; the facts come from
//! the public source of Warp's app. Each message's `data` is one [`AgentRunEvent`](crate::types::AgentRunEvent),
//! the object `GET /agent/events` returns; the server replays every event whose `sequence` is
//! above `since`, then streams new ones as they happen.
//!
//! Where: for the production API (`https://app.warp.dev/api/v1`) the stream is on
//! `https://rtc.app.warp.dev/api/v1`, the origin the app derives; for any other API host (a
//! local simulator, a gateway) it is on the API's own base URL, so a simulator is found
//! without setup. [`Config::realtime_url`](crate::Config::realtime_url) or the
//! `WARP_REALTIME_URL` environment variable say otherwise. The API key goes to that origin
//! (as it does in the app) and to the API's, never anywhere else.
//!
//! Whether the service accepts API keys on the stream is not documented: expect a 401 or 403
//! and fall back to polling `GET /agent/events`. `oz-api-ext`'s `events(..)` does all of that
//! (parsing, reconnects, the fallback); [`Client::stream_agent_events`] is the one request
//! underneath it.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use progenitor_client::{ClientInfo, OperationInfo, ResponseValue};
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};

use crate::options::CallOptions;
#[cfg(not(target_arch = "wasm32"))]
use crate::options::DeadlinePassed;
use crate::{Client, Error, OneOrMany, RequestOptions};

/// Environment variable overriding where the event stream is: the realtime service's base
/// URL, to which `/agent/events/stream` is appended (see
/// [`Config::realtime_url`](crate::Config::realtime_url)). Named like
/// [`WARP_BASE_URL_ENV`](crate::WARP_BASE_URL_ENV); takes precedence over [`REALTIME_URL_ENV`].
pub const WARP_REALTIME_URL_ENV: &str = "WARP_REALTIME_URL";
/// The same, named like [`BASE_URL_ENV`](crate::BASE_URL_ENV) (`OZ_API_…`);
/// [`WARP_REALTIME_URL_ENV`] wins when both are set.
pub const REALTIME_URL_ENV: &str = "OZ_API_REALTIME_URL";

/// The operation id of the stream, in its tracing span and in what middleware sees.
const OPERATION_ID: &str = "stream_agent_events";

/// The path of the stream below the realtime base URL.
const STREAM_PATH: &str = "/agent/events/stream";

/// The host of Warp's production API, whose realtime service is [`WARP_REALTIME_HOST`].
const WARP_API_HOST: &str = "app.warp.dev";

/// The host of Warp's production realtime service.
const WARP_REALTIME_HOST: &str = "rtc.app.warp.dev";

/// Time limit of one stream, from connecting to its end, in place of
/// [`Config::timeout`](crate::Config::timeout) (which would cut every stream after a minute).
/// A reader closes and reopens a healthy stream long before (Warp's app after 14 minutes). On
/// `wasm32`, where each attempt's time limit is the request's own, `Config::timeout` bounds
/// it too.
pub const STREAM_TIME_LIMIT: Duration = Duration::from_secs(60 * 60);

/// Where the realtime service of a client is, and what the client remembers about it; shared
/// by the clones of a client.
pub(crate) struct Realtime {
    /// The base URL, without a trailing slash.
    pub(crate) url: String,
    pub(crate) memo: EventStreamMemo,
}

impl fmt::Debug for Realtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Realtime")
            .field("url", &crate::redaction::redact_url(&self.url))
            .field("memo", &self.memo)
            .finish()
    }
}

/// The realtime base URL for an API base URL: Warp's realtime origin for Warp's production
/// API host (the API's path kept), else the API's base URL itself.
pub(crate) fn derive_realtime_url(api: &url::Url) -> url::Url {
    let warp = api.host_str().is_some_and(|host| {
        host.trim_end_matches('.')
            .eq_ignore_ascii_case(WARP_API_HOST)
    });
    if !warp {
        return api.clone();
    }
    let mut realtime = api.clone();
    // Neither can fail on an https URL with a host.
    let _ = realtime.set_scheme("https");
    let _ = realtime.set_host(Some(WARP_REALTIME_HOST));
    let _ = realtime.set_port(None);
    realtime
}

/// What a client remembers about its event stream, shared by all its clones: until when the
/// stream counts as refused, so that a reader polls at once instead of asking again on every
/// call. `oz-api-ext`'s event tails read and set it; an application rarely needs it, except
/// to [`clear`](Self::clear) it after changing something on the service's side.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let client = oz_api::Config::new("wk-example").build()?;
/// let memo = client.event_stream_memo();
/// assert!(!memo.is_refused(Instant::now()));
/// memo.refuse_until(Instant::now() + Duration::from_secs(600));
/// // Clones of the client share what it remembers.
/// assert!(client.clone().event_stream_memo().is_refused(Instant::now()));
/// memo.clear();
/// assert!(memo.refused_until().is_none());
/// # Ok::<(), oz_api::ConfigError>(())
/// ```
#[derive(Default)]
pub struct EventStreamMemo {
    refused_until: Mutex<Option<Instant>>,
}

impl EventStreamMemo {
    /// Until when the stream counts as refused, if it was refused.
    pub fn refused_until(&self) -> Option<Instant> {
        *self
            .refused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the stream counts as refused at `now`.
    pub fn is_refused(&self, now: Instant) -> bool {
        self.refused_until().is_some_and(|until| now < until)
    }

    /// Remembers the stream as refused until `until` (a later date wins over an earlier one).
    pub fn refuse_until(&self, until: Instant) {
        let mut refused = self
            .refused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *refused = Some(refused.map_or(until, |before| before.max(until)));
    }

    /// Forgets a refusal: the next reader tries the stream again.
    pub fn clear(&self) {
        *self
            .refused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
}

impl fmt::Debug for EventStreamMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStreamMemo")
            .field("refused_until", &self.refused_until())
            .finish()
    }
}

impl Client {
    /// The base URL of the realtime service, to which the event stream's path
    /// (`/agent/events/stream`) is appended: [`Config::realtime_url`](crate::Config::realtime_url)
    /// or `WARP_REALTIME_URL` when set, else `https://rtc.app.warp.dev/api/v1` for Warp's
    /// production API, else the API's own base URL.
    ///
    /// ```
    /// let client = oz_api::Config::new("wk-example").build()?;
    /// assert_eq!(client.realtime_url(), "https://rtc.app.warp.dev/api/v1");
    ///
    /// let local = oz_api::Config::new("wk-example").base_url("http://127.0.0.1:8080/api/v1").build()?;
    /// assert_eq!(local.realtime_url(), "http://127.0.0.1:8080/api/v1");
    /// # Ok::<(), oz_api::ConfigError>(())
    /// ```
    pub fn realtime_url(&self) -> &str {
        &self.inner().realtime.url
    }

    /// What this client (and every clone of it) remembers about its event stream.
    pub fn event_stream_memo(&self) -> &EventStreamMemo {
        &self.inner().realtime.memo
    }

    /// Opens the real-time event stream, `GET {realtime_url}/agent/events/stream`, with the
    /// client's key, headers, `User-Agent` and middleware: the streaming answer, whose body is
    /// `text/event-stream` (one `data: <AgentRunEvent JSON>` per message). See the
    /// [module docs](crate::realtime) for what the stream is.
    ///
    /// Most applications want `oz-api-ext`'s `client.events(..)`, which reads this stream,
    /// reopens it from the last sequence seen and falls back to polling when it is refused.
    ///
    /// ```no_run
    /// # async fn example(client: oz_api::Client) -> Result<(), oz_api::Error> {
    /// use futures::StreamExt;
    ///
    /// let answer = client
    ///     .stream_agent_events()
    ///     .ancestor_run_id("run-parent")
    ///     .include_self(true)
    ///     .since(42)
    ///     .send()
    ///     .await?;
    /// let mut body = answer.bytes_stream();
    /// while let Some(chunk) = body.next().await {
    ///     print!("{}", String::from_utf8_lossy(&chunk?));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream_agent_events(&self) -> StreamAgentEvents<'_> {
        StreamAgentEvents {
            client: self,
            run_ids: Vec::new(),
            ancestor_run_id: None,
            include_self: false,
            since: 0,
            options: RequestOptions::default(),
        }
    }
}

/// The request that opens the event stream; from [`Client::stream_agent_events`].
///
/// Exactly one of the two forms: [`run_ids`](Self::run_ids) (the events of those runs), or
/// [`ancestor_run_id`](Self::ancestor_run_id) (the events of that run's direct children,
/// children created later included, and of the run itself with
/// [`include_self`](Self::include_self)).
#[derive(Debug, Clone)]
#[must_use = "nothing is sent until `send()` is awaited"]
pub struct StreamAgentEvents<'a> {
    client: &'a Client,
    run_ids: Vec<String>,
    ancestor_run_id: Option<String>,
    include_self: bool,
    since: i64,
    options: RequestOptions,
}

impl StreamAgentEvents<'_> {
    /// The runs whose events to stream (`run_ids[]`, repeated).
    pub fn run_ids<V: OneOrMany<String>>(mut self, run_ids: V) -> Self {
        self.run_ids = run_ids.into_vec();
        self
    }

    /// Streams the events of this run's direct children (`ancestor_run_id`).
    pub fn ancestor_run_id(mut self, run_id: impl Into<String>) -> Self {
        self.ancestor_run_id = Some(run_id.into());
        self
    }

    /// With [`ancestor_run_id`](Self::ancestor_run_id): the events of the run itself too.
    pub fn include_self(mut self, include_self: bool) -> Self {
        self.include_self = include_self;
        self
    }

    /// Only events whose sequence is above this one (default 0: every event).
    pub fn since(mut self, since: i64) -> Self {
        self.since = since;
        self
    }

    /// Options of this request: extra headers, retries (default none: the reader of a
    /// stream reopens it on its own schedule) and, except on `wasm32`, a deadline for opening
    /// the stream (the stream itself lasts up to [`STREAM_TIME_LIMIT`]).
    pub fn with_options(mut self, options: RequestOptions) -> Self {
        self.options = options;
        self
    }

    /// Sends the request: the answer when it is `200` with a `text/event-stream` body;
    /// [`Error::Problem`] for an error answer (401, 403, 404, 5xx: its status tells which),
    /// [`Error::UnexpectedResponse`] for any other answer (a `200` that is not an event
    /// stream included), [`Error::Connection`] when the service cannot be reached,
    /// [`Error::InvalidRequest`] when the form is incomplete or both forms are given.
    pub async fn send(self) -> Result<reqwest::Response, Error> {
        let Self {
            client,
            run_ids,
            ancestor_run_id,
            include_self,
            since,
            options,
        } = self;
        let mut url = url::Url::parse(&format!("{}{STREAM_PATH}", client.realtime_url()))
            .map_err(|err| Error::InvalidRequest(format!("the realtime URL is invalid: {err}")))?;
        {
            let mut query = url.query_pairs_mut();
            match (ancestor_run_id, run_ids.is_empty()) {
                (Some(_), false) => {
                    return Err(Error::InvalidRequest(
                        "stream_agent_events takes run_ids or ancestor_run_id, not both".into(),
                    ));
                }
                (Some(ancestor), true) => {
                    if ancestor.trim().is_empty() {
                        return Err(Error::InvalidRequest(
                            "ancestor_run_id must not be empty".into(),
                        ));
                    }
                    query.append_pair("ancestor_run_id", &ancestor);
                    if include_self {
                        query.append_pair("include_self", "true");
                    }
                }
                (None, true) => {
                    return Err(Error::InvalidRequest(
                        "stream_agent_events needs at least one run id, or an ancestor_run_id"
                            .into(),
                    ));
                }
                (None, false) => {
                    if include_self {
                        return Err(Error::InvalidRequest(
                            "include_self applies to ancestor_run_id only".into(),
                        ));
                    }
                    if run_ids.iter().any(|id| id.trim().is_empty()) {
                        return Err(Error::InvalidRequest("a run id of run_ids is empty".into()));
                    }
                    for id in &run_ids {
                        query.append_pair("run_ids[]", id);
                    }
                }
            }
            query.append_pair("since", &since.max(0).to_string());
        }
        let mut request = client
            .http_client()
            .get(url)
            .header(ACCEPT, HeaderValue::from_static("text/event-stream"))
            .header(CACHE_CONTROL, HeaderValue::from_static("no-cache"))
            .build()?;
        *request.timeout_mut() = Some(STREAM_TIME_LIMIT);
        let opening = options.get_timeout();
        let call = options
            .apply(client, &mut request)
            .map_err(Error::InvalidRequest)?;
        let call = CallOptions {
            // The deadline bounds the opening only (below): as the call's, it would cut the
            // stream.
            timeout: None,
            max_retries: Some(call.max_retries.unwrap_or(0)),
        };
        let info = OperationInfo {
            operation_id: OPERATION_ID,
        };
        let exec = crate::hooks::exec(client, request, &info, call);
        // fetch (wasm32) takes no deadline other than the request's own time limit, which
        // would bound the whole stream: there the opening is bounded by the connection only.
        #[cfg(target_arch = "wasm32")]
        let response = {
            let _ = opening;
            exec.await?
        };
        #[cfg(not(target_arch = "wasm32"))]
        let response = match opening {
            None => exec.await?,
            Some(timeout) => {
                let deadline = client.sleep_impl().clone();
                let deadline = crate::time::AsyncSleep::sleep(&deadline, timeout);
                match futures::future::select(std::pin::pin!(exec), deadline).await {
                    futures::future::Either::Left((response, _)) => response?,
                    futures::future::Either::Right(((), _)) => {
                        let passed = DeadlinePassed {
                            timeout,
                            attempts: 1,
                        };
                        let err = std::io::Error::new(std::io::ErrorKind::TimedOut, passed);
                        return Err(Error::from(
                            crate::hooks::reqwest_error(Box::new(err)).await,
                        ));
                    }
                }
            }
        };
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            return Err(Error::Problem(
                ResponseValue::from_response(response).await?,
            ));
        }
        if status == reqwest::StatusCode::OK && is_event_stream(response.headers()) {
            return Ok(response);
        }
        Err(Error::UnexpectedResponse(response))
    }
}

/// Whether the answer's `Content-Type` is `text/event-stream`.
fn is_event_stream(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/event-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derived(api: &str) -> String {
        derive_realtime_url(&url::Url::parse(api).unwrap())
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    #[test]
    fn warps_api_host_has_its_stream_on_the_realtime_origin() {
        assert_eq!(
            derived("https://app.warp.dev/api/v1"),
            "https://rtc.app.warp.dev/api/v1"
        );
        assert_eq!(
            derived("https://APP.warp.dev./api/v1/"),
            "https://rtc.app.warp.dev/api/v1"
        );
    }

    #[test]
    fn any_other_host_has_its_stream_on_the_api_base_url() {
        for api in [
            "http://127.0.0.1:8080/api/v1",
            "https://gateway.example.com/warp/api/v1",
            "https://staging.app.warp.dev.example/api/v1",
        ] {
            assert_eq!(derived(api), api);
        }
    }

    #[test]
    fn the_content_type_must_be_an_event_stream() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert!(!is_event_stream(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(!is_event_stream(&headers));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Text/Event-Stream; charset=utf-8"),
        );
        assert!(is_event_stream(&headers));
    }

    #[test]
    fn a_later_refusal_wins() {
        let memo = EventStreamMemo::default();
        let now = Instant::now();
        memo.refuse_until(now + Duration::from_secs(10));
        memo.refuse_until(now + Duration::from_secs(5));
        assert_eq!(memo.refused_until(), Some(now + Duration::from_secs(10)));
        assert!(memo.is_refused(now));
        assert!(!memo.is_refused(now + Duration::from_secs(10)));
    }
}
