//! The one place every request passes through: the key, retries, one tracing event per
//! attempt, error bodies read and scrubbed of the key, and the bound on answers decoded whole.

#[cfg(not(target_arch = "wasm32"))]
use std::borrow::Cow;
#[cfg(not(target_arch = "wasm32"))]
use std::sync::atomic::{AtomicU32, Ordering};

#[cfg(not(target_arch = "wasm32"))]
use futures::future::Either;

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
#[cfg(not(target_arch = "wasm32"))]
use reqwest::header::ACCEPT;
use reqwest::header::{AUTHORIZATION, HeaderValue, LOCATION};

use crate::Client;
#[cfg(not(target_arch = "wasm32"))]
use crate::error::OutcomeUnknown;
use crate::error::TooLarge;
use crate::options::CallOptions;
#[cfg(not(target_arch = "wasm32"))]
use crate::options::DeadlinePassed;
use crate::redaction::redact_url;
use crate::retry::{Outcome, RetryPolicy, is_idempotent};
#[cfg(not(target_arch = "wasm32"))]
use crate::time::Sleep;
use crate::time::{AsyncSleep, Instant, SharedSleep};

/// State the generated [`Client`] carries for the hand-written hooks.
#[derive(Clone)]
pub struct ClientState {
    pub(crate) retry: RetryPolicy,
    /// What the client waits with between attempts; see
    /// [`Config::sleep_impl`](crate::Config::sleep_impl).
    pub(crate) sleep: SharedSleep,
    /// `Bearer <key>`, marked sensitive; `None` for [`Config::anonymous`](crate::Config::anonymous).
    /// Attached by the hook to every request of a generated operation (all go to the API's
    /// base URL), and to no other request.
    pub(crate) authorization: Option<HeaderValue>,
    /// The most bytes of an answer's body the client reads to decode it; see
    /// [`Config::max_response_bytes`](crate::Config::max_response_bytes).
    pub(crate) max_response_bytes: u64,
    /// What every request gets unless it has its own (shared: a client is cloned per call).
    pub(crate) defaults: std::sync::Arc<RequestDefaults>,
    /// Proxies, roots and the storage client, for the downloads' storage client.
    pub(crate) network: std::sync::Arc<crate::transport::Network>,
    /// The options of every call; see [`Client::with_options`].
    pub(crate) call_options: std::sync::Arc<crate::RequestOptions>,
    /// The layers of [`Config::layer`](crate::Config::layer) around the HTTP client, if any.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) middleware: Option<crate::middleware::HttpService>,
    /// Where the event stream is and what the client remembers about it (shared by clones);
    /// the key is sent there too. See [`realtime`](crate::realtime).
    pub(crate) realtime: std::sync::Arc<crate::realtime::Realtime>,
    /// The time limit of each attempt, set on every request on `wasm32`, whose HTTP client
    /// (fetch) has none of its own.
    #[cfg(target_arch = "wasm32")]
    pub(crate) attempt_timeout: std::time::Duration,
}

/// The headers of every API request, unless the request has its own: added by the hook rather
/// than by the HTTP client, so that a client the application prepared
/// ([`Config::http_client`](crate::Config::http_client)) sends them too.
#[derive(Clone)]
pub(crate) struct RequestDefaults {
    /// `User-Agent`, team and custom headers (custom values marked sensitive).
    pub(crate) headers: reqwest::header::HeaderMap,
}

impl RequestDefaults {
    fn apply(&self, request: &mut reqwest::Request) {
        for name in self.headers.keys() {
            if !request.headers().contains_key(name) {
                for value in self.headers.get_all(name) {
                    request.headers_mut().append(name.clone(), value.clone());
                }
            }
        }
    }
}

impl std::fmt::Debug for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientState")
            .field("retry", &self.retry)
            .field("sleep", &self.sleep)
            .field("authorization", &"<redacted>")
            .field("max_response_bytes", &self.max_response_bytes)
            .field("call_options", &self.call_options)
            .field("middleware", &self.has_middleware())
            .field("realtime", &self.realtime)
            .finish_non_exhaustive()
    }
}

