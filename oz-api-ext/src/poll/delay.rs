//! Delay policies: how long the poll engine pauses between two polls.
//!
//! The crate has three delay schemes, with different meanings, so each has its own name:
//! - [`GrowWithWait`]: waits that have an end (a run, a set of runs). The pause is a share of
//!   the time waited so far, within `[min_delay, max_delay]`, less up to 20 % of random jitter
//!   (never below `min_delay`). A run that ends within a minute is seen within a few seconds, a
//!   run of an hour is polled every 30 s.
//! - [`DoubleWhileIdle`]: tails that never end (events, an inbox). `min_delay` after a poll
//!   that brought news, doubling up to `max_delay` while nothing happens.
//! - backoff after a failure (the client's retries, the storage requests of downloads, and the
//!   reconnects of a stream): the client's retry schedule in `oz_api`, not a poll delay: it
//!   counts failed attempts, not the time waited or the news.

use std::time::Duration;

/// What a poll brought; the delay policy and the engine decide the next pause from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    /// Nothing new.
    Idle,
    /// Something new: a tail goes back to its shortest pause.
    News,
    /// Something new, and more is waiting (a full page): poll again at once.
    More,
}

/// How long to pause after a poll.
pub(crate) trait DelayPolicy: Send + Sync + 'static {
    /// The pause after a poll made `waited` into the wait that brought `activity`.
    fn delay(&mut self, waited: Duration, activity: Activity) -> Duration;
}

/// The pause of a wait grows with the time waited so far; see the [module docs](self).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GrowWithWait {
    pub(crate) min_delay: Duration,
    pub(crate) max_delay: Duration,
    /// The share of the time waited that the pause grows to (before clamping and jitter).
    pub(crate) share: f64,
}

impl GrowWithWait {
    /// The shortest pause, whatever `min_delay` says: a run is never polled in a tight loop.
    pub(crate) const FLOOR: Duration = Duration::from_millis(100);
    /// One run: a fifteenth of the time waited.
    pub(crate) const ONE_RUN: f64 = 1.0 / 15.0;
    /// A set of runs: one poll answers for every run of the set, so it polls twice as often
    /// for the same time waited, which keeps its lateness at or below that of independent
    /// waiters whose jittered polls fall at different moments.
    pub(crate) const SET_OF_RUNS: f64 = 1.0 / 30.0;
    /// At most this share of a pause is taken off at random, so that many waiters started
    /// together spread their polls.
    const JITTER: f64 = 0.2;

    /// The pause after a poll made `waited` into the wait: `waited · share` within
    /// `[min_delay, max_delay]`, less up to 20 % jitter but never below `min_delay`; `unit` is
    /// random in [0, 1).
    pub(crate) fn pause(&self, waited: Duration, unit: f64) -> Duration {
        let min = self.min_delay.max(Self::FLOOR);
        let max = self.max_delay.max(min);
        let nominal = waited.mul_f64(self.share).clamp(min, max);
        nominal
            .saturating_sub(nominal.mul_f64(Self::JITTER * unit.clamp(0.0, 1.0)))
            .max(min)
    }
}

impl DelayPolicy for GrowWithWait {
    fn delay(&mut self, waited: Duration, _: Activity) -> Duration {
        self.pause(waited, fastrand::f64())
    }
}

/// The pause of a tail doubles while nothing happens; see the [module docs](self).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DoubleWhileIdle {
    min: Duration,
    max: Duration,
    next_idle: Duration,
}

impl DoubleWhileIdle {
    /// The shortest pause a tail makes, whatever `min_delay` says.
    pub(crate) const FLOOR: Duration = Duration::from_millis(1);

    pub(crate) fn new(min_delay: Duration, max_delay: Duration) -> Self {
        let min = min_delay.max(Self::FLOOR);
        let max = max_delay.max(min);
        Self {
            min,
            max,
            next_idle: min,
        }
    }
}

