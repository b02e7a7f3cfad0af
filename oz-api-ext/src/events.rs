//! A tail of run events: Warp's real-time event stream, with polling `GET /agent/events` as
//! the fallback, on the poll engine.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use futures::stream::BoxStream;
use oz_api::{Client, types};

use crate::poll::{Clock, PollSettings, poll_setters};
use crate::realtime::{DEFAULT_RECYCLE_AFTER, EventSource, Step};
use crate::tail::{TailEndpoint, TailError};
/// Event tails on [`oz_api::Client`].
///
/// An [`EventStream`] yields the events of some runs ([`events`](Self::events)) or of a
/// run's direct children ([`events_of_children`](Self::events_of_children)) as they happen,
/// each once, in sequence order; events at or below the resume point are skipped, also when
/// the server repeats them. Its resume point ([`EventStream::since`]) moves to each event it
/// yields: saving it and passing it to [`Events::since`] later resumes where the stream
/// stopped.
///
/// # Transport
///
/// By default ([`Transport::Auto`]) the tail reads Warp's real-time event stream, the one
/// Warp's own app follows runs with (`GET {realtime}/agent/events/stream`, see
/// [`oz_api::realtime`]; it is not part of the vendor's published API): an event arrives as
/// soon as the service records it. A stream that ends is reopened from the last sequence
/// yielded, so nothing is lost or repeated, after a pause (1, 2, 5, 10 s then 10 s after
/// transient failures, 30 s after a refusal); a healthy stream is reopened every
/// [`recycle_after`](Events::recycle_after) (14 minutes).
///
/// When the stream is refused (401, 403, 404), unreachable, or answers with something that is
/// not an event stream, the same `EventStream` polls `GET /agent/events` instead, as it did
/// before the stream existed: `min_delay` after a poll that brought news, doubling up to
/// `max_delay` while nothing happens, no pause after a full page. So does a stream that
/// worked and then is refused three times in a row, or keeps failing for 30 minutes. The
/// client, and every clone of it, then remembers the refusal for
/// [`STREAM_REFUSAL_MEMORY`](crate::STREAM_REFUSAL_MEMORY) (10 minutes): tails started
/// meanwhile poll at once. [`Events::transport`] forces either transport;
/// [`EventStream::transport`] says which one is in use.
///
/// A tail has no `max_wait`: it has no end state to wait for and goes on until it is dropped
/// (bound it with `tokio::time::timeout` or `StreamExt::take_until`). A failed request is not
/// retried here: the client's request hook already repeated it if it was transient; the error
/// ([`TailError`]) is yielded and ends the stream. The stream owns a clone of the client: it
/// can be moved into `tokio::spawn` and outlive the client it came from.
///
/// ```no_run
/// use futures::StreamExt;
/// use oz_api_ext::EventsExt;
///
/// # async fn example(client: oz_api::Client, saved: i64) -> Result<(), Box<dyn std::error::Error>> {
/// let mut events = client.events(["run-a", "run-b"]).since(saved).stream();
/// while let Some(event) = events.next().await {
///     let event = event?;
///     println!("{} {} {} over {:?}", event.sequence, event.run_id, event.event_type, events.transport());
///     let resume_from = events.since(); // persist this to resume after a restart
///     # let _ = resume_from;
/// }
/// # Ok(()) }
/// ```
pub trait EventsExt {
    /// Events of the given runs, from the start (`since` 0) unless [`Events::since`] says
    /// otherwise; [`Events::stream`] starts the tail.
    fn events<I, S>(&self, run_ids: I) -> Events
    where
        I: IntoIterator<Item = S>,
        S: Into<String>;

    /// Events of the direct children of `run_id` (an orchestrator's runs), children started
    /// after the tail included; with [`Events::include_self`], of the run itself too.
    ///
    /// Over the stream, the service adds new children as they start. When polling, each
    /// poll lists the children first (`list_runs` with `ancestor_run_id`: the service lists
    /// direct children only, at most 100), and reads the events of a child it sees for the
    /// first time from the tail's start, so those may come after events of a higher sequence.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// use oz_api_ext::EventsExt;
    ///
    /// # async fn example(client: oz_api::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut events = client.events_of_children("run-orchestrator").include_self(true).stream();
    /// while let Some(event) = events.try_next().await? {
    ///     println!("{} {}", event.run_id, event.event_type);
    /// }
    /// # Ok(()) }
    /// ```
    fn events_of_children(&self, run_id: impl Into<String>) -> Events;
}

impl EventsExt for Client {
    fn events<I, S>(&self, run_ids: I) -> Events
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Events::new(
            self,
            Scope::Runs(run_ids.into_iter().map(Into::into).collect()),
        )
    }

    fn events_of_children(&self, run_id: impl Into<String>) -> Events {
        Events::new(
            self,
            Scope::Children {
                run_id: run_id.into(),
                include_self: false,
            },
        )
    }
}