impl ClientState {
    fn has_middleware(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.middleware.is_some()
        }
        #[cfg(target_arch = "wasm32")]
        {
            false
        }
    }

    /// The API key itself (without `Bearer `), to scrub from what servers send back.
    fn secret(&self) -> Option<&[u8]> {
        let value = self.authorization.as_ref()?.as_bytes();
        Some(value.strip_prefix(b"Bearer ").unwrap_or(value)).filter(|key| !key.is_empty())
    }
}

impl ClientHooks<ClientState> for Client {
    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        exec(self, request, info, CallOptions::default()).await
    }
}

/// Sends the request of an operation with the options of its call; the generated code calls
/// it in place of [`ClientHooks::exec`] (see xtask/src/request_options.rs).
pub(crate) async fn exec(
    client: &Client,
    request: reqwest::Request,
    info: &OperationInfo,
    options: CallOptions,
) -> reqwest::Result<reqwest::Response> {
    let span = tracing::info_span!(
        target: "oz_api",
        "oz_api.call",
        otel.name = info.operation_id,
        oz.operation = info.operation_id,
        error.type = tracing::field::Empty,
    );
    // Not entered: its only children are the attempts, made with it as their parent (fewer
    // enters and exits per call, the bulk of the cost with a subscriber).
    // Boxed: the attempts, their pauses and the deadline make a large future, which every
    // operation's and workflow's future would otherwise carry inline (deep workflows then
    // overflow the stack of a debug build).
    let result = Box::pin(client.exec_with(request, info, options, &span)).await;
    if !span.is_disabled() {
        match &result {
            Ok(response) if response.status().as_u16() >= 400 => {
                span.record("error.type", response.status().as_str());
            }
            Ok(_) => {}
            Err(err) => {
                span.record("error.type", error_type(err));
            }
        }
    }
    result
}

impl Client {
    /// On `wasm32` a body cannot be handed on with another one, so the call's deadline is
    /// not raced against the attempts: each attempt gets what is left of it as its time
    /// limit, and no pause begins that would end after it ([`Client::attempts`]). The
    /// answer's body is bounded, and scrubbed of the key, when it is decoded ([`decode`]).
    #[cfg(target_arch = "wasm32")]
    async fn exec_with(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
        options: CallOptions,
        call: &tracing::Span,
    ) -> reqwest::Result<reqwest::Response> {
        let max_retries = options
            .max_retries
            .unwrap_or(self.inner().retry.max_retries);
        let deadline = options.timeout.map(|timeout| Instant::now() + timeout);
        self.attempts(request, info, max_retries, deadline, call)
            .await
    }

