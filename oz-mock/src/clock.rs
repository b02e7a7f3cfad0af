//! The simulator's clock: wall time at start plus the time tokio measured since, so tests with
//! paused time (`tokio::time::advance`) move run progressions, timestamps and URL expiry.

use chrono::{DateTime, SubsecRound, Utc};
use tokio::time::Instant;

pub(crate) struct Clock {
    wall_start: DateTime<Utc>,
    instant_start: Instant,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Self {
            wall_start: Utc::now(),
            instant_start: Instant::now(),
        }
    }

    /// Now, to the microsecond: the precision timestamps are written with, so a timestamp
    /// read back from an answer compares equal to the one stored.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let elapsed = Instant::now().saturating_duration_since(self.instant_start);
        let now = self.wall_start
            + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::zero());
        now.trunc_subsecs(6)
    }

    pub(crate) fn now_unix(&self) -> i64 {
        self.now().timestamp()
    }
}

/// RFC 3339 with microseconds and `Z`, as the service writes timestamps.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
