//! The real-time event stream (`stream_agent_events`): the events of some runs, or of a run's
//! direct children, as server-sent events. Every event with a sequence number above `since` is
//! sent first, then each new one the moment it is recorded: the stream sleeps until the next
//! state of a run it follows is due (runs that move with time) or until any event is recorded
//! (a read, a message, a new child, a run moved by hand), never on a fixed interval.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::extract::RawQuery;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use super::AppState;
use crate::Shared;
use crate::error::{ApiError, ApiResult};
use crate::faults::EventStreamFaults;
use crate::query::Query;
use crate::server::Stop;

/// The runs a stream follows.
enum Followed {
    /// `run_ids[]`: these runs.
    Runs(Vec<usize>),
    /// `ancestor_run_id`: the run's direct children as they are now and as they come, and the
    /// run itself with `include_self=true`.
    ChildrenOf { ancestor: usize, include_self: bool },
}

/// The stream's query, checked.
struct Request {
    run_ids: Vec<String>,
    ancestor: Option<(String, bool)>,
    since: i64,
}

impl Request {
    fn read(raw: Option<&str>) -> ApiResult<Self> {
        let query = Query::parse(raw);
        let run_ids: Vec<String> = query
            .all("run_ids[]")
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        let ancestor = query.get("ancestor_run_id").filter(|v| !v.is_empty());
        let include_self = query.bool("include_self")?;
        let since = query.int_in("since", 0, i64::MAX, 0)?;
        let ancestor = match (ancestor, run_ids.is_empty()) {
            (None, true) => {
                return Err(ApiError::invalid_request(
                    "run_ids[] is required (once per run) unless ancestor_run_id is given",
                ));
            }
            (Some(_), false) => {
                return Err(ApiError::invalid_request(
                    "give either run_ids[] or ancestor_run_id, not both",
                ));
            }
            (None, false) if include_self.is_some() => {
                return Err(ApiError::invalid_request(
                    "include_self applies only with ancestor_run_id",
                ));
            }
            (None, false) => None,
            (Some(id), true) => Some((id.to_owned(), include_self.unwrap_or(false))),
        };
        Ok(Self {
            run_ids,
            ancestor,
            since,
        })
    }
}

pub(crate) async fn stream(
    axum::extract::State(shared): AppState,
    RawQuery(raw): RawQuery,
    faults: Option<Extension<EventStreamFaults>>,
) -> ApiResult<Response> {
    let request = Request::read(raw.as_deref())?;
    let now = shared.clock.now();
    let (followed, events) = {
        let mut state = shared.state();
        // Opening the stream reads the runs it follows, as a poll of them would.
        let followed = match &request.ancestor {
            None => {
                let mut runs = Vec::with_capacity(request.run_ids.len());
                for id in &request.run_ids {
                    runs.push(state.observe_run(id, now)?);
                }
                Followed::Runs(runs)
            }
            Some((id, include_self)) => {
                let ancestor = state.find_run(id)?;
                if *include_self {
                    state.observe(ancestor, now);
                }
                for child in state.children_of(ancestor) {
                    state.observe(child, now);
                }
                Followed::ChildrenOf {
                    ancestor,
                    include_self: *include_self,
                }
            }
        };
        (followed, state.watch_events())
    };
    let feed = Feed {
        closes_at: shared.event_stream_max_age.map(|age| Instant::now() + age),
        stop: shared.stop.clone(),
        shared,
        followed,
        // Event `n` (1-based sequence) sits at index `n - 1`: the first to send is `since`.
        cursor: usize::try_from(request.since).unwrap_or(usize::MAX),
        events,
        faults: faults.map(|Extension(f)| f).unwrap_or_default(),
        queue: VecDeque::new(),
        sent: 0,
        ending: Ending::No,
    };
    let body = Body::from_stream(futures::stream::unfold(feed, |mut feed| async move {
        feed.next().await.map(|item| (item, feed))
    }));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// How the body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Not yet.
    No,
    /// A fault sent half a message: fail the body, which closes the connection.
    Cut,
    /// Done, cleanly.
    Done,
}

/// The body of one stream: what it follows, how far it got, and what wakes it.
struct Feed {
    shared: Arc<Shared>,
    followed: Followed,
    /// The index in the event log of the first event not looked at yet.
    cursor: usize,
    events: watch::Receiver<usize>,
    stop: watch::Receiver<Stop>,
    closes_at: Option<Instant>,
    faults: EventStreamFaults,
    /// Messages found and not sent yet.
    queue: VecDeque<Bytes>,
    /// Whole events sent.
    sent: usize,
    ending: Ending,
}

impl Feed {
    /// The next piece of the body; `None` ends it cleanly.
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            match self.ending {
                Ending::Done => return None,
                Ending::Cut => {
                    self.ending = Ending::Done;
                    // Lets the connection flush the half message before failing the body.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    return Some(Err(std::io::Error::other(
                        "event stream cut by fault injection",
                    )));
                }
                Ending::No => {}
            }
            if self.closes_at.is_some_and(|at| Instant::now() >= at) {
                self.ending = Ending::Done;
                continue;
            }
            if let Some(message) = self.queue.pop_front() {
                if self.sent > 0 && !self.faults.delay.is_zero() {
                    tokio::time::sleep(self.faults.delay).await;
                }
                if self.faults.cut_after == Some(self.sent) {
                    self.ending = Ending::Cut;
                    return Some(Ok(message.slice(..message.len() / 2)));
                }
                self.sent += 1;
                return Some(Ok(message));
            }
            if self.faults.silent {
                self.wait(None).await;
                continue;
            }
            let next_transition = self.collect();
            if !self.queue.is_empty() {
                continue;
            }
            self.wait(next_transition).await;
        }
    }

    /// Lets the followed runs that move with time catch up, queues the new events of the
    /// followed runs, and returns when the next state of one of them is due.
    fn collect(&mut self) -> Option<Instant> {
        let now = self.shared.clock.now();
        let mut state = self.shared.state();
        // Seen under the state's lock: an event recorded after this wakes the stream again.
        self.events.borrow_and_update();
        let runs = match &self.followed {
            Followed::Runs(runs) => runs.clone(),
            Followed::ChildrenOf {
                ancestor,
                include_self,
            } => {
                let mut runs = state.children_of(*ancestor);
                if *include_self {
                    runs.push(*ancestor);
                }
                runs
            }
        };
        for &run in &runs {
            state.catch_up(run, now);
        }
        let recorded = state.events.len();
        for event in state.events.get(self.cursor..).into_iter().flatten() {
            if runs.contains(&event.run) {
                let json = state.event_json(event).to_string();
                self.queue
                    .push_back(Bytes::from(format!("data: {json}\n\n")));
            }
        }
        self.cursor = self.cursor.max(recorded);
        runs.iter()
            .filter_map(|&run| state.next_transition(run))
            .min()
    }

    /// Sleeps until a followed run's next state is due, an event is recorded, the stream's
    /// age is up or the simulator stops.
    async fn wait(&mut self, next_transition: Option<Instant>) {
        let sleep_until = |at: Option<Instant>| async move {
            match at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = self.events.changed() => {
                // The log belongs to the simulator, which outlives its streams.
                if changed.is_err() {
                    self.ending = Ending::Done;
                }
            }
            () = sleep_until(next_transition) => {}
            () = sleep_until(self.closes_at) => self.ending = Ending::Done,
            changed = self.stop.changed() => {
                if changed.is_err() || *self.stop.borrow() != Stop::No {
                    self.ending = Ending::Done;
                }
            }
        }
    }
}
