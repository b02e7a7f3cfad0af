//! A tail of run events over `GET /agent/events`.
//!
//! The endpoint returns the events of some runs whose `sequence` is above a cursor. An
//! [`EventStream`] polls it, yields every event once in sequence order (events at or below
//! the cursor are skipped, also when the server repeats them), moves the cursor to each event
//! it yields, and waits between polls: `min_delay` after a poll that brought news, doubling up
//! to `max_delay` while nothing happens (the same setting names as the run waiter's). Saving
//! [`EventStream::cursor`] and passing it to [`Events::since`] later resumes where the
//! stream stopped.
//!
//! A tail has no `max_wait`: it has no end state to wait for and goes on until it is dropped
//! (bound it with `tokio::time::timeout` or `StreamExt::take_until`). A failed poll is not
//! retried here: the client's request hook already repeated it if it was transient; the error
//! is yielded and ends the stream.
//!
//! The stream owns a clone of the client: it can be moved into `tokio::spawn` and outlive the
//! client it came from.
//!
//! The polling machinery here also drives the inbox stream of [`crate::messages`].

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, Stream};
use oz_api::{Client, types};
use tokio::time::Sleep;

/// Default shortest wait between two polls of a tail (events and inbox).
pub const DEFAULT_MIN_DELAY: Duration = Duration::from_secs(1);
/// Default longest wait between two polls of a tail while nothing happens.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
/// The shortest wait a tail makes, whatever `min_delay` says.
const MIN_DELAY_FLOOR: Duration = Duration::from_millis(1);
/// Page size the server uses for `GET /agent/events` when none is given.
const SERVER_DEFAULT_EVENTS_LIMIT: usize = 100;

/// Event tails on [`oz_api::Client`].
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
///     let resume_from = events.cursor(); // persist this to resume after a restart
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
            delays: TailDelays::default(),
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
    delays: TailDelays,
}

impl Events {
    /// Yield only events whose sequence is above `sequence` (a cursor saved from
    /// [`EventStream::cursor`]).
    pub fn since(mut self, sequence: i64) -> Self {
        self.since = sequence;
        self
    }

    /// Events per poll (the server's default is 100, its maximum 500).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    tail_delay_setters!("events");

    /// The stream of events. Nothing is sent until it is polled; an error of a poll (after
    /// the client's own retries) is yielded and ends the stream.
    pub fn stream(self) -> EventStream {
        EventStream {
            source: EventSource {
                client: self.client,
                run_ids: self.run_ids,
                limit: self.limit,
                cursor: self.since,
            },
            tail: Tail::new(self.delays.start()),
        }
    }
}

/// Stream of [`types::AgentRunEvent`]s in sequence order, each once; see the
/// [module documentation](self).
pub struct EventStream {
    source: EventSource,
    tail: Tail<types::AgentRunEvent>,
}

impl EventStream {
    /// Sequence of the last event yielded (or the starting `since`): pass it to
    /// [`Events::since`] to resume after it.
    pub fn cursor(&self) -> i64 {
        self.source.cursor
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("run_ids", &self.source.run_ids)
            .field("cursor", &self.source.cursor)
            .field("buffered", &self.tail.buffer.len())
            .finish()
    }
}

impl Stream for EventStream {
    type Item = Result<types::AgentRunEvent, oz_api::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = this.tail.poll_next(cx, &mut this.source);
        if let Poll::Ready(Some(Ok(event))) = &item {
            this.source.cursor = event.sequence;
        }
        item
    }
}

struct EventSource {
    client: Client,
    run_ids: Vec<String>,
    limit: Option<u32>,
    /// Sequence of the last event yielded; every event in the buffer is above it.
    cursor: i64,
}

impl PollSource for EventSource {
    type Item = types::AgentRunEvent;

