//! The cursor paginator of the paged lists; see [`PaginateExt`].

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use futures::future::BoxFuture;
use oz_api::types::PageInfo;
use oz_api::{Client, ResponseValue};
use tokio::task::{JoinError, JoinHandle};
use tracing::Instrument;

/// The answer to one page request: the page with the status and headers of its answer.
pub type Page<P> = ResponseValue<<P as CursorPaged>::Page>;

/// The request for one page, as [`CursorPaged::send_page`] returns it. It owns what it needs
/// (a clone of the client, as the generated builders' `send_owned` makes it), so a prefetched
/// page can be fetched on a task of its own.
pub type PageFuture<T> = BoxFuture<'static, Result<ResponseValue<T>, oz_api::Error>>;

/// A cursor-paged list operation, implemented by its generated builder: everything the
/// paginator needs to know about one operation.
///
/// Implemented for the builder of every operation that `openapi.json` marks as a cursor-paged
/// list (`"x-oz-paged": {"items": "runs"}`, naming the member of a page that holds the items):
/// [`ListRuns`], [`ListFactories`] and [`ListFactoryTasks`]. `cargo xtask regen` generates the
/// implementations (into `generated_pagination.rs`), so the next paged list of the API is a
/// change to the spec alone. The builder type names the operation whatever its lifetime:
/// `ListRuns<'_>` stands for `list_runs`, and [`Builder<'c>`](Self::Builder) is the same builder
/// on a client borrowed for `'c`.
///
/// [`ListRuns`]: oz_api::builder::ListRuns
/// [`ListFactories`]: oz_api::builder::ListFactories
/// [`ListFactoryTasks`]: oz_api::builder::ListFactoryTasks
///
/// ```
/// use oz_api_ext::CursorPaged;
/// use oz_api_ext::oz_api::builder::ListFactories;
///
/// fn operation<P: CursorPaged>() -> &'static str {
///     P::OPERATION
/// }
/// assert_eq!(operation::<ListFactories>(), "list_factories");
/// ```
pub trait CursorPaged {
    /// The operation id, e.g. `list_runs`; errors name the listing after it.
    const OPERATION: &'static str;

    /// The operation's builder on a client borrowed for `'c`.
    type Builder<'c>: Clone + Send + 'c;

    /// The decoded answer: the items of one page and its `page_info`.
    type Page: Send + 'static;

    /// One element of a page.
    type Item: Send + 'static;

    /// The request for the page at `cursor`, every other parameter unchanged.
    fn with_cursor<'c>(builder: Self::Builder<'c>, cursor: String) -> Self::Builder<'c>;

    /// Sends the request, in a future that borrows nothing (the generated builders'
    /// `send_owned`).
    fn send_page(builder: Self::Builder<'_>) -> PageFuture<Self::Page>;

    /// Where the listing goes on.
    fn page_info(page: &Self::Page) -> &PageInfo;

    /// The items of a page.
    fn items(page: &Self::Page) -> &[Self::Item];

    /// The items of a page, taken out of it.
    fn into_items(page: Self::Page) -> Vec<Self::Item>;
}

