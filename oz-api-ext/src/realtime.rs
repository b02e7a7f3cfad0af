//! The transport of an event tail: Warp's real-time event stream, reopened from the last
//! sequence seen, and polling `GET /agent/events` when the stream is refused.
//!
//! One [`Acceptor`] of the poll engine: while it reads the stream, each poll hands out what
//! the next message(s) brought and asks to be polled again at once; when the connection ends
//! it waits as the reconnect policy says (Warp's app's: 1, 2, 5, 10 s then 10 s after
//! transient failures, 30 s after a refusal or another 4xx) and opens it again with the
//! newest `since`. A healthy stream is closed and reopened after
//! [`DEFAULT_RECYCLE_AFTER`] (the hosting platform cuts streams at about 20 minutes). Once
//! it falls back, its polls are those of the polling tail ([`crate::tail::Tail`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::Either;
use futures::stream::BoxStream;
use oz_api::Client;
use oz_api::types::AgentRunEvent;
use reqwest::StatusCode;
use tokio::time::Instant;

use crate::events::{Scope, Transport};
use crate::poll::{Acceptor, Activity, Clock, Expired, Poller, Stop, Verdict};
use crate::sse::SseParser;
use crate::tail::{Tail, TailEndpoint, TailError};

/// How long a healthy stream is read before it is closed and reopened, by default: Warp's
/// app's 14 minutes (the hosting platform cuts streams at about 20).
pub const DEFAULT_RECYCLE_AFTER: Duration = Duration::from_secs(14 * 60);

/// How long a client remembers that its event stream was refused (shared by its clones):
/// event tails started meanwhile poll at once instead of asking again.
pub const STREAM_REFUSAL_MEMORY: Duration = Duration::from_secs(10 * 60);

/// The pauses before reopening after consecutive transient failures (5xx, 408, 429, resets,
/// time-outs, a close by the server): 1, 2, 5, 10 s, then 10 s.
const TRANSIENT_BACKOFF: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// The pause before reopening after a refusal or another 4xx.
const CLIENT_ERROR_BACKOFF: Duration = Duration::from_secs(30);

/// Consecutive refusals (401, 403, 404, an answer that is not an event stream) after which a
/// stream that worked before is given up; also the transient failures after which a stream
/// that never opened is given up in [`Transport::Auto`].
const GIVE_UP_AFTER: u32 = 3;

/// How long a stream may keep failing before it is given up.
const GIVE_UP_FAILING_FOR: Duration = Duration::from_secs(30 * 60);

/// The operation of the stream, for [`TailError::Api`].
pub(crate) const STREAM_OPERATION: &str = "stream_agent_events";

/// What an event tail hands to its [`EventStream`](crate::EventStream).
pub(crate) enum Step {
    Event(AgentRunEvent),
    /// From now on the tail reads over this transport.
    Switched(Transport),
}

/// How a failed opening (or a connection's end) counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// 401, 403, 404, a 2xx that is not an event stream, another 4xx before the stream ever
    /// opened: the service says no.
    Refused,
    /// No connection: nothing listens there.
    Unreachable,
    /// 5xx, 408, 429, a reset, a time-out, a close by the server.
    Transient,
    /// Another 4xx, after the stream worked.
    ClientError,
}

fn classify(err: &oz_api::Error, worked: bool) -> Failure {
    match err.status() {
        Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) => {
            Failure::Refused
        }
        Some(StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS) => Failure::Transient,
        Some(status) if status.is_server_error() => Failure::Transient,
        Some(status) if status.is_client_error() && worked => Failure::ClientError,
        Some(_) => Failure::Refused,
        None => match err {
            oz_api::Error::Connection(cause) if cause.is_connect() => Failure::Unreachable,
            _ => Failure::Transient,
        },
    }
}

/// An open stream: its body, the messages read but not yet handed out, when it was opened.
struct Connection {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    parser: SseParser,
    messages: VecDeque<String>,
    opened_at: Instant,
}

/// The state of the stream transport.
struct Streaming {
    connection: Option<Connection>,
    /// When to open it again.
    reopen_at: Option<Instant>,
    /// A stream was opened at least once.
    worked: bool,
    /// Consecutive transient failures, for the backoff.
    failures: u32,
    /// Consecutive refusals.
    refusals: u32,
    /// Since when every opening failed.
    failing_since: Option<Instant>,
}

enum State {
    Stream(Streaming),
    Poll(Box<dyn PollTail>),
}

/// The polling tail the stream falls back to, whichever its endpoint.
trait PollTail: Send {
    fn poll<'a>(
        &'a mut self,
        poller: &'a mut Poller,
        found: &'a mut VecDeque<Result<AgentRunEvent, TailError>>,
    ) -> futures::future::BoxFuture<'a, Result<Verdict, Stop<TailError>>>;
}