impl DelayPolicy for DoubleWhileIdle {
    fn delay(&mut self, _: Duration, activity: Activity) -> Duration {
        match activity {
            Activity::News | Activity::More => {
                self.next_idle = self.min;
                self.min
            }
            Activity::Idle => {
                let delay = self.next_idle;
                self.next_idle = (self.next_idle * 2).min(self.max);
                delay
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grow(min: u64, max: u64) -> GrowWithWait {
        GrowWithWait {
            min_delay: Duration::from_secs(min),
            max_delay: Duration::from_secs(max),
            share: GrowWithWait::ONE_RUN,
        }
    }

    #[test]
    fn a_set_wait_pauses_half_as_long_for_the_same_time_waited() {
        let single = grow(2, 30);
        let set = GrowWithWait {
            share: GrowWithWait::SET_OF_RUNS,
            ..single
        };
        let waited = Duration::from_secs(120);
        assert_eq!(single.pause(waited, 0.0), Duration::from_secs(8));
        assert_eq!(set.pause(waited, 0.0), Duration::from_secs(4));
        // The same floor and ceiling.
        assert_eq!(
            set.pause(Duration::from_secs(10), 0.0),
            Duration::from_secs(2)
        );
        assert_eq!(
            set.pause(Duration::from_secs(3_600), 0.0),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn pauses_grow_with_the_time_waited_between_min_and_max() {
        let p = grow(2, 30);
        let at = |secs: u64, unit: f64| p.pause(Duration::from_secs(secs), unit);
        assert_eq!(at(0, 0.0), Duration::from_secs(2));
        assert_eq!(at(30, 0.0), Duration::from_secs(2));
        assert_eq!(at(60, 0.0), Duration::from_secs(4));
        assert_eq!(at(300, 0.0), Duration::from_secs(20));
        assert_eq!(at(3600, 0.0), Duration::from_secs(30));
        // Jitter takes off at most a fifth, never going below min_delay.
        assert_eq!(at(60, 0.999_999).as_secs_f64().round(), 3.0);
        assert_eq!(at(3600, 0.5), Duration::from_secs(27));
        assert_eq!(at(10, 0.9), Duration::from_secs(2));
    }

    #[test]
    fn a_max_delay_below_the_min_delay_means_the_min_delay() {
        assert_eq!(
            grow(5, 1).pause(Duration::from_secs(600), 0.9),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn a_zero_min_delay_still_pauses() {
        let p = grow(0, 0);
        assert_eq!(p.pause(Duration::ZERO, 0.0), GrowWithWait::FLOOR);
        assert_eq!(p.pause(Duration::from_secs(90), 0.9), GrowWithWait::FLOOR);
    }

    #[test]
    fn huge_settings_do_not_overflow() {
        let p = GrowWithWait {
            min_delay: Duration::MAX,
            max_delay: Duration::MAX,
            share: GrowWithWait::ONE_RUN,
        };
        assert_eq!(p.pause(Duration::MAX, 0.5), Duration::MAX);
        assert_eq!(
            grow(2, 30).pause(Duration::MAX, 0.0),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn idle_pauses_double_up_to_the_bound_and_news_resets_them() {
        let mut p = DoubleWhileIdle::new(Duration::from_secs(1), Duration::from_secs(8));
        let mut next = |activity| p.delay(Duration::ZERO, activity).as_secs();
        let idle: Vec<_> = (0..5).map(|_| next(Activity::Idle)).collect();
        assert_eq!(idle, [1, 2, 4, 8, 8]);
        assert_eq!(next(Activity::News), 1);
        assert_eq!(next(Activity::Idle), 1);
        assert_eq!(next(Activity::Idle), 2);
    }

    #[test]
    fn tail_pauses_are_kept_sane() {
        let mut p = DoubleWhileIdle::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(
            p.delay(Duration::ZERO, Activity::Idle),
            DoubleWhileIdle::FLOOR
        );
        assert_eq!(
            p.delay(Duration::ZERO, Activity::Idle),
            DoubleWhileIdle::FLOOR
        );
        let mut p = DoubleWhileIdle::new(Duration::from_secs(5), Duration::from_secs(2));
        assert_eq!(
            p.delay(Duration::ZERO, Activity::Idle),
            Duration::from_secs(5)
        );
        assert_eq!(
            p.delay(Duration::ZERO, Activity::Idle),
            Duration::from_secs(5)
        );
    }
}