/// Streams over every page of a paged list request: `list_runs()`, `list_factories()`,
/// `list_factory_tasks()`. Implemented for every [`CursorPaged`] builder.
///
/// Every page of a cursor-paged list as a lazy stream.
///
/// Three operations of the API hand out their results one page at a time, each page ending in
/// `page_info { has_next_page, next_cursor }`: `list_runs`, `list_factories` and
/// `list_factory_tasks`. One paginator serves them all: each operation's builder implements
/// [`CursorPaged`] (how to set the cursor, how to send, where the items and `page_info` of a
/// page are), the way aws-sdk-rust instantiates one template per paginator — generated from
/// `openapi.json`, where each of them is marked `x-oz-paged` — and
/// [`PaginateExt`] adds the same two verbs to every such builder: [`pages`] streams whole pages
/// ([`PageStream`]), [`items`] streams the elements one by one ([`ItemStream`]). Both take the
/// same settings, `max_items`, `max_pages` and `prefetch`.
///
/// Both keep every filter of the builder and set only `cursor` from one page to the next; they
/// send nothing until first polled and hold at most one page plus, with
/// [`prefetch`](ItemStream::prefetch), the next one. A failed page request is not retried here:
/// the client's request hook already repeated it if it was transient.
///
/// With prefetch, the request for the next page goes out as soon as a page is handed out. Inside
/// a Tokio runtime it then runs on a task of its own, which reads and decodes the answer while
/// the caller awaits something else between items (a database write, a pause); dropping the
/// stream aborts that task. Outside a runtime the request advances whenever the stream is
/// polled.
///
/// The stream ends after a page whose `page_info.has_next_page` is false, whose `next_cursor`
/// is missing or empty, or that holds no item. A server that hands out a cursor a second time
/// would make the listing loop forever; the stream ends instead with
/// [`PaginationError::RepeatedCursor`] after the pages it received (the last 10,000 cursors are
/// remembered for that, so a listing's memory stays bounded). A server whose cursors never
/// repeat and never end would be followed as long as the caller reads: `max_pages` and
/// `max_items`, on both streams, end the stream (without an error) at a bound of the caller's
/// choosing.
///
/// A stream made from a builder borrows the client the builder came from (the generated
/// builders hold `&Client`). For a stream that owns its client — to move it into
/// `tokio::spawn` or return it from a function — describe the request with a closure instead:
/// [`OwnedPaginateExt::paginate`] keeps a clone of the client and builds the request from it
/// for every page.
///
/// The other lists of the API (agents, schedules, environments, identities, models) answer
/// everything at once; messages and events are read with `since` and `limit` instead.
///
/// [`pages`]: PaginateExt::pages
/// [`items`]: PaginateExt::items
///
/// ```no_run
/// use futures::TryStreamExt;
/// use oz_api_ext::PaginateExt;
/// use oz_api_ext::oz_api::types::{FactoryTaskStage, RunState};
///
/// # async fn example(client: oz_api_ext::oz_api::Client) -> Result<(), oz_api_ext::PaginationError> {
/// // Every failed run, 100 per request, at most 500 of them.
/// let mut runs = client
///     .list_runs()
///     .state([RunState::Failed, RunState::Error])
///     .limit(100u64)
///     .items()
///     .max_items(500)
///     .prefetch(true);
/// while let Some(run) = runs.try_next().await? {
///     println!("{} {}", run.run_id, run.title);
/// }
///
/// // Whole pages, with the headers of each answer, until 2000 runs arrived.
/// let pages: Vec<_> = client
///     .list_runs()
///     .limit(500u64)
///     .pages()
///     .max_items(2000)
///     .try_collect()
///     .await?;
///
/// // The same verbs on every paged list.
/// let factories: Vec<_> = client.list_factories().search("docs").items().try_collect().await?;
/// let triage: Vec<_> = client
///     .list_factory_tasks()
///     .factory_uid(factories[0].uid.clone())
///     .stage(vec![FactoryTaskStage::Triage])
///     .items()
///     .max_items(50)
///     .try_collect()
///     .await?;
/// # Ok(()) }
/// ```
pub trait PaginateExt<'a>: CursorPaged<Builder<'a> = Self> + Sized {
    /// The pages of this request, starting with the one the builder describes.
    fn pages(self) -> PageStream<'a, Self>;

    /// The items of every page of this request, in the server's order.
    fn items(self) -> ItemStream<'a, Self>;
}

impl<'a, B> PaginateExt<'a> for B
where
    B: CursorPaged<Builder<'a> = B> + 'a,
{
    fn pages(self) -> PageStream<'a, Self> {
        PageStream::new(Source::Borrowed(self))
    }

    fn items(self) -> ItemStream<'a, Self> {
        ItemStream::new(Source::Borrowed(self))
    }
}