impl<T: TailEndpoint<Item = AgentRunEvent>> PollTail for Tail<T> {
    fn poll<'a>(
        &'a mut self,
        poller: &'a mut Poller,
        found: &'a mut VecDeque<Result<AgentRunEvent, TailError>>,
    ) -> futures::future::BoxFuture<'a, Result<Verdict, Stop<TailError>>> {
        Box::pin(Acceptor::poll(self, poller, found))
    }
}

/// An event tail over the stream, or over polls once it fell back.
pub(crate) struct EventSource {
    client: Client,
    scope: Scope,
    transport: Transport,
    limit: Option<u32>,
    recycle_after: Duration,
    clock: Clock,
    /// Sequence of the newest event handed out (the highest seen).
    cursor: i64,
    /// The `since` the tail started from.
    start: i64,
    /// The ancestor form: the newest sequence handed out per run, so that a fallback to
    /// polling reads the children it discovers late from `start` without repeats.
    per_run: HashMap<String, i64>,
    /// In [`Transport::Auto`], whether to poll once the stream is given up; without, the
    /// tail ends with the stream's error instead (the wake-ups of a wait, which poll on their
    /// own), the refusal remembered all the same.
    fallback: bool,
    state: State,
}

impl EventSource {
    /// A tail of `scope` from `since`; `transport` is [`Transport::Stream`] or
    /// [`Transport::Auto`] (the stream first) or [`Transport::Poll`].
    pub(crate) fn new(
        client: Client,
        scope: Scope,
        transport: Transport,
        since: i64,
        limit: Option<u32>,
        recycle_after: Duration,
    ) -> Self {
        let clock = Clock::of(&client);
        let mut source = Self {
            client,
            scope,
            transport,
            limit,
            recycle_after,
            clock,
            cursor: since,
            start: since,
            per_run: HashMap::new(),
            fallback: true,
            state: State::Stream(Streaming {
                connection: None,
                reopen_at: None,
                worked: false,
                failures: 0,
                refusals: 0,
                failing_since: None,
            }),
        };
        if transport == Transport::Poll {
            source.state = State::Poll(source.poll_tail());
        }
        source
    }

    /// The tail ends with the stream's error where it would fall back to polling.
    pub(crate) fn without_fallback(mut self) -> Self {
        self.fallback = false;
        self
    }

    /// The transport in use now.
    pub(crate) fn in_use(&self) -> Transport {
        match self.state {
            State::Stream(_) => Transport::Stream,
            State::Poll(_) => Transport::Poll,
        }
    }

    fn poll_tail(&self) -> Box<dyn PollTail> {
        match &self.scope {
            Scope::Runs(run_ids) => Box::new(Tail(crate::events::EventEndpoint {
                client: self.client.clone(),
                run_ids: run_ids.clone(),
                limit: self.limit,
                since: self.cursor,
            })),
            Scope::Children {
                run_id,
                include_self,
            } => {
                let mut known: HashSet<String> = self.per_run.keys().cloned().collect();
                if *include_self {
                    known.insert(run_id.clone());
                }
                Box::new(Tail(ChildrenEndpoint {
                    client: self.client.clone(),
                    ancestor: run_id.clone(),
                    limit: self.limit,
                    since: self.cursor,
                    start: self.start,
                    known: Arc::new(Mutex::new(known)),
                    per_run: self.per_run.clone(),
                }))
            }
        }
    }

    /// Remembers the refusal in the client for [`STREAM_REFUSAL_MEMORY`].
    fn remember_refusal(&self) {
        let until = self.clock.now() + STREAM_REFUSAL_MEMORY;
        self.client
            .event_stream_memo()
            .refuse_until(until.into_std());
    }

    /// From now on: polls. Remembered by the client for [`STREAM_REFUSAL_MEMORY`].
    fn fall_back(&mut self, found: &mut VecDeque<Result<Step, TailError>>) {
        self.remember_refusal();
        tracing::debug!(target: "oz_api_ext", "the event stream is not available: polling");
        self.state = State::Poll(self.poll_tail());
        found.push_back(Ok(Step::Switched(Transport::Poll)));
    }

    /// Hands out the events of the connection's complete messages that are new.
    fn accept_messages(
        &mut self,
        messages: &mut VecDeque<String>,
        found: &mut VecDeque<Result<Step, TailError>>,
    ) -> usize {
        let mut new = 0;
        for message in messages.drain(..) {
            // A message that is not an event (malformed, or of a kind this version does not
            // know) is skipped, as Warp's app does.
            let Ok(event) = serde_json::from_str::<AgentRunEvent>(&message) else {
                tracing::debug!(target: "oz_api_ext", bytes = message.len(), "skipped a message of the event stream that is not an event");
                continue;
            };
            if event.sequence <= self.cursor {
                continue;
            }
            self.cursor = event.sequence;
            if matches!(self.scope, Scope::Children { .. }) {
                self.per_run.insert(event.run_id.clone(), event.sequence);
            }
            found.push_back(Ok(Step::Event(event)));
            new += 1;
        }
        new
    }