    #[cfg(not(target_arch = "wasm32"))]
    async fn exec_with(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
        options: CallOptions,
        call: &tracing::Span,
    ) -> reqwest::Result<reqwest::Response> {
        let max_retries = options
            .max_retries
            .unwrap_or(self.inner().retry.max_retries);
        let idempotent = is_idempotent(request.method(), info.operation_id);
        let operation = (!idempotent).then_some(info.operation_id);
        let decoded = decoded(&request);
        let Some(timeout) = options.timeout else {
            let response = self
                .attempts(request, info, max_retries, None, call)
                .await?;
            return Ok(self.finish(response, decoded, operation));
        };
        // The deadline is one pause of the configured sleep, raced against the attempts and
        // their pauses; what is left of it then bounds the reading of the answer's body.
        let attempts = AtomicU32::new(0);
        let deadline = self.inner().sleep.sleep(timeout);
        let run = std::pin::pin!(self.attempts(request, info, max_retries, Some(&attempts), call));
        match futures::future::select(run, deadline).await {
            Either::Left((response, deadline)) => {
                let response = response?;
                let attempts = attempts.load(Ordering::Relaxed);
                let passed = DeadlinePassed { timeout, attempts };
                Ok(self.finish(
                    within_deadline(response, deadline, passed),
                    decoded,
                    operation,
                ))
            }
            Either::Right(((), _)) => {
                let attempts = attempts.load(Ordering::Relaxed);
                let passed: BoxError = Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    DeadlinePassed { timeout, attempts },
                ));
                let err = reqwest_error(passed).await;
                Err(match operation {
                    // The request may have reached the server.
                    Some(operation) if attempts > 0 => outcome_unknown(operation, None, err).await,
                    _ => err,
                })
            }
        }
    }

    /// The attempts of one request, with the pauses between them: the last answer, or the
    /// last error (for an operation that must not be repeated, marked as of unknown outcome
    /// when the request may have reached the server). `attempts` counts the attempts started.
    async fn attempts(
        &self,
        mut current: reqwest::Request,
        info: &OperationInfo,
        max_retries: u32,
        #[cfg(not(target_arch = "wasm32"))] attempts: Option<&AtomicU32>,
        #[cfg(target_arch = "wasm32")] deadline: Option<Instant>,
        call: &tracing::Span,
    ) -> reqwest::Result<reqwest::Response> {
        let policy = RetryPolicy::new(max_retries);
        let secret = self.inner().secret();
        let idempotent = is_idempotent(current.method(), info.operation_id);
        self.inner().defaults.apply(&mut current);
        // A client with a key sends it with every operation, public and optional-auth ones
        // included: every generated operation goes to the configured base URL, the API's own
        // origin, where the key costs nothing, while a missing one costs a 401, and the
        // vendor's specs disagree about which operations are public (its own requires bearer
        // auth on the session redirect). Besides, the event stream goes to the realtime
        // origin (src/realtime.rs), checked like the base URL when the client was built.
        // Storage hosts never see it: downloads use a separate client without credentials.
        if let Some(authorization) = &self.inner().authorization {
            current
                .headers_mut()
                .insert(AUTHORIZATION, authorization.clone());
        }
        let mut retry = 0;
        loop {
            // Bodies are in-memory JSON, so the copy for a retry always exists in practice; a
            // request that cannot be copied is sent once.
            let spare = (retry < policy.max_retries)
                .then(|| current.try_clone())
                .flatten();
            let method = current.method().clone();
            let url = current.url().clone();
            let started = Instant::now();
            #[cfg(not(target_arch = "wasm32"))]
            if let Some(attempts) = attempts {
                attempts.fetch_add(1, Ordering::Relaxed);
            }
            #[cfg(target_arch = "wasm32")]
            {
                let limit = self.inner().attempt_timeout;
                let left = deadline.map(|deadline| deadline.saturating_duration_since(started));
                let limit = left.map_or(limit, |left| left.min(limit));
                let own = current.timeout().copied();
                *current.timeout_mut() = Some(own.map_or(limit, |own| own.min(limit)));
            }
            let span = attempt_span(call, &method, &url, retry);
            #[cfg(feature = "opentelemetry")]
            traceparent(&span, current.headers_mut());
            let sent = async {
                #[cfg(not(target_arch = "wasm32"))]
                let sent = match &self.inner().middleware {
                    Some(stack) => {
                        crate::middleware::send(stack, current, info.operation_id, retry + 1).await
                    }
                    None => self.client().execute(current).await,
                };
                #[cfg(target_arch = "wasm32")]
                let sent = self.client().execute(current).await;
                match sent {
                    // An error answer's body is read now (it is small and bounded): its
                    // problem takes part in the retry decision, and the key is scrubbed from
                    // it once.
                    #[cfg(not(target_arch = "wasm32"))]
                    Ok(response) => Ok(crate::error_body::normalise(
                        scrub_headers(response, secret),
                        secret,
                    )
                    .await),
                    // The body stays unread until it is decoded (`decode`).
                    #[cfg(target_arch = "wasm32")]
                    Ok(response) => Ok((scrub_headers(response, secret), None)),
                    Err(err) => Err(err),
                }
            };
            // Not entered while on the network either (enters and exits on every poll cost more
            // than the span itself); the attempt's event is logged inside it.
            let result = sent.await;
            let elapsed = started.elapsed();
            let outcome = match &result {
                Ok((response, problem)) => {
                    Outcome::Response(response.status(), response.headers(), problem.as_ref())
                }
                Err(err) if is_connect(err) => Outcome::ConnectFailed,
                Err(_) => Outcome::Interrupted,
            };
            let delay = spare
                .as_ref()
                .and_then(|_| policy.next_delay(&outcome, idempotent, retry));
            // No pause that would end after the call's deadline: the last result stands.
            #[cfg(target_arch = "wasm32")]
            let delay = delay
                .filter(|delay| deadline.is_none_or(|deadline| Instant::now() + *delay < deadline));
            let shown = result.as_ref().map(|(response, _)| response);
            if !span.is_disabled() {
                match shown {
                    Ok(response) => {
                        let status = response.status();
                        span.record("http.response.status_code", status.as_u16());
                        if status.as_u16() >= 400 {
                            span.record("error.type", status.as_str());
                        }
                    }
                    Err(err) => {
                        span.record("error.type", error_type(err));
                    }
                }
            }
            span.in_scope(|| log_attempt(info, &method, &url, shown, retry + 1, elapsed, delay));
            match (delay, spare) {
                (Some(delay), Some(next)) => {
                    drop(result);
                    self.inner().sleep.sleep(delay).await;
                    current = next;
                    retry += 1;
                }
                _ => {
                    #[cfg(target_arch = "wasm32")]
                    let _ = idempotent;
                    return match result {
                        Ok((response, _)) => Ok(response),
                        // fetch tells no more than that the request failed.
                        #[cfg(target_arch = "wasm32")]
                        Err(err) => Err(err),
                        #[cfg(not(target_arch = "wasm32"))]
                        Err(err) => match (!idempotent).then_some(info.operation_id) {
                            // A request that could not be built or connected never reached
                            // the server.
                            Some(operation) if !is_connect(&err) && !err.is_builder() => {
                                Err(outcome_unknown(operation, None, err).await)
                            }
                            _ => Err(err),
                        },
                    };
                }
            }
        }
    }

    /// The last answer as the caller gets it: a success body that is decoded bounded (and,
    /// for an operation that must not be repeated, failing as of unknown outcome), the
    /// signed `Location` redacted.
    #[cfg(not(target_arch = "wasm32"))]
    fn finish(
        &self,
        response: reqwest::Response,
        decoded: bool,
        operation: Option<&'static str>,
    ) -> reqwest::Response {
        let response = if decoded && response.status().is_success() {
            guard_body(response, self.inner().max_response_bytes, operation)
        } else {
            response
        };
        redact_location(response)
    }
}

