//! Waiting for one run; see [`RunWaitExt`].

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use oz_api::Client;
use oz_api::types::{
    AiRunTimelineEvent, AiRunTimelineEventType, FollowupOutcome, RunAgentRequest,
    RunFollowupRequest, RunItem, RunState,
};
use tracing::Instrument;

use crate::events::Scope;
use crate::poll::{
    Acceptor, Activity, Clock, Expired, GrowWithWait, PollSettings, Poller, Stop, Verdict,
    poll_setters,
};
use crate::wake::{WakeUps, Woken, ends_of};

/// The states in which a run has ended (or waits for a person, `BLOCKED`): polling it further
/// changes nothing. The one list behind [`is_terminal`] and the set wait's listing filter.
pub(crate) const TERMINAL_STATES: [RunState; 5] = [
    RunState::Succeeded,
    RunState::Failed,
    RunState::Error,
    RunState::Blocked,
    RunState::Cancelled,
];

/// Whether a run has ended (or waits for a person, `BLOCKED`): polling it further changes
/// nothing. Unknown states are not terminal.
///
/// ```
/// use oz_api_ext::is_terminal;
/// use oz_api_ext::oz_api::types::RunState;
///
/// assert!(is_terminal(&RunState::Succeeded));
/// assert!(is_terminal(&RunState::Blocked));
/// assert!(!is_terminal(&RunState::Inprogress));
/// assert!(!is_terminal(&RunState::Unknown("PAUSED".into())));
/// ```
pub fn is_terminal(state: &RunState) -> bool {
    TERMINAL_STATES.contains(state)
}

/// Waiting for runs; implemented for [`Client`].
///
/// Waiting for a run to end, by polling `GET /agent/runs/{id}`.
///
/// [`RunWaitExt`] adds four verbs to [`Client`]:
/// - [`wait_for_run`](RunWaitExt::wait_for_run): poll until the run reaches a terminal state
///   and return it;
/// - [`watch_run`](RunWaitExt::watch_run): a stream of the run each time its state changes
///   ([`WatchRun::stream`]);
/// - [`run_and_wait`](RunWaitExt::run_and_wait): start a run, then wait for it;
/// - [`followup_and_wait`](RunWaitExt::followup_and_wait): send a follow-up to a run, then wait
///   until the run has settled again — not for the state it was in before the follow-up.
///
/// The waiters and the stream own a clone of the client: they can be moved into
/// `tokio::spawn` (with `'static` callbacks, if any) and outlive the client they came from.
///
/// Terminal states are `SUCCEEDED`, `FAILED`, `ERROR`, `BLOCKED` (waiting for a person) and
/// `CANCELLED`. A state this version does not know (`RunState::Unknown`) is not terminal:
/// waiting goes on.
///
/// Polls are spaced by the time waited so far: after a poll, the waiter pauses a fifteenth of
/// the time since the wait started, at least `min_delay` and at most `max_delay`, less up to
/// 20 % of random jitter (never below `min_delay`). A run that ends within a minute is seen
/// within a few seconds (polls every 2 s for the first 30 s, then up to every 4 s at one
/// minute); a run of an hour is polled every 30 s. When a pause would pass the deadline
/// (`max_wait` after the first poll started), the waiter sleeps exactly until the deadline and
/// polls one last time. `max_wait` bounds the whole wait: a poll still in flight at the
/// deadline (a slow answer, the client's own retries) is abandoned there and the wait ends with
/// [`WaitError::ExceededMaxWait`]; the poll sent at the deadline has one more second to be
/// answered. Defaults: `min_delay` 2 s (the service dislikes faster polling),
/// `max_delay` 30 s, `max_wait` 30 minutes. `BENCHMARKS.md` compares this with exponential
/// growth and with a fixed 3 s cadence.
///
/// The waits that end (`wait_for_run`, `run_and_wait`, `followup_and_wait`; not `watch_run`)
/// wake up: between two polls they follow the run's events on Warp's real-time event stream
/// (see [`EventsExt`](crate::EventsExt)), and read the run at once when an event reports an
/// end (`run_succeeded`, `run_failed`, `run_errored`, `run_cancelled`, `run_blocked`), that
/// read confirming it. While they follow the stream they read the run otherwise only every
/// four `max_delay`s (two minutes by default) and at the deadline, in case the stream missed
/// something; so a run of a
/// minute costs two reads and the stream, and is seen as it ends. States in between reach
/// `on_state_change` with those reads. When the stream is refused, unreachable or not an event
/// stream (or the client remembers that it was), a wait polls exactly as described above.
///
/// No request is retried here, neither a poll nor the cancellation of `cancel_on_timeout`: the
/// client's request hook already repeats transient failures (408, 409, 429, 5xx, lost
/// connections) with its own backoff and `max_retries`, and a second loop on top of it would
/// multiply the attempts. A request that still fails ends the wait with [`WaitError::Api`].
///
/// ```no_run
/// use std::time::Duration;
/// use oz_api_ext::RunWaitExt;
/// use oz_api_ext::oz_api::types::RunAgentRequest;
///
/// # async fn example(client: oz_api_ext::oz_api::Client) -> Result<(), oz_api_ext::WaitError> {
/// let run = client
///     .wait_for_run("run_1")
///     .max_wait(Duration::from_secs(600))
///     .on_state_change(|run| println!("{} is {}", run.run_id, run.state))
///     .send()
///     .await?;
/// println!("ended as {}", run.state);
///
/// let run = client
///     .run_and_wait(RunAgentRequest::builder().prompt("Fix the flaky test"))
///     .cancel_on_timeout(true)
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
pub trait RunWaitExt {
    /// Polls the run until it reaches a terminal state.
    fn wait_for_run<'a>(&self, run_id: impl Into<String>) -> WaitForRun<'a>;

    /// The run each time its state changes (the first observation included), ending after a
    /// terminal state or with an error; [`WatchRun::stream`] starts it.
    fn watch_run(&self, run_id: impl Into<String>) -> WatchRun;

