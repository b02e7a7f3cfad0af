//! Waiting for many runs at once, with one request per poll for the whole set.
//!
//! An orchestrator that started fifty children should not poll fifty runs. The first poll
//! reads each run once — or, given `ancestor_run_id`, lists that run's descendants in one
//! request; then every poll is a single `list_runs` for the runs that reached a terminal state
//! since the oldest `updated_at` among those still pending (every page of it, through the
//! cursor paginator), narrowed to the ancestor's descendants when one is given.
//! A run that ends changes its `updated_at`, so it shows up in the next poll; runs that do not
//! change do not. Polls are spaced like the single-run waiter's (see [`crate::waiter`]: the
//! same `min_delay`, `max_delay` and jitter), but the pause grows with a thirtieth of the time
//! waited instead of a fifteenth: one poll answers for the whole set, so polling twice as often
//! costs little and keeps each run's lateness no worse than that of a waiter of its own. Each
//! run is yielded as soon as a poll sees it ended.
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
    /// poll; the last poll is sent at the deadline.
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

    /// The runs descend from this one (for example the orchestrator that started them): the
    /// first poll is one listing of its descendants instead of a read of each run, and every
    /// poll is narrowed to them, so other runs of the team ending at the same time cost
    /// nothing. A run of the set that is not among them is read on its own.
    pub fn ancestor_run_id(mut self, run_id: impl Into<String>) -> Self {
        self.ancestor_run_id = Some(run_id.into());
        self
    }

    /// Each run of the set once it is in a terminal state, in the order they were seen to end;
    /// then the stream ends. A failed request ends it with [`WaitError::Api`], the deadline
    /// with [`WaitError::ExceededMaxWait`] (its `last_run` is one of the runs still pending).
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
                Ok(Some(run)) => Some((Ok(run), state)),
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

struct SetWait {
    client: Client,
    /// Runs not read yet: the first poll reads each one.
    to_read: Vec<String>,
    /// Runs not ended yet, as last seen.
    pending: HashMap<String, RunItem>,
    ended: VecDeque<RunItem>,
    policy: DelayPolicy,
    ancestor_run_id: Option<String>,
    started: Option<Instant>,
    polls: u32,
    after_last: bool,
    done: bool,
}

impl SetWait {
    async fn next(&mut self) -> Result<Option<RunItem>, WaitError> {
        loop {
            if let Some(run) = self.ended.pop_front() {
                return Ok(Some(run));
            }
            if !self.to_read.is_empty() {
                if self.polls == 0 && self.ancestor_run_id.is_some() {
                    self.read_descendants().await?;
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
                None => {
                    let mut pending: Vec<_> = self.pending.values().collect();
                    pending.sort_by(|a, b| a.run_id.cmp(&b.run_id));
                    return Err(WaitError::ExceededMaxWait {
                        max_wait: self.policy.max_wait,
                        elapsed: now - started,
                        polls: self.polls,
                        last_run: Box::new(pending[0].clone()),
                        cancel: CancelOutcome::NotRequested,
                    });
                }
            }
            self.poll_ended().await?;
        }
    }

    /// The first poll with an ancestor: one listing of its descendants, whatever their state,
    /// reads every run of the set it finds.
    async fn read_descendants(&mut self) -> Result<(), WaitError> {
        self.started.get_or_insert_with(Instant::now);
        self.polls += 1;
        let Some(ancestor) = self.ancestor_run_id.clone() else {
            return Ok(());
        };
        let runs: Vec<RunItem> = self
            .client
            .list_runs()
            .ancestor_run_id(ancestor)
            .limit(100u64)
            .items()
            .try_collect()
            .await
            .map_err(WaitError::Listing)?;
        for run in runs {
            if let Some(index) = self.to_read.iter().position(|id| *id == run.run_id) {
                self.to_read.swap_remove(index);
                self.settle(run);
            }
        }
        Ok(())
    }

    /// Each run not read yet, a few at a time: the first poll without an ancestor, or the runs
    /// of the set that are not among its descendants.
    async fn read_each(&mut self) -> Result<(), WaitError> {
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
                match client.get_run().run_id(&run_id).send().await {
                    Ok(run) => Ok(run.into_inner()),
                    Err(err) => Err(WaitError::Api {
                        operation: "get_run",
                        run_id: Some(run_id),
                        source: Box::new(err),
                    }),
                }
            });
        let runs: Vec<RunItem> = stream::iter(reads)
            .buffered(FIRST_READS_IN_FLIGHT)
            .try_collect()
            .await?;
        for run in runs {
            self.settle(run);
        }
        Ok(())
    }

    /// One listing of the runs that ended since the oldest pending run last changed.
    async fn poll_ended(&mut self) -> Result<(), WaitError> {
        self.polls += 1;
        let Some(since) = self.pending.values().map(|run| run.updated_at).min() else {
            return Ok(());
        };
        let mut listing = self
            .client
            .list_runs()
            .state(TERMINAL.to_vec())
            .updated_after(since)
            .sort_by(ListRunsSortBy::UpdatedAt)
            .sort_order(ListRunsSortOrder::Asc)
            .limit(100u64);
        if let Some(ancestor) = &self.ancestor_run_id {
            listing = listing.ancestor_run_id(ancestor.clone());
        }
        let runs: Vec<RunItem> = listing
            .items()
            .try_collect()
            .await
            .map_err(WaitError::Listing)?;
        for run in runs {
            if self.pending.contains_key(&run.run_id) {
                self.settle(run);
            }
        }
        Ok(())
    }

    fn settle(&mut self, run: RunItem) {
        if is_terminal(&run.state) {
            self.pending.remove(&run.run_id);
            self.ended.push_back(run);
        } else {
            self.pending.insert(run.run_id.clone(), run);
        }
    }
}
