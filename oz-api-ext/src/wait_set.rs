//! Waiting for many runs at once, with one request per poll for the whole set.
//!
//! An orchestrator that started fifty children should not poll fifty runs. The first poll
//! reads each run once — or, given `ancestor_run_id`, lists that run's children in one
//! request (the service lists direct children only, at most 100 per answer; runs of the set it
//! does not list are read on their own); then every poll is a single `list_runs` for the runs
//! in a terminal state updated since the oldest `updated_at` among those still pending, a few
//! seconds before it (timestamps may have whole seconds, and the filter is strict), every page
//! of it through the cursor paginator. It is narrowed to the ancestor's children while every
//! pending run is one of them and the answer is not at the service's cap.
//! A run that ends changes its `updated_at`, so it shows up in the next poll; runs that do not
//! change do not. A listed run counts for the run asked for with its id, and only when it is
//! not older than that run as last seen.
//!
//! A run that no listing shows for a minute is read on its own, one per poll, so a run deleted
//! during the wait is reported (a `get_run` answering 404) instead of being waited for until
//! `max_wait`.
//!
//! Polls are spaced like the single-run waiter's (see [`crate::waiter`]: the
//! same `min_delay`, `max_delay` and jitter), but the pause grows with a thirtieth of the time
//! waited instead of a fifteenth: one poll answers for the whole set, so polling twice as often
//! costs little and keeps each run's lateness no worse than that of a waiter of its own. Each
//! run is yielded as soon as a poll sees it ended. `max_wait` bounds the whole wait, requests
//! in flight included.
//!
//! ```no_run
//! # async fn example(client: oz_api::Client, children: Vec<String>) -> Result<(), oz_api_ext::WaitError> {
//! use futures::TryStreamExt;
//! use oz_api_ext::WaitForRunsExt;
//!
//! let mut ended = client.wait_for_runs(children).stream();
//! while let Some(run) = ended.try_next().await? {
//!     println!("{} ended {}", run.run_id, run.state);
//! }
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use oz_api::Client;
use oz_api::types::{ListRunsSortBy, ListRunsSortOrder, RunItem, RunState};
use tokio::time::Instant;

use crate::pagination::PaginateExt;
use crate::waiter::{CancelOutcome, DelayPolicy, SET_DELAY_PER_WAITED, WaitError, is_terminal};

/// Terminal states, as the listing's `state` filter.
const TERMINAL: [RunState; 5] = [
    RunState::Succeeded,
    RunState::Failed,
    RunState::Error,
    RunState::Blocked,
    RunState::Cancelled,
];

/// How many runs are read at once when the wait starts.
const FIRST_READS_IN_FLIGHT: usize = 8;

/// Page size of the listings; also the most runs the service lists for one `ancestor_run_id`
/// whatever `limit` says.
const ANCESTOR_CAP: u64 = 100;

/// How far before the oldest pending `updated_at` a poll lists from.
const UPDATED_AFTER_MARGIN: chrono::Duration = chrono::Duration::seconds(5);

/// A pending run no answer showed for this long is read on its own.
const UNSEEN_CHECK: Duration = Duration::from_secs(60);

/// Starts a wait for a set of runs.
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
            policy: DelayPolicy {
                per_waited: SET_DELAY_PER_WAITED,
                ..DelayPolicy::default()
            },
            ancestor_run_id: None,
        }
    }
}

/// A wait for a set of runs: [`stream`](Self::stream) yields each run once it ended,
/// [`send`](Self::send) all of them. Owns a clone of the client.
#[derive(Debug)]
pub struct WaitForRuns {
    client: Client,
    run_ids: Vec<String>,
    policy: DelayPolicy,
    ancestor_run_id: Option<String>,
}

