//! A specific run for a test to put into a running simulator.

use std::collections::BTreeMap;

use crate::RunState;
use crate::state::NewRun;

/// A run to add with [`OzMock::insert_run`](crate::OzMock::insert_run): the prompt, and
/// optionally the state it is in, its title and metadata.
///
/// ```
/// use oz_mock::{OzMock, RunState, SeedRun};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let mock = OzMock::start().await?;
/// let run_id = mock.insert_run(
///     SeedRun::new("Fix the flaky login test")
///         .state(RunState::Failed)
///         .title("Login test")
///         .metadata("team", "core"),
/// );
/// assert_eq!(mock.run_state(&run_id), Some(RunState::Failed));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedRun {
    prompt: String,
    state: Option<RunState>,
    title: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl SeedRun {
    /// A run with this prompt. The prompt's markers (`[fail]`, `[file]`, `[transcript:5MB]`,
    /// ...) apply as to a run created through the API.
    pub fn new(prompt: impl Into<String>) -> Self {
        SeedRun {
            prompt: prompt.into(),
            state: None,
            title: None,
            metadata: BTreeMap::new(),
        }
    }

    /// The state the run is in once inserted; it stays there until
    /// [`OzMock::set_run_state`](crate::OzMock::set_run_state) or a cancellation moves it.
    /// Without it the run starts QUEUED and advances like a run created through the API.
    pub fn state(mut self, state: RunState) -> Self {
        self.state = Some(state);
        self
    }

    /// The run's title (default: the first line of the prompt, as the API derives it).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Adds one metadata entry (a later value for the same key replaces the earlier one), for
    /// `list_runs`' `metadata[key]=value` filter.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    pub(crate) fn into_new_run(self) -> (NewRun, Option<RunState>) {
        let new = NewRun {
            prompt: self.prompt,
            title: self.title,
            skill: None,
            config: None,
            team: false,
            metadata: self.metadata,
            parent_run_id: None,
            agent_identity_uid: None,
            conversation_id: None,
            factory_uid: None,
            pending_task: None,
        };
        (new, self.state)
    }
}
