//! Waiting for a set of runs; see [`WaitForRunsExt`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt, TryStreamExt};
use oz_api::Client;
use oz_api::types::{
    AgentRunEvent, AgentRunEventType, ListRunsSortBy, ListRunsSortOrder, RunItem, RunState,
};
use tokio::time::Instant;

use crate::events::Scope;
use crate::pagination::PaginateExt;
use crate::poll::{
    Acceptor, Activity, Clock, Expired, GrowWithWait, PollSettings, Poller, Stop, Verdict,
    poll_setters,
};
use crate::waiter::{CancelOutcome, TERMINAL_STATES, WaitError, is_terminal};
use crate::wake::{Wake, WakeUps, Woken, reports_an_end};

/// How many runs are read at once when the wait starts.
const FIRST_READS_IN_FLIGHT: usize = 8;

/// The most runs of a set without an ancestor whose events a wait follows on the stream (each
/// is a `run_ids[]` of its URL); a larger set polls as before.
const FOLLOWED_RUNS_CAP: usize = 100;

/// Page size of the listings; also the most runs the service lists for one `ancestor_run_id`
/// whatever `limit` says.
const ANCESTOR_CAP: u64 = 100;

/// How far before the oldest pending `updated_at` a poll lists from.
const UPDATED_AFTER_MARGIN: chrono::Duration = chrono::Duration::seconds(5);

/// A pending run no answer showed for this long is read on its own.
const UNSEEN_CHECK: Duration = Duration::from_secs(60);

/// Starts a wait for a set of runs.
///
/// Waiting for many runs at once, with one request per poll for the whole set.
///
/// An orchestrator that started fifty children should not poll fifty runs. The first poll
/// reads each run once — or, given `ancestor_run_id`, lists that run's children in one
/// request (the service lists direct children only, at most 100 per answer; runs of the set it
/// does not list are read on their own); then every poll is a single `list_runs` for the runs
/// in a terminal state updated since the oldest `updated_at` among those still pending, a few
/// seconds before it (timestamps may have whole seconds, and the filter is strict), every page
/// of it through the cursor paginator. It is narrowed to the ancestor's children while every
/// pending run is one of them and the answer is not at the service's cap.
/// A run that ends changes its `updated_at`, so it shows up in the next poll; runs that do not
/// change do not. A listed run counts for the run asked for with its id, and only when it is
/// not older than that run as last seen.
///
/// Between polls the wait follows the set's events on Warp's real-time stream (the ancestor's
/// children's events given `ancestor_run_id`, else those of the runs of the set), and polls
/// as soon as one of the pending runs reports an end; the events that arrive together take
/// one poll, and so do the ends that arrive within half a `min_delay` (1 s by default) of the
/// poll an end started, so a set whose runs end one after the other costs no more requests
/// than polling would. While it follows the stream it polls otherwise only every four
/// `max_delay`s (two minutes by default), in case the stream missed something (runs of the
/// set that are not the ancestor's children are seen that way). [`WaitForRuns::ends`] takes
/// the end events as they are instead: the set's first listing and the stream are then its
/// only requests, and each end is known within milliseconds, without the run's final record.
/// Without the stream (refused, unreachable, not an event stream, or remembered as refused by
/// the client), or for a set of more than 100 runs without `ancestor_run_id`, it polls as
/// described here, exactly as before the stream existed.
///
/// A run that no listing shows for a minute is read on its own, one per poll, so a run deleted
/// during the wait is reported (a `get_run` answering 404) instead of being waited for until
/// `max_wait`.
///
/// Polls are spaced like the single-run waiter's (see [`RunWaitExt`](crate::RunWaitExt): the
/// same `min_delay`, `max_delay` and jitter), but the pause grows with a thirtieth of the time
/// waited instead of a fifteenth: one poll answers for the whole set, so polling twice as often
/// costs little and keeps each run's lateness no worse than that of a waiter of its own. Each
/// run is yielded as soon as a poll sees it ended. `max_wait` bounds the whole wait, requests
/// in flight included.
///
/// ```no_run
/// # async fn example(client: oz_api::Client, children: Vec<String>) -> Result<(), oz_api_ext::WaitError> {
/// use futures::TryStreamExt;
/// use oz_api_ext::WaitForRunsExt;
///
/// let mut ended = client.wait_for_runs(children).stream();
/// while let Some(run) = ended.try_next().await? {
///     println!("{} ended {}", run.run_id, run.state);
/// }
/// # Ok(()) }
/// ```
pub trait WaitForRunsExt {
    /// Waits for every run of `run_ids` to reach a terminal state; see [`WaitForRuns`].
    fn wait_for_runs<I, S>(&self, run_ids: I) -> WaitForRuns
    where
        I: IntoIterator<Item = S>,
        S: Into<String>;
}