impl WaitForRuns {
    /// Gives up after this long (default 30 minutes), counted from the start of the first
    /// poll. The last poll is sent at the deadline and has one more second to be answered; any
    /// other request still unanswered at the deadline is abandoned there. The stream then ends
    /// with [`WaitError::ExceededMaxWait`], naming one of the runs still pending.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.policy.max_wait = max_wait;
        self
    }

    /// Shortest pause between two polls (default 2 s, at least 100 ms).
    pub fn min_delay(mut self, min_delay: Duration) -> Self {
        self.policy.min_delay = min_delay;
        self
    }

    /// Longest pause between two polls (default 30 s).
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.policy.max_delay = max_delay;
        self
    }

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
    pub fn stream(self) -> BoxStream<'static, Result<RunItem, WaitError>> {
        let state = SetWait {
            client: self.client,
            to_read: self.run_ids,
            pending: HashMap::new(),
            ended: VecDeque::new(),
            policy: self.policy,
            ancestor_run_id: self.ancestor_run_id,
            started: None,
            polls: 0,
            after_last: false,
            done: false,
        };
        stream::unfold(state, |mut state| async move {
            if state.done {
                return None;
            }
            match state.next().await {
                Ok(Some(run)) => Some((run, state)),
                Ok(None) => None,
                Err(err) => {
                    state.done = true;
                    Some((Err(err), state))
                }
            }
        })
        .boxed()
    }

    /// Every run of the set, in the order they were seen to end.
    pub async fn send(self) -> Result<Vec<RunItem>, WaitError> {
        self.stream().try_collect().await
    }
}

/// A run of the set not ended yet.
struct Pending {
    /// As last seen.
    run: RunItem,
    /// When an answer last showed it.
    seen_at: Instant,
}

struct SetWait {
    client: Client,
    /// Runs not read yet: the first poll reads each one.
    to_read: Vec<String>,
    /// Runs not ended yet, by the id asked for.
    pending: HashMap<String, Pending>,
    /// What to yield next: ended runs and errors about single runs.
    ended: VecDeque<Result<RunItem, WaitError>>,
    policy: DelayPolicy,
    ancestor_run_id: Option<String>,
    started: Option<Instant>,
    polls: u32,
    after_last: bool,
    done: bool,
}

/// The end of a request of the wait: it failed, or the deadline came first.
enum Cut {
    Failed(WaitError),
    Deadline,
}

impl From<WaitError> for Cut {
    fn from(err: WaitError) -> Self {
        Self::Failed(err)
    }
}

impl SetWait {
    async fn next(&mut self) -> Result<Option<Result<RunItem, WaitError>>, WaitError> {
        match self.advance().await {
            Ok(next) => Ok(next),
            Err(Cut::Failed(err)) => Err(err),
            Err(Cut::Deadline) => Err(self.timeout(Instant::now())),
        }
    }

    async fn advance(&mut self) -> Result<Option<Result<RunItem, WaitError>>, Cut> {
        loop {
            if let Some(next) = self.ended.pop_front() {
                return Ok(Some(next));
            }
            if !self.to_read.is_empty() {
                if self.polls == 0 && self.ancestor_run_id.is_some() {
                    self.read_children().await?;
                }
                self.read_each().await?;
                continue;
            }
            if self.pending.is_empty() {
                return Ok(None);
            }
            let started = *self.started.get_or_insert_with(Instant::now);
            let now = Instant::now();
            match self.policy.next_poll(started, now, self.after_last) {
                Some(next) => {
                    self.after_last = next.last;
                    tokio::time::sleep_until(next.at).await;
                }
                None => return Err(Cut::Deadline),
            }
            self.poll_ended().await?;
            self.check_one_unseen().await?;
        }
    }

    fn timeout(&self, now: Instant) -> WaitError {
        let started = self.started.unwrap_or(now);
        let mut pending: Vec<_> = self.pending.iter().collect();
        pending.sort_by(|a, b| a.0.cmp(b.0));
        let (run_id, last_run) = match pending.first() {
            Some((id, pending)) => ((*id).clone(), Some(Box::new(pending.run.clone()))),
            None => (self.to_read.first().cloned().unwrap_or_default(), None),
        };
        WaitError::ExceededMaxWait {
            max_wait: self.policy.max_wait,
            elapsed: now - started,
            polls: self.polls,
            run_id,
            last_run,
            cancel: CancelOutcome::NotRequested,
        }
    }

