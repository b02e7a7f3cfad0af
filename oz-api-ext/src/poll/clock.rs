//! Where the poll engine reads the time and how it sleeps.

use std::future::Future;

use oz_api::time::{AsyncSleep, SharedSleep};
use tokio::time::Instant;

/// The clock and sleep of the poll engine. Every pause between two polls goes through the
/// client's [`sleep_impl`](oz_api::Client::sleep_impl) (the one the client's retries and the
/// downloads use; Tokio's timer unless another was given to `Config::sleep_impl`); the time
/// and the deadlines are Tokio's clock, like the client's request timeout. A test on Tokio's
/// paused clock controls all of them; a test's sleep that records its pauses and returns at
/// once sees every pause of a wait that ends.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock {
    sleep: SharedSleep,
}

impl Clock {
    /// The clock the client's requests use.
    pub(crate) fn of(client: &oz_api::Client) -> Self {
        Self {
            sleep: client.sleep_impl().clone(),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::now()
    }

    /// A sleep that ends at `at`.
    pub(crate) fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> + Send + 'static {
        self.sleep.sleep(at.saturating_duration_since(self.now()))
    }
}