impl WaitForRunsExt for Client {
    fn wait_for_runs<I, S>(&self, run_ids: I) -> WaitForRuns
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut seen = HashSet::new();
        WaitForRuns {
            client: self.clone(),
            run_ids: run_ids
                .into_iter()
                .map(Into::into)
                .filter(|id: &String| seen.insert(id.clone()))
                .collect(),
            poll: PollSettings::WAIT,
            ancestor_run_id: None,
        }
    }
}

/// A wait for a set of runs: [`stream`](Self::stream) yields each run once it ended,
/// [`send`](Self::send) all of them. Owns a clone of the client.
#[derive(Debug)]
#[must_use = "nothing is sent until `stream()` is polled or `send()` awaited"]
pub struct WaitForRuns {
    client: Client,
    run_ids: Vec<String>,
    poll: PollSettings,
    ancestor_run_id: Option<String>,
}

impl WaitForRuns {
    with_options!("of the wait (its listings and reads)");

    poll_setters!(wait);

    /// The runs are children of this one (for example the orchestrator that started them):
    /// the first poll is one listing of its children instead of a read of each run, and every
    /// poll is narrowed to them, so other runs of the team ending at the same time cost
    /// nothing. Runs of the set that are not its direct children (grandchildren, unrelated
    /// runs) are read on their own at first and make the polls list without the narrowing:
    /// the wait stays correct, only cheaper when the set is its children.
    pub fn ancestor_run_id(mut self, run_id: impl Into<String>) -> Self {
        self.ancestor_run_id = Some(run_id.into());
        self
    }

    /// Each run of the set once it is in a terminal state, in the order they were seen to end;
    /// then the stream ends. A run that cannot be waited for is an error item for that run,
    /// and the wait goes on for the others: [`WaitError::Api`] with `get_run` when it no longer
    /// exists (404), [`WaitError::ForeignRun`] when the server answers a read of it with
    /// another run. Any other failed request ends the stream with [`WaitError::Api`] or
    /// [`WaitError::Listing`], the deadline with [`WaitError::ExceededMaxWait`] (naming one
    /// of the runs still pending).
    pub fn stream(self) -> EndedRunStream {
        let poll = self.poll;
        // Without `trust_events` every end comes from a read or a listing, with its run.
        let ended = self
            .start(false)
            .try_filter_map(|end| futures::future::ready(Ok(end.run)))
            .boxed();
        EndedRunStream { poll, ended }
    }