    /// Starts a run (`create_run`) and waits for it like [`wait_for_run`](Self::wait_for_run).
    fn run_and_wait<'a, V>(&self, request: V) -> RunAndWait<'a>
    where
        V: TryInto<RunAgentRequest>,
        V::Error: fmt::Display;

    /// Sends a follow-up to a run (`submit_run_followup`) and waits until the run has settled
    /// again, like [`wait_for_run`](Self::wait_for_run) but never for the terminal state the
    /// run was in before the follow-up; see [`FollowupAndWait`] for how that is told apart.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use oz_api_ext::RunWaitExt;
    /// use oz_api_ext::oz_api::types::RunFollowupRequest;
    ///
    /// # async fn example(client: oz_api_ext::oz_api::Client) -> Result<(), oz_api_ext::WaitError> {
    /// let run = client
    ///     .followup_and_wait(
    ///         "run_1",
    ///         RunFollowupRequest::builder().message("Also update the changelog"),
    ///     )
    ///     .max_wait(Duration::from_secs(900))
    ///     .send()
    ///     .await?;
    /// println!("after the follow-up: {}", run.state);
    /// # Ok(()) }
    /// ```
    fn followup_and_wait<'a, V>(
        &self,
        run_id: impl Into<String>,
        request: V,
    ) -> FollowupAndWait<'a>
    where
        V: TryInto<RunFollowupRequest>,
        V::Error: fmt::Display;
}

impl RunWaitExt for Client {
    fn wait_for_run<'a>(&self, run_id: impl Into<String>) -> WaitForRun<'a> {
        WaitForRun {
            client: self.clone(),
            run_id: run_id.into(),
            poll: PollSettings::WAIT,
            hooks: WaitHooks::default(),
        }
    }

    fn watch_run(&self, run_id: impl Into<String>) -> WatchRun {
        WatchRun {
            client: self.clone(),
            run_id: run_id.into(),
            poll: PollSettings::WAIT,
        }
    }

    fn run_and_wait<'a, V>(&self, request: V) -> RunAndWait<'a>
    where
        V: TryInto<RunAgentRequest>,
        V::Error: fmt::Display,
    {
        RunAndWait {
            client: self.clone(),
            request: body(request, "RunAgentRequest"),
            poll: PollSettings::WAIT,
            hooks: WaitHooks::default(),
        }
    }

    fn followup_and_wait<'a, V>(&self, run_id: impl Into<String>, request: V) -> FollowupAndWait<'a>
    where
        V: TryInto<RunFollowupRequest>,
        V::Error: fmt::Display,
    {
        FollowupAndWait {
            client: self.clone(),
            run_id: run_id.into(),
            request: body(request, "RunFollowupRequest"),
            poll: PollSettings::WAIT,
            hooks: WaitHooks::default(),
        }
    }
}

/// A request body converted up front, with the generated client's message when it fails.
fn body<T, V>(value: V, name: &str) -> Result<T, String>
where
    V: TryInto<T>,
    V::Error: fmt::Display,
{
    value
        .try_into()
        .map_err(|err| format!("conversion to `{name}` for body failed: {err}"))
}

/// Why waiting for a run did not return the run it waited for.
///
/// `Display` is one line about what the wait was doing, followed by the one line of its cause
/// (for example `get_run of run X failed: 404 Not Found resource_not_found: Run not found`);
/// the cause stays reachable as [`source`](std::error::Error::source). `Debug` is one line as
/// well (what `?` in `main` prints): the variant and its key facts, never a whole run; the run
/// as last seen is [`last_run`](Self::last_run).
#[non_exhaustive]
pub enum WaitError {
    /// A request failed, after the client's own retries: `operation` is `get_run`, `create_run`
    /// for [`run_and_wait`](RunWaitExt::run_and_wait), `submit_run_followup` or
    /// `get_run_timeline` for [`followup_and_wait`](RunWaitExt::followup_and_wait). A run that
    /// no longer exists is a `get_run` failing with 404 (`api_error().is_not_found()`).
    Api {
        /// The operation that failed.
        operation: &'static str,
        /// The run concerned, when one exists.
        run_id: Option<String>,
        /// The client's error, with the status and problem body of an error answer. Boxed: the
        /// client's error is large and failures are rare.
        source: Box<oz_api::Error>,
    },
    /// The run was still not in a terminal state after `max_wait`, or a poll was still
    /// unanswered at that deadline.
    ExceededMaxWait {
        /// The configured limit.
        max_wait: Duration,
        /// Time from the first poll to the end of the wait.
        elapsed: Duration,
        /// Number of polls sent (a poll abandoned at the deadline included).
        polls: u32,
        /// The run waited for (for a set, one of the runs still pending).
        run_id: String,
        /// The run as the last answered poll saw it; `None` when no poll was answered before
        /// the deadline.
        last_run: Option<Box<RunItem>>,
        /// What became of the cancellation asked for with `cancel_on_timeout`; a failed
        /// cancellation is also the error's `source`.
        cancel: CancelOutcome,
    },
    /// The listing that watches a set of runs ([`wait_for_runs`](crate::WaitForRunsExt))
    /// failed; the pagination error is the `source`.
    Listing(crate::PaginationError),
    /// The server answered a read of run `requested` with another run, `answered`: the answer
    /// cannot say anything about the run asked for. [`wait_for_runs`](crate::WaitForRunsExt)
    /// yields it as an error item for that run and goes on with the others.
    ///
    /// ```
    /// use oz_api_ext::WaitError;
    ///
    /// let err = WaitError::ForeignRun {
    ///     requested: "run_1".to_owned(),
    ///     answered: "run_2".to_owned(),
    /// };
    /// assert_eq!(err.run_id(), Some("run_1"));
    /// assert_eq!(err.to_string(), "reading run run_1 answered with another run, run_2");
    /// ```
    ForeignRun {
        /// The run the wait asked for.
        requested: String,
        /// The run the answer was about.
        answered: String,
    },
}

