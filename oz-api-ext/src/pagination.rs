//! Every page of `GET /agent/runs` as a lazy stream.
//!
//! [`ListRunsExt`] adds two verbs to the generated `list_runs()` builder: [`pages`] streams whole
//! pages, [`items`] streams the runs one by one. Both keep every filter of the builder and set
//! only `cursor` from one page to the next; they send nothing until first polled and hold at
//! most one page plus, with [`prefetch`](RunItems::prefetch), the next one.
//!
//! The stream ends after a page whose `page_info.has_next_page` is false, whose `next_cursor`
//! is missing or empty, or that holds no run. A server that hands out a cursor a second time
//! would make the listing loop forever; the stream ends instead with
//! [`PaginationError::RepeatedCursor`] after the pages it received.
//!
//! `list_runs` is the only cursor-paged operation of the API. The other lists (agents,
//! schedules, environments, identities, models) answer everything at once; messages and events
//! are read with `since` and `limit` instead.
//!
//! [`pages`]: ListRunsExt::pages
//! [`items`]: ListRunsExt::items

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::future::BoxFuture;
use oz_api::builder::ListRuns;
use oz_api::types::{ListRunsResponse, RunItem};
use oz_api::{ApiError, ApiErrorExt, ResponseValue};

/// One page of runs with the status and headers of its answer.
pub type RunsPage = ResponseValue<ListRunsResponse>;

/// Streams over every page of a `list_runs()` request.
///
/// ```no_run
/// use futures::TryStreamExt;
/// use oz_api_ext::ListRunsExt;
/// use oz_api_ext::oz_api::types::RunState;
///
/// # async fn example(client: oz_api_ext::oz_api::Client) -> Result<(), oz_api_ext::PaginationError> {
/// // Every failed run, 100 per request, at most 500 of them.
/// let mut runs = client
///     .list_runs()
///     .state(vec![RunState::Failed, RunState::Error])
///     .limit(100u64)
///     .items()
///     .max_items(500)
///     .prefetch(true);
/// while let Some(run) = runs.try_next().await? {
///     println!("{} {}", run.run_id, run.title);
/// }
///
/// // Whole pages, with the headers of each answer.
/// let pages: Vec<_> = client.list_runs().limit(500u64).pages().try_collect().await?;
/// # Ok(()) }
/// ```
pub trait ListRunsExt<'a> {
    /// The pages of this request, starting with the one the builder describes.
    fn pages(self) -> RunPages<'a>;

    /// The runs of every page of this request, in the server's order.
    fn items(self) -> RunItems<'a>;
}

impl<'a> ListRunsExt<'a> for ListRuns<'a> {
    fn pages(self) -> RunPages<'a> {
        RunPages {
            pager: Pager::new(self),
        }
    }

    fn items(self) -> RunItems<'a> {
        RunItems {
            pager: Pager::new(self),
            current: VecDeque::new(),
            max_items: None,
            yielded: 0,
        }
    }
}

/// Why a listing stopped early. Items received before the error were yielded normally.
#[derive(Debug)]
#[non_exhaustive]
pub enum PaginationError {
    /// The request for page `page` (1 for the first) failed. Transient failures were already
    /// retried by the client.
    Request {
        /// Number of the page that could not be fetched.
        page: u64,
        /// The client's error, with the status and problem body of an error answer.
        source: Box<ApiError>,
    },
    /// Page `page` pointed to a cursor that had already been followed: continuing would loop.
    RepeatedCursor {
        /// Number of the page whose `next_cursor` repeated an earlier one.
        page: u64,
        /// The repeated cursor (opaque; kept out of the `Display` output).
        cursor: String,
    },
}

impl PaginationError {
    /// The client's error, when a request failed.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Request { source, .. } => Some(source),
            Self::RepeatedCursor { .. } => None,
        }
    }
}

impl fmt::Display for PaginationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request { page, source } => {
                write!(
                    f,
                    "listing runs failed on page {page}: {}",
                    source.summary()
                )
            }
            Self::RepeatedCursor { page, .. } => write!(
                f,
                "listing runs stopped: page {page} points back to a cursor already followed"
            ),
        }
    }
}

impl std::error::Error for PaginationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Request { source, .. } => Some(source.as_ref()),
            Self::RepeatedCursor { .. } => None,
        }
    }
}

/// A stream of whole pages; see [`ListRunsExt::pages`].
///
/// Yields `Result<RunsPage, PaginationError>` and ends after the last page or the first
/// error.
#[must_use = "streams do nothing unless polled"]
pub struct RunPages<'a> {
    pager: Pager<'a>,
}

impl RunPages<'_> {
    /// Stops after `pages` pages (at least one).
    pub fn max_pages(mut self, pages: u64) -> Self {
        self.pager.max_pages = Some(pages.max(1));
        self
    }

    /// Requests the next page as soon as a page is handed out, so the server works on it
    /// while the caller processes the current one. Off by default.
    pub fn prefetch(mut self, prefetch: bool) -> Self {
        self.pager.prefetch = prefetch;
        self
    }
}

impl Stream for RunPages<'_> {
    type Item = Result<RunsPage, PaginationError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().pager.poll_page(cx)
    }
}

impl fmt::Debug for RunPages<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunPages")
            .field("pager", &self.pager)
            .finish()
    }
}