    /// Each run's end as soon as it is known, in the order they were learnt; then the stream
    /// ends. Where [`stream`](Self::stream) confirms every end with a read, this one takes an
    /// end event of the real-time stream as it is: the service's word that the run reached
    /// the state the event names (`run_succeeded` → `SUCCEEDED`, `run_failed` → `FAILED`,
    /// `run_errored` → `ERROR`, `run_cancelled` → `CANCELLED`, `run_blocked` → `BLOCKED`),
    /// with no request. A set whose runs end one after the other then costs its first
    /// listing (or reads) and the stream, however many runs it has, and each end is known
    /// within milliseconds; [`stream`](Self::stream) spaces its listings instead and returns
    /// each run up to half a `min_delay` later.
    ///
    /// What the event does not tell is not guessed: a [`RunEnd`] learnt from an event has
    /// the id, the state and the time, and `run: None`; read the run
    /// (`client.get_run().run_id(&end.run_id)`) for its final status message, artifacts and
    /// usage. Ends that a read or a listing saw (runs already ended when the wait starts,
    /// the safety poll, and every end while the stream is unavailable, when the wait polls
    /// exactly as [`stream`](Self::stream) does) carry the run as read.
    ///
    /// An end event is confirmed by a listing instead when it could be stale: one that
    /// occurred no later than the run's last change the wait saw (an earlier execution of a
    /// run that was followed up), and the legacy `run_idle`, which names no state. Errors are
    /// those of [`stream`](Self::stream).
    ///
    /// ```no_run
    /// # async fn example(client: oz_api::Client, orchestrator: String, children: Vec<String>) -> Result<(), oz_api_ext::WaitError> {
    /// use futures::TryStreamExt;
    /// use oz_api_ext::WaitForRunsExt;
    ///
    /// let mut ends = client
    ///     .wait_for_runs(children)
    ///     .ancestor_run_id(orchestrator)
    ///     .ends();
    /// while let Some(end) = ends.try_next().await? {
    ///     println!("{} ended {} at {}", end.run_id, end.state, end.ended_at);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ends(self) -> RunEndStream {
        let poll = self.poll;
        RunEndStream {
            poll,
            ends: self.start(true),
        }
    }

    fn start(self, trust_events: bool) -> BoxStream<'static, Result<RunEnd, WaitError>> {
        let poller = self
            .poll
            .grow_with_wait(GrowWithWait::SET_OF_RUNS, Clock::of(&self.client));
        let scope = match &self.ancestor_run_id {
            Some(ancestor) => Scope::Children {
                run_id: ancestor.clone(),
                include_self: false,
            },
            None => Scope::Runs(self.run_ids.clone()),
        };
        // A set named run by run in the query only while its URL stays of a usual length.
        let follow = !self.run_ids.is_empty()
            && (self.ancestor_run_id.is_some() || self.run_ids.len() <= FOLLOWED_RUNS_CAP);
        // Ends that come close together share a listing: at most one every half `min_delay`.
        let wake =
            WakeUps::new(&self.client, scope, &self.poll, follow).spaced(self.poll.min_delay / 2);
        let acceptor = SetAcceptor {
            client: self.client,
            to_read: self.run_ids,
            pending: HashMap::new(),
            ancestor_run_id: self.ancestor_run_id,
            wake,
            trust_events,
            just_polled: false,
        };
        crate::poll::stream(poller, acceptor)
    }

    /// Every run of the set, in the order they were seen to end.
    pub async fn send(self) -> Result<Vec<RunItem>, WaitError> {
        self.stream().try_collect().await
    }
}

/// Each run of a set once it ended; see [`WaitForRuns::stream`].
///
/// A stream of `Result<RunItem, WaitError>` that owns a clone of the client: it can be moved
/// into `tokio::spawn`. An error item about one run ([`WaitError::run_id`]) lets the wait go
/// on for the others; any other error is the stream's last item.
#[must_use = "streams do nothing unless polled"]
pub struct EndedRunStream {
    poll: PollSettings,
    ended: BoxStream<'static, Result<RunItem, WaitError>>,
}

impl Stream for EndedRunStream {
    type Item = Result<RunItem, WaitError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().ended.as_mut().poll_next(cx)
    }
}

/// Each run's end as soon as it is known; see [`WaitForRuns::ends`].
///
/// A stream of `Result<RunEnd, WaitError>` that owns a clone of the client: it can be moved
/// into `tokio::spawn`. An error item about one run ([`WaitError::run_id`]) lets the wait go
/// on for the others; any other error is the stream's last item.
#[must_use = "streams do nothing unless polled"]
pub struct RunEndStream {
    poll: PollSettings,
    ends: BoxStream<'static, Result<RunEnd, WaitError>>,
}