impl WaitError {
    /// The client's error, when a request of the wait failed ([`WaitError::Api`]). A failed
    /// cancellation after a timeout is in [`CancelOutcome::Failed`] instead: the wait itself
    /// ended by its deadline.
    pub fn api_error(&self) -> Option<&oz_api::Error> {
        match self {
            Self::Api { source, .. } => Some(source),
            Self::Listing(err) => err.api_error(),
            Self::ExceededMaxWait { .. } | Self::ForeignRun { .. } => None,
        }
    }

    /// The run as last seen, when the wait timed out after at least one answered poll.
    pub fn last_run(&self) -> Option<&RunItem> {
        match self {
            Self::ExceededMaxWait { last_run, .. } => last_run.as_deref(),
            Self::Api { .. } | Self::Listing(_) | Self::ForeignRun { .. } => None,
        }
    }

    /// The run the error is about, when it is about one run: the run asked for (never the one
    /// a [`ForeignRun`](Self::ForeignRun) answer was about). `None` for a failed listing of a
    /// set, or a request about no run yet (`create_run`). In a
    /// [`wait_for_runs`](crate::WaitForRunsExt) stream it tells which run an error item is
    /// about.
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use oz_api_ext::WaitForRunsExt;
    ///
    /// # async fn example(client: oz_api_ext::oz_api::Client, children: Vec<String>) {
    /// let mut ended = client.wait_for_runs(children).stream();
    /// while let Some(item) = ended.next().await {
    ///     match item {
    ///         Ok(run) => println!("{} ended {}", run.run_id, run.state),
    ///         Err(err) if err.api_error().is_some_and(|e| e.is_not_found()) => {
    ///             println!("{} was deleted", err.run_id().unwrap_or("?"));
    ///         }
    ///         Err(err) => eprintln!("{err}"),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn run_id(&self) -> Option<&str> {
        match self {
            Self::Api { run_id, .. } => run_id.as_deref(),
            Self::ExceededMaxWait { run_id, .. } => Some(run_id),
            Self::ForeignRun { requested, .. } => Some(requested),
            Self::Listing(_) => None,
        }
    }

    /// Whether the wait ended at its deadline ([`WaitError::ExceededMaxWait`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use oz_api_ext::{CancelOutcome, WaitError};
    ///
    /// let err = WaitError::ExceededMaxWait {
    ///     max_wait: Duration::from_secs(60),
    ///     elapsed: Duration::from_secs(61),
    ///     polls: 9,
    ///     run_id: "run_1".to_owned(),
    ///     last_run: None,
    ///     cancel: CancelOutcome::NotRequested,
    /// };
    /// assert!(err.is_timeout());
    /// assert_eq!(err.run_id(), Some("run_1"));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "run run_1 not read after 61.0 s (9 polls): max wait of 60.0 s exceeded",
    /// );
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::ExceededMaxWait { .. })
    }
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api {
                operation,
                run_id,
                source,
            } => {
                write!(f, "{operation}")?;
                if let Some(run_id) = run_id {
                    write!(f, " of run {run_id}")?;
                }
                write!(f, " failed: {source}")
            }
            Self::ExceededMaxWait {
                max_wait,
                elapsed,
                polls,
                run_id,
                last_run,
                cancel,
            } => {
                match last_run {
                    Some(run) => write!(f, "run {run_id} still {}", run.state)?,
                    None => write!(f, "run {run_id} not read")?,
                }
                write!(
                    f,
                    " after {:.1} s ({polls} polls): max wait of {:.1} s exceeded",
                    elapsed.as_secs_f64(),
                    max_wait.as_secs_f64()
                )?;
                match cancel {
                    CancelOutcome::NotRequested => Ok(()),
                    CancelOutcome::Cancelled => f.write_str("; cancellation requested"),
                    CancelOutcome::Failed(err) => write!(f, "; cancelling it failed: {err}"),
                }
            }
            Self::Listing(err) => write!(f, "watching a set of runs failed: {err}"),
            Self::ForeignRun {
                requested,
                answered,
            } => write!(
                f,
                "reading run {requested} answered with another run, {answered}"
            ),
        }
    }
}

/// One line: the variant and its key facts; causes by their one-line `Display`.
impl fmt::Debug for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api {
                operation,
                run_id,
                source,
            } => f
                .debug_struct("Api")
                .field("operation", operation)
                .field("run_id", run_id)
                .field("source", &format_args!("{source}"))
                .finish(),
            Self::ExceededMaxWait {
                max_wait,
                elapsed,
                polls,
                run_id,
                last_run,
                cancel,
            } => f
                .debug_struct("ExceededMaxWait")
                .field("run_id", run_id)
                .field(
                    "state",
                    &format_args!(
                        "{}",
                        last_run
                            .as_ref()
                            .map_or_else(|| "not read".to_owned(), |run| run.state.to_string())
                    ),
                )
                .field("elapsed", elapsed)
                .field("polls", polls)
                .field("max_wait", max_wait)
                .field("cancel", cancel)
                .finish(),
            Self::Listing(err) => f.debug_tuple("Listing").field(err).finish(),
            Self::ForeignRun {
                requested,
                answered,
            } => f
                .debug_struct("ForeignRun")
                .field("requested", requested)
                .field("answered", answered)
                .finish(),
        }
    }
}

impl std::error::Error for WaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Api { source, .. } => Some(source.as_ref()),
            Self::ExceededMaxWait {
                cancel: CancelOutcome::Failed(err),
                ..
            } => Some(err.as_ref()),
            Self::ExceededMaxWait { .. } | Self::ForeignRun { .. } => None,
            Self::Listing(err) => Some(err),
        }
    }
}