/// Paged listings that own their client; implemented for [`Client`].
pub trait OwnedPaginateExt {
    /// A listing that keeps a clone of this client and builds the request of every page with
    /// `request`, which receives the client and returns the operation's builder with its
    /// filters. `P` names the operation by its builder type.
    ///
    /// The streams it makes ([`Paginate::items`], [`Paginate::pages`]) borrow nothing: they can
    /// be moved into `tokio::spawn`, returned from a function or kept after the original client
    /// was dropped.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// use oz_api_ext::OwnedPaginateExt;
    /// use oz_api_ext::oz_api::builder::ListRuns;
    /// use oz_api_ext::oz_api::types::RunState;
    ///
    /// # async fn example(client: oz_api_ext::oz_api::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let failed = client
    ///     .paginate::<ListRuns>(|client| client.list_runs().state(RunState::Failed))
    ///     .items()
    ///     .max_items(1000);
    /// let task = tokio::spawn(failed.try_collect::<Vec<_>>());
    /// drop(client);
    /// println!("{} failed runs", task.await??.len());
    /// # Ok(()) }
    /// ```
    fn paginate<P: CursorPaged>(
        &self,
        request: impl for<'c> Fn(&'c Client) -> P::Builder<'c> + Send + Sync + 'static,
    ) -> Paginate<P>;
}

impl OwnedPaginateExt for Client {
    fn paginate<P: CursorPaged>(
        &self,
        request: impl for<'c> Fn(&'c Client) -> P::Builder<'c> + Send + Sync + 'static,
    ) -> Paginate<P> {
        Paginate {
            client: self.clone(),
            request: Arc::new(request),
        }
    }
}

/// Builds the request of a page from the client: the filters of an owned listing.
type RequestFn<P> =
    Arc<dyn for<'c> Fn(&'c Client) -> <P as CursorPaged>::Builder<'c> + Send + Sync>;

/// A listing that owns its client, from [`OwnedPaginateExt::paginate`]; [`items`](Self::items)
/// and [`pages`](Self::pages) start it.
#[must_use = "a listing does nothing until `items()` or `pages()` is polled"]
pub struct Paginate<P: CursorPaged> {
    client: Client,
    request: RequestFn<P>,
}

impl<P: CursorPaged + 'static> Paginate<P> {
    with_options!("of the listing (every page)");

    /// The pages of the listing; see [`PaginateExt::pages`].
    pub fn pages(self) -> PageStream<'static, P> {
        PageStream::new(self.into_source())
    }

    /// The items of every page of the listing; see [`PaginateExt::items`].
    pub fn items(self) -> ItemStream<'static, P> {
        ItemStream::new(self.into_source())
    }

    fn into_source(self) -> Source<'static, P> {
        Source::Owned {
            client: self.client,
            request: self.request,
        }
    }
}

impl<P: CursorPaged> Clone for Paginate<P> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            request: Arc::clone(&self.request),
        }
    }
}

impl<P: CursorPaged> fmt::Debug for Paginate<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paginate")
            .field("operation", &P::OPERATION)
            .finish_non_exhaustive()
    }
}