impl Stream for RunEndStream {
    type Item = Result<RunEnd, WaitError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().ends.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for RunEndStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunEndStream")
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

/// A run of a set that ended, as [`WaitForRuns::ends`] learnt it.
///
/// ```no_run
/// # async fn example(client: oz_api::Client, end: oz_api_ext::RunEnd) -> Result<(), oz_api::Error> {
/// use oz_api_ext::oz_api::types::RunState;
///
/// if end.state != RunState::Succeeded {
///     // Learnt from its event: read the run for its status message.
///     let run = match end.run {
///         Some(run) => run,
///         None => client.get_run().run_id(&end.run_id).send().await?.into_inner(),
///     };
///     eprintln!("{} {}: {:?}", run.run_id, run.state, run.status_message);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunEnd {
    /// The run's id.
    pub run_id: String,
    /// The terminal state it reached.
    pub state: RunState,
    /// When it reached it: the end event's `occurred_at`, or the run's `finished_at` as read
    /// (its `updated_at` when the service gave none).
    pub ended_at: chrono::DateTime<chrono::Utc>,
    /// The run as a read or a listing saw it ended; `None` when the end was learnt from its
    /// event alone.
    pub run: Option<RunItem>,
}

impl RunEnd {
    fn read(run: RunItem) -> Self {
        Self {
            run_id: run.run_id.clone(),
            state: run.state.clone(),
            ended_at: run.finished_at.unwrap_or(run.updated_at),
            run: Some(run),
        }
    }
}

/// The state an end event names; `None` for the legacy `run_idle` and every other type.
fn reported_state(event_type: &AgentRunEventType) -> Option<RunState> {
    match event_type {
        AgentRunEventType::RunSucceeded => Some(RunState::Succeeded),
        AgentRunEventType::RunFailed => Some(RunState::Failed),
        AgentRunEventType::RunErrored => Some(RunState::Error),
        AgentRunEventType::RunCancelled => Some(RunState::Cancelled),
        AgentRunEventType::RunBlocked => Some(RunState::Blocked),
        _ => None,
    }
}

impl fmt::Debug for EndedRunStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndedRunStream")
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

/// A run of the set not ended yet.
struct Pending {
    /// As last seen.
    run: RunItem,
    /// When an answer last showed it.
    seen_at: Instant,
}

/// The acceptor of a set wait: the first poll reads every run, each later one lists the runs
/// that ended.
struct SetAcceptor {
    client: Client,
    /// Runs not read yet: the first poll reads each one.
    to_read: Vec<String>,
    /// Runs not ended yet, by the id asked for.
    pending: HashMap<String, Pending>,
    ancestor_run_id: Option<String>,
    /// The set's events between polls, while the stream is there.
    wake: WakeUps,
    /// An end event is taken as it is, with no listing to confirm it (see
    /// [`WaitForRuns::ends`]).
    trust_events: bool,
    /// The last poll handed out what it found: the next one pauses for the stream first.
    just_polled: bool,
}

/// What a poll found: ended runs and errors about single runs.
type Found = VecDeque<Result<RunEnd, WaitError>>;

impl Acceptor for SetAcceptor {
    type Item = RunEnd;
    type Error = WaitError;

    async fn poll(
        &mut self,
        poller: &mut Poller,
        found: &mut Found,
    ) -> Result<Verdict, Stop<WaitError>> {
        if self.to_read.is_empty() && self.pending.is_empty() {
            return Ok(Verdict::Done);
        }
        if std::mem::take(&mut self.just_polled) {
            let pending = &self.pending;
            let trust_events = self.trust_events;
            let judge = |event: &AgentRunEvent| match pending.get(&event.run_id) {
                Some(p) if reports_an_end(&event.event_type) => {
                    // An end that occurred after the run's last change seen cannot be one of an
                    // earlier execution.
                    if trust_events
                        && reported_state(&event.event_type).is_some()
                        && event.occurred_at > p.run.updated_at
                    {
                        Wake::Take
                    } else {
                        Wake::Poll
                    }
                }
                _ => Wake::Ignore,
            };
            let mut taken = Vec::new();
            let woken = self.wake.pause_taking(poller, judge, &mut taken).await;
            for event in taken {
                self.ended_by(event, found);
            }
            if self.pending.is_empty() {
                return Ok(Verdict::Done);
            }
            match woken {
                Woken::Gone => return Ok(Verdict::KeepPolling(Activity::Idle)),
                Woken::Taken => {
                    self.just_polled = true;
                    return Ok(Verdict::KeepPolling(Activity::More));
                }
                Woken::Ended | Woken::Due => {}
            }
        }
        poller.begin_poll();
        if self.to_read.is_empty() {
            self.poll_ended(poller, found).await?;
            self.check_one_unseen(poller, found).await?;
        } else {
            if self.ancestor_run_id.is_some() {
                self.read_children(poller, found).await?;
            }
            self.read_each(poller, found).await?;
        }
        Ok(if self.pending.is_empty() {
            Verdict::Done
        } else if self.wake.active() {
            // Polled again at once: first the pause that the stream ends.
            self.just_polled = true;
            Verdict::KeepPolling(Activity::More)
        } else {
            Verdict::KeepPolling(Activity::Idle)
        })
    }

