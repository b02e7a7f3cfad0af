//! Workflows on top of [`oz_api`].
//!
//! The generated client sends one request per call; this crate adds the compound operations
//! that do real work on top of it, as extension traits in the client's own builder vocabulary:
//! pagination streams ([`ListRunsExt`]), waiting for a run to end ([`RunWaitExt`]), downloads
//! that follow signed URLs, and tails of events and messages. Prettier output or thin renames
//! of single calls do not belong here. `oz_api` is re-exported, so one dependency is enough.
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use oz_api_ext::oz_api::types::{RunAgentRequest, RunState};
//! use oz_api_ext::{ListRunsExt, RunWaitExt};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = oz_api_ext::oz_api::Client::from_env()?;
//! let run = client
//!     .run_and_wait(RunAgentRequest::builder().prompt("Fix the flaky test".to_owned()))
//!     .send()
//!     .await?;
//! println!("{} ended as {}", run.run_id, run.state);
//!
//! let failed: Vec<_> = client
//!     .list_runs()
//!     .state(vec![RunState::Failed])
//!     .items()
//!     .max_items(200)
//!     .try_collect()
//!     .await?;
//! println!("{} failed runs", failed.len());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
pub use oz_api;

pub mod download;
pub mod events;
pub mod messages;
pub mod pagination;
pub mod waiter;

pub use download::{ArtifactFile, Download, DownloadError, DownloadExt, Progress, RedactedUrl};
pub use events::{EventStream, EventsExt, EventsTail};
pub use messages::{Inbox, InboxStream, MessagesExt};
pub use pagination::{ListRunsExt, PaginationError, RunItems, RunPages, RunsPage};
pub use waiter::{
    CancelOutcome, RunAndWait, RunWaitExt, WaitError, WaitForRun, WatchRun, is_terminal,
};

/// The README's examples, compiled as doctests so they never drift from the API.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
