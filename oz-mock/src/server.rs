//! Accept loop shared by the API and storage listeners. Each connection gets a kill switch in
//! its request extensions so a fault can close the socket without answering.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// Closes the connection a request arrived on.
#[derive(Clone)]
pub(crate) struct ConnectionKill(Arc<Notify>);

impl ConnectionKill {
    pub(crate) fn kill(&self) {
        self.0.notify_one();
    }
}

/// Closes the connection `request` arrived on; the answer never comes.
pub(crate) fn close_connection<B>(
    request: &http::Request<B>,
) -> impl Future<Output = axum::response::Response> + Send + 'static {
    if let Some(kill) = request.extensions().get::<ConnectionKill>() {
        kill.kill();
    }
    std::future::pending()
}

/// What the accept loop is told to do once it has started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Keep serving.
    No,
    /// Stop accepting; let the requests in flight finish for at most this long.
    Gracefully(Duration),
}

/// A source of connections: a [`TcpListener`], or in tests one whose `accept` fails.
pub(crate) trait Accept: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

impl Accept for TcpListener {
    type Io = TcpStream;
    async fn accept(&mut self) -> io::Result<TcpStream> {
        TcpListener::accept(self).await.map(|(stream, _)| stream)
    }
}

/// The pause after a failed `accept`. Failures such as running out of file descriptors
/// (EMFILE) persist until a connection closes; retrying at once would spin a core and starve
/// the connections that would free one. 10 ms, doubling up to 1 s, back to 10 ms after a
/// success.
#[derive(Debug)]
pub(crate) struct AcceptBackoff {
    next: Duration,
}

impl AcceptBackoff {
    pub(crate) const FIRST: Duration = Duration::from_millis(10);
    pub(crate) const MAX: Duration = Duration::from_secs(1);

    pub(crate) fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// The pause after one more failure.
    pub(crate) fn failed(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        pause
    }

    pub(crate) fn succeeded(&mut self) {
        self.next = Self::FIRST;
    }
}

pub(crate) async fn serve<A: Accept>(
    mut acceptor: A,
    router: Router,
    mut stop: watch::Receiver<Stop>,
) {
    let mut connections = JoinSet::new();
    let mut backoff = AcceptBackoff::new();
    let grace = loop {
        if let Stop::Gracefully(grace) = *stop.borrow_and_update() {
            break grace;
        }
        tokio::select! {
            accepted = acceptor.accept() => {
                let stream = match accepted {
                    Ok(stream) => stream,
                    Err(_) => {
                        let pause = backoff.failed();
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            changed = stop.changed() => {
                                if changed.is_err() {
                                    return;
                                }
                            }
                        }
                        continue;
                    }
                };
                backoff.succeeded();
                connections.spawn(connection(stream, router.clone(), stop.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            changed = stop.changed() => {
                // The sender is gone: the simulator was dropped, its tasks are being aborted.
                if changed.is_err() {
                    return;
                }
            }
        }
    };
    drop(acceptor);
    let drained = async { while connections.join_next().await.is_some() {} };
    // Connections still busy after the grace are dropped with the set.
    let _ = tokio::time::timeout(grace, drained).await;
}

/// Serves one connection until the client closes it, a fault kills it, or a graceful stop lets
/// its request in flight finish.
async fn connection<I>(stream: I, router: Router, mut stop: watch::Receiver<Stop>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let kill = Arc::new(Notify::new());
    let service = TowerToHyperService::new(router);
    let request_kill = ConnectionKill(kill.clone());
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(request_kill.clone());
        hyper::service::Service::call(&service, request)
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            () = kill.notified() => return,
            changed = stop.changed(), if !stopping => {
                if changed.is_err() || matches!(*stop.borrow(), Stop::Gracefully(_)) {
                    // Finishes the request in flight, answers with `Connection: close` and
                    // closes an idle connection at once.
                    connection.as_mut().graceful_shutdown();
                    stopping = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn the_backoff_doubles_to_a_second_and_starts_over_after_a_success() {
        let mut backoff = AcceptBackoff::new();
        let pauses: Vec<u64> = (0..10)
            .map(|_| backoff.failed().as_millis() as u64)
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_millis(10));
    }

    /// An acceptor whose `accept` always fails, as with no file descriptors left. After
    /// `LIMIT` calls it waits forever, so that a loop without a pause ends the test instead of
    /// hanging it.
    struct Failing(Arc<AtomicUsize>);

    const LIMIT: usize = 1_000;

    impl Accept for Failing {
        type Io = TcpStream;
        async fn accept(&mut self) -> io::Result<TcpStream> {
            if self.0.fetch_add(1, Ordering::SeqCst) >= LIMIT {
                std::future::pending::<()>().await;
            }
            Err(io::Error::from_raw_os_error(24))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failing_accepts_are_retried_after_growing_pauses() {
        let calls = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = watch::channel(Stop::No);
        let task = tokio::spawn(serve(Failing(calls.clone()), Router::new(), stopped));
        // 10 + 20 + 40 + ... + 640 ms = 1.27 s: eight attempts, then one a second.
        tokio::time::sleep(Duration::from_millis(1_275)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 8);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 18);
        // A stop is heard during a pause.
        stop.send(Stop::Gracefully(Duration::ZERO))
            .expect("serving");
        tokio::time::timeout(Duration::from_millis(10), task)
            .await
            .expect("stopped during the pause")
            .expect("no panic");
    }
}