/// What happened to the cancellation of a run whose wait timed out.
///
/// `Debug` is one line; a failed cancellation shows its error's one-line `Display`.
#[non_exhaustive]
pub enum CancelOutcome {
    /// `cancel_on_timeout` was off.
    NotRequested,
    /// The server accepted the cancellation.
    Cancelled,
    /// The server refused it or could not be reached, after the client's own retries (a 409,
    /// which the server answers while a run is still being prepared, is one of the statuses the
    /// client repeats). A 400 usually means the run ended in the meantime.
    Failed(Box<oz_api::Error>),
}

impl fmt::Debug for CancelOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRequested => f.write_str("NotRequested"),
            Self::Cancelled => f.write_str("Cancelled"),
            Self::Failed(err) => f
                .debug_tuple("Failed")
                .field(&format_args!("{err}"))
                .finish(),
        }
    }
}

/// A callback told about each state change.
type StateCallback<'a> = Box<dyn FnMut(&RunItem) + Send + 'a>;

/// What the single-run waiters ([`WaitForRun`], [`RunAndWait`], [`FollowupAndWait`]) take
/// besides the [`PollSettings`].
#[derive(Default)]
struct WaitHooks<'a> {
    on_state_change: Option<StateCallback<'a>>,
    cancel_on_timeout: bool,
}

macro_rules! wait_hooks {
    () => {
        /// Called with the run each time its state differs from the previous poll, the first
        /// poll included, so every state is reported once.
        pub fn on_state_change(mut self, callback: impl FnMut(&RunItem) + Send + 'a) -> Self {
            self.hooks.on_state_change = Some(Box::new(callback));
            self
        }

        /// Cancels the run (`cancel_run`) when the wait times out (default off). The outcome is
        /// in [`WaitError::ExceededMaxWait`]'s `cancel`.
        pub fn cancel_on_timeout(mut self, cancel: bool) -> Self {
            self.hooks.cancel_on_timeout = cancel;
            self
        }
    };
}

/// Waits until a run reaches a terminal state; see [`RunWaitExt::wait_for_run`].
#[must_use = "nothing is sent until `send` is awaited"]
pub struct WaitForRun<'a> {
    client: Client,
    run_id: String,
    poll: PollSettings,
    hooks: WaitHooks<'a>,
}

impl<'a> WaitForRun<'a> {
    poll_setters!(wait);
    wait_hooks!();
    with_options!("of the wait (its polls, and the cancellation on timeout)");

    /// Polls until the run is terminal and returns it.
    pub async fn send(self) -> Result<RunItem, WaitError> {
        let span = workflow_span("wait_for_run", Some(&self.run_id));
        let wait = wait(
            self.client,
            self.run_id,
            self.poll,
            self.hooks,
            Until::Terminal,
        );
        in_span(span, wait).await
    }
}

impl fmt::Debug for WaitForRun<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForRun")
            .field("run_id", &self.run_id)
            .field("poll", &self.poll)
            .field("cancel_on_timeout", &self.hooks.cancel_on_timeout)
            .finish_non_exhaustive()
    }
}

/// Starts a run, then waits for it; see [`RunWaitExt::run_and_wait`].
#[must_use = "nothing is sent until `send` is awaited"]
pub struct RunAndWait<'a> {
    client: Client,
    request: Result<RunAgentRequest, String>,
    poll: PollSettings,
    hooks: WaitHooks<'a>,
}

impl<'a> RunAndWait<'a> {
    poll_setters!(wait);
    wait_hooks!();
    with_options!("of the workflow (the `create_run`, the polls, the cancellation on timeout)");

    /// Starts the run, polls it until it is terminal and returns it.
    pub async fn send(self) -> Result<RunItem, WaitError> {
        let span = workflow_span("run_and_wait", None);
        in_span(span, self.send_unobserved()).await
    }

    async fn send_unobserved(self) -> Result<RunItem, WaitError> {
        let client = self.client;
        let created = match self.request {
            Ok(request) => client.create_run().body(request).send().await,
            Err(invalid) => Err(oz_api::Error::InvalidRequest(invalid)),
        };
        let started = match created {
            Ok(started) => started.into_inner(),
            Err(err) => {
                return Err(WaitError::Api {
                    operation: "create_run",
                    run_id: None,
                    source: Box::new(err),
                });
            }
        };
        tracing::Span::current().record("oz.run_id", started.run_id.as_str());
        tracing::debug!(target: "oz_api_ext", run_id = %started.run_id, state = %started.state, "run started");
        wait(
            client,
            started.run_id,
            self.poll,
            self.hooks,
            Until::Terminal,
        )
        .await
    }
}

impl fmt::Debug for RunAndWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunAndWait")
            .field("poll", &self.poll)
            .field("cancel_on_timeout", &self.hooks.cancel_on_timeout)
            .finish_non_exhaustive()
    }
}

