//! Downloads whose body breaks off: continued with a `Range` request from the bytes written,
//! started over when the storage service sends the whole object again, never spliced from two
//! versions of an object.
//!
//! The storage service is either a plain TCP server scripted per test (it can cut a body after
//! an exact number of bytes and counts every body byte it sends), behind a wiremock API that
//! redirects to it, or the simulator's storage origin with its faults. Tokio's clock is paused, so the pauses before a body is continued
//! take no real time and can be measured. While a request waits for a socket, the only timers
//! would be the clients' own timeouts and connection-pool housekeeping, and the paused clock
//! would jump to them at once; both clients are therefore built without any (see
//! `tests/waiter.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oz_api_ext::ResumeObstacle;
use oz_api_ext::oz_api::Client;
use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::{DownloadError, DownloadExt, Progress};
use oz_mock::{Fault, FaultRule, OzMock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use oz_api_ext::oz_api::DEFAULT_MAX_RETRIES;
use support::client_without_timers;

const TRANSCRIPT_PATH: &str = "/api/v1/agent/runs/run-1/transcript";

/// A storage client without timers.
fn storage_client() -> reqwest::Client {
    oz_api_ext::oz_api::http_client_builder()
        .unwrap()
        .pool_idle_timeout(None)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `size` bytes that differ from one offset to the next, so a splice at the wrong offset shows.
fn object(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i.wrapping_mul(31) % 251) as u8 ^ seed)
        .collect()
}

/// The request head the storage server received.
#[derive(Debug, Clone)]
struct Head {
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the storage server sends back.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Sends only this many bytes of the body (declaring all of them), then hangs up.
    cut_after: Option<usize>,
}

/// How a scripted object answers one request: the object, its `ETag`, whether `Range` (and
/// `If-Range`) is honoured.
struct Serve<'a> {
    body: &'a [u8],
    etag: Option<&'a str>,
    ranges: bool,
}

impl Serve<'_> {
    /// A store's answer: `206` for `bytes=N-` when ranges are on and `If-Range` (if any)
    /// matches the `ETag`, `416` past the end, `200` with the whole object otherwise.
    fn answer(&self, head: &Head) -> Reply {
        let mut headers = Vec::new();
        if let Some(etag) = self.etag {
            headers.push(("ETag", etag.to_owned()));
        }
        if self.ranges {
            headers.push(("Accept-Ranges", "bytes".to_owned()));
        }
        let if_range_ok = head.header("if-range").is_none_or(|v| Some(v) == self.etag);
        let start = head
            .header("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok());
        match start {
            Some(start) if self.ranges && if_range_ok => {
                let len = self.body.len();
                if start >= len {
                    headers.push(("Content-Range", format!("bytes */{len}")));
                    return Reply {
                        status: 416,
                        headers,
                        body: Vec::new(),
                        cut_after: None,
                    };
                }
                headers.push(("Content-Range", format!("bytes {start}-{}/{len}", len - 1)));
                Reply {
                    status: 206,
                    headers,
                    body: self.body[start..].to_vec(),
                    cut_after: None,
                }
            }
            _ => Reply {
                status: 200,
                headers,
                body: self.body.to_vec(),
                cut_after: None,
            },
        }
    }
}

/// A storage server on a raw socket: one request per connection, answered by `script` with
/// the number of earlier requests.
struct Storage {
    origin: String,
    requests: Arc<Mutex<Vec<Head>>>,
    sent: Arc<Mutex<u64>>,
}