    /// Runs `request`, abandoned at the deadline.
    async fn bounded<T>(
        &self,
        request: impl Future<Output = Result<T, WaitError>>,
    ) -> Result<T, Cut> {
        let deadline = self
            .started
            .and_then(|started| self.policy.request_deadline(started, self.after_last));
        match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, request).await {
                Ok(answer) => Ok(answer?),
                Err(_) => Err(Cut::Deadline),
            },
            None => Ok(request.await?),
        }
    }

    /// The first poll with an ancestor: one listing of its children, whatever their state,
    /// reads every run of the set it finds.
    async fn read_children(&mut self) -> Result<(), Cut> {
        self.started.get_or_insert_with(Instant::now);
        self.polls += 1;
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
        let runs = self
            .bounded(async { listing.await.map_err(WaitError::Listing) })
            .await?;
        let now = Instant::now();
        for run in runs {
            if let Some(index) = self.to_read.iter().position(|id| *id == run.run_id) {
                let requested = self.to_read.swap_remove(index);
                self.settle(requested, run, now);
            }
        }
        Ok(())
    }

    /// Each run not read yet, a few at a time: the first poll without an ancestor, or the runs
    /// of the set that are not among its children.
    async fn read_each(&mut self) -> Result<(), Cut> {
        if self.to_read.is_empty() {
            return Ok(());
        }
        if self.started.is_none() {
            self.started = Some(Instant::now());
            self.polls += 1;
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
        let answers = self.bounded(async { Ok(answers.await) }).await?;
        let now = Instant::now();
        for (requested, answer) in answers {
            self.read(requested, answer, now)?;
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
    ) -> Result<(), WaitError> {
        match answer {
            Ok(run) if run.run_id != requested => {
                self.pending.remove(&requested);
                self.ended.push_back(Err(WaitError::ForeignRun {
                    requested,
                    answered: run.run_id,
                }));
            }
            Ok(run) => self.settle(requested, run, now),
            Err(err) => {
                let gone = err.is_not_found();
                let err = WaitError::Api {
                    operation: "get_run",
                    run_id: Some(requested.clone()),
                    source: Box::new(err),
                };
                if !gone {
                    return Err(err);
                }
                self.pending.remove(&requested);
                self.ended.push_back(Err(err));
            }
        }
        Ok(())
    }

    /// One listing of the runs that ended since the oldest pending run last changed.
    async fn poll_ended(&mut self) -> Result<(), Cut> {
        self.polls += 1;
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
        let mut runs = self.list_ended(since, narrowed.clone()).await?;
        if narrowed.is_some() && runs.len() as u64 >= ANCESTOR_CAP {
            // The service may have cut the children's answer short.
            runs = self.list_ended(since, None).await?;
        }
        let now = Instant::now();
        for run in runs {
            let newer = self
                .pending
                .get(&run.run_id)
                .is_some_and(|p| run.updated_at >= p.run.updated_at);
            if newer && is_terminal(&run.state) {
                self.settle(run.run_id.clone(), run, now);
            }
        }
        Ok(())
    }

    async fn list_ended(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        ancestor: Option<String>,
    ) -> Result<Vec<RunItem>, Cut> {
        let mut listing = self
            .client
            .list_runs()
            .state(TERMINAL.to_vec())
            .updated_after(since)
            .sort_by(ListRunsSortBy::UpdatedAt)
            .sort_order(ListRunsSortOrder::Asc)
            .limit(ANCESTOR_CAP);
        if let Some(ancestor) = ancestor {
            listing = listing.ancestor_run_id(ancestor);
        }
        let listing = listing.items().try_collect::<Vec<RunItem>>();
        self.bounded(async { listing.await.map_err(WaitError::Listing) })
            .await
    }

    /// Reads the pending run no answer showed for longest, once that is [`UNSEEN_CHECK`]:
    /// a run deleted during the wait never appears in a listing again.
    async fn check_one_unseen(&mut self) -> Result<(), Cut> {
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
        let answer = self
            .bounded(async { Ok(request.await.map(|run| run.into_inner())) })
            .await?;
        self.read(run_id, answer, Instant::now())?;
        Ok(())
    }

    fn settle(&mut self, requested: String, run: RunItem, now: Instant) {
        if is_terminal(&run.state) {
            self.pending.remove(&requested);
            self.ended.push_back(Ok(run));
        } else {
            self.pending
                .insert(requested, Pending { run, seen_at: now });
        }
    }
}
