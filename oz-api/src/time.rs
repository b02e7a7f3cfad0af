//! Pauses: the sleep every wait of the SDK goes through, and the backoff schedule of its
//! retries.
//!
//! The client waits between the attempts of a request, and the workflows of `oz-api-ext`
//! between polls and between the attempts of a download. Each of these waits is a call of one
//! [`AsyncSleep`], the one given to [`Config::sleep_impl`](crate::Config::sleep_impl) (Tokio's
//! timer unless another is given), which [`Client::sleep_impl`](crate::Client::sleep_impl)
//! hands on. Retries, and the download's attempts, wait as [`backoff`] says unless the server
//! asked for a delay of its own.
//!
//! A test hands in a sleep that records what was asked and returns at once: it then checks
//! the delays without waiting for them, even while real sockets are in use (Tokio's paused
//! clock would let a request's own timeout fire as soon as the runtime is idle).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! use oz_api::time::{AsyncSleep, Sleep};
//!
//! /// Records every pause and does not wait.
//! #[derive(Clone, Default)]
//! struct Recorded(Arc<Mutex<Vec<Duration>>>);
//!
//! impl AsyncSleep for Recorded {
//!     fn sleep(&self, duration: Duration) -> Sleep {
//!         self.0.lock().unwrap().push(duration);
//!         Sleep::new(std::future::ready(()))
//!     }
//! }
//!
//! let pauses = Recorded::default();
//! let client = oz_api::Config::new("wk-example")
//!     .sleep_impl(pauses.clone())
//!     .build()?;
//! # let _ = client;
//! # Ok::<(), oz_api::ConfigError>(())
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::MaybeSend;

/// The monotonic clock of the attempts' durations: std's, or on `wasm32` (where std's panics)
/// `performance.now()` through `web-time`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use std::time::Instant;
#[cfg(target_arch = "wasm32")]
pub(crate) use web_time::Instant;

/// The wall clock, for `Retry-After` dates: std's, or on `wasm32` (where std's panics)
/// JavaScript's `Date.now()` through `web-time`.
pub(crate) fn system_now() -> std::time::SystemTime {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
    }
    #[cfg(target_arch = "wasm32")]
    {
        let since_epoch = web_time::SystemTime::now()
            .duration_since(web_time::SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        std::time::SystemTime::UNIX_EPOCH + since_epoch
    }
}

/// The first delay of [`backoff`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// The longest delay of [`backoff`].
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Something that can wait: Tokio's timer ([`TokioSleep`], the default), or a test's own.
pub trait AsyncSleep: Send + Sync {
    /// A future that completes once `duration` has passed.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The future of one [`AsyncSleep::sleep`]: `Send` on every target but `wasm32`
/// ([`MaybeSend`]).
pub struct Sleep(Pin<Box<BoxedPause>>);

#[cfg(not(target_arch = "wasm32"))]
type BoxedPause = dyn Future<Output = ()> + Send + 'static;
#[cfg(target_arch = "wasm32")]
type BoxedPause = dyn Future<Output = ()> + 'static;

impl Sleep {
    /// Wraps the future that completes when the pause is over.
    pub fn new(future: impl Future<Output = ()> + MaybeSend + 'static) -> Self {
        Self(Box::pin(future))
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sleep")
    }
}

/// Waits on Tokio's timer (`tokio::time::sleep`), so Tokio's paused clock in tests applies.
/// The default everywhere but on `wasm32`.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleep;

#[cfg(not(target_arch = "wasm32"))]
impl AsyncSleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(tokio::time::sleep(duration))
    }
}

/// Waits on JavaScript's `setTimeout` (through `gloo-timers`): the default on `wasm32`, where
/// Tokio has no timer. Browsers and edge workers (Cloudflare Workers, Deno, Vercel) all have it.
#[cfg(target_arch = "wasm32")]
#[derive(Debug, Clone, Copy, Default)]
pub struct SetTimeoutSleep;

#[cfg(target_arch = "wasm32")]
impl AsyncSleep for SetTimeoutSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(gloo_timers::future::sleep(duration))
    }
}

/// The timer of this target: Tokio's, or JavaScript's on `wasm32`.
#[cfg(not(target_arch = "wasm32"))]
type PlatformSleep = TokioSleep;
#[cfg(target_arch = "wasm32")]
type PlatformSleep = SetTimeoutSleep;

/// An [`AsyncSleep`] shared by a client and everything it hands it to (a clone is a reference
/// count). The default is [`TokioSleep`] (on `wasm32`, `SetTimeoutSleep`).
#[derive(Clone)]
pub struct SharedSleep(Arc<dyn AsyncSleep>);

impl SharedSleep {
    /// Shares `sleep`.
    pub fn new(sleep: impl AsyncSleep + 'static) -> Self {
        Self(Arc::new(sleep))
    }
}

impl Default for SharedSleep {
    fn default() -> Self {
        Self::new(PlatformSleep::default())
    }
}

impl AsyncSleep for SharedSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        self.0.sleep(duration)
    }
}

impl fmt::Debug for SharedSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSleep")
    }
}

/// The pause before retry `retry` (0 for the first) of a request that failed transiently:
/// `min(0.5 s · 2^retry, 8 s)`, shortened at random by up to a quarter so that clients that
/// failed together do not all come back at once.
///
/// ```
/// use std::time::Duration;
///
/// let first = oz_api::time::backoff(0);
/// assert!(first > Duration::from_millis(375) && first <= Duration::from_millis(500));
/// assert!(oz_api::time::backoff(10) <= Duration::from_secs(8));
/// ```
pub fn backoff(retry: u32) -> Duration {
    backoff_with_jitter(retry, fastrand::f64())
}

/// [`backoff`] with its random draw given: `unit` in `[0, 1)` shortens the delay by
/// `unit / 4` of it (0 gives the full delay).
///
/// ```
/// use std::time::Duration;
///
/// use oz_api::time::backoff_with_jitter;
///
/// assert_eq!(backoff_with_jitter(0, 0.0), Duration::from_millis(500));
/// assert_eq!(backoff_with_jitter(1, 0.0), Duration::from_secs(1));
/// assert_eq!(backoff_with_jitter(1, 0.5), Duration::from_millis(875));
/// assert_eq!(backoff_with_jitter(9, 0.0), Duration::from_secs(8));
/// ```
pub fn backoff_with_jitter(retry: u32, unit: f64) -> Duration {
    let exponential = INITIAL_BACKOFF.saturating_mul(1u32 << retry.min(16));
    exponential
        .min(MAX_BACKOFF)
        .mul_f64(1.0 - 0.25 * unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_half_a_second_up_to_eight_with_bounded_jitter() {
        let secs: Vec<f64> = (0..6)
            .map(|n| backoff_with_jitter(n, 0.0).as_secs_f64())
            .collect();
        assert_eq!(secs, vec![0.5, 1.0, 2.0, 4.0, 8.0, 8.0]);
        assert_eq!(backoff_with_jitter(0, 0.999_999).as_millis(), 375);
        assert_eq!(backoff_with_jitter(40, 0.0), MAX_BACKOFF);
        for retry in 0..8 {
            let drawn = backoff(retry);
            let full = backoff_with_jitter(retry, 0.0);
            assert!(
                drawn <= full && drawn >= full.mul_f64(0.75),
                "{retry}: {drawn:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_sleep_waits_on_tokios_clock() {
        let started = tokio::time::Instant::now();
        SharedSleep::default().sleep(Duration::from_secs(30)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
