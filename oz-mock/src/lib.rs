#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod body;
mod clock;
mod error;
mod factory_files;
mod faults;
mod ids;
mod ops;
mod pipeline;
mod query;
mod request_check;
mod request_log;
mod routes;
mod schema_check;
mod schema_conversion;
mod seed_run;
mod server;
mod signing;
#[cfg(feature = "validation")]
pub mod spec_validation;
mod state;
mod storage;

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use faults::{Fault, FaultRule, FaultScope, RetryAfter};
pub use request_log::{
    Authorization, REDACTED, REQUEST_LOG_BODY_CAPACITY, REQUEST_LOG_CAPACITY, ReceivedRequest,
};
pub use seed_run::SeedRun;
pub use state::{ListRunsStats, Progression, RunState, UnknownRunState};
pub use storage::StorageRequest;

/// API key the simulator accepts unless [`OzMockBuilder::api_key`] sets another.
pub const DEFAULT_API_KEY: &str = "wk-oz-mock-local";

/// Lifetime of signed storage URLs unless [`OzMockBuilder::signed_url_ttl`] sets another.
pub const DEFAULT_SIGNED_URL_TTL: Duration = Duration::from_secs(15 * 60);

/// Size of a run's transcript unless a `[transcript:SIZE]` marker or
/// [`OzMockBuilder::transcript_size`] sets another.
pub const DEFAULT_TRANSCRIPT_SIZE: usize = 2 * 1024;

/// Everything the API and storage listeners share.
pub(crate) struct Shared {
    pub(crate) api_key: String,
    pub(crate) storage_origin: String,
    pub(crate) clock: clock::Clock,
    pub(crate) signer: signing::Signer,
    pub(crate) state: Mutex<state::State>,
    pub(crate) faults: Mutex<Vec<FaultRule>>,
    pub(crate) request_counts: Mutex<BTreeMap<String, usize>>,
    pub(crate) request_log: Mutex<request_log::RequestLog>,
    pub(crate) storage_log: Mutex<VecDeque<StorageRequest>>,
    pub(crate) storage_ranges: bool,
    /// Whether `stream_agent_events` is served (otherwise its path answers 404).
    pub(crate) event_stream: AtomicBool,
    /// How long an event stream stays open before the simulator closes it cleanly.
    pub(crate) event_stream_max_age: Option<Duration>,
    /// Tells the event streams that the simulator is stopping, so that they end and let a
    /// graceful stop finish.
    pub(crate) stop: tokio::sync::watch::Receiver<server::Stop>,
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, state::State> {
        lock(&self.state)
    }
}

/// Locks a mutex, carrying on with the data if another thread panicked while holding it (the
/// simulator's data stays usable for inspection).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Settings for a simulator; obtained from [`OzMock::builder`].
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// let mock = oz_mock::OzMock::builder()
///     .api_key("wk-test")
///     .progression(oz_mock::Progression::Realistic)
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OzMockBuilder {
    host: IpAddr,
    port: u16,
    storage_port: u16,
    api_key: String,
    progression: Progression,
    seed_runs: usize,
    seed_factory_tasks: bool,
    transcript_size: usize,
    signed_url_ttl: Duration,
    credits: Option<u64>,
    concurrency_limit: Option<usize>,
    storage_ranges: bool,
    event_stream: bool,
    event_stream_max_age: Option<Duration>,
}

impl std::fmt::Debug for OzMockBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OzMockBuilder")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("storage_port", &self.storage_port)
            .field("api_key", &"<redacted>")
            .field("progression", &self.progression)
            .field("seed_runs", &self.seed_runs)
            .field("seed_factory_tasks", &self.seed_factory_tasks)
            .field("transcript_size", &self.transcript_size)
            .field("signed_url_ttl", &self.signed_url_ttl)
            .field("credits", &self.credits)
            .field("concurrency_limit", &self.concurrency_limit)
            .field("storage_ranges", &self.storage_ranges)
            .field("event_stream", &self.event_stream)
            .field("event_stream_max_age", &self.event_stream_max_age)
            .finish()
    }
}