    fn open(
        &self,
    ) -> impl std::future::Future<Output = Result<reqwest::Response, oz_api::Error>> + Send + 'static
    {
        let client = self.client.clone();
        let scope = self.scope.clone();
        let since = self.cursor;
        async move {
            let request = client.stream_agent_events().since(since);
            let request = match scope {
                Scope::Runs(run_ids) => request.run_ids(run_ids),
                Scope::Children {
                    run_id,
                    include_self,
                } => request.ancestor_run_id(run_id).include_self(include_self),
            };
            request.send().await
        }
    }
}

impl Acceptor for EventSource {
    type Item = Step;
    type Error = TailError;

    async fn poll(
        &mut self,
        poller: &mut Poller,
        found: &mut VecDeque<Result<Step, TailError>>,
    ) -> Result<Verdict, Stop<TailError>> {
        loop {
            let streaming = match &mut self.state {
                State::Poll(tail) => {
                    let mut events = VecDeque::new();
                    let verdict = tail.poll(poller, &mut events).await;
                    found.extend(events.into_iter().map(|event| event.map(Step::Event)));
                    return verdict;
                }
                State::Stream(streaming) => streaming,
            };
            let Some(connection) = &mut streaming.connection else {
                if let Some(at) = streaming.reopen_at.take() {
                    self.clock.sleep_until(at).await;
                }
                poller.begin_poll();
                let opened = self.open().await;
                let State::Stream(streaming) = &mut self.state else {
                    unreachable!("only a poll changes the transport")
                };
                let now = self.clock.now();
                let err = match opened {
                    Ok(response) => {
                        tracing::debug!(target: "oz_api_ext", since = self.cursor, "event stream opened");
                        streaming.connection = Some(Connection {
                            body: response.bytes_stream().boxed(),
                            parser: SseParser::default(),
                            messages: VecDeque::new(),
                            opened_at: now,
                        });
                        streaming.worked = true;
                        streaming.refusals = 0;
                        streaming.failing_since = None;
                        continue;
                    }
                    Err(err) => err,
                };
                if matches!(err, oz_api::Error::InvalidRequest(_)) {
                    return Err(Stop::Failed(TailError::api(STREAM_OPERATION, err)));
                }
                let failure = classify(&err, streaming.worked);
                let failing_since = *streaming.failing_since.get_or_insert(now);
                tracing::debug!(target: "oz_api_ext", ?failure, error = %err, "the event stream could not be opened");
                let give_up = if !streaming.worked {
                    match failure {
                        Failure::Refused | Failure::Unreachable => true,
                        _ => {
                            streaming.failures += 1;
                            self.transport == Transport::Auto && streaming.failures >= GIVE_UP_AFTER
                        }
                    }
                } else {
                    if failure == Failure::Refused {
                        streaming.refusals += 1;
                    } else {
                        streaming.refusals = 0;
                    }
                    if matches!(failure, Failure::Transient | Failure::Unreachable) {
                        streaming.failures += 1;
                    }
                    streaming.refusals >= GIVE_UP_AFTER
                };
                let give_up = give_up || now - failing_since >= GIVE_UP_FAILING_FOR;
                if give_up {
                    if self.transport == Transport::Stream {
                        return Err(Stop::Failed(TailError::api(STREAM_OPERATION, err)));
                    }
                    if !self.fallback {
                        self.remember_refusal();
                        return Err(Stop::Failed(TailError::api(STREAM_OPERATION, err)));
                    }
                    self.fall_back(found);
                    return Ok(Verdict::KeepPolling(Activity::More));
                }
                let pause = match failure {
                    Failure::Refused | Failure::ClientError => CLIENT_ERROR_BACKOFF,
                    Failure::Transient | Failure::Unreachable => {
                        transient_backoff(streaming.failures)
                    }
                };
                streaming.reopen_at = Some(now + pause);
                continue;
            };
            // Messages already read first, then the next chunk, or the time to recycle.
            if !connection.messages.is_empty() {
                let mut messages = std::mem::take(&mut connection.messages);
                if self.accept_messages(&mut messages, found) > 0 {
                    let State::Stream(streaming) = &mut self.state else {
                        unreachable!("only a poll changes the transport")
                    };
                    streaming.failures = 0;
                    return Ok(Verdict::KeepPolling(Activity::More));
                }
                continue;
            }
            let recycle_at = connection.opened_at + self.recycle_after;
            let recycle = self.clock.sleep_until(recycle_at);
            match futures::future::select(connection.body.next(), std::pin::pin!(recycle)).await {
                Either::Left((Some(Ok(chunk)), _)) => {
                    let Connection {
                        parser, messages, ..
                    } = connection;
                    parser.push(&chunk, messages);
                }
                Either::Left((ended, _)) => {
                    // A close by the server or a broken connection: reopened after a pause.
                    tracing::debug!(target: "oz_api_ext", broken = ended.is_some(), "the event stream ended");
                    streaming.connection = None;
                    streaming.failures += 1;
                    streaming.reopen_at =
                        Some(self.clock.now() + transient_backoff(streaming.failures));
                }
                Either::Right(((), _)) => {
                    tracing::debug!(target: "oz_api_ext", "recycling a healthy event stream");
                    streaming.connection = None;
                    streaming.failures = 0;
                    streaming.reopen_at = None;
                }
            }
        }
    }