/// Sends a follow-up to a run, then waits until the run has settled again; see
/// [`RunWaitExt::followup_and_wait`].
///
/// A follow-up to a run that has ended starts a new execution of the same run, and for a
/// moment after the follow-up was accepted the run may still show the terminal state it was in
/// before. A new execution can also start and end between two polls, within the same second as
/// the follow-up, so neither the state nor the clock tells them apart. What does is the run's
/// timeline (`get_run_timeline`): every event carries the execution it belongs to.
/// [`send`](Self::send) reads the run and its timeline first, sends the follow-up, then polls
/// the run that took it (the `run_id` of the answer) until it is terminal *and* that terminal
/// state is not the one from before:
/// - the run was live before the follow-up, and the server did not start a new execution
///   (`outcome` other than `handoff_execution`): its next terminal state is the answer;
/// - the run was seen in another state since the follow-up (working on it, or a different
///   terminal state than before): its next terminal state is the answer;
/// - otherwise, at a terminal poll, the timeline is read: the run has settled once it shows an
///   execution newer than any before the follow-up ending (`oz_run_done`, `oz_run_failed`,
///   ...). A server whose timeline carries no execution ids is judged by the number of ended
///   executions; one without a timeline by the run's record, which must be newer than the one
///   read before (`updated_at` or `finished_at`).
///
/// A follow-up taken by another run than the one addressed counts once that run was seen in a
/// state other than terminal. `max_wait` counts from the first poll after the follow-up; a run
/// that never shows the follow-up's effect ends in [`WaitError::ExceededMaxWait`], never in the
/// stale state.
///
/// ```no_run
/// use oz_api_ext::RunWaitExt;
/// use oz_api_ext::oz_api::types::{AgentRunMode, RunAgentRequest, RunFollowupRequest};
///
/// # async fn example(client: oz_api_ext::oz_api::Client) -> Result<(), oz_api_ext::WaitError> {
/// let run = client
///     .run_and_wait(RunAgentRequest::builder().prompt("Plan the migration"))
///     .send()
///     .await?;
/// let followup = RunFollowupRequest::builder()
///     .message("Now implement step 1")
///     .mode(AgentRunMode::Normal);
/// let run = client
///     .followup_and_wait(&run.run_id, followup)
///     .on_state_change(|run| println!("{} is {}", run.run_id, run.state))
///     .send()
///     .await?;
/// println!("{} ended {}", run.run_id, run.state);
/// # Ok(()) }
/// ```
#[must_use = "nothing is sent until `send` is awaited"]
pub struct FollowupAndWait<'a> {
    client: Client,
    run_id: String,
    request: Result<RunFollowupRequest, String>,
    poll: PollSettings,
    hooks: WaitHooks<'a>,
}

impl<'a> FollowupAndWait<'a> {
    poll_setters!(wait);
    wait_hooks!();
    with_options!("of the workflow (the reads before, the follow-up, the polls)");

    /// Reads the run and its timeline, sends the follow-up, polls the run until it has settled
    /// after the follow-up and returns it.
    pub async fn send(self) -> Result<RunItem, WaitError> {
        let span = workflow_span("followup_and_wait", Some(&self.run_id));
        in_span(span, self.send_unobserved()).await
    }

    async fn send_unobserved(self) -> Result<RunItem, WaitError> {
        let client = self.client;
        let request_failed = |operation, source| WaitError::Api {
            operation,
            run_id: Some(self.run_id.clone()),
            source: Box::new(source),
        };
        let before = client
            .get_run()
            .run_id(&self.run_id)
            .send()
            .await
            .map_err(|err| request_failed("get_run", err))?
            .into_inner();
        // A server without a timeline leaves the run's record to compare.
        let executions = match client.get_run_timeline().run_id(&self.run_id).send().await {
            Ok(timeline) => Some(Executions::of(&timeline.events)),
            Err(err) => {
                tracing::debug!(target: "oz_api_ext", run_id = %self.run_id, error = %err, "no timeline; the run's record tells the new execution");
                None
            }
        };
        let submitted = match self.request {
            Ok(request) => {
                client
                    .submit_run_followup()
                    .run_id(&self.run_id)
                    .body(request)
                    .send()
                    .await
            }
            Err(invalid) => Err(oz_api::Error::InvalidRequest(invalid)),
        };
        let answer = submitted
            .map_err(|err| request_failed("submit_run_followup", err))?
            .into_inner();
        let run_id = answer
            .run_id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| self.run_id.clone());
        tracing::debug!(target: "oz_api_ext", run_id = %run_id, outcome = ?answer.outcome, "follow-up accepted");
        // The run read before the follow-up says nothing about another run that took it.
        let same_run = before.run_id == run_id;
        let after = AfterFollowup::new(
            same_run.then_some(before),
            answer.outcome.as_ref(),
            executions.filter(|_| same_run),
        );
        let until = Until::Followup(Box::new(after));
        wait(client, run_id, self.poll, self.hooks, until).await
    }
}

impl fmt::Debug for FollowupAndWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FollowupAndWait")
            .field("run_id", &self.run_id)
            .field("poll", &self.poll)
            .field("cancel_on_timeout", &self.hooks.cancel_on_timeout)
            .finish_non_exhaustive()
    }
}

/// The executions a run's timeline shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Executions {
    /// The highest execution id of any event, when the events carry them.
    newest: Option<i64>,
    /// The highest execution id among the events that end an execution.
    newest_ended: Option<i64>,
    /// How many events end an execution.
    ended: usize,
}

impl Executions {
    fn of(events: &[AiRunTimelineEvent]) -> Self {
        let ends = |event: &&AiRunTimelineEvent| {
            matches!(
                event.event_type,
                AiRunTimelineEventType::OzRunDone
                    | AiRunTimelineEventType::OzRunBlocked
                    | AiRunTimelineEventType::OzRunCancelled
                    | AiRunTimelineEventType::OzRunFailed
                    | AiRunTimelineEventType::OzRunErrored
            )
        };
        Self {
            newest: events.iter().filter_map(|e| e.execution_id).max(),
            newest_ended: events
                .iter()
                .filter(ends)
                .filter_map(|e| e.execution_id)
                .max(),
            ended: events.iter().filter(ends).count(),
        }
    }

    /// Whether `now` shows an execution that ended after this timeline was read.
    fn new_end_in(&self, now: &Executions) -> bool {
        match self.newest {
            Some(newest) => now.newest_ended.is_some_and(|ended| ended > newest),
            None => now.ended > self.ended,
        }
    }
}

/// Tells the run's state after a follow-up from the state it was in before.
#[derive(Debug)]
struct AfterFollowup {
    /// The run as read before the follow-up, when it is the run that took it.
    before: Option<RunItem>,
    /// The run may show a terminal state from before the follow-up.
    stale_possible: bool,
    /// The timeline before the follow-up, when the run had ended and the server has one.
    executions: Option<Executions>,
    /// A poll since the follow-up showed the run in another state than before.
    moved: bool,
}