/// Whether the request's answer is decoded as JSON: those operations ask for it, their bodies
/// are read whole into memory, so they are bounded. The others (transcripts, artifacts,
/// screenshots) are streamed to the caller, who bounds them.
#[cfg(not(target_arch = "wasm32"))]
fn decoded(request: &reqwest::Request) -> bool {
    request
        .headers()
        .get(ACCEPT)
        .is_some_and(|accept| accept.as_bytes().starts_with(b"application/json"))
}

/// `response` whose body fails with `passed` (a time-out) when `deadline` completes first.
#[cfg(not(target_arch = "wasm32"))]
fn within_deadline(
    response: reqwest::Response,
    deadline: Sleep,
    passed: DeadlinePassed,
) -> reqwest::Response {
    use futures::StreamExt;

    let head = crate::error_body::Head::of(&response);
    let chunks = response.bytes_stream();
    let body = futures::stream::unfold(Some((chunks, deadline, passed)), |state| async move {
        let (mut chunks, mut deadline, passed) = state?;
        match futures::future::select(chunks.next(), &mut deadline).await {
            Either::Left((Some(Ok(chunk)), _)) => {
                Some((Ok(chunk), Some((chunks, deadline, passed))))
            }
            Either::Left((Some(Err(err)), _)) => Some((Err(Box::new(err) as BoxError), None)),
            Either::Left((None, _)) => None,
            Either::Right(((), _)) => Some((
                Err(
                    Box::new(std::io::Error::new(std::io::ErrorKind::TimedOut, passed)) as BoxError,
                ),
                None,
            )),
        }
    });
    head.with_body(reqwest::Body::wrap_stream(body))
}