/// Which events a tail follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Those of these runs.
    Runs(Vec<String>),
    /// Those of the direct children of this run, and of the run itself with `include_self`.
    Children { run_id: String, include_self: bool },
}

/// How an event tail reads the events: Warp's real-time event stream, or polls of
/// `GET /agent/events`; see [`EventsExt`].
///
/// ```
/// use oz_api_ext::{EventsExt, Transport};
///
/// let client = oz_api_ext::oz_api::Config::new("wk-example").build()?;
/// // Polls only, as before the stream existed; nothing is sent until the stream is polled.
/// let events = client.events(["run-a"]).transport(Transport::Poll).stream();
/// assert_eq!(events.transport(), Transport::Poll);
/// // The default tries the stream first.
/// assert_eq!(client.events(["run-a"]).stream().transport(), Transport::Stream);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// The stream, unless the client remembers it was refused; polls when it is refused,
    /// unreachable or not an event stream (the default).
    #[default]
    Auto,
    /// The stream only: a refusal is an error of the tail ([`TailError::Api`] with the
    /// operation `stream_agent_events`), not a fallback.
    Stream,
    /// Polls only, as before the stream existed.
    Poll,
}

/// Settings of an event tail, from [`EventsExt::events`] or
/// [`EventsExt::events_of_children`]; [`stream`](Self::stream) starts it.
#[derive(Debug, Clone)]
#[must_use = "an event tail does nothing until `stream()` is polled"]
pub struct Events {
    client: Client,
    scope: Scope,
    since: i64,
    limit: Option<u32>,
    /// `include_self` set on a tail of given runs, said as its error.
    misplaced_include_self: bool,
    transport: Transport,
    recycle_after: Duration,
    poll: PollSettings,
}

impl Events {
    fn new(client: &Client, scope: Scope) -> Self {
        Self {
            client: client.clone(),
            scope,
            since: 0,
            limit: None,
            misplaced_include_self: false,
            transport: Transport::Auto,
            recycle_after: DEFAULT_RECYCLE_AFTER,
            poll: PollSettings::TAIL,
        }
    }

    with_options!("of the stream (its polls)");

    /// Yield only events whose sequence is above `sequence` (a resume point saved from
    /// [`EventStream::since`]).
    pub fn since(mut self, sequence: i64) -> Self {
        self.since = sequence;
        self
    }

    /// With [`EventsExt::events_of_children`]: the events of the run itself too (default
    /// `false`). On a tail of given runs it is an error, yielded by the stream.
    pub fn include_self(mut self, include_self: bool) -> Self {
        match &mut self.scope {
            Scope::Children {
                include_self: set, ..
            } => *set = include_self,
            Scope::Runs(_) => self.misplaced_include_self = include_self,
        }
        self
    }

    /// Events per poll when polling (the server's default is 100, its maximum 500).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Which transport to read with (default [`Transport::Auto`]: the stream, polls when it
    /// is refused).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// How long a healthy stream is read before it is closed and reopened from the last
    /// sequence yielded (default 14 minutes, as Warp's app does: the hosting platform cuts
    /// streams at about 20). At least one second.
    pub fn recycle_after(mut self, period: Duration) -> Self {
        self.recycle_after = period.max(Duration::from_secs(1));
        self
    }

    poll_setters!(tail "events");

    /// The stream of events. Nothing is sent until it is polled; an error (after the
    /// client's own retries, or a refused stream with [`Transport::Stream`]) is yielded and
    /// ends the stream.
    pub fn stream(self) -> EventStream {
        let poller = self.poll.double_while_idle(Clock::of(&self.client));
        let remembered = self
            .client
            .event_stream_memo()
            .is_refused(Clock::of(&self.client).now().into_std());
        let transport = match self.transport {
            Transport::Auto if remembered => Transport::Poll,
            transport => transport,
        };
        let invalid = match &self.scope {
            Scope::Runs(run_ids) if run_ids.is_empty() => {
                Some("events need at least one run id".to_owned())
            }
            Scope::Runs(run_ids) if run_ids.iter().any(|id| id.trim().is_empty()) => {
                Some("a run id of events(..) is empty".to_owned())
            }
            Scope::Runs(_) if self.misplaced_include_self => {
                Some("include_self applies to events_of_children(..), not to events(..)".to_owned())
            }
            Scope::Children { run_id, .. } if run_id.trim().is_empty() => {
                Some("events_of_children needs a run id".to_owned())
            }
            _ => None,
        };
        let source = EventSource::new(
            self.client,
            self.scope.clone(),
            transport,
            self.since,
            self.limit,
            self.recycle_after,
        );
        let in_use = source.in_use();
        let events = match invalid {
            Some(reason) => {
                let operation = match in_use {
                    Transport::Poll => "poll_agent_events",
                    _ => crate::realtime::STREAM_OPERATION,
                };
                let err = TailError::api(operation, oz_api::Error::InvalidRequest(reason));
                Box::pin(futures::stream::once(async move { Err(err) }))
            }
            None => crate::poll::stream(poller, source),
        };
        EventStream {
            scope: self.scope,
            since: self.since,
            transport: in_use,
            events,
        }
    }
}