    fn request(&mut self) -> BoxFuture<'static, Result<Vec<Self::Item>, oz_api::Error>> {
        if self.run_ids.is_empty() {
            let err = oz_api::Error::InvalidRequest("events need at least one run id".to_owned());
            return futures::future::ready(Err(err)).boxed();
        }
        let client = self.client.clone();
        let run_ids = self.run_ids.clone();
        let since = self.cursor;
        let limit = self.limit;
        async move {
            let mut request = client.poll_agent_events().run_ids(run_ids).since(since);
            if let Some(limit) = limit {
                request = request.limit(i64::from(limit));
            }
            request.send().await.map(|page| page.into_inner())
        }
        .boxed()
    }

    fn accept(&mut self, mut page: Vec<Self::Item>, out: &mut VecDeque<Self::Item>) -> bool {
        let full = page.len()
            >= self
                .limit
                .map_or(SERVER_DEFAULT_EVENTS_LIMIT, |l| l as usize);
        page.sort_by_key(|event| event.sequence);
        let mut last = self.cursor;
        for event in page {
            if event.sequence > last {
                last = event.sequence;
                out.push_back(event);
            }
        }
        full
    }
}

/// The delay settings of a tail builder, as given.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TailDelays {
    pub(crate) min_delay: Duration,
    pub(crate) max_delay: Duration,
}

impl Default for TailDelays {
    fn default() -> Self {
        Self {
            min_delay: DEFAULT_MIN_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
        }
    }
}

impl TailDelays {
    /// The waits of a tail that starts now.
    pub(crate) fn start(self) -> PollDelays {
        PollDelays::new(self.min_delay, self.max_delay)
    }
}

/// The `min_delay` and `max_delay` setters of a tail builder (a field `delays: TailDelays`);
/// the same names and meaning as the run waiter's.
macro_rules! tail_delay_setters {
    ($what:literal) => {
        #[doc = concat!(
            "Wait after a poll that brought new ", $what, " (default 1 s, at least 1 ms). ",
            "After a poll that brought nothing the wait doubles, starting from this one, up to ",
            "`max_delay`."
        )]
        pub fn min_delay(mut self, min_delay: std::time::Duration) -> Self {
            self.delays.min_delay = min_delay;
            self
        }

        /// Longest wait between two polls while nothing happens (default 30 s). A value below
        /// `min_delay` means `min_delay`.
        pub fn max_delay(mut self, max_delay: std::time::Duration) -> Self {
            self.delays.max_delay = max_delay;
            self
        }
    };
}
pub(crate) use tail_delay_setters;

/// The waits between polls of a running tail.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PollDelays {
    min: Duration,
    max: Duration,
    next_idle: Duration,
}

impl Default for PollDelays {
    fn default() -> Self {
        TailDelays::default().start()
    }
}

impl PollDelays {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(MIN_DELAY_FLOOR);
        let max = max.max(min);
        Self {
            min,
            max,
            next_idle: min,
        }
    }

    /// Wait after a poll that brought something new; the idle waits start over.
    fn after_news(&mut self) -> Duration {
        self.next_idle = self.min;
        self.min
    }

    /// Wait after a poll that brought nothing new; the next one is twice as long.
    fn after_nothing(&mut self) -> Duration {
        let delay = self.next_idle;
        self.next_idle = (self.next_idle * 2).min(self.max);
        delay
    }
}

/// The part of a tail that knows its endpoint.
pub(crate) trait PollSource {
    type Item;

    /// The next poll, from the current cursor.
    fn request(&mut self) -> BoxFuture<'static, Result<Vec<Self::Item>, oz_api::Error>>;

    /// Moves the items of `page` not seen before into `out`, in order; returns whether the page
    /// was full (more may be waiting, poll again at once).
    fn accept(&mut self, page: Vec<Self::Item>, out: &mut VecDeque<Self::Item>) -> bool;
}

