//! The poll engine: one orchestrator under every workflow that polls.
//!
//! A poll is one round of requests made by an [`Acceptor`], which also decides what the round
//! means: the wait is done, it goes on (and whether the round brought news), or it failed. The
//! [`Poller`] owns the timing: the [delay policy](delay) between two polls, the deadline
//! (`max_wait`, with [`LAST_POLL_GRACE`] for the poll sent at it), and the [`Clock`] it reads
//! and sleeps on. [`stream()`](fn@stream) drives the two: poll, hand out what the poll found, pause, poll
//! again, until the acceptor is done, fails or the deadline passes.
//!
//! Every waiter runs on it ([`crate::RunWaitExt`]: `wait_for_run`, `watch_run`,
//! `run_and_wait`, `followup_and_wait`), the set wait ([`crate::WaitForRunsExt`]) and both
//! tails ([`crate::EventsExt`], [`crate::MessagesExt`], through [`crate::tail::Tail`]).
//! Nothing here retries a request: the client's request hook does.
//!
//! A new poller is one more [`Acceptor`] (and, if its pauses mean something new, one more
//! policy in [`delay`]). The event stream's reconnects are one ([`crate::realtime`]): each
//! poll hands out what the next messages of the open connection brought, or (re)opens it after
//! its reconnect pause, answering [`Verdict::KeepPolling`] to be polled again at once and
//! [`Stop::Failed`] when it gives up.

mod clock;
pub(crate) mod delay;

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use tokio::time::Instant;

pub(crate) use clock::Clock;
pub(crate) use delay::{Activity, DelayPolicy, DoubleWhileIdle, GrowWithWait};

/// Shortest pause between two polls of a wait by default.
pub const DEFAULT_MIN_DELAY: Duration = Duration::from_secs(2);
/// Longest pause between two polls of a wait by default.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
/// How long a wait polls by default before giving up.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(30 * 60);
/// Pause of a tail (events, inbox) after a poll that brought news, by default.
pub const DEFAULT_TAIL_MIN_DELAY: Duration = Duration::from_secs(1);
/// Longest pause of a tail while nothing happens, by default.
pub const DEFAULT_TAIL_MAX_DELAY: Duration = Duration::from_secs(30);

/// How long the poll sent at the deadline may take to be answered: a wait ends at most this
/// long after `max_wait`.
pub(crate) const LAST_POLL_GRACE: Duration = Duration::from_secs(1);

/// The settings every polling builder shares (`min_delay`, `max_delay` and, for a wait with
/// an end, `max_wait`); [`poll_setters!`] gives a builder their setters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PollSettings {
    pub(crate) min_delay: Duration,
    pub(crate) max_delay: Duration,
    /// `None`: no deadline (a tail).
    pub(crate) max_wait: Option<Duration>,
}

impl PollSettings {
    /// The defaults of a wait for runs.
    pub(crate) const WAIT: Self = Self {
        min_delay: DEFAULT_MIN_DELAY,
        max_delay: DEFAULT_MAX_DELAY,
        max_wait: Some(DEFAULT_MAX_WAIT),
    };

    /// The defaults of a tail.
    pub(crate) const TAIL: Self = Self {
        min_delay: DEFAULT_TAIL_MIN_DELAY,
        max_delay: DEFAULT_TAIL_MAX_DELAY,
        max_wait: None,
    };

    /// A poller for a wait whose pause grows by `share` of the time waited.
    pub(crate) fn grow_with_wait(&self, share: f64, clock: Clock) -> Poller {
        let policy = GrowWithWait {
            min_delay: self.min_delay,
            max_delay: self.max_delay,
            share,
        };
        Poller::new(Box::new(policy), self.max_wait, clock)
    }

    /// A poller for a tail.
    pub(crate) fn double_while_idle(&self, clock: Clock) -> Poller {
        let policy = DoubleWhileIdle::new(self.min_delay, self.max_delay);
        Poller::new(Box::new(policy), self.max_wait, clock)
    }
}

