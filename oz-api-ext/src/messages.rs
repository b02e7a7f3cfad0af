//! The inbox of a run: a stream of incoming message headers over `GET /agent/messages/{runId}`,
//! and the calls that read a message and acknowledge its delivery.
//!
//! The endpoint has no cursor, only a `since` timestamp. An [`InboxStream`] polls it, moves
//! `since` to the newest `sent_at` it has seen and yields every message once (by
//! `message_id`, also when a poll repeats messages sent at the boundary timestamp), in
//! `sent_at` order. Between polls it waits like the event tail of [`crate::events`], with the
//! same `min_delay` and `max_delay` settings; like it, it has no `max_wait` and does not retry
//! a failed poll (the client's request hook already did). The stream and the futures of its
//! calls own a clone of the client, so they can be moved into `tokio::spawn`.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::{FutureExt, Stream};
use oz_api::{Client, types};

use crate::events::{PollSource, Tail, TailDelays, tail_delay_setters};

/// Page size the server uses for `GET /agent/messages/{runId}` when none is given.
const SERVER_DEFAULT_MESSAGES_LIMIT: usize = 50;

/// Inbox workflows on [`oz_api::Client`].
///
/// ```no_run
/// use futures::StreamExt;
/// use oz_api_ext::MessagesExt;
///
/// # async fn example(client: oz_api::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let mut inbox = client.inbox("run-id").unread(true).stream();
/// while let Some(header) = inbox.next().await {
///     let header = header?;
///     let message = inbox.mark_read(&header.message_id).await?;
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
            delays: TailDelays::default(),
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
    delays: TailDelays,
}

impl Inbox {
    /// Only messages not read yet.
    pub fn unread(mut self, unread: bool) -> Self {
        self.unread = unread;
        self
    }

    /// Only messages sent at or after `since` (e.g. [`InboxStream::since`] saved earlier).
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Messages per poll (the server's default is 50, its maximum 100).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    tail_delay_setters!("messages");

    /// The stream of message headers. Nothing is sent until it is polled; an error of a poll
    /// (after the client's own retries) is yielded and ends the stream.
    pub fn stream(self) -> InboxStream {
        InboxStream {
            source: InboxSource {
                client: self.client,
                run_id: self.run_id,
                unread: self.unread,
                limit: self.limit,
                since: self.since,
                seen_at_since: HashSet::new(),
            },
            resume_at: self.since,
            tail: Tail::new(self.delays.start()),
        }
    }
}

/// Stream of [`types::AgentMessageHeader`]s, each message once; see the
/// [module documentation](self).
pub struct InboxStream {
    source: InboxSource,
    /// `sent_at` of the last message yielded.
    resume_at: Option<DateTime<Utc>>,
    tail: Tail<types::AgentMessageHeader>,
}

impl InboxStream {
    /// `sent_at` of the last message yielded (or the starting `since`): passing it to
    /// [`Inbox::since`] resumes the inbox; messages sent at that very instant may be yielded
    /// again.
    pub fn since(&self) -> Option<DateTime<Utc>> {
        self.resume_at
    }

    /// Reads a message (`POST /agent/messages/{messageId}/read`): its full body; the server
    /// records it as read.
    pub fn mark_read(
        &self,
        message_id: &str,
    ) -> impl Future<Output = Result<types::AgentMessage, oz_api::Error>> + Send + 'static {
        // The future holds the client, not the stream, so it can run while the stream waits.
        let client = self.source.client.clone();
        let message_id = message_id.to_owned();
        async move {
            let message = client
                .read_agent_message()
                .message_id(message_id)
                .send()
                .await?;
            Ok(message.into_inner())
        }
    }

    /// Records that a message was delivered (`POST /agent/messages/{messageId}/delivered`);
    /// repeating it is harmless.
    pub fn mark_delivered(
        &self,
        message_id: &str,
    ) -> impl Future<Output = Result<(), oz_api::Error>> + Send + 'static {
        let client = self.source.client.clone();
        let message_id = message_id.to_owned();
        async move {
            client
                .mark_agent_message_delivered()
                .message_id(message_id)
                .send()
                .await?;
            Ok(())
        }
    }
}

impl fmt::Debug for InboxStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxStream")
            .field("run_id", &self.source.run_id)
            .field("since", &self.resume_at)
            .field("buffered", &self.tail.buffered())
            .finish()
    }
}

impl Stream for InboxStream {
    type Item = Result<types::AgentMessageHeader, oz_api::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = this.tail.poll_next(cx, &mut this.source);
        if let Poll::Ready(Some(Ok(header))) = &item {
            this.resume_at = Some(header.sent_at);
        }
        item
    }
}

struct InboxSource {
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

impl PollSource for InboxSource {
    type Item = types::AgentMessageHeader;

    fn request(&mut self) -> BoxFuture<'static, Result<Vec<Self::Item>, oz_api::Error>> {
        let client = self.client.clone();
        let run_id = self.run_id.clone();
        let (unread, since, limit) = (self.unread, self.since, self.limit);
        async move {
            let mut request = client.list_agent_messages().run_id(run_id);
            if unread {
                request = request.unread(true);
            }
            if let Some(since) = since {
                request = request.since(since);
            }
            if let Some(limit) = limit {
                request = request.limit(i64::from(limit));
            }
            request.send().await.map(|page| page.into_inner())
        }
        .boxed()
    }

    fn accept(&mut self, mut page: Vec<Self::Item>, out: &mut VecDeque<Self::Item>) -> bool {
        let full = page.len()
            >= self
                .limit
                .map_or(SERVER_DEFAULT_MESSAGES_LIMIT, |l| l as usize);
        page.sort_by_key(|header| header.sent_at);
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
            out.push_back(header);
        }
        full
    }
}
