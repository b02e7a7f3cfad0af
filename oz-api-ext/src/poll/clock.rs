//! Where the poll engine reads the time and how it sleeps.

use std::future::Future;

use tokio::time::Instant;

/// The clock and sleep of the poll engine: every pause, deadline and abandoned request goes
/// through it, so a test on tokio's paused clock controls all of them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock {
    _private: (),
}

impl Clock {
    /// The clock the client's requests use.
    pub(crate) fn of(_client: &oz_api::Client) -> Self {
        Self::default()
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::now()
    }

    /// A sleep that ends at `at`.
    pub(crate) fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep_until(at)
    }
}
