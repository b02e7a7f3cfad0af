//! Workflows on top of [`oz_api`].
//!
//! The generated client sends one request per call; this crate adds the compound operations
//! that do real work on top of it, as extension traits in the client's own builder vocabulary.
//! Prettier output or thin renames of single calls do not belong here. `oz_api` is re-exported,
//! so one dependency is enough.
//!
//! One vocabulary throughout:
//! - a builder that yields one result ends in `send()`; one that yields many ends in `items()`
//!   ([`ItemStream`]), `pages()` ([`PageStream`]) or `stream()` (every other `…Stream`); a
//!   download ends in `to_file(path)`, `to_writer(w)`, `bytes()` or `json()`. Builders are
//!   named for what they describe ([`WaitForRun`], [`Events`], [`Inbox`], [`Download`]),
//!   streams for what they yield, ending in `Stream`.
//! - every poller takes `min_delay`, `max_delay` and (when it has an end to wait for)
//!   `max_wait`, which bounds the whole wait from the first poll: a request still in flight
//!   at the deadline is abandoned there (the poll sent at the deadline has one more second)
//!   and the wait ends with [`WaitError::ExceededMaxWait`] (`is_timeout()`); every listing
//!   takes `max_items`, `max_pages` and `prefetch`.
//! - every workflow error ([`WaitError`], [`PaginationError`], [`DownloadError`],
//!   [`TailError`]) has a variant `Api { operation, source, .. }` for a request that failed,
//!   reached with `api_error()`, then the workflow's own cases (a set wait's listing failing
//!   is `WaitError::Listing`, its `api_error()` too). `Display` is one line: what the workflow was doing, then its cause's
//!   one line (`get_run of run X failed: 404 Not Found resource_not_found: …`); the cause
//!   stays `source()`. `Debug` is one line too — what `?` in `main` prints — with the details
//!   behind accessors (`last_run()`, `run_id()`, `api_error()`).
//! - nothing here retries an API request: the client's request hook already repeats transient
//!   failures with its own backoff and `max_retries`.
//!
//! | workflow | entry point | ends in |
//! |---|---|---|
//! | every page of a paged list (`list_runs`, `list_factories`, `list_factory_tasks`), filters kept, cursor followed | [`PaginateExt`] on the builder: `client.list_runs().state(..)` | `items()`, `pages()` (`max_items`, `max_pages`, `prefetch`) |
//! | the same, as a stream that owns its client | [`OwnedPaginateExt::paginate`] | `items()`, `pages()` |
//! | wait until a run ends, woken by the real-time stream when it has it | [`RunWaitExt::wait_for_run`] | `send()` (`min_delay`, `max_delay`, `max_wait`) |
//! | wait for a set of runs, one listing per poll for the whole set, each run as it ends, woken by the real-time stream | [`WaitForRunsExt::wait_for_runs`] | `stream()`, `send()`, `ends()` (`min_delay`, `max_delay`, `max_wait`, `ancestor_run_id`) |
//! | start a run and wait for it | [`RunWaitExt::run_and_wait`] | `send()` |
//! | send a follow-up and wait until the run settled again | [`RunWaitExt::followup_and_wait`] | `send()` |
//! | each state change of a run | [`RunWaitExt::watch_run`] | `stream()` (`min_delay`, `max_delay`, `max_wait`) |
//! | transcript, artifact file, conversation screenshot: signed URL followed without credentials, resolved again once when expired, a body cut mid-way continued from the bytes written (see [`DownloadExt`]) | [`DownloadExt`] | `to_file(path)` (`durable(false)` skips the `fsync`), `to_writer(w)`, `bytes()`, `json()` |
//! | download a FILE or SCREENSHOT artifact from the signed URL of its metadata (`get_artifact`) | [`ArtifactFile`]`::try_from(..)`, [`ArtifactFile::download`] | `to_file(path)`, … |
//! | tail of run events, resumable from [`EventStream::since`]: Warp's real-time stream, polls when it is refused | [`EventsExt::events`], [`EventsExt::events_of_children`] | `stream()` (`transport`, `recycle_after`, `min_delay`, `max_delay`) |
//! | inbox of a run, resumable from [`InboxStream::since`] | [`MessagesExt::inbox`] | `stream()` (`min_delay`, `max_delay`) |
//!
//! Every stream and future owns a clone of the client (a cheap handle), so it can be moved into
//! `tokio::spawn`, except the listings made from a generated builder, which borrow the client
//! that builder came from: use [`OwnedPaginateExt::paginate`] for those.
//!
//! Every item is at the crate root (the modules are private), one path each. Every poller —
//! the waiters, the set wait and the tails — runs on one poll engine: a delay policy, an
//! acceptor that decides done / keep polling / failed, and one clock and sleep, so the same
//! settings mean the same thing everywhere.
//!
//! A single call needs no workflow: interrupting a run, reading a message
//! (`read_agent_message`) or acknowledging it (`mark_agent_message_delivered`) are calls of the
//! client; `client.interrupt_run().run_id(id).send()` (and `interrupt_conversation`) answers 202
//! once the interrupt was accepted.
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use oz_api_ext::oz_api::types::{RunAgentRequest, RunFollowupRequest, RunState};
//! use oz_api_ext::{DownloadExt, PaginateExt, RunWaitExt};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = oz_api_ext::oz_api::Client::from_env()?;
//! let run = client
//!     .run_and_wait(RunAgentRequest::builder().prompt("Fix the flaky test"))
//!     .send()
//!     .await?;
//! println!("{} ended as {}", run.run_id, run.state);
//!
//! let run = client
//!     .followup_and_wait(
//!         &run.run_id,
//!         RunFollowupRequest::builder().message("Add a regression test"),
//!     )
//!     .send()
//!     .await?;
//! client.download_transcript(&run.run_id).to_file("transcript.json").await?;
//!
//! let failed: Vec<_> = client
//!     .list_runs()
//!     .state(RunState::Failed)
//!     .items()
//!     .max_items(200)
//!     .try_collect()
//!     .await?;
//! println!("{} failed runs", failed.len());
//!
//! let factories: Vec<_> = client.list_factories().items().try_collect().await?;
//! println!("{} factories", factories.len());
//! # Ok(()) }
//! ```
//!
//! # Configuration
//!
//! The client's settings (key, base URL, time limits, retries, proxies, a prepared HTTP client)
//! are those of [`oz_api::Config`]; the table is on [`oz_api`]'s page.
//!
//! # Feature flags
//!
//! The features select the client's HTTP stack and are passed on to `oz-api`.
//!
#![cfg_attr(feature = "document-features", doc = document_features::document_features!())]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
pub use oz_api;