/// Why a listing stopped early. Items received before the error were yielded normally.
///
/// `Display` is one line naming the listing and the page, followed by the one line of the
/// client's error behind a failed request (which stays reachable as
/// [`source`](std::error::Error::source)). `Debug` is one line too.
#[non_exhaustive]
pub enum PaginationError {
    /// The request for page `page` (1 for the first) failed, after the client's own retries.
    Api {
        /// The listing's operation, e.g. `list_runs`.
        operation: &'static str,
        /// Number of the page that could not be fetched.
        page: u64,
        /// The client's error, with the status and problem body of an error answer. Boxed: the
        /// client's error is large and failures are rare.
        source: Box<oz_api::Error>,
    },
    /// Page `page` pointed to a cursor that had already been followed: continuing would loop.
    RepeatedCursor {
        /// The listing's operation, e.g. `list_runs`.
        operation: &'static str,
        /// Number of the page whose `next_cursor` repeated an earlier one.
        page: u64,
        /// The repeated cursor (opaque; kept out of the `Display` output).
        cursor: String,
    },
    /// The task that was fetching page `page` ahead of time ([`prefetch`](ItemStream::prefetch))
    /// ended without an answer: it panicked, or its runtime shut down and cancelled it.
    PrefetchInterrupted {
        /// The listing's operation, e.g. `list_runs`.
        operation: &'static str,
        /// Number of the page that was being fetched.
        page: u64,
        /// Whether the task panicked; otherwise it was cancelled.
        panicked: bool,
    },
}

impl PaginationError {
    /// The client's error, when a request failed.
    pub fn api_error(&self) -> Option<&oz_api::Error> {
        match self {
            Self::Api { source, .. } => Some(source),
            Self::RepeatedCursor { .. } | Self::PrefetchInterrupted { .. } => None,
        }
    }

    /// The listing's operation, e.g. `list_factory_tasks`.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Api { operation, .. }
            | Self::RepeatedCursor { operation, .. }
            | Self::PrefetchInterrupted { operation, .. } => operation,
        }
    }
}

/// "runs" for `list_runs`, "factory tasks" for `list_factory_tasks`.
struct Listing(&'static str);

impl fmt::Display for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.0.strip_prefix("list_").unwrap_or(self.0);
        for (i, word) in name.split('_').enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(word)?;
        }
        Ok(())
    }
}

impl fmt::Display for PaginationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api {
                operation,
                page,
                source,
            } => write!(
                f,
                "listing {} failed on page {page}: {source}",
                Listing(operation)
            ),
            Self::RepeatedCursor {
                operation, page, ..
            } => write!(
                f,
                "listing {} stopped: page {page} points back to a cursor already followed",
                Listing(operation)
            ),
            Self::PrefetchInterrupted {
                operation,
                page,
                panicked,
            } => write!(
                f,
                "listing {} failed on page {page}: the task fetching it ahead {}",
                Listing(operation),
                if *panicked {
                    "panicked"
                } else {
                    "was cancelled (its runtime shut down)"
                }
            ),
        }
    }
}

/// One line: the variant and its facts, the client's error by its one-line `Display`, the
/// cursor by its length (it is opaque and may be long).
impl fmt::Debug for PaginationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api {
                operation,
                page,
                source,
            } => f
                .debug_struct("Api")
                .field("operation", operation)
                .field("page", page)
                .field("source", &format_args!("{source}"))
                .finish(),
            Self::RepeatedCursor {
                operation,
                page,
                cursor,
            } => f
                .debug_struct("RepeatedCursor")
                .field("operation", operation)
                .field("page", page)
                .field("cursor_len", &cursor.len())
                .finish(),
            Self::PrefetchInterrupted {
                operation,
                page,
                panicked,
            } => f
                .debug_struct("PrefetchInterrupted")
                .field("operation", operation)
                .field("page", page)
                .field("panicked", panicked)
                .finish(),
        }
    }
}

impl std::error::Error for PaginationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Api { source, .. } => Some(source.as_ref()),
            Self::RepeatedCursor { .. } | Self::PrefetchInterrupted { .. } => None,
        }
    }
}

/// A stream of whole pages; see [`PaginateExt::pages`].
///
/// Yields `Result<Page<P>, PaginationError>` and ends after the last page or the first error.
/// `'a` is the borrow of the client for a stream made from a builder, `'static` for one from
/// [`OwnedPaginateExt::paginate`].
#[must_use = "streams do nothing unless polled"]
pub struct PageStream<'a, P: CursorPaged> {
    pager: Pager<'a, P>,
}