enum TailState<T> {
    Start,
    Waiting(Pin<Box<Sleep>>),
    Polling(BoxFuture<'static, Result<Vec<T>, oz_api::Error>>),
    Done,
}

/// Poll, buffer, wait, poll again: the endpoint-independent half of a tail.
pub(crate) struct Tail<T> {
    buffer: VecDeque<T>,
    delays: PollDelays,
    state: TailState<T>,
}

impl<T> Tail<T> {
    pub(crate) fn new(delays: PollDelays) -> Self {
        Self {
            buffer: VecDeque::new(),
            delays,
            state: TailState::Start,
        }
    }

    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next item: buffered ones first, then after the wait the next poll's.
    pub(crate) fn poll_next<S>(
        &mut self,
        cx: &mut Context<'_>,
        source: &mut S,
    ) -> Poll<Option<Result<T, oz_api::Error>>>
    where
        S: PollSource<Item = T>,
    {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Poll::Ready(Some(Ok(item)));
            }
            match &mut self.state {
                TailState::Done => return Poll::Ready(None),
                TailState::Start => self.state = TailState::Polling(source.request()),
                TailState::Waiting(sleep) => {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.state = TailState::Polling(source.request());
                }
                TailState::Polling(poll) => match poll.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(err)) => {
                        self.state = TailState::Done;
                        return Poll::Ready(Some(Err(err)));
                    }
                    Poll::Ready(Ok(page)) => {
                        let full = source.accept(page, &mut self.buffer);
                        self.state = if self.buffer.is_empty() {
                            let delay = self.delays.after_nothing();
                            TailState::Waiting(Box::pin(tokio::time::sleep(delay)))
                        } else if full {
                            self.delays.after_news();
                            TailState::Start
                        } else {
                            let delay = self.delays.after_news();
                            TailState::Waiting(Box::pin(tokio::time::sleep(delay)))
                        };
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use tokio::time::Instant;

    /// A source answering each poll from a script, noting when it was asked.
    struct Script {
        pages: VecDeque<Vec<u32>>,
        full_at: usize,
        polled_at: Vec<Instant>,
    }

    impl Script {
        fn new(pages: &[&[u32]], full_at: usize) -> Self {
            Self {
                pages: pages.iter().map(|p| p.to_vec()).collect(),
                full_at,
                polled_at: Vec::new(),
            }
        }

        /// Offsets of the polls from the first one, in seconds.
        fn offsets(&self) -> Vec<f64> {
            let start = self.polled_at[0];
            self.polled_at
                .iter()
                .map(|t| (*t - start).as_secs_f64())
                .collect()
        }
    }

    impl PollSource for Script {
        type Item = u32;

        fn request(&mut self) -> BoxFuture<'static, Result<Vec<u32>, oz_api::Error>> {
            self.polled_at.push(Instant::now());
            let page = self.pages.pop_front().unwrap_or_default();
            futures::future::ready(Ok(page)).boxed()
        }

        fn accept(&mut self, page: Vec<u32>, out: &mut VecDeque<u32>) -> bool {
            let full = page.len() >= self.full_at;
            out.extend(page);
            full
        }
    }

    /// The first `n` items of a tail over `script`.
    async fn take(script: &mut Script, delays: PollDelays, n: usize) -> Vec<u32> {
        let mut tail = Tail::new(delays);
        futures::stream::poll_fn(|cx| tail.poll_next(cx, script))
            .take(n)
            .map(|item| item.expect("scripted pages never fail"))
            .collect()
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn idle_waits_double_up_to_the_bound_and_news_resets_them() {
        let mut script = Script::new(&[&[1], &[], &[], &[], &[], &[], &[], &[2], &[], &[3]], 100);
        let delays = PollDelays::new(Duration::from_secs(1), Duration::from_secs(8));

        let items = take(&mut script, delays, 3).await;

        assert_eq!(items, [1, 2, 3]);
        // After news: 1 s. Idle: 1, 2, 4, 8, 8, 8 s. News again: 1 s, then idle from 1 s.
        assert_eq!(
            script.offsets(),
            [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 24.0, 32.0, 33.0, 34.0]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_page_is_followed_by_an_immediate_poll() {
        let mut script = Script::new(&[&[1, 2], &[3, 4], &[5]], 2);
        let delays = PollDelays::default();

        let items = take(&mut script, delays, 5).await;

        assert_eq!(items, [1, 2, 3, 4, 5]);
        assert_eq!(script.offsets(), [0.0, 0.0, 0.0]);
    }

    #[test]
    fn delays_are_kept_sane() {
        let mut delays = PollDelays::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(delays.after_nothing(), Duration::from_millis(1));
        assert_eq!(delays.after_nothing(), Duration::from_millis(1));
        let mut delays = PollDelays::new(Duration::from_secs(5), Duration::from_secs(2));
        assert_eq!(delays.after_nothing(), Duration::from_secs(5));
        assert_eq!(delays.after_nothing(), Duration::from_secs(5));
    }
}
