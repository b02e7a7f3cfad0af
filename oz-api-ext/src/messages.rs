//! The inbox of a run over `GET /agent/messages/{runId}`, on the poll engine.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use futures::Stream;
use futures::stream::BoxStream;
use oz_api::{Client, types};

use crate::events::Scope;
use crate::poll::{Clock, PollSettings, poll_setters};
use crate::tail::{Tail, TailEndpoint, TailError};
use crate::wake::{WakeUps, WokenTail};

/// Inbox workflows on [`oz_api::Client`].
///
/// The endpoint has no cursor, only a `since` timestamp. An [`InboxStream`] polls it, moves
/// `since` to the newest `sent_at` it has seen and yields every message header once (by
/// `message_id`, also when a poll repeats messages sent at the boundary timestamp), in
/// `sent_at` order. Between polls it follows the run's events on Warp's real-time event
/// stream (see [`EventsExt`](crate::EventsExt)) and polls as soon as a `new_message` event
/// names a message for the run; while it follows the stream it otherwise polls only every
/// four `max_delay`s (two minutes by default). Without the stream (refused, unreachable, not
/// an event stream, or remembered as refused by the client) it pauses between polls as it
/// always did: `min_delay` after a poll
/// that brought news, doubling up to `max_delay` while nothing happens. It has no `max_wait`
/// and does not retry a failed poll (the client's request hook already did): the error
/// ([`TailError`]) ends the stream. The stream owns a clone of the client, so it can be moved
/// into `tokio::spawn`.
///
/// Reading a message and acknowledging its delivery are single calls of the client:
/// `read_agent_message` and `mark_agent_message_delivered`.
///
/// ```no_run
/// use futures::StreamExt;
/// use oz_api_ext::MessagesExt;
///
/// # async fn example(client: oz_api::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let mut inbox = client.inbox("run-id").unread(true).stream();
/// while let Some(header) = inbox.next().await {
///     let header = header?;
///     let message = client
///         .read_agent_message()
///         .message_id(&header.message_id)
///         .send()
///         .await?;
///     println!("{}: {}", message.subject, message.body);
/// }
/// # Ok(()) }
/// ```
pub trait MessagesExt {
    /// The inbox of the run `run_id` (the recipient).
    fn inbox(&self, run_id: impl Into<String>) -> Inbox;
}

impl MessagesExt for Client {
    fn inbox(&self, run_id: impl Into<String>) -> Inbox {
        Inbox {
            client: self.clone(),
            run_id: run_id.into(),
            unread: false,
            since: None,
            limit: None,
            poll: PollSettings::TAIL,
        }
    }
}

/// Settings of an inbox stream, from [`MessagesExt::inbox`]; [`stream`](Self::stream) starts
/// it.
#[derive(Debug, Clone)]
#[must_use = "an inbox does nothing until `stream()` is polled"]
pub struct Inbox {
    client: Client,
    run_id: String,
    unread: bool,
    since: Option<DateTime<Utc>>,
    limit: Option<u32>,
    poll: PollSettings,
}

impl Inbox {
    with_options!("of the stream (its polls)");

    /// Only messages not read yet.
    pub fn unread(mut self, unread: bool) -> Self {
        self.unread = unread;
        self
    }

    /// Only messages sent at or after `since` (a resume point saved from
    /// [`InboxStream::since`]).
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Messages per poll (the server's default is 50, its maximum 100).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    poll_setters!(tail "messages");

    /// The stream of message headers. Nothing is sent until it is polled; an error of a poll
    /// (after the client's own retries) is yielded and ends the stream.
    pub fn stream(self) -> InboxStream {
        let poller = self.poll.double_while_idle(Clock::of(&self.client));
        let scope = Scope::Runs(vec![self.run_id.clone()]);
        let wake = WakeUps::new(&self.client, scope, &self.poll, true);
        let recipient = self.run_id.clone();
        let acceptor = WokenTail {
            inner: Tail(InboxEndpoint {
                client: self.client,
                run_id: self.run_id.clone(),
                unread: self.unread,
                limit: self.limit,
                since: self.since,
                seen_at_since: HashSet::new(),
            }),
            wake,
            wanted: Box::new(move |event: &types::AgentRunEvent| {
                event.event_type == types::AgentRunEventType::NewMessage
                    && event.run_id == recipient
            }),
        };
        InboxStream {
            run_id: self.run_id,
            since: self.since,
            headers: crate::poll::stream(poller, acceptor),
        }
    }
}

/// Stream of [`types::AgentMessageHeader`]s, each message once; see [`MessagesExt`].
#[must_use = "streams do nothing unless polled"]
pub struct InboxStream {
    run_id: String,
    /// `sent_at` of the last message yielded.
    since: Option<DateTime<Utc>>,
    headers: BoxStream<'static, Result<types::AgentMessageHeader, TailError>>,
}

impl InboxStream {
    /// The resume point: `sent_at` of the last message yielded (or the starting `since`).
    /// Passing it to [`Inbox::since`] resumes the inbox; messages sent at that very instant
    /// may be yielded again.
    pub fn since(&self) -> Option<DateTime<Utc>> {
        self.since
    }
}

impl fmt::Debug for InboxStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxStream")
            .field("run_id", &self.run_id)
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

impl Stream for InboxStream {
    type Item = Result<types::AgentMessageHeader, TailError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = this.headers.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(header))) = &item {
            this.since = Some(header.sent_at);
        }
        item
    }
}

/// Polls `GET /agent/messages/{runId}` from the newest `sent_at` accepted.
struct InboxEndpoint {
    client: Client,
    run_id: String,
    unread: bool,
    limit: Option<u32>,
    /// Newest `sent_at` accepted so far: the `since` of the next poll.
    since: Option<DateTime<Utc>>,
    /// Messages accepted whose `sent_at` equals `since`: a poll may return them again. Older
    /// ones cannot come back, so the set stays small.
    seen_at_since: HashSet<String>,
}

impl TailEndpoint for InboxEndpoint {
    const OPERATION: &'static str = "list_agent_messages";
    const SERVER_PAGE_SIZE: usize = 50;
    type Item = types::AgentMessageHeader;

    fn limit(&self) -> Option<u32> {
        self.limit
    }

    fn request(&self) -> impl Future<Output = Result<Vec<Self::Item>, TailError>> + Send {
        let mut request = self.client.list_agent_messages().run_id(&self.run_id);
        if self.unread {
            request = request.unread(true);
        }
        if let Some(since) = self.since {
            request = request.since(since);
        }
        if let Some(limit) = self.limit {
            request = request.limit(i64::from(limit));
        }
        async move {
            request
                .send()
                .await
                .map(|page| page.into_inner())
                .map_err(|err| TailError::api(Self::OPERATION, err))
        }
    }

    fn accept(&mut self, mut page: Vec<Self::Item>, found: &mut VecDeque<Self::Item>) -> usize {
        page.sort_by_key(|header| header.sent_at);
        let before = found.len();
        for header in page {
            match self.since {
                Some(since) if header.sent_at < since => continue,
                Some(since) if header.sent_at == since => {
                    if !self.seen_at_since.insert(header.message_id.clone()) {
                        continue;
                    }
                }
                _ => {
                    self.since = Some(header.sent_at);
                    self.seen_at_since.clear();
                    self.seen_at_since.insert(header.message_id.clone());
                }
            }
            found.push_back(header);
        }
        found.len() - before
    }
}