impl Default for OzMockBuilder {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            storage_port: 0,
            api_key: DEFAULT_API_KEY.to_owned(),
            progression: Progression::Instant,
            seed_runs: 0,
            seed_factory_tasks: false,
            transcript_size: DEFAULT_TRANSCRIPT_SIZE,
            signed_url_ttl: DEFAULT_SIGNED_URL_TTL,
            credits: None,
            concurrency_limit: None,
            storage_ranges: true,
            event_stream: true,
            event_stream_max_age: None,
        }
    }
}

impl OzMockBuilder {
    /// Address to listen on (default `127.0.0.1`).
    pub fn host(mut self, host: IpAddr) -> Self {
        self.host = host;
        self
    }

    /// Port of the API listener (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Port of the storage listener (default 0: any free port).
    pub fn storage_port(mut self, port: u16) -> Self {
        self.storage_port = port;
        self
    }

    /// API key the simulator accepts (default [`DEFAULT_API_KEY`]).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// How runs advance through their states (default [`Progression::Instant`]).
    pub fn progression(mut self, progression: Progression) -> Self {
        self.progression = progression;
        self
    }

    /// Pre-creates `count` finished runs with varied states, sources, skills, environments and
    /// metadata, for pagination tests and benchmarks.
    pub fn seed_runs(mut self, count: usize) -> Self {
        self.seed_runs = count;
        self
    }

    /// Pre-creates work in the two factories every simulator has: tasks in every stage bound
    /// to conversations of runs that are queued, in progress (with child runs), blocked,
    /// succeeded (with pull requests, screenshots and files) or cancelled, on Warp's harness,
    /// Claude Code and Codex, plus one finished run whose conversation no task is bound to
    /// (these runs count in [`OzMock::run_count`], not in [`OzMock::created_run_count`]).
    /// Off by default; the `oz-mock` binary turns it on.
    pub fn seed_factory_tasks(mut self, seed: bool) -> Self {
        self.seed_factory_tasks = seed;
        self
    }

    /// Default transcript size in bytes for runs without a `[transcript:SIZE]` marker.
    /// Transcripts of 16 MiB or more are generated while they are sent (exactly this size), so
    /// a gigabyte transcript costs the simulator no gigabyte of memory.
    pub fn transcript_size(mut self, bytes: usize) -> Self {
        self.transcript_size = bytes;
        self
    }

    /// Lifetime of the signed storage URLs the simulator hands out.
    pub fn signed_url_ttl(mut self, ttl: Duration) -> Self {
        self.signed_url_ttl = ttl;
        self
    }

    /// The team's credits, counted in runs: each run created through the API (`create_run`,
    /// `run_agent`, `create_factory_run`) uses one. Once none is left, creating a run is
    /// refused as the service refuses it: 429 with `X-Warp-Error-Code: OUT_OF_CREDITS`,
    /// `x-should-retry: false` and a problem body with `retryable: false` and a
    /// `userDisplayMessage`; no run is created. Default: unlimited.
    /// [`OzMock::set_credits`] changes them while the simulator runs.
    ///
    /// ```
    /// # async fn example() -> std::io::Result<()> {
    /// // Two runs can be created, the third is refused with 429 OUT_OF_CREDITS.
    /// let mock = oz_mock::OzMock::builder().credits(2).start().await?;
    /// assert_eq!(mock.credits(), Some(2));
    /// # Ok(()) }
    /// ```
    pub fn credits(mut self, runs: u64) -> Self {
        self.credits = Some(runs);
        self
    }

    /// The team's cloud agent concurrency limit: creating a run while `runs` of the team's
    /// runs are live (not ended; seeded runs included) is refused as the service refuses it:
    /// 403 with `X-Warp-Error-Code: AT_CLOUD_AGENT_CAPACITY`, `x-should-retry: false` and a
    /// problem body whose `running_agents` is the number of live runs; no run is created.
    /// Capacity frees up when a run ends (under [`Progression::Instant`] a run ends when it
    /// is first read). Default: no limit. [`OzMock::set_concurrency_limit`] changes it while
    /// the simulator runs.
    ///
    /// ```
    /// # async fn example() -> std::io::Result<()> {
    /// // One run at a time: a second create while the first is live gets 403
    /// // AT_CLOUD_AGENT_CAPACITY with "running_agents": 1.
    /// let mock = oz_mock::OzMock::builder()
    ///     .progression(oz_mock::Progression::Realistic)
    ///     .concurrency_limit(1)
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn concurrency_limit(mut self, runs: usize) -> Self {
        self.concurrency_limit = Some(runs);
        self
    }