/// The span of one attempt, a child of the call's, with the fields of OpenTelemetry's HTTP
/// client conventions; the URL without its query string (see [`redact_url`]). Its status or
/// error is recorded once the attempt ended.
fn attempt_span(
    call: &tracing::Span,
    method: &reqwest::Method,
    url: &url::Url,
    retry: u32,
) -> tracing::Span {
    use tracing::field::Empty;

    // The field values are computed only when a subscriber wants the span. The resend count
    // is recorded only on resends, as the conventions ask.
    let method = method.as_str();
    let span = tracing::info_span!(
        target: "oz_api",
        parent: call,
        "oz_api.attempt",
        otel.name = method,
        otel.kind = "client",
        http.request.method = method,
        url.full = redact_url(url.as_str()).as_ref(),
        server.address = url.host_str().unwrap_or_default(),
        server.port = url.port_or_known_default().unwrap_or_default(),
        http.request.resend_count = Empty,
        http.response.status_code = Empty,
        error.type = Empty,
    );
    if retry > 0 {
        span.record("http.request.resend_count", retry);
    }
    span
}

/// Sets the W3C `traceparent` of `span` (the attempt's) on its request, replacing one the
/// request had, when the span belongs to an OpenTelemetry trace (`tracing-opentelemetry`'s
/// layer is installed and the trace is valid); else leaves the request as it is.
#[cfg(feature = "opentelemetry")]
fn traceparent(span: &tracing::Span, headers: &mut reqwest::header::HeaderMap) {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    if span.is_disabled() {
        return;
    }
    let context = span.context();
    let span = context.span();
    let ids = span.span_context();
    if !ids.is_valid() {
        return;
    }
    let value = format!(
        "00-{}-{}-{:02x}",
        ids.trace_id(),
        ids.span_id(),
        ids.trace_flags().to_u8()
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert("traceparent", value);
    }
}

/// `error.type` of a request that got no answer.
fn error_type(err: &reqwest::Error) -> &'static str {
    if is_connect(err) {
        "connect"
    } else if err.is_timeout() {
        "timeout"
    } else {
        "transport"
    }
}

/// Decodes an answer of the generated code (see xtask/src/decode.rs). On native targets the
/// hook already bounded a success body and replaced an error body by its scrubbed problem
/// object, so this is progenitor's own decoding. On `wasm32`, where a response cannot be
/// rebuilt, the same happens here: a success body is read up to
/// [`Config::max_response_bytes`](crate::Config::max_response_bytes) (an empty one reads as
/// `{}`), an error body becomes its problem object with the key scrubbed.
pub(crate) async fn decode<T, E>(
    client: &Client,
    response: reqwest::Response,
) -> Result<progenitor_client::ResponseValue<T>, progenitor_client::Error<E>>
where
    T: serde::de::DeserializeOwned,
{
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = client;
        progenitor_client::ResponseValue::from_response(response).await
    }
    #[cfg(target_arch = "wasm32")]
    {
        use futures::StreamExt;
        use progenitor_client::{Error as P, ResponseValue};

        let status = response.status();
        let mut headers = response.headers().clone();
        if status.is_client_error() || status.is_server_error() {
            let secret = client.inner().secret();
            let problem = crate::error_body::problem_value(response, &mut headers, secret).await;
            let inner = serde_json::from_value(problem.clone()).map_err(|err| {
                P::InvalidResponsePayload(bytes::Bytes::from(problem.to_string()), err)
            })?;
            return Ok(ResponseValue::new(inner, status, headers));
        }
        let limit = client.inner().max_response_bytes;
        // fetch's errors cannot be made here, so the bound is a decode error saying so
        // (`Error::Decode`, with the bytes read), not the native `Error::ResponseBody`.
        let too_large = |read: Vec<u8>| {
            P::InvalidResponsePayload(
                bytes::Bytes::from(read),
                <serde_json::Error as serde::de::Error>::custom(TooLarge { limit }),
            )
        };
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(too_large(Vec::new()));
        }
        let mut chunks = response.bytes_stream();
        let mut body = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(P::ResponseBodyError)?;
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large(body));
            }
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            body.extend_from_slice(b"{}");
        }
        let body = bytes::Bytes::from(body);
        let inner = serde_json::from_slice(&body)
            .map_err(|err| P::InvalidResponsePayload(body.clone(), err))?;
        Ok(ResponseValue::new(inner, status, headers))
    }
}