    fn expired(&mut self, expired: Expired) -> WaitError {
        let mut pending: Vec<_> = self.pending.iter().collect();
        pending.sort_by(|a, b| a.0.cmp(b.0));
        let (run_id, last_run) = match pending.first() {
            Some((id, pending)) => ((*id).clone(), Some(Box::new(pending.run.clone()))),
            None => (self.to_read.first().cloned().unwrap_or_default(), None),
        };
        WaitError::ExceededMaxWait {
            max_wait: expired.max_wait,
            elapsed: expired.elapsed,
            polls: expired.polls,
            run_id,
            last_run,
            cancel: CancelOutcome::NotRequested,
        }
    }
}

impl SetAcceptor {
    /// The first poll with an ancestor: one listing of its children, whatever their state,
    /// reads every run of the set it finds.
    async fn read_children(
        &mut self,
        poller: &Poller,
        found: &mut Found,
    ) -> Result<(), Stop<WaitError>> {
        let Some(ancestor) = self.ancestor_run_id.clone() else {
            return Ok(());
        };
        let listing = self
            .client
            .list_runs()
            .ancestor_run_id(ancestor)
            .limit(ANCESTOR_CAP)
            .items()
            .try_collect::<Vec<RunItem>>();
        let runs = poller
            .bounded(listing)
            .await?
            .map_err(|err| Stop::Failed(WaitError::Listing(err)))?;
        let now = Instant::now();
        for run in runs {
            if let Some(index) = self.to_read.iter().position(|id| *id == run.run_id) {
                let requested = self.to_read.swap_remove(index);
                self.settle(requested, run, now, found);
            }
        }
        Ok(())
    }

    /// Each run not read yet, a few at a time: the first poll without an ancestor, or the runs
    /// of the set that are not among its children.
    async fn read_each(
        &mut self,
        poller: &Poller,
        found: &mut Found,
    ) -> Result<(), Stop<WaitError>> {
        if self.to_read.is_empty() {
            return Ok(());
        }
        let client = &self.client;
        let reads = std::mem::take(&mut self.to_read)
            .into_iter()
            .map(|run_id| async move {
                let answer = client.get_run().run_id(&run_id).send().await;
                (run_id, answer.map(|run| run.into_inner()))
            });
        let answers = stream::iter(reads)
            .buffered(FIRST_READS_IN_FLIGHT)
            .collect::<Vec<_>>();
        let answers = poller.bounded(answers).await?;
        let now = Instant::now();
        for (requested, answer) in answers {
            self.read(requested, answer, now, found)?;
        }
        Ok(())
    }

    /// Takes the answer to a read of run `requested`: a 404 or an answer about another run is
    /// an error for that run alone.
    fn read(
        &mut self,
        requested: String,
        answer: Result<RunItem, oz_api::Error>,
        now: Instant,
        found: &mut Found,
    ) -> Result<(), Stop<WaitError>> {
        match answer {
            Ok(run) if run.run_id != requested => {
                self.pending.remove(&requested);
                found.push_back(Err(WaitError::ForeignRun {
                    requested,
                    answered: run.run_id,
                }));
            }
            Ok(run) => self.settle(requested, run, now, found),
            Err(err) => {
                let gone = err.is_not_found();
                let err = WaitError::Api {
                    operation: "get_run",
                    run_id: Some(requested.clone()),
                    source: Box::new(err),
                };
                if !gone {
                    return Err(Stop::Failed(err));
                }
                self.pending.remove(&requested);
                found.push_back(Err(err));
            }
        }
        Ok(())
    }