impl<'a, P: CursorPaged + 'a> PageStream<'a, P> {
    fn new(source: Source<'a, P>) -> Self {
        Self {
            pager: Pager::new(source),
        }
    }

    /// Requests no further page once `items` items were received. Pages come whole, so the
    /// last page may take the total above `items`; lower the builder's `limit` as well to
    /// avoid fetching them.
    pub fn max_items(mut self, items: u64) -> Self {
        self.pager.max_items = Some(items);
        self
    }

    /// Stops after `pages` pages (at least one): no further page is requested. A bound on
    /// what a server whose cursors never repeat and never end can make the listing fetch.
    ///
    /// ```
    /// use futures::TryStreamExt;
    /// use oz_api_ext::PaginateExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = oz_mock::OzMock::builder().seed_runs(25).start().await?;
    /// # let client = oz_api_ext::oz_api::Config::new(mock.api_key())
    /// #     .base_url(mock.base_url())
    /// #     .build()?;
    /// // 25 runs, 10 per page: two pages are requested, the third is not.
    /// let pages: Vec<_> = client.list_runs().limit(10u64).pages().max_pages(2).try_collect().await?;
    /// assert_eq!(pages.len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn max_pages(mut self, pages: u64) -> Self {
        self.pager.max_pages = Some(pages.max(1));
        self
    }

    /// Requests the next page as soon as a page is handed out, so it is fetched while the
    /// caller processes the current one. Off by default.
    ///
    /// Inside a Tokio runtime the request runs on a task of its own: the answer is read and
    /// decoded even while the caller awaits something else. Outside one it advances whenever
    /// the stream is polled. Dropping the stream aborts it.
    pub fn prefetch(mut self, prefetch: bool) -> Self {
        self.pager.prefetch = prefetch;
        self
    }
}

// The stream never pins its fields: the request in flight is boxed or on a task.
impl<P: CursorPaged> Unpin for PageStream<'_, P> {}

impl<'a, P: CursorPaged + 'a> Stream for PageStream<'a, P> {
    type Item = Result<Page<P>, PaginationError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().pager.poll_page(cx)
    }
}

impl<P: CursorPaged> fmt::Debug for PageStream<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageStream")
            .field("pager", &self.pager)
            .finish()
    }
}

/// A stream of the items of every page; see [`PaginateExt::items`].
///
/// Yields `Result<P::Item, PaginationError>` and ends after the last item or the first error.
/// `'a` is the borrow of the client for a stream made from a builder, `'static` for one from
/// [`OwnedPaginateExt::paginate`].
#[must_use = "streams do nothing unless polled"]
pub struct ItemStream<'a, P: CursorPaged> {
    pager: Pager<'a, P>,
    current: VecDeque<P::Item>,
    max_items: Option<u64>,
    yielded: u64,
}

impl<'a, P: CursorPaged + 'a> ItemStream<'a, P> {
    fn new(source: Source<'a, P>) -> Self {
        Self {
            pager: Pager::new(source),
            current: VecDeque::new(),
            max_items: None,
            yielded: 0,
        }
    }

    /// Stops after `items` items. Once that many items were received no further page is
    /// requested, so the last page may hold more items than are yielded; lower the builder's
    /// `limit` as well to avoid fetching them.
    pub fn max_items(mut self, items: u64) -> Self {
        self.max_items = Some(items);
        self.pager.max_items = Some(items);
        self
    }

    /// Requests no page after the `pages`-th (at least one), like
    /// [`PageStream::max_pages`]: the stream ends after that page's items. A bound on what a
    /// server whose cursors never repeat and never end can make the listing fetch.
    ///
    /// ```
    /// use futures::TryStreamExt;
    /// use oz_api_ext::PaginateExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = oz_mock::OzMock::builder().seed_runs(25).start().await?;
    /// # let client = oz_api_ext::oz_api::Config::new(mock.api_key())
    /// #     .base_url(mock.base_url())
    /// #     .build()?;
    /// // 25 runs, 10 per page: the items of the first two pages.
    /// let runs: Vec<_> = client.list_runs().limit(10u64).items().max_pages(2).try_collect().await?;
    /// assert_eq!(runs.len(), 20);
    /// # Ok(()) }
    /// ```
    pub fn max_pages(mut self, pages: u64) -> Self {
        self.pager.max_pages = Some(pages.max(1));
        self
    }

    /// Requests the next page as soon as the items of a page start being handed out, so it
    /// is fetched while the caller processes the current ones. Off by default.
    ///
    /// Inside a Tokio runtime the request runs on a task of its own: the answer is read and
    /// decoded even while the caller awaits something else between items. Outside one it
    /// advances whenever the stream is polled. Dropping the stream aborts it; once
    /// [`max_items`](Self::max_items) items arrived, no further page is requested.
    pub fn prefetch(mut self, prefetch: bool) -> Self {
        self.pager.prefetch = prefetch;
        self
    }
}