/// Whether the request failed to connect (never reached the server); on `wasm32` fetch does
/// not tell, so never.
pub(crate) fn is_connect(err: &reqwest::Error) -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    {
        err.is_connect()
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = err;
        false
    }
}

/// Replaces every response header whose value contains the API key (a proxy that echoes the
/// request's headers) by `<redacted>`, so that no accessor or message of an error shows it.
fn scrub_headers(mut response: reqwest::Response, secret: Option<&[u8]>) -> reqwest::Response {
    let Some(secret) = secret else {
        return response;
    };
    for value in response.headers_mut().values_mut() {
        if value
            .as_bytes()
            .windows(secret.len())
            .any(|window| window == secret)
        {
            let mut redacted = HeaderValue::from_static("<redacted>");
            redacted.set_sensitive(true);
            *value = redacted;
        }
    }
    response
}

/// The success answer with a body that fails once more than `limit` bytes arrived (at once
/// when its `Content-Length` says so), and whose failures, too large answers included, say for
/// an operation that must not be repeated that the operation did take effect. An empty body
/// reads as `{}`.
#[cfg(not(target_arch = "wasm32"))]
fn guard_body(
    response: reqwest::Response,
    limit: u64,
    operation: Option<&'static str>,
) -> reqwest::Response {
    use futures::StreamExt;

    let head = crate::error_body::Head::of(&response);
    let status = head.status;
    let answered = move |err: BoxError| -> BoxError {
        match operation {
            Some(operation) => Box::new(OutcomeUnknown {
                operation,
                answered: Some(status),
                source: err,
            }),
            None => err,
        }
    };
    let too_large = move || answered(Box::new(TooLarge { limit }));
    let declared = response.content_length();
    let body = if declared.is_some_and(|length| length > limit) {
        reqwest::Body::wrap_stream(futures::stream::once(async move {
            Err::<bytes::Bytes, BoxError>(too_large())
        }))
    } else {
        let chunks = response.bytes_stream();
        let guarded = futures::stream::unfold(
            (chunks, 0u64, false),
            move |(mut chunks, read, done)| async move {
                if done {
                    return None;
                }
                let Some(next) = chunks.next().await else {
                    // A success answer without a body reads as an empty object: an
                    // acknowledgement such as interrupt_run's 202 then decodes (its members
                    // are optional) instead of failing an operation that took effect.
                    return (read == 0)
                        .then(|| (Ok(bytes::Bytes::from_static(b"{}")), (chunks, read, true)));
                };
                match next {
                    Ok(chunk) => {
                        let read = read.saturating_add(chunk.len() as u64);
                        if read > limit {
                            Some((Err(too_large()), (chunks, read, true)))
                        } else {
                            Some((Ok(chunk), (chunks, read, false)))
                        }
                    }
                    Err(err) => Some((Err(answered(Box::new(err))), (chunks, read, true))),
                }
            },
        );
        reqwest::Body::wrap_stream(guarded)
    };
    head.with_body(body)
}

#[cfg(not(target_arch = "wasm32"))]
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `err` as a reqwest error whose source chain holds an [`OutcomeUnknown`] for `operation`
/// (and then `err` itself).
#[cfg(not(target_arch = "wasm32"))]
async fn outcome_unknown(
    operation: &'static str,
    answered: Option<reqwest::StatusCode>,
    err: reqwest::Error,
) -> reqwest::Error {
    reqwest_error(Box::new(OutcomeUnknown {
        operation,
        answered,
        source: Box::new(err),
    }))
    .await
}