/// The events of `scope` from the stream only, from sequence 0, for the wake-ups of a wait:
/// `None` when the client remembers that the stream was refused; the stream ends with an
/// error when it is refused (remembered by the client), and never polls.
pub(crate) fn wake_ups(client: &Client, scope: Scope) -> Option<EventStream> {
    let clock = Clock::of(client);
    if client
        .event_stream_memo()
        .is_refused(clock.now().into_std())
    {
        return None;
    }
    let source = EventSource::new(
        client.clone(),
        scope.clone(),
        Transport::Auto,
        0,
        None,
        DEFAULT_RECYCLE_AFTER,
    )
    .without_fallback();
    let poller = PollSettings::TAIL.double_while_idle(clock);
    Some(EventStream {
        scope,
        since: 0,
        transport: Transport::Stream,
        events: crate::poll::stream(poller, source),
    })
}

/// Stream of [`types::AgentRunEvent`]s, each once; see [`EventsExt`].
#[must_use = "streams do nothing unless polled"]
pub struct EventStream {
    scope: Scope,
    /// The highest sequence yielded.
    since: i64,
    transport: Transport,
    events: BoxStream<'static, Result<Step, TailError>>,
}

impl EventStream {
    /// The resume point: the highest sequence yielded (or the starting `since`). Pass it to
    /// [`Events::since`] to resume after it.
    pub fn since(&self) -> i64 {
        self.since
    }

    /// The transport in use: [`Transport::Stream`] while the tail reads (or tries) the
    /// stream, [`Transport::Poll`] once it polls (from the start when it was asked to, or
    /// when the client remembers a refusal).
    pub fn transport(&self) -> Transport {
        self.transport
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("EventStream");
        match &self.scope {
            Scope::Runs(run_ids) => debug.field("run_ids", run_ids),
            Scope::Children {
                run_id,
                include_self,
            } => debug
                .field("children_of", run_id)
                .field("include_self", include_self),
        };
        debug
            .field("since", &self.since)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Stream for EventStream {
    type Item = Result<types::AgentRunEvent, TailError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            return match this.events.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(Step::Switched(transport)))) => {
                    this.transport = transport;
                    continue;
                }
                Poll::Ready(Some(Ok(Step::Event(event)))) => {
                    this.since = this.since.max(event.sequence);
                    Poll::Ready(Some(Ok(event)))
                }
                Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// Polls `GET /agent/events` from the newest sequence accepted.
pub(crate) struct EventEndpoint {
    pub(crate) client: Client,
    pub(crate) run_ids: Vec<String>,
    pub(crate) limit: Option<u32>,
    /// Sequence of the newest event accepted: every event found is above it.
    pub(crate) since: i64,
}

impl TailEndpoint for EventEndpoint {
    const OPERATION: &'static str = "poll_agent_events";
    const SERVER_PAGE_SIZE: usize = 100;
    type Item = types::AgentRunEvent;

    fn limit(&self) -> Option<u32> {
        self.limit
    }

    fn request(&self) -> impl Future<Output = Result<Vec<Self::Item>, TailError>> + Send {
        let empty = self.run_ids.is_empty();
        let mut request = self
            .client
            .poll_agent_events()
            .run_ids(self.run_ids.clone())
            .since(self.since);
        if let Some(limit) = self.limit {
            request = request.limit(i64::from(limit));
        }
        async move {
            if empty {
                let err = "events need at least one run id".to_owned();
                return Err(TailError::api(
                    Self::OPERATION,
                    oz_api::Error::InvalidRequest(err),
                ));
            }
            request
                .send()
                .await
                .map(|page| page.into_inner())
                .map_err(|err| TailError::api(Self::OPERATION, err))
        }
    }

    fn accept(&mut self, mut page: Vec<Self::Item>, found: &mut VecDeque<Self::Item>) -> usize {
        page.sort_by_key(|event| event.sequence);
        let before = found.len();
        for event in page {
            if event.sequence > self.since {
                self.since = event.sequence;
                found.push_back(event);
            }
        }
        found.len() - before
    }
}