/// A stream of runs; see [`ListRunsExt::items`].
///
/// Yields `Result<RunItem, PaginationError>` and ends after the last run or the first error.
#[must_use = "streams do nothing unless polled"]
pub struct RunItems<'a> {
    pager: Pager<'a>,
    current: VecDeque<RunItem>,
    max_items: Option<u64>,
    yielded: u64,
}

impl RunItems<'_> {
    /// Stops after `items` runs. Once that many runs were received no further page is
    /// requested, so the last page may hold more runs than are yielded; lower the builder's
    /// `limit` as well to avoid fetching them.
    pub fn max_items(mut self, items: u64) -> Self {
        self.max_items = Some(items);
        self.pager.max_items = Some(items);
        self
    }

    /// Requests the next page as soon as the runs of a page start being handed out, so the
    /// server works on it while the caller processes the current ones. Off by default.
    ///
    /// The request makes progress whenever the stream is polled; dropping the stream cancels
    /// it.
    pub fn prefetch(mut self, prefetch: bool) -> Self {
        self.pager.prefetch = prefetch;
        self
    }
}

impl Stream for RunItems<'_> {
    type Item = Result<RunItem, PaginationError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.max_items.is_some_and(|max| this.yielded >= max) {
                this.current.clear();
                this.pager.stop();
                return Poll::Ready(None);
            }
            if let Some(run) = this.current.pop_front() {
                this.yielded += 1;
                // Let a prefetched request advance while the caller works on this run.
                this.pager.poll_progress(cx);
                return Poll::Ready(Some(Ok(run)));
            }
            match std::task::ready!(this.pager.poll_page(cx)) {
                Some(Ok(page)) => this.current = page.into_inner().runs.into(),
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => return Poll::Ready(None),
            }
        }
    }
}

impl fmt::Debug for RunItems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunItems")
            .field("pager", &self.pager)
            .field("buffered", &self.current.len())
            .field("max_items", &self.max_items)
            .field("yielded", &self.yielded)
            .finish()
    }
}

type PageFuture<'a> = BoxFuture<'a, Result<RunsPage, ApiError>>;

/// The state shared by both streams: which cursor comes next, the request in flight and the
/// page received but not yet handed out.
struct Pager<'a> {
    template: ListRuns<'a>,
    /// Cursor of the next request; `None` until the first page arrived (the first request is
    /// the builder as given).
    cursor: Option<String>,
    /// Cursors already followed, to stop a server that cycles.
    followed: HashSet<String>,
    in_flight: Option<PageFuture<'a>>,
    ready: Option<Result<RunsPage, PaginationError>>,
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

impl<'a> Pager<'a> {
    fn new(template: ListRuns<'a>) -> Self {
        Self {
            template,
            cursor: None,
            followed: HashSet::new(),
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

    /// Sends no further request and cancels the one in flight.
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
        let request = match &self.cursor {
            Some(cursor) => self.template.clone().cursor(cursor.clone()),
            None => self.template.clone(),
        };
        self.in_flight = Some(Box::pin(async move { request.send().await }));
    }

    /// Drives the request in flight; a page that arrives is kept in `ready`.
    fn poll_progress(&mut self, cx: &mut Context<'_>) {
        if self.ready.is_some() {
            return;
        }
        let Some(request) = self.in_flight.as_mut() else {
            return;
        };
        let Poll::Ready(result) = request.as_mut().poll(cx) else {
            return;
        };
        self.in_flight = None;
        let page_number = self.pages_received + 1;
        self.ready = Some(match result {
            Ok(page) => {
                self.pages_received = page_number;
                self.items_received += page.runs.len() as u64;
                self.plan_next(&page);
                Ok(page)
            }
            Err(source) => {
                self.finished = true;
                Err(PaginationError::Request {
                    page: page_number,
                    source: Box::new(source),
                })
            }
        });
    }

    /// Decides from a received page whether and where the listing continues.
    fn plan_next(&mut self, page: &ListRunsResponse) {
        let next = page
            .page_info
            .next_cursor
            .as_deref()
            .filter(|cursor| !cursor.is_empty());
        let limit_reached = self.max_pages.is_some_and(|max| self.pages_received >= max)
            || self.max_items.is_some_and(|max| self.items_received >= max);
        match next {
            _ if limit_reached || !page.page_info.has_next_page || page.runs.is_empty() => {
                self.finished = true;
            }
            None => self.finished = true,
            Some(cursor) if !self.followed.insert(cursor.to_owned()) => {
                self.finished = true;
                self.pending_error = Some(PaginationError::RepeatedCursor {
                    page: self.pages_received,
                    cursor: cursor.to_owned(),
                });
            }
            Some(cursor) => self.cursor = Some(cursor.to_owned()),
        }
    }

    fn poll_page(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<RunsPage, PaginationError>>> {
        loop {
            if let Some(page) = self.ready.take() {
                if self.prefetch {
                    self.start_request();
                    self.poll_progress(cx);
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

impl fmt::Debug for Pager<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pager")
            .field("pages_received", &self.pages_received)
            .field("items_received", &self.items_received)
            .field("in_flight", &self.in_flight.is_some())
            .field("finished", &self.finished)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}