/// What a terminal poll needs to count after a follow-up.
#[derive(Debug, PartialEq, Eq)]
enum Judgement {
    Settled,
    Waiting,
    /// A newer execution's end in the timeline decides.
    AskTimeline(Executions),
}

impl AfterFollowup {
    fn new(
        before: Option<RunItem>,
        outcome: Option<&FollowupOutcome>,
        executions: Option<Executions>,
    ) -> Self {
        // A live run that took the follow-up into its session or queue ends after it. Anything
        // else (a new execution, an ended run, a run not read before, an outcome this version
        // does not know) may still show the old state for a while.
        let live_before = before.as_ref().is_some_and(|run| !is_terminal(&run.state));
        let new_execution = matches!(outcome, Some(FollowupOutcome::HandoffExecution));
        Self {
            stale_possible: new_execution || !live_before,
            before,
            executions,
            moved: false,
        }
    }

    fn judge(&mut self, run: &RunItem) -> Judgement {
        if !is_terminal(&run.state) {
            self.moved = true;
            return Judgement::Waiting;
        }
        let ended_as = self
            .before
            .as_ref()
            .map(|before| &before.state)
            .filter(|state| is_terminal(state));
        if ended_as.is_some_and(|before| *before != run.state) {
            self.moved = true;
        }
        if !self.stale_possible || self.moved {
            return Judgement::Settled;
        }
        // A run live before may end its old execution after the timeline was read: only
        // execution ids tell that end from the new one's, and only for a run ended before is
        // a newer record the new execution's.
        let ended_before = ended_as.is_some();
        match (&self.before, self.executions) {
            (Some(_), Some(executions)) if ended_before || executions.newest.is_some() => {
                Judgement::AskTimeline(executions)
            }
            // No timeline: a record written after the one read before.
            (Some(before), None) if ended_before => {
                let newer = run.updated_at > before.updated_at
                    || run.finished_at.is_some_and(|finished| {
                        before.finished_at.is_none_or(|before| finished > before)
                    });
                if newer {
                    Judgement::Settled
                } else {
                    Judgement::Waiting
                }
            }
            _ => Judgement::Waiting,
        }
    }
}

/// The settings of a watch on a run, from [`RunWaitExt::watch_run`]; [`stream`](Self::stream)
/// starts it.
///
/// ```no_run
/// use std::time::Duration;
/// use futures::TryStreamExt;
/// use oz_api_ext::RunWaitExt;
///
/// # async fn example(client: oz_api_ext::oz_api::Client) -> Result<(), oz_api_ext::WaitError> {
/// let mut changes = client
///     .watch_run("run_1")
///     .max_wait(Duration::from_secs(600))
///     .stream();
/// while let Some(run) = changes.try_next().await? {
///     println!("{}", run.state);
/// }
/// # Ok(()) }
/// ```
#[must_use = "a watch does nothing until `stream()` is polled"]
pub struct WatchRun {
    client: Client,
    run_id: String,
    poll: PollSettings,
}

impl WatchRun {
    poll_setters!(wait);
    with_options!("of the watch (its polls)");

    /// The stream of the run's state changes. Nothing is sent until it is polled.
    pub fn stream(self) -> RunStateStream {
        let observed = observe(
            self.client,
            self.run_id.clone(),
            self.poll,
            Until::Terminal,
            false,
        );
        let changes = observed.map(|item| item.map(|observed| observed.run));
        RunStateStream {
            run_id: self.run_id,
            poll: self.poll,
            changes: Box::pin(changes),
        }
    }
}

impl fmt::Debug for WatchRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchRun")
            .field("run_id", &self.run_id)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

/// The run each time its state changes; see [`WatchRun::stream`].
///
/// A stream of `Result<RunItem, WaitError>`: the first item is the run's state at the first
/// poll, the last one is the terminal run, or [`WaitError::ExceededMaxWait`] (with
/// [`CancelOutcome::NotRequested`]) when `max_wait` passes first, or [`WaitError::Api`] when a
/// poll fails.
#[must_use = "streams do nothing unless polled"]
pub struct RunStateStream {
    run_id: String,
    poll: PollSettings,
    changes: BoxStream<'static, Result<RunItem, WaitError>>,
}

impl Stream for RunStateStream {
    type Item = Result<RunItem, WaitError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.get_mut().changes.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for RunStateStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunStateStream")
            .field("run_id", &self.run_id)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

/// The span of a waiting workflow (`otel.name` is the workflow): a child of the caller's, the
/// parent of its calls' spans. `error.type` is recorded when the wait fails.
fn workflow_span(workflow: &'static str, run_id: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        target: "oz_api_ext",
        "oz_api_ext.wait",
        otel.name = workflow,
        oz.run_id = tracing::field::Empty,
        error.type = tracing::field::Empty,
    );
    if let Some(run_id) = run_id {
        span.record("oz.run_id", run_id);
    }
    span
}

/// `wait` in `span`, with the `error.type` of its failure recorded there.
async fn in_span(
    span: tracing::Span,
    wait: impl std::future::Future<Output = Result<RunItem, WaitError>>,
) -> Result<RunItem, WaitError> {
    let result = wait.instrument(span.clone()).await;
    if let Err(err) = &result {
        span.record("error.type", error_type(err));
    }
    result
}

/// `error.type` of a failed wait.
fn error_type(err: &WaitError) -> &'static str {
    match err {
        WaitError::ExceededMaxWait { .. } => "exceeded_max_wait",
        WaitError::ForeignRun { .. } => "foreign_run",
        WaitError::Api { .. } | WaitError::Listing(_) => "api",
    }
}

