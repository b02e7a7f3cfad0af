//! Waits that wake up: between two polls, a wait follows its runs' events on the real-time
//! stream, and polls at once when one of them reports an end (`run_succeeded`, `run_failed`,
//! `run_errored`, `run_cancelled`, `run_blocked`, the legacy `run_idle`), the poll confirming
//! it; otherwise it polls only every [`SAFETY_POLL_FACTOR`] times its `max_delay` (two
//! minutes by default), in case the stream missed something.
//!
//! Without the stream (the client remembers a refusal, or the stream is refused, unreachable
//! or not an event stream when the wait first pauses) the wait polls exactly as it always did:
//! the wake-ups never poll `GET /agent/events` themselves.

use std::time::Duration;

use std::collections::VecDeque;
use std::future::Future;

use futures::future::Either;
use futures::{FutureExt, StreamExt};
use oz_api::Client;
use oz_api::types::{AgentRunEvent, AgentRunEventType};
use tokio::time::Instant;

use crate::EventStream;
use crate::events::{Scope, wake_ups};
use crate::poll::{Acceptor, Clock, Expired, PollSettings, Poller, Stop, Verdict};

/// How long a wait that follows the stream goes without polling, at most, in multiples of its
/// `max_delay` (30 s by default, so two minutes): a safety net for an event the stream did not
/// deliver, which a wait that asked for short pauses gets sooner.
pub(crate) const SAFETY_POLL_FACTOR: u32 = 4;

/// The safety poll's interval for a poller with these settings.
pub(crate) fn safety_poll(settings: &PollSettings) -> Duration {
    settings
        .max_delay
        .max(settings.min_delay)
        .saturating_mul(SAFETY_POLL_FACTOR)
}

/// Whether an event of this type reports that its run ended, for now: `run_succeeded`,
/// `run_failed`, `run_errored`, `run_cancelled`, `run_blocked` and the legacy `run_idle` (the
/// events of [`is_terminal`](crate::is_terminal)'s states). The waits use it to know when to
/// read a run; a tail of events uses it to stop following one.
///
/// ```
/// use oz_api_ext::oz_api::types::AgentRunEventType;
/// use oz_api_ext::reports_an_end;
///
/// assert!(reports_an_end(&AgentRunEventType::RunSucceeded));
/// assert!(reports_an_end(&AgentRunEventType::RunBlocked));
/// assert!(!reports_an_end(&AgentRunEventType::RunInProgress));
/// assert!(!reports_an_end(&AgentRunEventType::NewMessage));
/// ```
pub fn reports_an_end(event_type: &AgentRunEventType) -> bool {
    matches!(
        event_type,
        AgentRunEventType::RunSucceeded
            | AgentRunEventType::RunFailed
            | AgentRunEventType::RunErrored
            | AgentRunEventType::RunCancelled
            | AgentRunEventType::RunBlocked
            | AgentRunEventType::RunIdle
    )
}

/// What ended a pause.
pub(crate) enum Woken {
    /// A run reported an end that a poll must confirm.
    Ended,
    /// Events arrived that the caller takes as they are (see [`WakeUps::pause_taking`]), and
    /// no poll is due yet.
    Taken,
    /// The safety poll, or the deadline's last poll, is due.
    Due,
    /// No stream (any more): the wait polls on its own schedule from now.
    Gone,
}

/// What a wait makes of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Nothing.
    Ignore,
    /// The event says enough on its own: the caller takes it, no poll.
    Take,
    /// A poll must follow (spaced from the last one that an event started).
    Poll,
}

/// The wake-ups of one wait.
pub(crate) struct WakeUps {
    /// How long a pause lasts at most.
    safety: Duration,
    /// In a mutex only so that a wait's acceptor stays `Sync` (its requests borrow it across
    /// an await); reached through `get_mut`, never locked.
    events: Option<std::sync::Mutex<EventStream>>,
    clock: Clock,
    /// The least time between two polls that events start (zero: none); see
    /// [`spaced`](Self::spaced).
    spacing: Duration,
    /// When the last poll that an event started was due.
    last_woken: Option<Instant>,
    /// An event asked for a poll that is held for the spacing, across pauses that ended to
    /// hand out taken events.
    owed: bool,
}

impl WakeUps {
    /// Wake-ups from the events of `scope` for a poller with `settings`; none when `follow`
    /// is false or the client remembers that the stream was refused.
    pub(crate) fn new(
        client: &Client,
        scope: Scope,
        settings: &PollSettings,
        follow: bool,
    ) -> Self {
        Self {
            safety: safety_poll(settings),
            events: follow
                .then(|| wake_ups(client, scope))
                .flatten()
                .map(std::sync::Mutex::new),
            clock: Clock::of(client),
            spacing: Duration::ZERO,
            last_woken: None,
            owed: false,
        }
    }

    /// Polls that events start are at least `spacing` apart: an end that arrives sooner after
    /// the last such poll waits for the next one, with every end that arrives meanwhile. A set
    /// whose runs end one after the other then shares listings between them instead of
    /// listing once per run (which would cost more requests than polling).
    pub(crate) fn spaced(mut self, spacing: Duration) -> Self {
        self.spacing = spacing;
        self
    }