    /// One listing of the runs that ended since the oldest pending run last changed.
    async fn poll_ended(
        &mut self,
        poller: &Poller,
        found: &mut Found,
    ) -> Result<(), Stop<WaitError>> {
        let Some(oldest) = self.pending.values().map(|p| p.run.updated_at).min() else {
            return Ok(());
        };
        // `updated_after` is strict: from a little before, so that a run whose final
        // `updated_at` equals the one seen (whole seconds, a clock slightly behind) is listed.
        let since = oldest - UPDATED_AFTER_MARGIN;
        let narrowed = self.ancestor_run_id.clone().filter(|ancestor| {
            self.pending
                .values()
                .all(|p| p.run.parent_run_id.as_deref() == Some(ancestor.as_str()))
        });
        let mut runs = self.list_ended(poller, since, narrowed.clone()).await?;
        if narrowed.is_some() && runs.len() as u64 >= ANCESTOR_CAP {
            // The service may have cut the children's answer short.
            runs = self.list_ended(poller, since, None).await?;
        }
        let now = Instant::now();
        for run in runs {
            let newer = self
                .pending
                .get(&run.run_id)
                .is_some_and(|p| run.updated_at >= p.run.updated_at);
            if newer && is_terminal(&run.state) {
                self.settle(run.run_id.clone(), run, now, found);
            }
        }
        Ok(())
    }

    async fn list_ended(
        &self,
        poller: &Poller,
        since: chrono::DateTime<chrono::Utc>,
        ancestor: Option<String>,
    ) -> Result<Vec<RunItem>, Stop<WaitError>> {
        let mut listing = self
            .client
            .list_runs()
            .state(TERMINAL_STATES.to_vec())
            .updated_after(since)
            .sort_by(ListRunsSortBy::UpdatedAt)
            .sort_order(ListRunsSortOrder::Asc)
            .limit(ANCESTOR_CAP);
        if let Some(ancestor) = ancestor {
            listing = listing.ancestor_run_id(ancestor);
        }
        let listing = listing.items().try_collect::<Vec<RunItem>>();
        poller
            .bounded(listing)
            .await?
            .map_err(|err| Stop::Failed(WaitError::Listing(err)))
    }

    /// Reads the pending run no answer showed for longest, once that is [`UNSEEN_CHECK`]:
    /// a run deleted during the wait never appears in a listing again.
    async fn check_one_unseen(
        &mut self,
        poller: &Poller,
        found: &mut Found,
    ) -> Result<(), Stop<WaitError>> {
        let now = Instant::now();
        let Some(run_id) = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.seen_at) >= UNSEEN_CHECK)
            .min_by_key(|(_, p)| p.seen_at)
            .map(|(id, _)| id.clone())
        else {
            return Ok(());
        };
        let request = self.client.get_run().run_id(&run_id).send();
        let answer = poller.bounded(request).await?.map(|run| run.into_inner());
        self.read(run_id, answer, Instant::now(), found)
    }

    /// A run of the set ended, as its event says.
    fn ended_by(&mut self, event: AgentRunEvent, found: &mut Found) {
        let Some(state) = reported_state(&event.event_type) else {
            return;
        };
        if self.pending.remove(&event.run_id).is_some() {
            tracing::debug!(target: "oz_api_ext", run_id = %event.run_id, event_type = %event.event_type, sequence = event.sequence, "ended, as its event says");
            found.push_back(Ok(RunEnd {
                run_id: event.run_id,
                state,
                ended_at: event.occurred_at,
                run: None,
            }));
        }
    }

    fn settle(&mut self, requested: String, run: RunItem, now: Instant, found: &mut Found) {
        if is_terminal(&run.state) {
            self.pending.remove(&requested);
            found.push_back(Ok(RunEnd::read(run)));
        } else {
            self.pending
                .insert(requested, Pending { run, seen_at: now });
        }
    }
}