impl Storage {
    async fn start(script: impl Fn(usize, &Head) -> Reply + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::<Head>::new()));
        let sent = Arc::new(Mutex::new(0u64));
        let script = Arc::new(script);
        let (log, counter) = (requests.clone(), sent.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let Some(head) = read_head(&mut socket).await else {
                    continue;
                };
                let index = {
                    let mut log = log.lock().unwrap();
                    log.push(head.clone());
                    log.len() - 1
                };
                let reply = script(index, &head);
                let mut out = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (name, value) in &reply.headers {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
                out.push_str("\r\n");
                let body = match reply.cut_after {
                    Some(n) => &reply.body[..n.min(reply.body.len())],
                    None => &reply.body[..],
                };
                if reply.status / 100 == 2 {
                    *counter.lock().unwrap() += body.len() as u64;
                }
                let _ = socket.write_all(out.as_bytes()).await;
                let _ = socket.write_all(body).await;
                let _ = socket.shutdown().await;
            }
        });
        Self {
            origin,
            requests,
            sent,
        }
    }

    fn requests(&self) -> Vec<Head> {
        self.requests.lock().unwrap().clone()
    }

    /// Bytes of 2xx bodies sent over all requests.
    fn sent(&self) -> u64 {
        *self.sent.lock().unwrap()
    }

    /// The `Range` header of each request.
    fn ranges(&self) -> Vec<Option<String>> {
        self.requests()
            .iter()
            .map(|h| h.header("range").map(str::to_owned))
            .collect()
    }
}

async fn read_head(socket: &mut tokio::net::TcpStream) -> Option<Head> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request).into_owned();
    let mut lines = text.split("\r\n");
    let target = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Head { target, headers })
}

/// An API that redirects the transcript to `location` (every time).
async fn api_redirecting_to(location: &str) -> MockServer {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", location))
        .mount(&api)
        .await;
    api
}

/// Progress reports, recorded.
#[derive(Clone, Default)]
struct Reports(Arc<Mutex<Vec<Progress>>>);

impl Reports {
    fn recorder(&self) -> impl FnMut(Progress) + Send + 'static {
        let reports = self.0.clone();
        move |p| reports.lock().unwrap().push(p)
    }

    fn bytes(&self) -> Vec<u64> {
        self.0.lock().unwrap().iter().map(|p| p.bytes).collect()
    }

    fn totals(&self) -> Vec<Option<u64>> {
        self.0.lock().unwrap().iter().map(|p| p.total).collect()
    }
}

const SIZE: usize = 1_000_000;
const CUT: usize = 700_000;

/// The first answer is cut after `CUT` bytes; later ones are whole.
fn cut_once(
    serve: impl Fn(&Head) -> Reply + Send + Sync + 'static,
) -> impl Fn(usize, &Head) -> Reply + Send + Sync + 'static {
    move |index, head| {
        let mut reply = serve(head);
        if index == 0 {
            reply.cut_after = Some(CUT);
        }
        reply
    }
}

#[tokio::test(start_paused = true)]
async fn a_body_cut_mid_way_continues_with_a_range_from_the_bytes_written() {
    let body = Arc::new(object(SIZE, 0));
    let served = body.clone();
    let storage = Storage::start(cut_once(move |head| {
        Serve {
            body: &served,
            etag: Some("\"v1\""),
            ranges: true,
        }
        .answer(head)
    }))
    .await;
    let api = api_redirecting_to(&format!("{}/t.json?sig=abc", storage.origin)).await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("transcript.json");
    let reports = Reports::default();

    let started = Instant::now();
    let written = client_without_timers(&api, DEFAULT_MAX_RETRIES)
        .download_transcript("run-1")
        .storage_client(storage_client())
        .on_progress(reports.recorder())
        .to_file(&target)
        .await
        .expect("the download continues where it broke off");

    assert_eq!(written, SIZE as u64);
    assert!(std::fs::read(&target).unwrap() == *body, "byte-identical");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
    assert_eq!(
        storage.ranges(),
        [None, Some(format!("bytes={CUT}-"))],
        "the second request asks for exactly the bytes not written"
    );
    let second = &storage.requests()[1];
    assert_eq!(second.header("if-range"), Some("\"v1\""));
    assert_eq!(second.target, "/t.json?sig=abc");
    assert_eq!(storage.sent(), SIZE as u64, "each byte sent once");
    // Progress counts each byte once and never goes back.
    let bytes = reports.bytes();
    assert_eq!(bytes.first(), Some(&0));
    assert_eq!(bytes.iter().filter(|b| **b == 0).count(), 1);
    assert!(bytes.windows(2).all(|w| w[0] < w[1]), "{bytes:?}");
    assert_eq!(bytes.last(), Some(&(SIZE as u64)));
    assert!(reports.totals().iter().all(|t| *t == Some(SIZE as u64)));
    // One pause of the client's first backoff (half a second, shortened by at most a quarter)
    // before continuing.
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(375)..=Duration::from_millis(500)).contains(&waited),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_writer_and_a_buffer_are_continued_the_same_way() {
    let body = Arc::new(object(SIZE, 0));
    let served = body.clone();
    // Every other request is cut: the first of each download.
    let storage = Storage::start(move |index, head| {
        let mut reply = Serve {
            body: &served,
            etag: Some("\"v1\""),
            ranges: true,
        }
        .answer(head);
        if index % 2 == 0 {
            reply.cut_after = Some(CUT);
        }
        reply
    })
    .await;
    let api = api_redirecting_to(&format!("{}/t.json?sig=abc", storage.origin)).await;
    let client = client_without_timers(&api, DEFAULT_MAX_RETRIES);

    let mut sink = Vec::new();
    let written = client
        .download_transcript("run-1")
        .storage_client(storage_client())
        .to_writer(&mut sink)
        .await
        .expect("to_writer continues");
    let bytes = client
        .download_transcript("run-1")
        .storage_client(storage_client())
        .bytes()
        .await
        .expect("bytes continues");

    assert_eq!(written, SIZE as u64);
    assert!(sink == *body);
    assert!(bytes[..] == body[..]);
    let range = Some(format!("bytes={CUT}-"));
    assert_eq!(storage.ranges(), [None, range.clone(), None, range]);
    assert_eq!(storage.sent(), 2 * SIZE as u64);
}