/// `with_options` of a workflow builder whose `client` field is the client it sends with.
macro_rules! with_options {
    ($requests:literal) => {
        #[doc = concat!(
            "Options for every request ", $requests, ": a deadline for each request (its ",
            "attempts and their pauses), how often to retry, extra headers (see ",
            "[`RequestOptions`](oz_api::RequestOptions)). They replace the client's own, ",
            "setting by setting (see [`Client::with_options`](oz_api::Client::with_options))."
        )]
        pub fn with_options(mut self, options: oz_api::RequestOptions) -> Self {
            self.client = self.client.with_options(options);
            self
        }
    };
}

mod download;
mod events;
// The `CursorPaged` impls of the paged lists, generated from openapi.json (`x-oz-paged`).
#[rustfmt::skip]
mod generated_pagination;
mod messages;
mod pagination;
mod poll;
mod realtime;
mod sse;
mod tail;
mod wait_set;
mod waiter;
mod wake;

pub use download::{
    ArtifactFile, Download, DownloadError, DownloadExt, Progress, RedactedUrl, ResumeObstacle,
    UrlContext,
};
pub use events::{EventStream, Events, EventsExt, Transport};
pub use messages::{Inbox, InboxStream, MessagesExt};
pub use pagination::{
    CursorPaged, ItemStream, OwnedPaginateExt, Page, PageFuture, PageStream, Paginate, PaginateExt,
    PaginationError,
};
pub use poll::{
    DEFAULT_MAX_DELAY, DEFAULT_MAX_WAIT, DEFAULT_MIN_DELAY, DEFAULT_TAIL_MAX_DELAY,
    DEFAULT_TAIL_MIN_DELAY,
};
pub use realtime::{DEFAULT_RECYCLE_AFTER, STREAM_REFUSAL_MEMORY};
pub use tail::TailError;
pub use wait_set::{EndedRunStream, RunEnd, RunEndStream, WaitForRuns, WaitForRunsExt};
pub use waiter::{
    CancelOutcome, FollowupAndWait, RunAndWait, RunStateStream, RunWaitExt, WaitError, WaitForRun,
    WatchRun, is_terminal,
};
pub use wake::reports_an_end;

/// The crate README's examples (the page crates.io shows), compiled as doctests so they never
/// drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