// The stream never pins its fields: the request in flight is boxed or on a task.
impl<P: CursorPaged> Unpin for ItemStream<'_, P> {}

impl<'a, P: CursorPaged + 'a> Stream for ItemStream<'a, P> {
    type Item = Result<P::Item, PaginationError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.max_items.is_some_and(|max| this.yielded >= max) {
                this.current.clear();
                this.pager.stop();
                return Poll::Ready(None);
            }
            if let Some(item) = this.current.pop_front() {
                this.yielded += 1;
                // Let a prefetched request advance while the caller works on this item.
                this.pager.poll_progress(cx);
                return Poll::Ready(Some(Ok(item)));
            }
            match std::task::ready!(this.pager.poll_page(cx)) {
                Some(Ok(page)) => this.current = P::into_items(page.into_inner()).into(),
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => return Poll::Ready(None),
            }
        }
    }
}

impl<P: CursorPaged> fmt::Debug for ItemStream<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemStream")
            .field("pager", &self.pager)
            .field("buffered", &self.current.len())
            .field("max_items", &self.max_items)
            .field("yielded", &self.yielded)
            .finish()
    }
}

/// Where the requests of a listing come from.
enum Source<'a, P: CursorPaged> {
    /// A builder on a borrowed client: cloned for every page.
    Borrowed(P::Builder<'a>),
    /// A client of its own and the closure that builds the request from it.
    Owned {
        client: Client,
        request: RequestFn<P>,
    },
}

impl<'a, P: CursorPaged + 'a> Source<'a, P> {
    /// The request for the page at `cursor` (`None`: the first page, as described).
    fn request(&self, cursor: Option<String>) -> PageFuture<P::Page> {
        match self {
            Self::Borrowed(builder) => P::send_page(at_cursor::<P>(builder.clone(), cursor)),
            Self::Owned { client, request } => {
                P::send_page(at_cursor::<P>(request(client), cursor))
            }
        }
    }
}

fn at_cursor<P: CursorPaged>(builder: P::Builder<'_>, cursor: Option<String>) -> P::Builder<'_> {
    match cursor {
        Some(cursor) => P::with_cursor(builder, cursor),
        None => builder,
    }
}

/// A page request on its way.
enum InFlight<T> {
    /// Advanced by the stream, whenever the stream is polled.
    Polled(PageFuture<T>),
    /// Advanced by a task of its own (a prefetch inside a Tokio runtime).
    Task(AbortOnDrop<Result<ResponseValue<T>, oz_api::Error>>),
}

impl<T: Send + 'static> InFlight<T> {
    /// The answer, or why the task that was fetching it ended without one.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Result<ResponseValue<T>, oz_api::Error>, JoinError>> {
        match self {
            Self::Polled(request) => request.as_mut().poll(cx).map(Ok),
            Self::Task(task) => Pin::new(&mut task.0).poll(cx),
        }
    }

    /// Hands a request of the stream to a task of the current Tokio runtime, where it goes on
    /// while the stream is not polled. Outside a runtime it stays with the stream.
    fn into_task(self) -> Self {
        match (self, tokio::runtime::Handle::try_current()) {
            (Self::Polled(request), Ok(runtime)) => {
                // The task's log events stay in the span of the code reading the stream.
                let request = request.instrument(tracing::Span::current());
                Self::Task(AbortOnDrop(runtime.spawn(request)))
            }
            (in_flight, _) => in_flight,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Polled(_) => "polled by the stream",
            Self::Task(_) => "on a task",
        }
    }
}