#[tokio::test(start_paused = true)]
async fn without_ranges_a_file_starts_over_and_ends_byte_identical() {
    let body = Arc::new(object(SIZE, 0));
    let served = body.clone();
    // Neither ranges nor validators: the store ignores `Range` and nothing shows the second
    // answer to be the same object.
    let storage = Storage::start(cut_once(move |head| {
        Serve {
            body: &served,
            etag: None,
            ranges: false,
        }
        .answer(head)
    }))
    .await;
    let api = api_redirecting_to(&format!("{}/t.json?sig=abc", storage.origin)).await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("transcript.json");
    let reports = Reports::default();

    let written = client_without_timers(&api, DEFAULT_MAX_RETRIES)
        .download_transcript("run-1")
        .storage_client(storage_client())
        .on_progress(reports.recorder())
        .to_file(&target)
        .await
        .expect("the download starts over");

    assert_eq!(written, SIZE as u64);
    assert!(std::fs::read(&target).unwrap() == *body, "byte-identical");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // No `Range` is asked of a store that did not offer ranges.
    assert_eq!(storage.ranges(), [None, None]);
    // Progress goes back to 0 once, when the file starts over, and never past the size.
    let bytes = reports.bytes();
    let restarts: Vec<_> = bytes
        .windows(2)
        .filter(|w| w[1] < w[0])
        .map(|w| w[1])
        .collect();
    assert_eq!(restarts, [0]);
    assert_eq!(bytes.iter().filter(|b| **b == CUT as u64).count(), 1);
    assert_eq!(bytes.last(), Some(&(SIZE as u64)));
    assert!(bytes.iter().all(|b| *b <= SIZE as u64));

    // In memory, the same.
    let again = client_without_timers(&api, DEFAULT_MAX_RETRIES)
        .download_transcript("run-1")
        .storage_client(storage_client())
        .bytes()
        .await
        .expect("bytes starts over");
    assert!(again[..] == body[..]);
}