/// The setters of [`PollSettings`] on a builder with a field `poll: PollSettings`: `wait` for
/// a wait with an end (`min_delay`, `max_delay`, `max_wait`), `tail "what"` for a tail
/// (`min_delay`, `max_delay`). The same names and documentation on every builder.
macro_rules! poll_setters {
    (wait) => {
        /// Gives up after this long (default 30 minutes), counted from the start of the first
        /// poll (a request sent before it, `create_run` or the follow-up, does not count). The
        /// last poll is sent at the deadline and has one more second to be answered; any other
        /// request still unanswered at the deadline is abandoned there. The wait then ends with
        /// [`WaitError::ExceededMaxWait`](crate::WaitError::ExceededMaxWait).
        pub fn max_wait(mut self, max_wait: std::time::Duration) -> Self {
            self.poll.max_wait = Some(max_wait);
            self
        }

        /// Shortest pause between two polls (default 2 s, at least 100 ms).
        pub fn min_delay(mut self, min_delay: std::time::Duration) -> Self {
            self.poll.min_delay = min_delay;
            self
        }

        /// Longest pause between two polls (default 30 s). A value below `min_delay` means
        /// `min_delay`.
        pub fn max_delay(mut self, max_delay: std::time::Duration) -> Self {
            self.poll.max_delay = max_delay;
            self
        }
    };
    (tail $what:literal) => {
        #[doc = concat!(
            "Pause after a poll that brought new ", $what, " (default 1 s, at least 1 ms). ",
            "After a poll that brought nothing the pause doubles, starting from this one, up to ",
            "`max_delay`."
        )]
        pub fn min_delay(mut self, min_delay: std::time::Duration) -> Self {
            self.poll.min_delay = min_delay;
            self
        }

        /// Longest pause between two polls while nothing happens (default 30 s). A value below
        /// `min_delay` means `min_delay`.
        pub fn max_delay(mut self, max_delay: std::time::Duration) -> Self {
            self.poll.max_delay = max_delay;
            self
        }
    };
}
pub(crate) use poll_setters;

/// The facts of a wait that reached its deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expired {
    pub(crate) max_wait: Duration,
    /// From the start of the first poll to now.
    pub(crate) elapsed: Duration,
    /// Polls sent, one abandoned at the deadline included.
    pub(crate) polls: u32,
}

/// Why a poll ended the wait without a verdict.
pub(crate) enum Stop<E> {
    /// A request failed: the acceptor's error.
    Failed(E),
    /// The deadline came first.
    Expired(Expired),
}

impl<E> From<Expired> for Stop<E> {
    fn from(expired: Expired) -> Self {
        Self::Expired(expired)
    }
}

/// What an acceptor made of a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The wait is over: what the poll found is the last of it.
    Done,
    /// Poll again, after the pause the delay policy chooses for what this poll brought.
    KeepPolling(Activity),
}

/// One poll's requests and what they mean: the endpoint-specific half of every poller.
pub(crate) trait Acceptor: Send + 'static {
    /// What the wait hands out.
    type Item: Send + 'static;
    /// How it fails.
    type Error: Send + 'static;

    /// Sends one poll's requests (each through [`Poller::bounded`], after
    /// [`Poller::begin_poll`]), puts what it found into `found` in order (an error about a
    /// single item too) and decides.
    fn poll<'a>(
        &'a mut self,
        poller: &'a mut Poller,
        found: &'a mut VecDeque<Result<Self::Item, Self::Error>>,
    ) -> impl Future<Output = Result<Verdict, Stop<Self::Error>>> + Send + 'a;

    /// The error that ends the wait at its deadline.
    fn expired(&mut self, expired: Expired) -> Self::Error;

    /// Waits until `at`, when the next poll is due. An acceptor that can learn earlier that
    /// something changed (the inbox, from the real-time stream) ends the pause then.
    fn pause<'a>(
        &'a mut self,
        poller: &'a Poller,
        at: Instant,
    ) -> impl Future<Output = ()> + Send + 'a {
        poller.clock.sleep_until(at)
    }
}

/// The timing of a wait: when the next poll is due, when a request is abandoned.
pub(crate) struct Poller {
    delay: Box<dyn DelayPolicy>,
    max_wait: Option<Duration>,
    clock: Clock,
    /// Set by the first poll.
    started: Option<Instant>,
    polls: u32,
    /// The poll aligned to the deadline was scheduled: none follows it.
    final_poll: bool,
}

impl Poller {
    pub(crate) fn new(
        delay: Box<dyn DelayPolicy>,
        max_wait: Option<Duration>,
        clock: Clock,
    ) -> Self {
        Self {
            delay,
            max_wait,
            clock,
            started: None,
            polls: 0,
            final_poll: false,
        }
    }

    /// Counts a poll; the first one starts the wait's clock.
    pub(crate) fn begin_poll(&mut self) {
        let now = self.clock.now();
        self.started.get_or_insert(now);
        self.polls += 1;
    }