/// A task handle that aborts the task when dropped (a bare `JoinHandle` detaches it): a
/// dropped stream leaves no request running.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How many of the last cursors a listing remembers to recognise a server that cycles: a cycle
/// through more pages than this is not recognised (bound it with `max_pages`), and the memory
/// of a listing stays bounded however long it runs.
const REMEMBERED_CURSORS: usize = 10_000;

/// The state shared by both streams: which cursor comes next, the request in flight and the
/// page received but not yet handed out.
struct Pager<'a, P: CursorPaged> {
    source: Source<'a, P>,
    /// Cursor of the next request; `None` until the first page arrived (the first request is
    /// the builder as given).
    cursor: Option<String>,
    /// Cursors already followed, to stop a server that cycles: the last
    /// [`REMEMBERED_CURSORS`], so that a listing of any length holds bounded memory.
    followed: HashSet<String>,
    /// The same cursors, oldest first, to forget the oldest.
    followed_order: VecDeque<String>,
    in_flight: Option<InFlight<P::Page>>,
    ready: Option<Result<Page<P>, PaginationError>>,
    /// An error to report once the pages before it were handed out.
    pending_error: Option<PaginationError>,
    /// No further request will be sent.
    finished: bool,
    prefetch: bool,
    max_pages: Option<u64>,
    max_items: Option<u64>,
    pages_received: u64,
    items_received: u64,
}