#[tokio::test(start_paused = true)]
async fn without_ranges_a_writer_fails_clearly_with_what_it_received() {
    let body = Arc::new(object(SIZE, 0));
    let served = body.clone();
    let storage = Storage::start(cut_once(move |head| {
        Serve {
            body: &served,
            etag: None,
            ranges: false,
        }
        .answer(head)
    }))
    .await;
    let api = api_redirecting_to(&format!("{}/t.json?sig=abc", storage.origin)).await;
    let mut sink = Vec::new();

    let err = client_without_timers(&api, DEFAULT_MAX_RETRIES)
        .download_transcript("run-1")
        .storage_client(storage_client())
        .to_writer(&mut sink)
        .await
        .expect_err("a writer cannot take back the first part");

    assert!(
        matches!(
            err,
            DownloadError::NotResumable {
                written,
                obstacle: ResumeObstacle::RangesNotServed
            } if written == CUT as u64
        ),
        "{err:?}"
    );
    assert_eq!(sink.len(), CUT);
    assert!(sink[..] == body[..CUT]);
    let shown = err.to_string();
    assert!(shown.contains("700000 bytes"), "{shown}");
    assert_eq!(shown.lines().count(), 1);
    // Nothing could continue it, so nothing more was asked.
    assert_eq!(storage.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn without_ranges_the_same_etag_lets_a_writer_skip_what_it_has() {
    let body = Arc::new(object(SIZE, 0));
    let served = body.clone();
    let storage = Storage::start(cut_once(move |head| {
        Serve {
            body: &served,
            etag: Some("\"v1\""),
            ranges: false,
        }
        .answer(head)
    }))
    .await;
    let api = api_redirecting_to(&format!("{}/t.json?sig=abc", storage.origin)).await;
    let reports = Reports::default();
    let mut sink = Vec::new();

    let written = client_without_timers(&api, DEFAULT_MAX_RETRIES)
        .download_transcript("run-1")
        .storage_client(storage_client())
        .on_progress(reports.recorder())
        .to_writer(&mut sink)
        .await
        .expect("the same object again: its first part is skipped");

    assert_eq!(written, SIZE as u64);
    assert!(sink == *body);
    assert_eq!(storage.ranges(), [None, None]);
    let bytes = reports.bytes();
    assert!(bytes.windows(2).all(|w| w[0] < w[1]), "{bytes:?}");
    assert_eq!(bytes.last(), Some(&(SIZE as u64)));
}

/// A store whose object is `old` (ETag `"v1"`) for the first answer, cut after `CUT` bytes,
/// and `new` (ETag `"v2"`) from then on; `honours_if_range: false` makes it answer a range of
/// the new object whatever `If-Range` says.
async fn changing_store(old: Arc<Vec<u8>>, new: Arc<Vec<u8>>, honours_if_range: bool) -> Storage {
    Storage::start(move |index, head| {
        if index == 0 {
            let mut reply = Serve {
                body: &old,
                etag: Some("\"v1\""),
                ranges: true,
            }
            .answer(head);
            reply.cut_after = Some(CUT);
            return reply;
        }
        let mut head = head.clone();
        if !honours_if_range {
            head.headers.retain(|(name, _)| name != "if-range");
        }
        Serve {
            body: &new,
            etag: Some("\"v2\""),
            ranges: true,
        }
        .answer(&head)
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn an_object_that_changed_between_attempts_is_not_spliced() {
    let old = Arc::new(object(SIZE, 0));
    let new = Arc::new(object(SIZE, 0x5a));
    let storage = changing_store(old.clone(), new.clone(), true).await;
    let api = api_redirecting_to(&format!("{}/t.json?sig=abc", storage.origin)).await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("transcript.json");
    let reports = Reports::default();

    let written = client_without_timers(&api, DEFAULT_MAX_RETRIES)
        .download_transcript("run-1")
        .storage_client(storage_client())
        .on_progress(reports.recorder())
        .to_file(&target)
        .await
        .expect("the new object is downloaded whole");

    assert_eq!(written, SIZE as u64);
    assert!(
        std::fs::read(&target).unwrap() == *new,
        "only the new object"
    );
    let requests = storage.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].header("range"), Some("bytes=700000-"));
    // `If-Range` made the store send the whole new object rather than a range of it.
    assert_eq!(requests[1].header("if-range"), Some("\"v1\""));
    assert_eq!(reports.bytes().iter().filter(|b| **b == 0).count(), 2);

    // A writer holds the old object's first part: the download fails and says so.
    let storage = changing_store(old.clone(), new.clone(), true).await;
    let api = api_redirecting_to(&format!("{}/t.json?sig=abc", storage.origin)).await;
    let mut sink = Vec::new();
    let err = client_without_timers(&api, DEFAULT_MAX_RETRIES)
        .download_transcript("run-1")
        .storage_client(storage_client())
        .to_writer(&mut sink)
        .await
        .expect_err("the old part cannot be taken back");
    assert!(
        matches!(
            err,
            DownloadError::NotResumable {
                written: 700_000,
                obstacle: ResumeObstacle::ObjectChanged
            }
        ),
        "{err:?}"
    );
    assert!(sink[..] == old[..CUT]);
    assert!(err.to_string().contains("changed"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_range_of_another_object_is_not_spliced_even_when_if_range_is_ignored() {
    let old = Arc::new(object(SIZE, 0));
    let new = Arc::new(object(SIZE, 0x5a));
    let storage = changing_store(old, new.clone(), false).await;
    let api = api_redirecting_to(&format!("{}/t.json?sig=abc", storage.origin)).await;

    let bytes = client_without_timers(&api, DEFAULT_MAX_RETRIES)
        .download_transcript("run-1")
        .storage_client(storage_client())
        .bytes()
        .await
        .expect("the new object is downloaded whole");

    assert!(bytes[..] == new[..], "only the new object");
    // The `206` of the new object was dropped (its ETag differs); the whole object was asked
    // for without a range.
    assert_eq!(
        storage.ranges(),
        [None, Some("bytes=700000-".to_owned()), None]
    );
}

#[tokio::test(start_paused = true)]
async fn a_range_that_does_not_start_at_the_bytes_written_is_not_spliced() {
    let body = Arc::new(object(SIZE, 0));
    let served = body.clone();
    let storage = Storage::start(move |index, head| {
        let mut reply = Serve {
            body: &served,
            etag: Some("\"v1\""),
            ranges: true,
        }
        .answer(head);
        match index {
            0 => reply.cut_after = Some(CUT),
            // A store that answers another range than the one asked for.
            1 => {
                reply.body = served[CUT - 10..].to_vec();
                reply.headers.retain(|(name, _)| *name != "Content-Range");
                reply.headers.push((
                    "Content-Range",
                    format!("bytes {}-{}/{SIZE}", CUT - 10, SIZE - 1),
                ));
            }
            _ => {}
        }
        reply
    })
    .await;
    let api = api_redirecting_to(&format!("{}/t.json?sig=abc", storage.origin)).await;

    let bytes = client_without_timers(&api, DEFAULT_MAX_RETRIES)
        .download_transcript("run-1")
        .storage_client(storage_client())
        .bytes()
        .await
        .expect("the whole object");

    assert!(bytes[..] == body[..]);
    assert_eq!(
        storage.ranges(),
        [None, Some("bytes=700000-".to_owned()), None]
    );
}

#[tokio::test(start_paused = true)]
async fn an_unsatisfiable_range_starts_over() {
    let long = Arc::new(object(SIZE, 0));
    let short = Arc::new(object(CUT / 2, 0x33));
    let (first, later) = (long.clone(), short.clone());
    // The object shrank below the bytes written, keeping its ETag (a store that ignores
    // If-Range would then answer 416).
    let storage = Storage::start(move |index, head| {
        let body: &[u8] = if index == 0 { &first } else { &later };
        let mut reply = Serve {
            body,
            etag: Some("\"v1\""),
            ranges: true,
        }
        .answer(head);
        if index == 0 {
            reply.cut_after = Some(CUT);
        }
        reply
    })
    .await;
    let api = api_redirecting_to(&format!("{}/t.json?sig=abc", storage.origin)).await;

    let bytes = client_without_timers(&api, DEFAULT_MAX_RETRIES)
        .download_transcript("run-1")
        .storage_client(storage_client())
        .bytes()
        .await
        .expect("the object as it is now");

    assert!(bytes[..] == short[..]);
    assert_eq!(
        storage.ranges(),
        [None, Some("bytes=700000-".to_owned()), None]
    );
}

#[tokio::test(start_paused = true)]
async fn continuations_are_bounded_and_the_last_error_is_reported() {
    let body = Arc::new(object(SIZE, 0));
    let served = body.clone();
    // Every answer breaks off 100 kB in.
    let storage = Storage::start(move |_, head| {
        let mut reply = Serve {
            body: &served,
            etag: Some("\"v1\""),
            ranges: true,
        }
        .answer(head);
        reply.cut_after = Some(100_000);
        reply
    })
    .await;
    let api = api_redirecting_to(&format!("{}/t.json?sig=abc", storage.origin)).await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("transcript.json");

    let started = Instant::now();
    let err = client_without_timers(&api, DEFAULT_MAX_RETRIES)
        .download_transcript("run-1")
        .storage_client(storage_client())
        .to_file(&target)
        .await
        .expect_err("it keeps breaking off");

    assert!(matches!(err, DownloadError::Transport(_)), "{err:?}");
    assert_eq!(
        storage.ranges(),
        [
            None,
            Some("bytes=100000-".to_owned()),
            Some("bytes=200000-".to_owned()),
            Some("bytes=300000-".to_owned()),
        ],
        "three continuations"
    );
    // The client's backoff before each continuation: 0.5 s, 1 s and 2 s, each shortened by at
    // most a quarter.
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(2_625)..=Duration::from_millis(3_500)).contains(&waited),
        "{waited:?}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_signed_url_expired_when_the_body_continues_is_resolved_again() {
    let body = Arc::new(object(SIZE, 0));
    let served = body.clone();
    // `sig=old` works once (and that answer breaks off); by the time the body continues it has
    // expired. `sig=new` works.
    let storage = Storage::start(move |index, head| {
        if head.target.ends_with("sig=old") && index > 0 {
            return Reply {
                status: 403,
                headers: vec![("Content-Type", "application/xml".to_owned())],
                body: b"<Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>".to_vec(),
                cut_after: None,
            };
        }
        let mut reply = Serve {
            body: &served,
            etag: Some("\"v1\""),
            ranges: true,
        }
        .answer(head);
        if index == 0 {
            reply.cut_after = Some(CUT);
        }
        reply
    })
    .await;
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/t.json?sig=old", storage.origin)),
        )
        .up_to_n_times(1)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPT_PATH))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/t.json?sig=new", storage.origin)),
        )
        .mount(&api)
        .await;

    let bytes = client_without_timers(&api, DEFAULT_MAX_RETRIES)
        .download_transcript("run-1")
        .storage_client(storage_client())
        .bytes()
        .await
        .expect("the fresh URL continues the body");

    assert!(bytes[..] == body[..]);
    let requests = storage.requests();
    let seen: Vec<_> = requests
        .iter()
        .map(|h| (h.target.as_str(), h.header("range")))
        .collect();
    assert_eq!(
        seen,
        [
            ("/t.json?sig=old", None),
            ("/t.json?sig=old", Some("bytes=700000-")),
            ("/t.json?sig=new", Some("bytes=700000-")),
        ]
    );
    assert_eq!(api.received_requests().await.unwrap().len(), 2);
    assert_eq!(storage.sent(), SIZE as u64);
}

/// A finished run of the simulator with a transcript of about 256 kB, and that transcript.
async fn finished_run(mock: &OzMock, client: &Client) -> (String, Vec<u8>) {
    let run_id = client
        .create_run()
        .body(RunAgentRequest::builder().prompt("[transcript:256KB] a long session"))
        .send()
        .await
        .unwrap()
        .into_inner()
        .run_id;
    client.get_run().run_id(&run_id).send().await.unwrap();
    let clean = client
        .download_transcript(&run_id)
        .storage_client(storage_client())
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert!(clean.len() > 250_000, "{}", clean.len());
    mock.reset_counters();
    (run_id, clean)
}

/// The `Range` header of each request the simulator's storage received.
fn simulator_ranges(mock: &OzMock) -> Vec<Option<String>> {
    mock.storage_requests()
        .iter()
        .map(|r| r.header("range").map(str::to_owned))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_simulator_continues_a_transcript_cut_mid_body_from_the_bytes_written() {
    let mock = OzMock::start().await.unwrap();
    let client = client_without_timers(&mock, DEFAULT_MAX_RETRIES);
    let (run_id, clean) = finished_run(&mock, &client).await;
    mock.add_fault(FaultRule::operation(
        "storage_download",
        Fault::TruncatedBody,
    ));
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("transcript.json");
    let reports = Reports::default();

    let written = client
        .download_transcript(&run_id)
        .storage_client(storage_client())
        .on_progress(reports.recorder())
        .to_file(&target)
        .await
        .expect("the cut transcript is continued");

    assert_eq!(written, clean.len() as u64);
    assert!(std::fs::read(&target).unwrap() == clean, "byte-identical");
    let ranges = simulator_ranges(&mock);
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], None);
    let start: u64 = ranges[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .expect("a `bytes=N-` range");
    assert!(0 < start && start < clean.len() as u64, "{start}");
    let requests = mock.storage_requests();
    assert!(
        requests[1]
            .header("if-range")
            .is_some_and(|v| v.starts_with('"'))
    );
    // The range starts at exactly the bytes written, each counted once.
    let bytes = reports.bytes();
    assert!(bytes.contains(&start), "{start} in {bytes:?}");
    assert!(bytes.windows(2).all(|w| w[0] < w[1]), "{bytes:?}");
    assert_eq!(bytes.last(), Some(&(clean.len() as u64)));
}

#[tokio::test(start_paused = true)]
async fn with_ranges_refused_the_simulator_transcript_still_ends_byte_identical() {
    let mock = OzMock::builder()
        .storage_ranges(false)
        .start()
        .await
        .unwrap();
    let client = client_without_timers(&mock, DEFAULT_MAX_RETRIES);
    let (run_id, clean) = finished_run(&mock, &client).await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("transcript.json");

    mock.add_fault(FaultRule::operation(
        "storage_download",
        Fault::TruncatedBody,
    ));
    let written = client
        .download_transcript(&run_id)
        .storage_client(storage_client())
        .to_file(&target)
        .await
        .expect("the whole transcript again");
    assert_eq!(written, clean.len() as u64);
    assert!(std::fs::read(&target).unwrap() == clean, "byte-identical");

    // A writer too: the whole object came again with the same ETag, so the part it already
    // has is skipped.
    mock.add_fault(FaultRule::operation(
        "storage_download",
        Fault::TruncatedBody,
    ));
    let mut sink = Vec::new();
    client
        .download_transcript(&run_id)
        .storage_client(storage_client())
        .to_writer(&mut sink)
        .await
        .expect("the whole transcript again");
    assert!(sink == clean, "byte-identical");
    // No range was asked of a store that offers none.
    assert_eq!(simulator_ranges(&mock), [None, None, None, None]);
}

#[tokio::test(start_paused = true)]
async fn a_signed_url_that_expired_before_the_body_continues_is_resolved_again() {
    let mock = OzMock::builder()
        .signed_url_ttl(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let client = client_without_timers(&mock, DEFAULT_MAX_RETRIES);
    let (run_id, clean) = finished_run(&mock, &client).await;
    mock.add_fault(FaultRule::operation(
        "storage_download",
        Fault::TruncatedBody,
    ));
    // Once the first body is under way, the next storage request waits two minutes before the
    // storage checks its signature: the URL has expired by then.
    let mut delayed = false;
    let delay_next = |p: Progress| {
        if p.bytes > 0 && !delayed {
            delayed = true;
            mock.add_fault(FaultRule::operation(
                "storage_download",
                Fault::Latency(Duration::from_secs(120)),
            ));
        }
    };

    let bytes = client
        .download_transcript(&run_id)
        .storage_client(storage_client())
        .on_progress(delay_next)
        .bytes()
        .await
        .expect("a fresh URL continues the body");

    assert!(bytes[..] == clean[..], "byte-identical");
    let requests = mock.storage_requests();
    let ranges = simulator_ranges(&mock);
    assert_eq!(ranges.len(), 3, "{ranges:?}");
    assert_eq!(ranges[0], None);
    assert!(ranges[1].is_some());
    assert_eq!(ranges[1], ranges[2], "the same range with the fresh URL");
    assert_eq!(requests[0].query, requests[1].query, "the expired URL");
    assert_ne!(requests[1].query, requests[2].query, "a fresh URL");
    assert_eq!(mock.request_count("get_run_transcript"), 2);
}
