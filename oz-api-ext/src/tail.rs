//! What the two tails, events and an inbox, share: their error and how a poll's answer sets
//! the next pause.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;

use crate::poll::{Acceptor, Activity, Expired, Poller, Stop, Verdict};

/// Why a tail ([`EventStream`](crate::EventStream), [`InboxStream`](crate::InboxStream))
/// ended: its last item.
///
/// `Display` is one line, the operation then its cause's one line (`poll_agent_events failed:
/// 503 Service Unavailable …`); the cause stays [`source`](std::error::Error::source). `Debug`
/// is one line as well.
///
/// ```no_run
/// use futures::TryStreamExt;
/// use oz_api_ext::EventsExt;
///
/// # async fn example(client: oz_api_ext::oz_api::Client) {
/// let mut events = client.events(["run-a"]).stream();
/// if let Err(err) = events.try_next().await {
///     eprintln!("{err}"); // poll_agent_events failed: …
///     assert_eq!(err.operation(), "poll_agent_events");
///     assert!(err.api_error().is_some());
/// }
/// # }
/// ```
#[non_exhaustive]
pub enum TailError {
    /// A poll failed, after the client's own retries.
    Api {
        /// `poll_agent_events` for an event tail (`stream_agent_events` when its stream
        /// failed, `list_runs` when the children of a run could not be listed),
        /// `list_agent_messages` for an inbox.
        operation: &'static str,
        /// The client's error, with the status and problem body of an error answer. Boxed: the
        /// client's error is large and failures are rare.
        source: Box<oz_api::Error>,
    },
}

impl TailError {
    pub(crate) fn api(operation: &'static str, source: oz_api::Error) -> Self {
        Self::Api {
            operation,
            source: Box::new(source),
        }
    }

    /// The client's error, when a request failed.
    pub fn api_error(&self) -> Option<&oz_api::Error> {
        match self {
            Self::Api { source, .. } => Some(source),
        }
    }

    /// The request that failed: `poll_agent_events`, `stream_agent_events`, `list_runs` or
    /// `list_agent_messages`.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Api { operation, .. } => operation,
        }
    }
}

impl fmt::Display for TailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api { operation, source } => write!(f, "{operation} failed: {source}"),
        }
    }
}

/// One line: the variant, the operation and its cause's one-line `Display`.
impl fmt::Debug for TailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api { operation, source } => f
                .debug_struct("Api")
                .field("operation", operation)
                .field("source", &format_args!("{source}"))
                .finish(),
        }
    }
}

impl std::error::Error for TailError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Api { source, .. } => Some(source.as_ref()),
        }
    }
}

/// The endpoint-specific half of a tail: its request and what is new in an answer.
pub(crate) trait TailEndpoint: Send + 'static {
    /// The operation polled, for [`TailError::Api`] (an endpoint that sends more than one
    /// request names each in its errors).
    const OPERATION: &'static str;
    /// Page size the server uses when the request sets none.
    const SERVER_PAGE_SIZE: usize;
    /// What the tail yields.
    type Item: Send + 'static;

    /// `limit` of the requests, when set.
    fn limit(&self) -> Option<u32>;

    /// The next poll, from the newest item accepted.
    fn request(&self) -> impl Future<Output = Result<Vec<Self::Item>, TailError>> + Send;

    /// Moves the items of `page` not seen before into `found`, in order, and returns how many.
    fn accept(&mut self, page: Vec<Self::Item>, found: &mut VecDeque<Self::Item>) -> usize;
}

/// A tail on the poll engine: polls its endpoint, yields what is new, never ends on its own.
pub(crate) struct Tail<T>(pub(crate) T);

impl<T: TailEndpoint> Acceptor for Tail<T> {
    type Item = T::Item;
    type Error = TailError;

    async fn poll(
        &mut self,
        poller: &mut Poller,
        found: &mut VecDeque<Result<T::Item, TailError>>,
    ) -> Result<Verdict, Stop<TailError>> {
        poller.begin_poll();
        let page = poller
            .bounded(self.0.request())
            .await?
            .map_err(Stop::Failed)?;
        let received = page.len();
        let mut new_items = VecDeque::new();
        let new = self.0.accept(page, &mut new_items);
        found.extend(new_items.into_iter().map(Ok));
        let page_size = self.0.limit().map_or(T::SERVER_PAGE_SIZE, |l| l as usize);
        // A full page means more may be waiting: poll again at once.
        let activity = if new == 0 {
            Activity::Idle
        } else if received >= page_size {
            Activity::More
        } else {
            Activity::News
        };
        Ok(Verdict::KeepPolling(activity))
    }

    fn expired(&mut self, expired: Expired) -> TailError {
        // A tail has no `max_wait`, so its poller never reaches a deadline.
        unreachable!(
            "a tail without a deadline expired after {} polls",
            expired.polls
        )
    }
}