impl<'a, P: CursorPaged + 'a> Pager<'a, P> {
    fn new(source: Source<'a, P>) -> Self {
        Self {
            source,
            cursor: None,
            followed: HashSet::new(),
            followed_order: VecDeque::new(),
            in_flight: None,
            ready: None,
            pending_error: None,
            finished: false,
            prefetch: false,
            max_pages: None,
            max_items: None,
            pages_received: 0,
            items_received: 0,
        }
    }

    /// Sends no further request and cancels the one in flight (aborting its task).
    fn stop(&mut self) {
        self.finished = true;
        self.in_flight = None;
    }

    fn start_request(&mut self) {
        if self.finished || self.in_flight.is_some() || self.pending_error.is_some() {
            return;
        }
        if self.max_items.is_some_and(|max| self.items_received >= max) {
            self.finished = true;
            return;
        }
        self.in_flight = Some(InFlight::Polled(self.source.request(self.cursor.clone())));
    }

    /// Starts the request for the next page while the caller works on the current one: on a
    /// task of its own when a Tokio runtime is current, otherwise advanced by the stream (and
    /// polled once now, so it goes out).
    fn prefetch_next(&mut self, cx: &mut Context<'_>) {
        self.start_request();
        self.in_flight = self.in_flight.take().map(InFlight::into_task);
        self.poll_progress(cx);
    }

    /// Drives the request in flight; a page that arrives is kept in `ready`.
    fn poll_progress(&mut self, cx: &mut Context<'_>) {
        if self.ready.is_some() {
            return;
        }
        let Some(request) = self.in_flight.as_mut() else {
            return;
        };
        let Poll::Ready(outcome) = request.poll(cx) else {
            return;
        };
        self.in_flight = None;
        let page_number = self.pages_received + 1;
        self.ready = Some(match outcome {
            Ok(Ok(page)) => {
                self.pages_received = page_number;
                self.items_received += P::items(&page).len() as u64;
                self.plan_next(&page);
                Ok(page)
            }
            Ok(Err(source)) => {
                self.finished = true;
                Err(PaginationError::Api {
                    operation: P::OPERATION,
                    page: page_number,
                    source: Box::new(source),
                })
            }
            Err(ended) => {
                self.finished = true;
                Err(PaginationError::PrefetchInterrupted {
                    operation: P::OPERATION,
                    page: page_number,
                    panicked: ended.is_panic(),
                })
            }
        });
    }

    /// Decides from a received page whether and where the listing continues.
    fn plan_next(&mut self, page: &P::Page) {
        let info = P::page_info(page);
        let next = info
            .next_cursor
            .as_deref()
            .filter(|cursor| !cursor.is_empty());
        let limit_reached = self.max_pages.is_some_and(|max| self.pages_received >= max)
            || self.max_items.is_some_and(|max| self.items_received >= max);
        match next {
            _ if limit_reached || !info.has_next_page || P::items(page).is_empty() => {
                self.finished = true;
            }
            None => self.finished = true,
            Some(cursor) if !self.remember(cursor) => {
                self.finished = true;
                self.pending_error = Some(PaginationError::RepeatedCursor {
                    operation: P::OPERATION,
                    page: self.pages_received,
                    cursor: cursor.to_owned(),
                });
            }
            Some(cursor) => self.cursor = Some(cursor.to_owned()),
        }
    }

    /// Notes a cursor as followed; false when it was followed before.
    fn remember(&mut self, cursor: &str) -> bool {
        if !self.followed.insert(cursor.to_owned()) {
            return false;
        }
        self.followed_order.push_back(cursor.to_owned());
        if self.followed_order.len() > REMEMBERED_CURSORS
            && let Some(oldest) = self.followed_order.pop_front()
        {
            self.followed.remove(&oldest);
        }
        true
    }

    fn poll_page(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Page<P>, PaginationError>>> {
        loop {
            if let Some(page) = self.ready.take() {
                if self.prefetch {
                    self.prefetch_next(cx);
                }
                return Poll::Ready(Some(page));
            }
            if self.in_flight.is_some() {
                self.poll_progress(cx);
                if self.ready.is_none() {
                    return Poll::Pending;
                }
                continue;
            }
            if let Some(err) = self.pending_error.take() {
                return Poll::Ready(Some(Err(err)));
            }
            if self.finished {
                return Poll::Ready(None);
            }
            self.start_request();
        }
    }
}

impl<P: CursorPaged> fmt::Debug for Pager<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pager")
            .field("operation", &P::OPERATION)
            .field("owns_client", &matches!(self.source, Source::Owned { .. }))
            .field("pages_received", &self.pages_received)
            .field("items_received", &self.items_received)
            .field("in_flight", &self.in_flight.as_ref().map(InFlight::kind))
            .field("finished", &self.finished)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oz_api::builder::ListRuns;

    #[test]
    fn a_listing_remembers_a_bounded_number_of_cursors() {
        let client = oz_api::Config::new("wk-test-key")
            .build()
            .expect("a client");
        let mut pager = Pager::<ListRuns<'_>>::new(Source::Borrowed(client.list_runs()));
        for n in 0..REMEMBERED_CURSORS + 5 {
            assert!(pager.remember(&format!("c{n}")));
        }
        assert_eq!(pager.followed.len(), REMEMBERED_CURSORS);
        assert_eq!(pager.followed_order.len(), REMEMBERED_CURSORS);
        // A recent cursor coming back is a cycle; the oldest ones were forgotten.
        assert!(!pager.remember(&format!("c{}", REMEMBERED_CURSORS)));
        assert!(pager.remember("c0"));
    }

    #[test]
    fn listings_are_named_after_their_operation() {
        assert_eq!(Listing("list_runs").to_string(), "runs");
        assert_eq!(Listing("list_factory_tasks").to_string(), "factory tasks");
        assert_eq!(Listing("search").to_string(), "search");
    }
}