    /// Whether the wait follows the stream.
    pub(crate) fn active(&self) -> bool {
        self.events.is_some()
    }

    /// Waits until an event for which `wanted` holds arrives ([`ends_of`] for a wait), or the
    /// safety poll (the deadline's last poll) is due. Events that arrived together are taken
    /// together, so a burst (the replay when the stream opens) costs one poll.
    pub(crate) async fn pause(
        &mut self,
        poller: &Poller,
        wanted: impl Fn(&AgentRunEvent) -> bool,
    ) -> Woken {
        let judge = |event: &AgentRunEvent| {
            if wanted(event) {
                Wake::Poll
            } else {
                Wake::Ignore
            }
        };
        self.pause_taking(poller, judge, &mut Vec::new()).await
    }

    /// Like [`pause`](Self::pause), with events that need no poll: those `judge` calls
    /// [`Wake::Take`] are put into `taken` and end the pause at once ([`Woken::Taken`]), or
    /// come with the poll that ends it; a poll that events asked for and the spacing holds
    /// stays owed to the next pause.
    pub(crate) async fn pause_taking(
        &mut self,
        poller: &Poller,
        judge: impl Fn(&AgentRunEvent) -> Wake,
        taken: &mut Vec<AgentRunEvent>,
    ) -> Woken {
        let Some(events) = self.events.as_mut() else {
            return Woken::Gone;
        };
        let events = events
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = self.clock.now();
        let mut until = now + self.safety;
        if let Some(deadline) = poller.deadline() {
            if now >= deadline {
                return Woken::Gone;
            }
            until = until.min(deadline);
        }
        // A deadline of the wake-up, not a pause of the wait: Tokio's timer, like the wait's
        // own deadline, so a wait that does not follow the stream sleeps exactly as before.
        let mut due = std::pin::pin!(tokio::time::sleep_until(until));
        // The owed poll is held until this moment (the spacing after the last poll an event
        // started).
        let mut holding = false;
        loop {
            if self.owed && !holding {
                let now = self.clock.now();
                match self.last_woken.map(|last| last + self.spacing) {
                    Some(next) if next > now && next < until => {
                        holding = true;
                        due.set(tokio::time::sleep_until(next));
                    }
                    _ => {
                        self.owed = false;
                        self.last_woken = Some(now);
                        return Woken::Ended;
                    }
                }
            }
            if !taken.is_empty() {
                return Woken::Taken;
            }
            let next = match futures::future::select(events.next(), due.as_mut()).await {
                Either::Left((next, _)) => next,
                Either::Right(((), _)) if holding => {
                    self.owed = false;
                    self.last_woken = Some(self.clock.now());
                    return Woken::Ended;
                }
                Either::Right(((), _)) => return Woken::Due,
            };
            let mut next = Some(next);
            // This event, and every one already waiting behind it.
            while let Some(item) = next.take() {
                match item {
                    Some(Ok(event)) => match judge(&event) {
                        Wake::Ignore => {}
                        Wake::Take => taken.push(event),
                        Wake::Poll => {
                            tracing::debug!(target: "oz_api_ext", run_id = %event.run_id, event_type = %event.event_type, sequence = event.sequence, "woken by an event");
                            self.owed = true;
                        }
                    },
                    Some(Err(err)) => {
                        tracing::debug!(target: "oz_api_ext", error = %err, "no event stream: the wait polls");
                        self.events = None;
                        return Woken::Gone;
                    }
                    None => {
                        self.events = None;
                        return Woken::Gone;
                    }
                }
                next = events.next().now_or_never();
            }
        }
    }
}

/// Events that report the end of a run for which `wanted` holds.
pub(crate) fn ends_of(wanted: impl Fn(&str) -> bool) -> impl Fn(&AgentRunEvent) -> bool {
    move |event| reports_an_end(&event.event_type) && wanted(&event.run_id)
}

/// A tail whose pauses end early when an event for which `wanted` holds arrives (the inbox:
/// a `new_message` for its run); while it follows the stream it otherwise polls only every
/// [`SAFETY_POLL_FACTOR`] times its `max_delay`. Without the stream it pauses as its delay
/// policy says.
pub(crate) struct WokenTail<A> {
    pub(crate) inner: A,
    pub(crate) wake: WakeUps,
    pub(crate) wanted: Box<dyn Fn(&AgentRunEvent) -> bool + Send + Sync>,
}

impl<A: Acceptor> Acceptor for WokenTail<A> {
    type Item = A::Item;
    type Error = A::Error;

    fn poll<'a>(
        &'a mut self,
        poller: &'a mut Poller,
        found: &'a mut VecDeque<Result<A::Item, A::Error>>,
    ) -> impl Future<Output = Result<Verdict, Stop<A::Error>>> + Send + 'a {
        self.inner.poll(poller, found)
    }

    fn expired(&mut self, expired: Expired) -> A::Error {
        self.inner.expired(expired)
    }

    async fn pause(&mut self, poller: &Poller, at: Instant) {
        let wanted = &self.wanted;
        if let Woken::Gone = self.wake.pause(poller, |event| wanted(event)).await {
            poller.sleep_until(at).await;
        }
    }
}