/// Polls until `until` accepts the run and returns that run, telling `on_state_change` about
/// every state change on the way; cancels the run at the deadline when asked to.
async fn wait(
    client: Client,
    run_id: String,
    poll: PollSettings,
    mut hooks: WaitHooks<'_>,
    until: Until,
) -> Result<RunItem, WaitError> {
    let mut observed = observe(client.clone(), run_id, poll, until, true);
    let mut settled = None;
    while let Some(item) = observed.next().await {
        match item {
            Ok(Observed { run, new_state }) => {
                if new_state && let Some(callback) = hooks.on_state_change.as_mut() {
                    callback(&run);
                }
                settled = Some(run);
            }
            Err(mut err) => {
                if let WaitError::ExceededMaxWait { run_id, cancel, .. } = &mut err
                    && hooks.cancel_on_timeout
                {
                    *cancel = cancel_run(&client, run_id).await;
                }
                return Err(err);
            }
        }
    }
    // The engine ends a wait with the run that settled it, or with an error.
    Ok(settled.expect("a settled wait ends with its run"))
}

/// The polls of one run on the engine: each state change, and the run that settled the wait.
/// With `follow`, the wait follows the run's events between polls ([`crate::wake`]).
fn observe(
    client: Client,
    run_id: String,
    poll: PollSettings,
    until: Until,
    follow: bool,
) -> BoxStream<'static, Result<Observed, WaitError>> {
    let poller = poll.grow_with_wait(GrowWithWait::ONE_RUN, Clock::of(&client));
    let wake = WakeUps::new(&client, Scope::Runs(vec![run_id.clone()]), &poll, follow);
    let acceptor = RunAcceptor {
        client,
        run_id,
        last: None,
        until,
        wake,
        just_read: false,
    };
    crate::poll::stream(poller, acceptor)
}

/// Cancels a run with one call of `cancel_run`. The client's request hook repeats a 409 (run
/// still being prepared) and other transient failures with its own backoff, so no loop here:
/// one cancellation is at most `1 + max_retries` requests.
async fn cancel_run(client: &Client, run_id: &str) -> CancelOutcome {
    match client.cancel_run().run_id(run_id).send().await {
        Ok(_) => {
            tracing::debug!(target: "oz_api_ext", run_id, "run cancelled after the wait timed out");
            CancelOutcome::Cancelled
        }
        Err(err) => {
            tracing::debug!(target: "oz_api_ext", run_id, error = %err, "cancelling the run failed");
            CancelOutcome::Failed(Box::new(err))
        }
    }
}

/// When a wait is over.
enum Until {
    /// At the first terminal state.
    Terminal,
    /// At the first terminal state after a follow-up.
    Followup(Box<AfterFollowup>),
}

/// A poll of the run that changed its state or settled the wait.
struct Observed {
    run: RunItem,
    /// The state differs from the previous poll's (always true for the first poll).
    new_state: bool,
}

/// The acceptor of a single-run wait: reads the run (and, after a follow-up, its timeline) and
/// decides whether the wait is over.
struct RunAcceptor {
    client: Client,
    run_id: String,
    /// The run as the last answered poll saw it.
    last: Option<RunItem>,
    until: Until,
    /// The run's events between polls, while the stream is there.
    wake: WakeUps,
    /// The last poll read the run and handed out its new state: the next one waits for the
    /// wake-up first.
    just_read: bool,
}

impl RunAcceptor {
    fn failed(&self, operation: &'static str, source: oz_api::Error) -> Stop<WaitError> {
        Stop::Failed(WaitError::Api {
            operation,
            run_id: Some(self.run_id.clone()),
            source: Box::new(source),
        })
    }

    /// Pauses until the run reports an end or the safety poll is due: `true` to read the run
    /// now, `false` when the stream is gone (the engine's schedule takes over) or the deadline
    /// passed.
    async fn woken(&mut self, poller: &Poller) -> bool {
        let run_id = self.run_id.as_str();
        !matches!(
            self.wake.pause(poller, ends_of(|id| id == run_id)).await,
            Woken::Gone
        )
    }

    /// Reads the run (and, after a follow-up, its timeline when needed), hands out a new state
    /// or the run that settles the wait: whether it settled it, and whether the state is new.
    async fn read(
        &mut self,
        poller: &mut Poller,
        found: &mut VecDeque<Result<Observed, WaitError>>,
    ) -> Result<(bool, bool), Stop<WaitError>> {
        poller.begin_poll();
        let request = self.client.get_run().run_id(&self.run_id).send();
        let run = match poller.bounded(request).await? {
            Ok(run) => run.into_inner(),
            Err(err) => return Err(self.failed("get_run", err)),
        };
        tracing::debug!(target: "oz_api_ext", run_id = %self.run_id, state = %run.state, poll = poller.polls(), "polled run");
        let new_state = self
            .last
            .as_ref()
            .is_none_or(|last| last.state != run.state);
        self.last = Some(run.clone());
        if !new_state && !is_terminal(&run.state) {
            return Ok((false, false));
        }
        let settled = match &mut self.until {
            Until::Terminal => is_terminal(&run.state),
            Until::Followup(after) => match after.judge(&run) {
                Judgement::Settled => true,
                Judgement::Waiting => false,
                Judgement::AskTimeline(before) => {
                    let request = self.client.get_run_timeline().run_id(&self.run_id).send();
                    match poller.bounded(request).await? {
                        Ok(timeline) => before.new_end_in(&Executions::of(&timeline.events)),
                        Err(err) => return Err(self.failed("get_run_timeline", err)),
                    }
                }
            },
        };
        if new_state || settled {
            found.push_back(Ok(Observed { run, new_state }));
        }
        Ok((settled, new_state))
    }
}

impl Acceptor for RunAcceptor {
    type Item = Observed;
    type Error = WaitError;

    /// One read of the run; while the wait follows the stream, the pause after it too (a
    /// read that brings a new state returns first, so that the state is handed out at once).
    async fn poll(
        &mut self,
        poller: &mut Poller,
        found: &mut VecDeque<Result<Observed, WaitError>>,
    ) -> Result<Verdict, Stop<WaitError>> {
        if std::mem::take(&mut self.just_read) && !self.woken(poller).await {
            return Ok(Verdict::KeepPolling(Activity::Idle));
        }
        loop {
            let (settled, new_state) = self.read(poller, found).await?;
            if settled {
                return Ok(Verdict::Done);
            }
            if !self.wake.active() {
                return Ok(Verdict::KeepPolling(Activity::Idle));
            }
            if new_state {
                self.just_read = true;
                return Ok(Verdict::KeepPolling(Activity::More));
            }
            if !self.woken(poller).await {
                return Ok(Verdict::KeepPolling(Activity::Idle));
            }
        }
    }