    /// Whether the storage origin answers byte ranges (`Range`, `206`, `Accept-Ranges: bytes`;
    /// default `true`). With `false` it ignores `Range` and always sends the whole object, as
    /// some stores and proxies do.
    pub fn storage_ranges(mut self, ranges: bool) -> Self {
        self.storage_ranges = ranges;
        self
    }

    /// Whether the real-time event stream (`GET /agent/events/stream`, operation
    /// `stream_agent_events`) is served (default `true`). With `false` its path answers 404
    /// as on a host without the stream, whatever the key, so that a client's fallback to
    /// polling `GET /agent/events` can be tested; the request still counts and is logged as
    /// `stream_agent_events`. [`OzMock::set_event_stream`] switches it while the simulator
    /// runs. The binary's flag is `--event-stream off`.
    pub fn event_stream(mut self, served: bool) -> Self {
        self.event_stream = served;
        self
    }

    /// Closes every event stream cleanly (the last message complete, then the end of the
    /// body) once it has been open this long (tokio's clock), to exercise a client's
    /// reconnection. Default: never; the hosting platform of the real stream cuts streams
    /// at about 20 minutes, which `Duration::from_secs(1200)` mimics. The binary's flag is
    /// `--event-stream-max-age SECONDS`.
    ///
    /// ```
    /// # async fn example() -> std::io::Result<()> {
    /// let mock = oz_mock::OzMock::builder()
    ///     .event_stream_max_age(std::time::Duration::from_secs(30))
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn event_stream_max_age(mut self, max_age: Duration) -> Self {
        self.event_stream_max_age = Some(max_age);
        self
    }

    /// Binds both listeners and starts serving on the current tokio runtime.
    pub async fn start(self) -> io::Result<OzMock> {
        let api_listener = TcpListener::bind(SocketAddr::new(self.host, self.port)).await?;
        let storage_listener =
            TcpListener::bind(SocketAddr::new(self.host, self.storage_port)).await?;
        let api_addr = api_listener.local_addr()?;
        let storage_addr = storage_listener.local_addr()?;
        let clock = clock::Clock::start();
        let mut state = state::State::new(
            self.progression,
            self.transcript_size,
            fastrand::u64(..),
            clock.now(),
        );
        state.credits = self.credits;
        state.concurrency_limit = self.concurrency_limit;
        let (stop, stopped) = tokio::sync::watch::channel(server::Stop::No);
        let shared = Arc::new(Shared {
            storage_origin: format!("http://{storage_addr}"),
            api_key: self.api_key,
            clock,
            signer: signing::Signer::new(fastrand::u64(..), self.signed_url_ttl),
            state: Mutex::new(state),
            faults: Mutex::new(Vec::new()),
            request_counts: Mutex::new(BTreeMap::new()),
            request_log: Mutex::new(request_log::RequestLog::default()),
            storage_log: Mutex::new(VecDeque::new()),
            storage_ranges: self.storage_ranges,
            event_stream: AtomicBool::new(self.event_stream),
            event_stream_max_age: self.event_stream_max_age,
            stop: stopped.clone(),
        });
        if self.seed_runs > 0 {
            let now = shared.clock.now();
            shared.state().seed_runs(self.seed_runs, now);
        }
        if self.seed_factory_tasks {
            let now = shared.clock.now();
            shared.state().seed_factory_tasks(now);
        }
        let api_task = tokio::spawn(server::serve(
            api_listener,
            pipeline::api_router(shared.clone()),
            stopped.clone(),
        ));
        let storage_task = tokio::spawn(server::serve(
            storage_listener,
            storage::router(shared.clone()),
            stopped,
        ));
        Ok(OzMock {
            shared,
            api_addr,
            storage_addr,
            stop,
            tasks: vec![api_task, storage_task],
        })
    }
}