/// A reqwest error whose source is `marker`. reqwest has no public constructor for its
/// errors, so the error is produced the one way reqwest offers: a body that fails with ours,
/// read to its end.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn reqwest_error(marker: BoxError) -> reqwest::Error {
    let body = reqwest::Body::wrap_stream(futures::stream::once(async move {
        Err::<bytes::Bytes, BoxError>(marker)
    }));
    reqwest::Response::from(http::Response::new(body))
        .bytes()
        .await
        .expect_err("a body whose only item is an error fails")
        .without_url()
}

/// The `Location` header of an answer as the server sent it, query string included.
///
/// The API's downloads answer with a redirect to a signed URL whose query string is a
/// credential, and the client's error for such an answer (`Error::UnexpectedResponse`) prints
/// the answer's headers in its `Debug` and `Display`. So the client replaces the query string of
/// every `Location` header with `<redacted>` before handing the answer out, and keeps the
/// original value in the answer's extensions, where this function finds it. For answers that
/// did not pass through the client it returns the header itself.
///
/// ```no_run
/// # async fn example(client: oz_api::Client) {
/// if let Err(oz_api::Error::UnexpectedResponse(answer)) =
///     client.get_run_transcript().run_id("run_1").send().await
/// {
///     // `answer.headers()["location"]` ends in `?<redacted>`; this is the signed URL.
///     let signed = oz_api::redirect_location(&answer);
///     # let _ = signed;
/// }
/// # }
/// ```
pub fn redirect_location(response: &reqwest::Response) -> Option<&HeaderValue> {
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(original) = response.extensions().get::<OriginalLocation>() {
        return Some(&original.0);
    }
    response.headers().get(LOCATION)
}

/// The `Location` header before [`redact_location`] replaced its query string.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone)]
struct OriginalLocation(HeaderValue);

/// Moves a `Location` header that has a query string (or a `user:password@`) into the
/// extensions and puts a copy redacted by [`redact_url`] in its place.
#[cfg(not(target_arch = "wasm32"))]
fn redact_location(mut response: reqwest::Response) -> reqwest::Response {
    let Some(value) = response.headers().get(LOCATION) else {
        return response;
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let Cow::Owned(redacted) = redact_url(&text) else {
        return response;
    };
    let Ok(redacted) = HeaderValue::from_str(&redacted) else {
        return response;
    };
    let original = value.clone();
    response.headers_mut().insert(LOCATION, redacted);
    response.extensions_mut().insert(OriginalLocation(original));
    response
}

fn log_attempt(
    info: &OperationInfo,
    method: &reqwest::Method,
    url: &url::Url,
    result: Result<&reqwest::Response, &reqwest::Error>,
    attempt: u32,
    elapsed: std::time::Duration,
    retry_in: Option<std::time::Duration>,
) {
    // Nothing to format when no subscriber listens at the level this event would have.
    let listening = if retry_in.is_some() {
        tracing::enabled!(target: "oz_api", tracing::Level::WARN)
    } else {
        tracing::enabled!(target: "oz_api", tracing::Level::DEBUG)
    };
    if !listening {
        return;
    }
    // The query string is left out: it may carry values a log should not keep.
    let location = redact_url(url.as_str());
    let method = method.as_str();
    let duration_ms = elapsed.as_millis() as u64;
    let retry_in_ms = retry_in.map(|d| d.as_millis() as u64);
    match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let request_id = crate::error::request_id_in(response.headers());
            if retry_in.is_some() {
                tracing::warn!(target: "oz_api", operation = info.operation_id, method, url = %location, status, attempt, duration_ms, request_id, retry_in_ms, "request failed, retrying");
            } else {
                tracing::debug!(target: "oz_api", operation = info.operation_id, method, url = %location, status, attempt, duration_ms, request_id, "request completed");
            }
        }
        Err(err) => {
            // reqwest's error Display includes the URL; log the kind only.
            let kind = error_type(err);
            if retry_in.is_some() {
                tracing::warn!(target: "oz_api", operation = info.operation_id, method, url = %location, error = kind, attempt, duration_ms, retry_in_ms, "request failed, retrying");
            } else {
                tracing::debug!(target: "oz_api", operation = info.operation_id, method, url = %location, error = kind, attempt, duration_ms, "request failed");
            }
        }
    }
}