    fn expired(&mut self, expired: Expired) -> WaitError {
        WaitError::ExceededMaxWait {
            max_wait: expired.max_wait,
            elapsed: expired.elapsed,
            polls: expired.polls,
            run_id: self.run_id.clone(),
            last_run: self.last.clone().map(Box::new),
            cancel: CancelOutcome::NotRequested,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(state: RunState, updated_at: &str) -> RunItem {
        serde_json::from_value(serde_json::json!({
            "run_id": "run_1",
            "title": "t",
            "prompt": "p",
            "state": state,
            "created_at": "2025-03-14T09:00:00Z",
            "updated_at": updated_at,
        }))
        .expect("a run")
    }

    fn event(kind: &str, execution: Option<i64>) -> AiRunTimelineEvent {
        serde_json::from_value(serde_json::json!({
            "event_uuid": "e",
            "run_id": "run_1",
            "event_type": kind,
            "execution_id": execution,
            "occurred_at": "2025-03-14T09:00:00Z",
        }))
        .expect("an event")
    }

    #[test]
    fn after_a_followup_the_old_terminal_state_needs_a_newer_execution() {
        let before = run(RunState::Succeeded, "2025-03-14T09:30:00Z");
        let first = Executions::of(&[
            event("oz_run_created", Some(1)),
            event("oz_run_done", Some(1)),
        ]);
        let handoff = Some(&FollowupOutcome::HandoffExecution);
        let mut after = AfterFollowup::new(Some(before.clone()), handoff, Some(first));
        // Same state, same clock: only the timeline can tell.
        assert_eq!(after.judge(&before), Judgement::AskTimeline(first));
        let second_started = Executions::of(&[
            event("oz_run_done", Some(1)),
            event("oz_run_created", Some(2)),
        ]);
        assert!(!first.new_end_in(&second_started));
        let second_ended = Executions::of(&[
            event("oz_run_done", Some(1)),
            event("oz_run_created", Some(2)),
            event("oz_run_failed", Some(2)),
        ]);
        assert!(first.new_end_in(&second_ended));

        // Seen working, then ended: whatever the timeline says.
        assert_eq!(
            after.judge(&run(RunState::Queued, "2025-03-14T09:00:00Z")),
            Judgement::Waiting
        );
        assert_eq!(after.judge(&before), Judgement::Settled);

        // Another terminal state than before.
        let mut after = AfterFollowup::new(Some(before.clone()), handoff, Some(first));
        assert_eq!(
            after.judge(&run(RunState::Failed, "2025-03-14T09:00:00Z")),
            Judgement::Settled
        );
    }

    #[test]
    fn a_timeline_without_execution_ids_counts_ended_executions() {
        let before = Executions::of(&[event("oz_run_created", None), event("oz_run_done", None)]);
        assert_eq!(before.newest, None);
        let same = Executions::of(&[event("oz_run_created", None), event("oz_run_done", None)]);
        assert!(!before.new_end_in(&same));
        let more = Executions::of(&[
            event("oz_run_done", None),
            event("oz_run_created", None),
            event("oz_run_blocked", None),
        ]);
        assert!(before.new_end_in(&more));
    }

    #[test]
    fn without_a_timeline_the_record_must_be_newer_than_before() {
        let before = run(RunState::Succeeded, "2025-03-14T09:30:00Z");
        let handoff = Some(&FollowupOutcome::HandoffExecution);
        let mut after = AfterFollowup::new(Some(before.clone()), handoff, None);
        assert_eq!(after.judge(&before), Judgement::Waiting);
        assert_eq!(
            after.judge(&run(RunState::Succeeded, "2025-03-14T09:30:00.001Z")),
            Judgement::Settled
        );
        // Nothing to compare with: only a state seen since counts.
        let mut after = AfterFollowup::new(None, None, None);
        assert_eq!(after.judge(&before), Judgement::Waiting);
        assert_eq!(
            after.judge(&run(RunState::Inprogress, "2025-03-14T09:30:00Z")),
            Judgement::Waiting
        );
        assert_eq!(after.judge(&before), Judgement::Settled);
    }

    #[test]
    fn after_a_followup_to_a_live_run_its_next_terminal_state_counts() {
        let before = run(RunState::Inprogress, "2025-03-14T09:30:00Z");
        for outcome in [FollowupOutcome::LiveSession, FollowupOutcome::QueuedPrompt] {
            let mut after = AfterFollowup::new(Some(before.clone()), Some(&outcome), None);
            assert_eq!(
                after.judge(&run(RunState::Succeeded, "2025-03-14T09:29:00Z")),
                Judgement::Settled
            );
        }
        // Unless it ended in between and the follow-up started a new execution.
        let mut after =
            AfterFollowup::new(Some(before), Some(&FollowupOutcome::HandoffExecution), None);
        assert_eq!(
            after.judge(&run(RunState::Succeeded, "2025-03-14T09:29:00Z")),
            Judgement::Waiting
        );
    }

    #[test]
    fn terminal_states_are_the_five_final_ones() {
        let terminal = [
            RunState::Succeeded,
            RunState::Failed,
            RunState::Error,
            RunState::Blocked,
            RunState::Cancelled,
        ];
        let running = [
            RunState::Queued,
            RunState::Pending,
            RunState::Claimed,
            RunState::Inprogress,
            RunState::Unknown("SUSPENDED".into()),
        ];
        assert!(terminal.iter().all(is_terminal));
        assert!(!running.iter().any(is_terminal));
    }
}