/// A running simulator. Dropping it stops both listeners; [`OzMock::shutdown`] does the same
/// and waits until they have stopped.
pub struct OzMock {
    shared: Arc<Shared>,
    api_addr: SocketAddr,
    storage_addr: SocketAddr,
    stop: tokio::sync::watch::Sender<server::Stop>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for OzMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OzMock")
            .field("api_addr", &self.api_addr)
            .field("storage_addr", &self.storage_addr)
            .finish_non_exhaustive()
    }
}

impl OzMock {
    /// Starts a simulator with default settings on `127.0.0.1` (free ports).
    pub async fn start() -> io::Result<OzMock> {
        OzMockBuilder::default().start().await
    }

    /// Settings for a simulator.
    pub fn builder() -> OzMockBuilder {
        OzMockBuilder::default()
    }

    /// Base URL of the API, e.g. `http://127.0.0.1:41234/api/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.api_addr)
    }

    /// Address of the API listener.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Origin of the storage listener that serves signed downloads, e.g. `http://127.0.0.1:41235`.
    pub fn storage_origin(&self) -> String {
        format!("http://{}", self.storage_addr)
    }

    /// The API key the simulator accepts.
    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// Number of runs created through the API (seeded runs not included).
    pub fn created_run_count(&self) -> usize {
        self.shared.state().created_run_count()
    }

    /// Total number of runs, seeded ones included.
    pub fn run_count(&self) -> usize {
        self.shared.state().run_count()
    }

    /// Current state of a run (advancing it as a read would not).
    pub fn run_state(&self, run_id: &str) -> Option<RunState> {
        self.shared
            .state()
            .phase_of(run_id)
            .map(|p| p.to_run_state())
    }

    /// Adds a run, as a test's starting point, and returns its id: QUEUED and advancing like
    /// a run created through the API, or put in [`SeedRun::state`] the way
    /// [`OzMock::set_run_state`] moves a run (with the same events). It counts in
    /// [`OzMock::run_count`], not in [`OzMock::created_run_count`], and sends no request, so
    /// the request log and request counts do not show it.
    pub fn insert_run(&self, run: SeedRun) -> String {
        let (new, run_state) = run.into_new_run();
        let now = self.shared.clock.now();
        let mut state = self.shared.state();
        let idx = state.add_run(new, now);
        if let Some(run_state) = run_state {
            state.force_phase_of(idx, state::Phase::from_run_state(run_state), now);
        }
        state.run(idx).id.clone()
    }

    /// Moves a run to `state` now and stops its automatic progression, e.g. to test cancelling
    /// a PENDING run. Returns `false` for an unknown run.
    ///
    /// The run goes the way it would on its own and comes out as such a run would be: from
    /// QUEUED to SUCCEEDED it passes PENDING, CLAIMED and INPROGRESS, emitting
    /// `run_in_progress` then `run_succeeded`, and gets a conversation, a session and its
    /// artifacts. CANCELLED is entered directly from any state, as a cancellation does (the
    /// run's factory tasks are cancelled with it). A move back (INPROGRESS to PENDING) or away
    /// from an ended state is one transition, with the event of the state entered, if it has
    /// one. All transitions are timestamped now.
    pub fn set_run_state(&self, run_id: &str, state: RunState) -> bool {
        let now = self.shared.clock.now();
        self.shared
            .state()
            .force_phase(run_id, state::Phase::from_run_state(state), now)
    }

    /// Every request the storage listener received, oldest first (the last
    /// [`REQUEST_LOG_CAPACITY`]).
    pub fn storage_requests(&self) -> Vec<StorageRequest> {
        lock(&self.shared.storage_log).iter().cloned().collect()
    }

    /// Every request the API listener received, oldest first, with the status it was
    /// answered with: for a test to check what a client sent. Requests turned away by auth,
    /// by the request checks or by a fault are included.
    ///
    /// The log keeps the last [`REQUEST_LOG_CAPACITY`] requests and at most
    /// [`REQUEST_LOG_BODY_CAPACITY`] bytes of bodies, dropping the oldest first. The
    /// `Authorization` value is not kept, only [`ReceivedRequest::authorization`].
    /// [`OzMock::reset_counters`] empties it.
    pub fn received_requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.shared.request_log).requests()
    }

    /// The received requests of one operation id (e.g. `"create_run"`), oldest first;
    /// `"unknown"` selects requests no operation matched.
    pub fn received_requests_for(&self, operation_id: &str) -> Vec<ReceivedRequest> {
        lock(&self.shared.request_log).requests_for(operation_id)
    }

    /// Number of requests that arrived for an operation id (e.g. `"get_run"`), faulted ones
    /// included. Storage downloads count as `"storage_download"`, unknown routes as `"unknown"`.
    pub fn request_count(&self, operation_id: &str) -> usize {
        lock(&self.shared.request_counts)
            .get(operation_id)
            .copied()
            .unwrap_or(0)
    }

    /// What the answers of `list_runs` have cost the simulator since it started: pages, runs
    /// rendered or reused, and the time spent selecting and rendering them. Benchmarks read it
    /// to tell the simulator's share of a fetch from the transfer and the client's decode.
    pub fn list_runs_stats(&self) -> ListRunsStats {
        self.shared.state().render_cache.stats()
    }

    /// Request counts of every operation that was called at least once.
    pub fn request_counts(&self) -> BTreeMap<String, usize> {
        lock(&self.shared.request_counts).clone()
    }

    /// Forgets request counts, received requests and recorded storage requests.
    pub fn reset_counters(&self) {
        lock(&self.shared.request_counts).clear();
        lock(&self.shared.request_log).clear();
        lock(&self.shared.storage_log).clear();
    }

    /// Adds a fault rule; rules apply in the order they were added.
    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.shared.faults).push(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Number of fault rules that still have requests to affect.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).len()
    }

    /// The runs the team can still create (`None`: unlimited); see
    /// [`OzMockBuilder::credits`].
    pub fn credits(&self) -> Option<u64> {
        self.shared.state().credits
    }

    /// Sets the runs the team can still create (`None`: unlimited), e.g. `Some(0)` to test
    /// what a caller does when the account runs out of credits; see
    /// [`OzMockBuilder::credits`].
    pub fn set_credits(&self, runs: Option<u64>) {
        self.shared.state().credits = runs;
    }

    /// Sets the team's concurrency limit (`None`: no limit); see
    /// [`OzMockBuilder::concurrency_limit`].
    pub fn set_concurrency_limit(&self, runs: Option<usize>) {
        self.shared.state().concurrency_limit = runs;
    }

    /// Switches the real-time event stream on or off from the next request on (streams open
    /// now go on); see [`OzMockBuilder::event_stream`].
    pub fn set_event_stream(&self, served: bool) {
        self.shared.event_stream.store(served, Ordering::Relaxed);
    }

    /// Changes the lifetime of signed storage URLs handed out from now on.
    pub fn set_signed_url_ttl(&self, ttl: Duration) {
        self.shared.signer.set_ttl(ttl);
    }

    /// Stops both listeners gracefully: no new connection is accepted, idle connections are
    /// closed, and requests in flight (downloads included) finish, answered with
    /// `Connection: close`, for at most `grace`; connections still busy then are closed.
    /// Returns once both listeners have stopped. The `oz-mock` binary stops this way on
    /// Ctrl-C and SIGTERM.
    ///
    /// ```
    /// # async fn example() -> std::io::Result<()> {
    /// let mock = oz_mock::OzMock::start().await?;
    /// mock.shutdown_gracefully(std::time::Duration::from_secs(5)).await;
    /// # Ok(()) }
    /// ```
    pub async fn shutdown_gracefully(mut self, grace: Duration) {
        // Both tasks hold a receiver until they end, so the send reaches them.
        let _ = self.stop.send(server::Stop::Gracefully(grace));
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }

    /// Stops both listeners at once, closing every connection (requests in flight are cut
    /// off), and waits until they have stopped. [`OzMock::shutdown_gracefully`] lets them
    /// finish.
    pub async fn shutdown(mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for OzMock {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