    /// A sleep on the wait's clock that ends at `at`.
    pub(crate) fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> + Send + 'static {
        self.clock.sleep_until(at)
    }

    /// Polls counted so far.
    pub(crate) fn polls(&self) -> u32 {
        self.polls
    }

    /// When the wait ends: `max_wait` after the first poll.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.started?.checked_add(self.max_wait?)
    }

    /// The facts of the wait, as of now.
    pub(crate) fn expired(&self) -> Expired {
        let now = self.clock.now();
        Expired {
            max_wait: self.max_wait.unwrap_or(Duration::MAX),
            elapsed: now - self.started.unwrap_or(now),
            polls: self.polls,
        }
    }

    /// When a request is abandoned: at the deadline, or [`LAST_POLL_GRACE`] after it for the
    /// poll sent at the deadline (or later: a `max_wait` of zero still polls once). `None`: no
    /// deadline, or no poll began yet.
    fn request_deadline(&self) -> Option<Instant> {
        let deadline = self.deadline()?;
        if self.final_poll || deadline <= self.clock.now() {
            deadline.checked_add(LAST_POLL_GRACE)
        } else {
            Some(deadline)
        }
    }

    /// Runs a request of the wait, abandoned at the deadline: a slow answer or the client's
    /// own retries never carry a wait past `max_wait`.
    pub(crate) async fn bounded<T>(&self, request: impl Future<Output = T>) -> Result<T, Expired> {
        let Some(deadline) = self.request_deadline() else {
            return Ok(request.await);
        };
        // A deadline, not a pause: Tokio's timer, like the client's own request timeout, so a
        // sleep that returns at once (a test's recording one) does not cut requests short.
        match tokio::time::timeout_at(deadline, request).await {
            Ok(answer) => Ok(answer),
            Err(_) => {
                tracing::debug!(target: "oz_api_ext", polls = self.polls, "request abandoned at the deadline");
                Err(self.expired())
            }
        }
    }

    /// When the next poll is due after one that brought `activity`: after the delay policy's
    /// pause, or at the deadline when the pause would pass it; [`Expired`] once the deadline
    /// was reached (or the poll at the deadline was made).
    fn schedule(&mut self, activity: Activity) -> Result<Next, Expired> {
        let now = self.clock.now();
        let started = *self.started.get_or_insert(now);
        let deadline = self.deadline();
        if self.final_poll || deadline.is_some_and(|deadline| now >= deadline) {
            return Err(self.expired());
        }
        let delay = self.delay.delay(now - started, activity);
        if activity == Activity::More {
            return Ok(Next::Now);
        }
        let at = match (deadline, now.checked_add(delay)) {
            (Some(deadline), Some(at)) if at < deadline => at,
            (Some(deadline), _) => {
                self.final_poll = true;
                deadline
            }
            (None, Some(at)) => at,
            // A pause too long for the clock: a year stands for it.
            (None, None) => now + Duration::from_secs(86_400 * 365),
        };
        Ok(Next::At(at))
    }
}

/// When the engine polls next.
enum Next {
    Now,
    At(Instant),
    End,
}

/// What [`stream()`](fn@stream) drives.
struct Running<A: Acceptor> {
    poller: Poller,
    acceptor: A,
    found: VecDeque<Result<A::Item, A::Error>>,
    next: Next,
}

