//! A tail of run events over `GET /agent/events`, on the poll engine.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::BoxStream;
use oz_api::{Client, types};

use crate::poll::{Clock, PollSettings, poll_setters};
use crate::tail::{Tail, TailEndpoint, TailError};

/// Event tails on [`oz_api::Client`].
///
/// `GET /agent/events` returns the events of some runs whose `sequence` is above `since`. An
/// [`EventStream`] polls it, yields every event once in sequence order (events at or below
/// the resume point are skipped, also when the server repeats them), moves its resume point
/// ([`EventStream::since`]) to each event it yields, and pauses between polls: `min_delay`
/// after a poll that brought news, doubling up to `max_delay` while nothing happens, no pause
/// after a full page. Saving [`EventStream::since`] and passing it to [`Events::since`] later
/// resumes where the stream stopped.
///
/// A tail has no `max_wait`: it has no end state to wait for and goes on until it is dropped
/// (bound it with `tokio::time::timeout` or `StreamExt::take_until`). A failed poll is not
/// retried here: the client's request hook already repeated it if it was transient; the error
/// ([`TailError`]) is yielded and ends the stream.
///
/// The stream owns a clone of the client: it can be moved into `tokio::spawn` and outlive the
/// client it came from.
///
/// ```no_run
/// use futures::StreamExt;
/// use oz_api_ext::EventsExt;
///
/// # async fn example(client: oz_api::Client, saved: i64) -> Result<(), Box<dyn std::error::Error>> {
/// let mut events = client.events(["run-a", "run-b"]).since(saved).stream();
/// while let Some(event) = events.next().await {
///     let event = event?;
///     println!("{} {} {}", event.sequence, event.run_id, event.event_type);
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
}

impl EventsExt for Client {
    fn events<I, S>(&self, run_ids: I) -> Events
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Events {
            client: self.clone(),
            run_ids: run_ids.into_iter().map(Into::into).collect(),
            since: 0,
            limit: None,
            poll: PollSettings::TAIL,
        }
    }
}

/// Settings of an event tail, from [`EventsExt::events`]; [`stream`](Self::stream) starts it.
#[derive(Debug, Clone)]
#[must_use = "an event tail does nothing until `stream()` is polled"]
pub struct Events {
    client: Client,
    run_ids: Vec<String>,
    since: i64,
    limit: Option<u32>,
    poll: PollSettings,
}

impl Events {
    with_options!("of the stream (its polls)");

    /// Yield only events whose sequence is above `sequence` (a resume point saved from
    /// [`EventStream::since`]).
    pub fn since(mut self, sequence: i64) -> Self {
        self.since = sequence;
        self
    }

    /// Events per poll (the server's default is 100, its maximum 500).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    poll_setters!(tail "events");

    /// The stream of events. Nothing is sent until it is polled; an error of a poll (after
    /// the client's own retries) is yielded and ends the stream.
    pub fn stream(self) -> EventStream {
        let poller = self.poll.double_while_idle(Clock::of(&self.client));
        let acceptor = Tail(EventEndpoint {
            client: self.client,
            run_ids: self.run_ids.clone(),
            limit: self.limit,
            since: self.since,
        });
        EventStream {
            run_ids: self.run_ids,
            since: self.since,
            events: crate::poll::stream(poller, acceptor),
        }
    }
}

/// Stream of [`types::AgentRunEvent`]s in sequence order, each once; see [`EventsExt`].
#[must_use = "streams do nothing unless polled"]
pub struct EventStream {
    run_ids: Vec<String>,
    /// Sequence of the last event yielded.
    since: i64,
    events: BoxStream<'static, Result<types::AgentRunEvent, TailError>>,
}

impl EventStream {
    /// The resume point: sequence of the last event yielded (or the starting `since`). Pass it
    /// to [`Events::since`] to resume after it.
    pub fn since(&self) -> i64 {
        self.since
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("run_ids", &self.run_ids)
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

impl Stream for EventStream {
    type Item = Result<types::AgentRunEvent, TailError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = this.events.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(event))) = &item {
            this.since = event.sequence;
        }
        item
    }
}

/// Polls `GET /agent/events` from the newest sequence accepted.
struct EventEndpoint {
    client: Client,
    run_ids: Vec<String>,
    limit: Option<u32>,
    /// Sequence of the newest event accepted: every event found is above it.
    since: i64,
}

impl TailEndpoint for EventEndpoint {
    const OPERATION: &'static str = "poll_agent_events";
    const SERVER_PAGE_SIZE: usize = 100;
    type Item = types::AgentRunEvent;

    fn limit(&self) -> Option<u32> {
        self.limit
    }

    fn request(&self) -> impl Future<Output = Result<Vec<Self::Item>, oz_api::Error>> + Send {
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
                return Err(oz_api::Error::InvalidRequest(err));
            }
            request.send().await.map(|page| page.into_inner())
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