    fn expired(&mut self, expired: Expired) -> TailError {
        unreachable!(
            "an event tail without a deadline expired after {} polls",
            expired.polls
        )
    }
}

/// The pause after the `failures`-th consecutive transient failure (from 1).
fn transient_backoff(failures: u32) -> Duration {
    let index = (failures.max(1) - 1) as usize;
    TRANSIENT_BACKOFF[index.min(TRANSIENT_BACKOFF.len() - 1)]
}

/// Polls the events of a run's direct children (and of the run itself with `include_self`):
/// each poll lists the children (`list_runs` with `ancestor_run_id`: direct children, at most
/// 100), reads the events of the children seen before from the newest sequence, and those of
/// children seen for the first time from the tail's start.
pub(crate) struct ChildrenEndpoint {
    client: Client,
    ancestor: String,
    limit: Option<u32>,
    /// The newest sequence handed out.
    since: i64,
    /// The tail's start: children seen for the first time are read from here.
    start: i64,
    /// Runs whose events the polls read; a poll adds the children it lists.
    known: Arc<Mutex<HashSet<String>>>,
    /// The newest sequence handed out per run.
    per_run: HashMap<String, i64>,
}

/// The most children the service lists for one ancestor.
const CHILDREN_CAP: u64 = 100;

impl TailEndpoint for ChildrenEndpoint {
    const OPERATION: &'static str = "poll_agent_events";
    const SERVER_PAGE_SIZE: usize = 100;
    type Item = AgentRunEvent;

    fn limit(&self) -> Option<u32> {
        self.limit
    }

    fn request(
        &self,
    ) -> impl std::future::Future<Output = Result<Vec<Self::Item>, TailError>> + Send {
        let client = self.client.clone();
        let ancestor = self.ancestor.clone();
        let known = Arc::clone(&self.known);
        let (since, start, limit) = (self.since, self.start, self.limit);
        async move {
            let children = client
                .list_runs()
                .ancestor_run_id(ancestor)
                .limit(CHILDREN_CAP)
                .send_owned()
                .await
                .map_err(|err| TailError::api("list_runs", err))?
                .into_inner()
                .runs;
            let (old, new): (Vec<String>, Vec<String>) = {
                let known = known.lock().unwrap_or_else(|p| p.into_inner());
                let new = children
                    .into_iter()
                    .map(|run| run.run_id)
                    .filter(|id| !known.contains(id))
                    .collect();
                (known.iter().cloned().collect(), new)
            };
            let events = |run_ids: Vec<String>, since: i64| {
                let mut request = client.poll_agent_events().run_ids(run_ids).since(since);
                if let Some(limit) = limit {
                    request = request.limit(i64::from(limit));
                }
                async move {
                    request
                        .send_owned()
                        .await
                        .map(|page| page.into_inner())
                        .map_err(|err| TailError::api("poll_agent_events", err))
                }
            };
            let mut page = Vec::new();
            if !old.is_empty() {
                page.extend(events(old, since).await?);
            }
            if !new.is_empty() {
                page.extend(events(new.clone(), start).await?);
                known.lock().unwrap_or_else(|p| p.into_inner()).extend(new);
            }
            Ok(page)
        }
    }

    fn accept(&mut self, mut page: Vec<Self::Item>, found: &mut VecDeque<Self::Item>) -> usize {
        page.sort_by_key(|event| event.sequence);
        let before = found.len();
        for event in page {
            let newest = self
                .per_run
                .get(&event.run_id)
                .copied()
                .unwrap_or(self.start);
            if event.sequence > newest {
                self.per_run.insert(event.run_id.clone(), event.sequence);
                self.since = self.since.max(event.sequence);
                found.push_back(event);
            }
        }
        found.len() - before
    }
}