/// The wait as a stream: everything the acceptor finds, in order; after an error that ends
/// the wait (a failed request, the deadline) the stream ends. Nothing is sent until it is
/// polled. The next poll is scheduled as soon as a poll ends, and sent once what it found has
/// been taken.
pub(crate) fn stream<A: Acceptor>(
    poller: Poller,
    acceptor: A,
) -> BoxStream<'static, Result<A::Item, A::Error>> {
    let running = Running {
        poller,
        acceptor,
        found: VecDeque::new(),
        next: Next::Now,
    };
    stream::unfold(running, |mut run| async move {
        loop {
            if let Some(item) = run.found.pop_front() {
                return Some((item, run));
            }
            match run.next {
                Next::End => return None,
                Next::At(at) => run.acceptor.pause(&run.poller, at).await,
                Next::Now => {}
            }
            let verdict = run.acceptor.poll(&mut run.poller, &mut run.found).await;
            let stop = match verdict {
                Ok(Verdict::Done) => {
                    run.next = Next::End;
                    continue;
                }
                Ok(Verdict::KeepPolling(activity)) => match run.poller.schedule(activity) {
                    Ok(next) => {
                        run.next = next;
                        continue;
                    }
                    Err(expired) => Stop::Expired(expired),
                },
                Err(stop) => stop,
            };
            let err = match stop {
                Stop::Failed(err) => err,
                Stop::Expired(expired) => run.acceptor.expired(expired),
            };
            run.found.push_back(Err(err));
            run.next = Next::End;
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    /// Answers each poll from a script of pages, noting when it was asked; a full page has
    /// `full_at` items.
    struct Script {
        pages: VecDeque<Vec<u32>>,
        full_at: usize,
        polled_at: std::sync::Arc<std::sync::Mutex<Vec<Instant>>>,
    }

    impl Acceptor for Script {
        type Item = u32;
        type Error = String;

        async fn poll(
            &mut self,
            poller: &mut Poller,
            found: &mut VecDeque<Result<u32, String>>,
        ) -> Result<Verdict, Stop<String>> {
            poller.begin_poll();
            self.polled_at.lock().unwrap().push(Instant::now());
            let page = self.pages.pop_front().unwrap_or_default();
            let activity = match page.len() {
                0 => Activity::Idle,
                n if n >= self.full_at => Activity::More,
                _ => Activity::News,
            };
            found.extend(page.into_iter().map(Ok));
            Ok(Verdict::KeepPolling(activity))
        }

        fn expired(&mut self, expired: Expired) -> String {
            format!("expired after {} polls", expired.polls)
        }
    }

    /// The first `n` items of a tail over `pages`, and the offsets of the polls from the
    /// first one, in seconds.
    async fn tail(
        pages: &[&[u32]],
        full_at: usize,
        poller: Poller,
        n: usize,
    ) -> (Vec<u32>, Vec<f64>) {
        let polled_at = std::sync::Arc::default();
        let script = Script {
            pages: pages.iter().map(|p| p.to_vec()).collect(),
            full_at,
            polled_at: std::sync::Arc::clone(&polled_at),
        };
        let items: Vec<u32> = stream(poller, script).take(n).try_collect().await.unwrap();
        let polled_at = polled_at.lock().unwrap();
        let offsets = polled_at
            .iter()
            .map(|t| (*t - polled_at[0]).as_secs_f64())
            .collect();
        (items, offsets)
    }

    fn tail_poller(min: u64, max: u64) -> Poller {
        PollSettings {
            min_delay: Duration::from_secs(min),
            max_delay: Duration::from_secs(max),
            max_wait: None,
        }
        .double_while_idle(Clock::default())
    }

    #[tokio::test(start_paused = true)]
    async fn idle_pauses_double_up_to_the_bound_and_news_resets_them() {
        let pages: &[&[u32]] = &[&[1], &[], &[], &[], &[], &[], &[], &[2], &[], &[3]];
        let (items, offsets) = tail(pages, 100, tail_poller(1, 8), 3).await;

        assert_eq!(items, [1, 2, 3]);
        // After news: 1 s. Idle: 1, 2, 4, 8, 8, 8 s. News again: 1 s, then idle from 1 s.
        assert_eq!(
            offsets,
            [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 24.0, 32.0, 33.0, 34.0]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_page_is_followed_by_an_immediate_poll() {
        let (items, offsets) = tail(&[&[1, 2], &[3, 4], &[5]], 2, tail_poller(1, 30), 5).await;

        assert_eq!(items, [1, 2, 3, 4, 5]);
        assert_eq!(offsets, [0.0, 0.0, 0.0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_polls_once_more_at_its_deadline_then_ends() {
        let settings = PollSettings {
            min_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(2),
            max_wait: Some(Duration::from_secs(5)),
        };
        let poller = settings.grow_with_wait(GrowWithWait::ONE_RUN, Clock::default());
        let polled_at = std::sync::Arc::default();
        let script = Script {
            pages: VecDeque::new(),
            full_at: 100,
            polled_at: std::sync::Arc::clone(&polled_at),
        };
        let start = Instant::now();
        let items: Vec<_> = stream(poller, script).collect().await;

        assert_eq!(items, [Err("expired after 4 polls".to_owned())]);
        let offsets: Vec<f64> = polled_at
            .lock()
            .unwrap()
            .iter()
            .map(|t| (*t - start).as_secs_f64().round())
            .collect();
        // Every 2 s (no jitter below the floor), then exactly at the deadline.
        assert_eq!(offsets, [0.0, 2.0, 4.0, 5.0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_still_in_flight_at_the_deadline_is_abandoned() {
        let settings = PollSettings {
            max_wait: Some(Duration::from_secs(10)),
            ..PollSettings::WAIT
        };
        let mut poller = settings.grow_with_wait(GrowWithWait::ONE_RUN, Clock::default());
        poller.begin_poll();
        let start = Instant::now();
        let slow = tokio::time::sleep(Duration::from_secs(60));
        let expired = poller.bounded(slow).await.unwrap_err();
        assert_eq!(Instant::now() - start, Duration::from_secs(10));
        assert_eq!(expired.polls, 1);
        assert_eq!(expired.elapsed, Duration::from_secs(10));
    }
}
