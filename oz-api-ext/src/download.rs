//! Downloads of transcripts, artifact files and screenshots; see [`DownloadExt`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use oz_api::time::{AsyncSleep, SharedSleep};
use oz_api::{Client, types};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_RANGES, CONTENT_RANGE, ETAG, HeaderMap, HeaderValue, IF_RANGE, LAST_MODIFIED, LOCATION,
    RANGE,
};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use url::Url;

/// Attempts at a storage request that fails transiently (connection failure, timeout, 429 or
/// 5xx) before the download gives up. Between attempts, and before continuing a body that broke
/// off, the download pauses as the API client does between retries
/// ([`oz_api::time::backoff`], through the client's [`sleep_impl`](Client::sleep_impl)).
const STORAGE_ATTEMPTS: u32 = 3;
/// Times one download continues a body that broke off after it started.
const MAX_RESUMES: u32 = 3;
/// Redirects the storage service may answer before the download fails.
const MAX_STORAGE_REDIRECTS: usize = 5;
/// Upper bound of the buffer reserved up front by [`Download::bytes`], whatever
/// `Content-Length` claims.
const MAX_PREALLOCATION: u64 = 16 * 1024 * 1024;
/// Chunks of the body [`Download::to_file`] lets wait for its writing thread: a few hundred
/// kilobytes each (as the connection delivers them), so a few megabytes at most.
const FILE_QUEUE: usize = 4;

/// Download workflows on [`oz_api::Client`].
///
/// Downloads of run transcripts, artifact files and conversation screenshots.
///
/// The API does not serve these files itself: `GET /agent/runs/{runId}/transcript`,
/// `GET /agent/artifacts/{artifactUid}/download` and
/// `GET /agent/conversations/{conversationId}/screenshots/{screenshotUid}/download` answer with a
/// redirect to a short-lived signed URL on a storage service. A [`Download`] resolves that URL
/// through the API (with the API client, its credentials and its retries), then fetches it with
/// a separate HTTP client that carries no `Authorization` header and none of the configured
/// custom headers, so credentials never reach the storage service or any host it redirects to.
///
/// Bodies are streamed chunk by chunk into the destination, so memory stays constant however
/// large the file is ([`Download::bytes`] and [`Download::json`] are the exceptions: they keep the
/// whole body by design).
///
/// Three repetitions happen here, all bounded, and none repeats what the API client already
/// retries (its request hook repeats transient failures of the API requests that resolve the
/// URL, so those are not retried here):
/// - a signed URL that the storage service refuses (401, 403 or 410, which is how expired
///   signatures are reported) is resolved again through the API, once each time the body is
///   opened (at the start and at each continuation);
/// - a storage request that fails before its body starts (connection failure, timeout, 429 or
///   5xx) is sent again after 0.5 s and 1 s, up to three attempts in all. The storage service
///   is not the API, and the storage client has no retry layer of its own;
/// - a body that breaks off after it started (connection cut, silence longer than the read
///   timeout, fewer bytes than declared) is continued, after 0.5 s, 1 s and 2 s, up to three
///   times per download.
///
/// A body that broke off continues from the bytes already written, with a `Range: bytes=N-`
/// request, when the first answer declared its length and `Accept-Ranges: bytes`. The request
/// carries `If-Range` with the first answer's strong `ETag` (or its `Last-Modified`), so a
/// storage service whose object changed in between sends the whole new object instead of the
/// rest of it, and the answer must be a `206` whose `Content-Range` starts at exactly the bytes
/// written and ends at the declared length. Whenever the storage service sends the whole object
/// again instead (no ranges, a changed object, a `416`), the download takes it whole: it skips
/// the part already written when the answer carries the same strong `ETag` and length as the
/// first one, and otherwise starts over from the first byte ([`Download::to_file`] truncates
/// its temporary file, [`Download::bytes`] its buffer). [`Download::to_writer`] cannot take
/// back what it wrote: there, a download that would have to start over fails with
/// [`DownloadError::NotResumable`], which says how many bytes the writer received. Bytes are
/// never spliced from two versions of an object. (A file the API serves itself instead of
/// redirecting to storage is not continued: there is no URL to come back to.)
///
/// So one download sends at most five resolutions to the API (one before it starts, one per
/// storage request refused) and twenty-four storage requests (four opens, each of two URLs at
/// most three times, each following at most five storage redirects).
///
/// A [`Download`] owns a clone of the client, so the futures of its terminal methods can be
/// moved into `tokio::spawn` (with a `'static` progress callback, if any).
///
/// Signed URLs are credentials until they expire: they are held in [`RedactedUrl`], whose
/// `Debug` and `Display` leave out the query string, and no error message or log event of a
/// download contains one.
///
/// ```no_run
/// use oz_api_ext::DownloadExt;
///
/// # async fn example(client: oz_api::Client) -> Result<(), oz_api_ext::DownloadError> {
/// let bytes = client
///     .download_transcript("4f3c2a7e-0000-0000-0000-000000000000")
///     .on_progress(|p| eprintln!("{} of {:?} bytes", p.bytes, p.total))
///     .to_file("transcript.json")
///     .await?;
/// println!("saved {bytes} bytes");
/// # Ok(()) }
/// ```
pub trait DownloadExt {
    /// The raw transcript of a run (`GET /agent/runs/{runId}/transcript`), a JSON document whose
    /// shape depends on the harness that ran the agent.
    fn download_transcript<'a>(&self, run_id: impl Into<String>) -> Download<'a>;

    /// The file behind a FILE or SCREENSHOT artifact
    /// (`GET /agent/artifacts/{artifactUid}/download`).
    fn download_artifact_file<'a>(&self, artifact_uid: impl Into<String>) -> Download<'a>;

    /// A computer-use screenshot of a conversation
    /// (`GET /agent/conversations/{conversationId}/screenshots/{screenshotUid}/download`),
    /// usually a PNG. The same path as every other download: the signed URL is fetched without
    /// credentials and resolved again once if it has expired.
    ///
    /// (The generated `Client::download_conversation_screenshot()` is the raw operation; it
    /// answers the redirect without following it.)
    ///
    /// ```no_run
    /// use oz_api_ext::DownloadExt;
    ///
    /// # async fn example(client: oz_api::Client) -> Result<(), oz_api_ext::DownloadError> {
    /// let conversation = "6b1e0c44-0000-0000-0000-000000000000";
    /// let bytes = client
    ///     .download_screenshot(conversation, "shot-0001")
    ///     .to_file("shot-0001.png")
    ///     .await?;
    /// let png = client.download_screenshot(conversation, "shot-0002").bytes().await?;
    /// println!("{bytes} bytes saved, {} in memory", png.len());
    /// # Ok(()) }
    /// ```
    fn download_screenshot<'a>(
        &self,
        conversation_id: impl Into<String>,
        screenshot_uid: impl Into<String>,
    ) -> Download<'a>;
}

impl DownloadExt for Client {
    fn download_transcript<'a>(&self, run_id: impl Into<String>) -> Download<'a> {
        Download::new(self, Target::Transcript(run_id.into()))
    }

    fn download_artifact_file<'a>(&self, artifact_uid: impl Into<String>) -> Download<'a> {
        Download::new(self, Target::Artifact(artifact_uid.into()))
    }

    fn download_screenshot<'a>(
        &self,
        conversation_id: impl Into<String>,
        screenshot_uid: impl Into<String>,
    ) -> Download<'a> {
        Download::new(
            self,
            Target::Screenshot {
                conversation_id: conversation_id.into(),
                screenshot_uid: screenshot_uid.into(),
            },
        )
    }
}

/// How far a download has come: bytes of the body in the destination so far and, when the
/// server declared it, the total size.
///
/// A download that continues after its connection broke off carries on from the bytes already
/// written, without counting them again, so `bytes` only grows; it goes back to 0 only when the
/// download has to start over from the first byte (the storage service sent the whole object
/// again and it could not be shown to be the same one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the body in the destination so far.
    pub bytes: u64,
    /// Size of the whole body, from the first answer's `Content-Length`.
    pub total: Option<u64>,
}

/// A URL whose query string is a secret (a signed, time-limited download URL).
///
/// `Debug` and `Display` show it as [`oz_api::redaction::redact_url`] does, with the query
/// string replaced by `<redacted>`; [`expose`](Self::expose) gives the full URL.
///
/// ```
/// use oz_api_ext::RedactedUrl;
///
/// let url = RedactedUrl::parse("https://storage.example/t/1.json?X-Goog-Signature=abc123")?;
/// assert_eq!(url.to_string(), "https://storage.example/t/1.json?<redacted>");
/// assert!(!format!("{url:?}").contains("abc123"));
/// assert_eq!(url.expose().query(), Some("X-Goog-Signature=abc123"));
/// # Ok::<(), url::ParseError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedactedUrl(Url);

impl RedactedUrl {
    /// Parses an absolute URL.
    pub fn parse(url: &str) -> Result<Self, url::ParseError> {
        Url::parse(url).map(Self)
    }

    /// The full URL, signature included. Treat it as a credential until it expires.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// The full URL, signature included. Treat it as a credential until it expires.
    pub fn into_exposed(self) -> Url {
        self.0
    }
}

impl From<Url> for RedactedUrl {
    fn from(url: Url) -> Self {
        Self(url)
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&oz_api::redaction::redact_url(self.0.as_str()))
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedactedUrl(\"{self}\")")
    }
}

/// A FILE or SCREENSHOT artifact with its signed download URL: the answer of `get_artifact`
/// for an artifact that has a file, converted with `TryFrom` (other artifact types give
/// [`DownloadError::NotDownloadable`]).
///
/// The artifacts listed in a run (`run.artifacts`) carry no URL: download one with
/// [`DownloadExt::download_artifact_file`] and the artifact's
/// [`file_artifact_uid`](oz_api::types::ArtifactItem::file_artifact_uid).
///
/// ```no_run
/// use oz_api_ext::{ArtifactFile, DownloadExt};
///
/// # async fn example(client: oz_api::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let artifact = client
///     .get_artifact()
///     .artifact_uid("a1b2c3d4-0000-0000-0000-000000000000")
///     .send()
///     .await?
///     .into_inner();
/// let file = ArtifactFile::try_from(artifact)?;
/// let name = file.filename.clone().unwrap_or_else(|| "artifact.bin".to_owned());
/// file.download(&client).to_file(&name).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ArtifactFile {
    /// Identifier of the artifact.
    pub artifact_uid: String,
    /// MIME type of the file, e.g. `image/png`.
    pub content_type: String,
    /// File name (FILE artifacts only).
    pub filename: Option<String>,
    /// Path relative to the conversation (FILE artifacts read with credentials only).
    pub filepath: Option<String>,
    /// Size in bytes, when the server knows it.
    pub size_bytes: Option<i64>,
    /// Description given by the agent.
    pub description: Option<String>,
    /// When [`url`](Self::url) stops working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// Signed download URL.
    pub url: RedactedUrl,
}

impl TryFrom<types::ArtifactResponse> for ArtifactFile {
    type Error = DownloadError;

    fn try_from(artifact: types::ArtifactResponse) -> Result<Self, DownloadError> {
        use types::ArtifactResponse as A;
        match artifact {
            A::FileArtifactResponse(file) => {
                let data = file.data;
                Ok(Self {
                    url: artifact_url(&data.download_url)?,
                    artifact_uid: file.artifact_uid,
                    content_type: data.content_type,
                    filename: Some(data.filename),
                    filepath: data.filepath,
                    size_bytes: data.size_bytes,
                    description: data.description,
                    expires_at: data.expires_at,
                })
            }
            A::ScreenshotArtifactResponse(shot) => {
                let data = shot.data;
                Ok(Self {
                    url: artifact_url(&data.download_url)?,
                    artifact_uid: shot.artifact_uid,
                    content_type: data.content_type,
                    filename: None,
                    filepath: None,
                    size_bytes: None,
                    description: data.description,
                    expires_at: data.expires_at,
                })
            }
            A::PlanArtifactResponse(_) => Err(DownloadError::NotDownloadable {
                artifact_type: "PLAN".to_owned(),
            }),
            A::Unknown(value) => Err(DownloadError::NotDownloadable {
                artifact_type: value
                    .get("artifact_type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("unknown")
                    .to_owned(),
            }),
            _ => Err(DownloadError::NotDownloadable {
                artifact_type: "unknown".to_owned(),
            }),
        }
    }
}

impl ArtifactFile {
    /// A download of this file that starts from [`url`](Self::url) and asks the API for a fresh
    /// URL if that one has expired.
    pub fn download<'a>(&self, client: &Client) -> Download<'a> {
        client
            .download_artifact_file(self.artifact_uid.clone())
            .signed_url(self.url.clone())
    }
}

fn artifact_url(text: &str) -> Result<RedactedUrl, DownloadError> {
    Url::parse(text.trim())
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .map(RedactedUrl)
        .ok_or(DownloadError::InvalidUrl {
            context: UrlContext::ArtifactResponse,
        })
}

/// Where a signed URL came from, for [`DownloadError::InvalidUrl`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlContext {
    /// The `Location` header of an API redirect.
    ApiRedirect,
    /// The `Location` header of a storage redirect.
    StorageRedirect,
    /// The `download_url` of an artifact.
    ArtifactResponse,
}

impl fmt::Display for UrlContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ApiRedirect => "the API's redirect",
            Self::StorageRedirect => "the storage service's redirect",
            Self::ArtifactResponse => "the artifact's download_url",
        })
    }
}

/// Why a download failed.
///
/// `Display` is one line about what the download was doing, followed by the one line of its
/// cause (the client's error, the I/O error, the transport error, the JSON error), for example
/// `get_run_transcript failed: 404 Not Found ...`; the cause stays reachable as
/// [`source`](std::error::Error::source). `Debug` is one line as well (what `?` in `main`
/// prints): the variant and its key facts, causes by their one-line `Display`. Neither ever
/// contains the API key or a signed URL's query string.
#[non_exhaustive]
pub enum DownloadError {
    /// The API refused to hand out the download URL (for example 404: no such run or no
    /// transcript yet) or the artifact, or could not be reached, after the client's own
    /// retries.
    Api {
        /// The operation that failed: `get_run_transcript`, `download_artifact`,
        /// `download_conversation_screenshot` or `get_artifact`.
        operation: &'static str,
        /// The client's error, with the status and problem body of an error answer. Boxed: the
        /// client's error is large and failures are rare.
        source: Box<oz_api::Error>,
    },
    /// The API answered without a `Location` to download from.
    MissingLocation {
        /// Status of the API's answer.
        status: StatusCode,
    },
    /// A download URL is not an absolute `http` or `https` URL.
    InvalidUrl {
        /// Where the URL came from.
        context: UrlContext,
    },
    /// The storage service refused the signed URL (also after it was resolved again, for
    /// 401, 403 and 410) or answered with an error.
    Storage {
        /// Status of the storage service's answer.
        status: StatusCode,
        /// The URL that was refused.
        url: RedactedUrl,
    },
    /// The storage service redirected more often than allowed.
    TooManyRedirects {
        /// The last URL it redirected to.
        url: RedactedUrl,
    },
    /// The artifact has no file to download (for example a PLAN).
    NotDownloadable {
        /// The artifact's type as the server named it.
        artifact_type: String,
    },
    /// A body broke off after [`Download::to_writer`] had passed `written` bytes to its writer,
    /// and the storage service's next answer could not continue it (see [`DownloadExt`]): the
    /// writer holds the first `written` bytes of an object that would have to be downloaded
    /// again from the start.
    NotResumable {
        /// Bytes of the body the writer received.
        written: u64,
        /// Why the body could not be continued.
        obstacle: ResumeObstacle,
    },
    /// Writing the destination failed, or the body ended before its declared length (also
    /// after the download continued it as often as allowed).
    Io(std::io::Error),
    /// The storage request failed on the way (connection, timeout, body cut off, also after the
    /// download continued it as often as allowed). The error carries no URL.
    Transport(reqwest::Error),
    /// The body is not the JSON document [`Download::json`] was asked for.
    Decode(serde_json::Error),
}

impl DownloadError {
    /// The client's error, when an API request failed ([`DownloadError::Api`]).
    pub fn api_error(&self) -> Option<&oz_api::Error> {
        match self {
            Self::Api { source, .. } => Some(source),
            _ => None,
        }
    }

    fn api(operation: &'static str, err: oz_api::Error) -> Self {
        Self::Api {
            operation,
            source: Box::new(err),
        }
    }

    fn transport(err: reqwest::Error) -> Self {
        Self::Transport(err.without_url())
    }
}

impl fmt::Display for DownloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api { operation, source } => write!(f, "{operation} failed: {source}"),
            Self::MissingLocation { status } => {
                write!(
                    f,
                    "the API answered {status} without a Location to download from"
                )
            }
            Self::InvalidUrl { context } => {
                write!(f, "{context} is not an absolute http(s) URL")
            }
            Self::Storage { status, url } => write!(f, "storage answered {status} for {url}"),
            Self::TooManyRedirects { url } => write!(
                f,
                "storage redirected more than {MAX_STORAGE_REDIRECTS} times (last to {url})"
            ),
            Self::NotDownloadable { artifact_type } => {
                write!(
                    f,
                    "an artifact of type {artifact_type} has no file to download"
                )
            }
            Self::NotResumable { written, obstacle } => write!(
                f,
                "the download broke off after {written} bytes were written and cannot be continued: {obstacle}"
            ),
            Self::Io(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                write!(f, "the download ended before its declared length: {err}")
            }
            Self::Io(err) => write!(f, "saving the download failed: {err}"),
            Self::Transport(err) => {
                write!(f, "the storage transfer failed: {}", TransportLine(err))
            }
            Self::Decode(err) => write!(f, "the download is not the expected JSON: {err}"),
        }
    }
}

/// One line: the variant and its key facts; causes by their one-line `Display`.
impl fmt::Debug for DownloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api { operation, source } => f
                .debug_struct("Api")
                .field("operation", operation)
                .field("source", &format_args!("{source}"))
                .finish(),
            Self::MissingLocation { status } => f
                .debug_struct("MissingLocation")
                .field("status", &format_args!("{status}"))
                .finish(),
            Self::InvalidUrl { context } => f
                .debug_struct("InvalidUrl")
                .field("context", context)
                .finish(),
            Self::Storage { status, url } => f
                .debug_struct("Storage")
                .field("status", &format_args!("{status}"))
                .field("url", url)
                .finish(),
            Self::TooManyRedirects { url } => f
                .debug_struct("TooManyRedirects")
                .field("url", url)
                .finish(),
            Self::NotDownloadable { artifact_type } => f
                .debug_struct("NotDownloadable")
                .field("artifact_type", artifact_type)
                .finish(),
            Self::NotResumable { written, obstacle } => f
                .debug_struct("NotResumable")
                .field("written", written)
                .field("obstacle", obstacle)
                .finish(),
            Self::Io(err) => f
                .debug_struct("Io")
                .field("kind", &err.kind())
                .field("error", &format_args!("{err}"))
                .finish(),
            Self::Transport(err) => f
                .debug_struct("Transport")
                .field("timeout", &err.is_timeout())
                .field("connect", &err.is_connect())
                .field("error", &format_args!("{}", TransportLine(err)))
                .finish(),
            Self::Decode(err) => f
                .debug_struct("Decode")
                .field("error", &format_args!("{err}"))
                .finish(),
        }
    }
}

/// The one line of a transport error, with the query string of any URL it carries left out.
/// The download strips URLs from the errors it makes, but `Transport` can be built from any
/// `reqwest::Error`.
struct TransportLine<'e>(&'e reqwest::Error);

impl fmt::Display for TransportLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        if let Some(url) = self.0.url() {
            line = line.replace(url.as_str(), &RedactedUrl(url.clone()).to_string());
            // Whatever form of the URL the line holds, its query string does not stay.
            if let Some(query) = url.query().filter(|query| !query.is_empty()) {
                line = line.replace(query, "<redacted>");
            }
        }
        f.write_str(&line)
    }
}

impl std::error::Error for DownloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Api { source, .. } => Some(source.as_ref()),
            Self::Io(err) => Some(err),
            Self::Transport(err) => Some(err),
            Self::Decode(err) => Some(err),
            _ => None,
        }
    }
}

impl From<std::io::Error> for DownloadError {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err)
    }
}

/// Why a body that broke off could not be continued into a writer, for
/// [`DownloadError::NotResumable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResumeObstacle {
    /// The storage service sent the whole object again (it does not answer ranges) and the
    /// answer carries no strong `ETag` that shows it to be the same object.
    RangesNotServed,
    /// The object on the storage service is not the one the first answer described (another
    /// `ETag` or length).
    ObjectChanged,
}

impl fmt::Display for ResumeObstacle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RangesNotServed => {
                "the storage service sent the whole object again, not shown to be the same object"
            }
            Self::ObjectChanged => "the object changed on the storage service",
        })
    }
}

/// What is downloaded: the operation that hands out its signed URL.
#[derive(Debug, Clone)]
enum Target {
    Transcript(String),
    Artifact(String),
    Screenshot {
        conversation_id: String,
        screenshot_uid: String,
    },
}

impl Target {
    /// The operation id of the request that resolves the download.
    fn operation(&self) -> &'static str {
        match self {
            Self::Transcript(_) => "get_run_transcript",
            Self::Artifact(_) => "download_artifact",
            Self::Screenshot { .. } => "download_conversation_screenshot",
        }
    }
}

type ProgressFn<'a> = Box<dyn FnMut(Progress) + Send + 'a>;

/// A transcript, artifact or screenshot download, from [`DownloadExt`]. Nothing is sent until one of the
/// terminal methods runs: [`to_writer`](Self::to_writer), [`to_file`](Self::to_file),
/// [`bytes`](Self::bytes), [`json`](Self::json) or [`url`](Self::url).
#[must_use = "a download does nothing until a terminal method such as `to_file` is awaited"]
pub struct Download<'a> {
    client: Client,
    target: Target,
    signed_url: Option<RedactedUrl>,
    storage: Option<reqwest::Client>,
    on_progress: Option<ProgressFn<'a>>,
    durable: bool,
}

impl fmt::Debug for Download<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("target", &self.target)
            .field("signed_url", &self.signed_url)
            .field("storage", &self.storage.is_some())
            .field("on_progress", &self.on_progress.is_some())
            .field("durable", &self.durable)
            .finish()
    }
}

/// A body on its way in, with what its answer said about the object.
struct Body {
    /// `Content-Length` of this answer.
    length: Option<u64>,
    /// `Some` for a `206`: its `Content-Range`, `None` inside when it is missing or malformed.
    partial: Option<Option<ContentRange>>,
    validators: Validators,
    /// `Accept-Ranges: bytes`.
    accepts_ranges: bool,
    chunks: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
}

impl Body {
    fn from_response(response: reqwest::Response) -> Self {
        let headers = response.headers();
        let partial = (response.status() == StatusCode::PARTIAL_CONTENT)
            .then(|| ContentRange::parse(headers.get(CONTENT_RANGE)?));
        Self {
            length: response.content_length(),
            partial,
            validators: Validators::of(headers),
            accepts_ranges: headers
                .get_all(ACCEPT_RANGES)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|unit| unit.trim().eq_ignore_ascii_case("bytes")),
            chunks: Box::pin(response.bytes_stream()),
        }
    }

    /// A body the API served itself: nothing to resume it with.
    fn served(
        length: Option<u64>,
        chunks: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    ) -> Self {
        Self {
            length,
            partial: None,
            validators: Validators::default(),
            accepts_ranges: false,
            chunks: Box::pin(chunks),
        }
    }
}

/// `Content-Range: bytes <first>-<last>/<complete>` of a `206`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ContentRange {
    first: u64,
    last: u64,
    /// `None` for `*` (length unknown).
    complete: Option<u64>,
}

impl ContentRange {
    fn parse(value: &HeaderValue) -> Option<Self> {
        let text = value.to_str().ok()?.trim();
        let (unit, rest) = text.split_once(' ')?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return None;
        }
        let (span, complete) = rest.trim().split_once('/')?;
        let (first, last) = span.split_once('-')?;
        let number = |s: &str| -> Option<u64> {
            let s = s.trim();
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        let range = Self {
            first: number(first)?,
            last: number(last)?,
            complete: match complete.trim() {
                "*" => None,
                other => Some(number(other)?),
            },
        };
        (range.first <= range.last).then_some(range)
    }
}

/// The validators of an answer: what tells two answers about the same object apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Validators {
    /// A strong `ETag` (a weak one, `W/"…"`, cannot vouch for identical bytes).
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
}

impl Validators {
    fn of(headers: &HeaderMap) -> Self {
        Self {
            etag: headers
                .get(ETAG)
                .filter(|v| !v.as_bytes().starts_with(b"W/") && !v.is_empty())
                .cloned(),
            last_modified: headers
                .get(LAST_MODIFIED)
                .filter(|v| !v.is_empty())
                .cloned(),
        }
    }

    /// No validator present in both differs.
    fn agree(&self, other: &Self) -> bool {
        fn agree(a: &Option<HeaderValue>, b: &Option<HeaderValue>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
        }
        agree(&self.etag, &other.etag) && agree(&self.last_modified, &other.last_modified)
    }

    /// What `If-Range` carries: the strong `ETag`, else `Last-Modified`.
    fn if_range(&self) -> Option<&HeaderValue> {
        self.etag.as_ref().or(self.last_modified.as_ref())
    }
}

/// The object as the first answer described it; later answers must continue it.
struct Object {
    /// Its length, from the first answer's `Content-Length`.
    total: Option<u64>,
    validators: Validators,
    /// Whether a body that breaks off can continue with a `Range` request: the first answer
    /// said `Accept-Ranges: bytes` and declared its length.
    ranges: bool,
}

impl Object {
    fn of(body: &Body) -> Self {
        Self {
            total: body.length,
            validators: body.validators.clone(),
            ranges: body.accepts_ranges && body.length.is_some(),
        }
    }

    /// Whether a `206` carries exactly the rest of this object after `written` bytes.
    fn continued_by(&self, body: &Body, written: u64) -> bool {
        let (Some(total), Some(Some(range))) = (self.total, body.partial) else {
            return false;
        };
        range.first == written
            && range.complete == Some(total)
            && range.last.checked_add(1) == Some(total)
            && body.length.is_none_or(|length| length == total - written)
            && self.validators.agree(&body.validators)
    }

    /// Whether a whole-object answer is provably this object: the same strong `ETag` and
    /// length.
    fn same_as(&self, body: &Body) -> bool {
        self.validators.etag.is_some()
            && self.validators.etag == body.validators.etag
            && self.total.is_some()
            && self.total == body.length
    }

    /// Why a whole-object answer cannot continue this object in a writer.
    fn obstacle(&self, body: &Body) -> ResumeObstacle {
        let etag_differs = matches!(
            (&self.validators.etag, &body.validators.etag),
            (Some(a), Some(b)) if a != b
        );
        let length_differs = matches!((self.total, body.length), (Some(a), Some(b)) if a != b);
        if etag_differs || length_differs || !self.validators.agree(&body.validators) {
            ResumeObstacle::ObjectChanged
        } else {
            ResumeObstacle::RangesNotServed
        }
    }
}

/// The `Range` request that continues a body after `start` bytes.
struct RangeRequest {
    start: u64,
    if_range: Option<HeaderValue>,
}

/// What the API answered when asked for the file.
enum Resolved {
    Url(RedactedUrl),
    /// The API served the file itself (a 2xx instead of the redirect).
    Served(StatusCode, Body),
}

/// What the storage service answered.
enum Fetched {
    Body(Body),
    /// 401, 403 or 410: the signature is not (or no longer) accepted.
    Refused(StatusCode, RedactedUrl),
    /// 416 to a `Range` request: the object is not (or no longer) that long.
    Unsatisfiable,
}

/// What a storage request opened.
enum Opened {
    Body(Body),
    /// 416 to a `Range` request.
    Unsatisfiable,
}

impl<'a> Download<'a> {
    fn new(client: &Client, target: Target) -> Self {
        Self {
            client: client.clone(),
            target,
            signed_url: None,
            storage: None,
            on_progress: None,
            durable: true,
        }
    }

    with_options!(
        "the download to the API (the request for the signed URL); the requests to the storage service keep their own limits"
    );

    /// Called with the progress once the storage service has answered (with `bytes: 0`) and
    /// after every chunk written.
    pub fn on_progress(mut self, on_progress: impl FnMut(Progress) + Send + 'a) -> Self {
        self.on_progress = Some(Box::new(on_progress));
        self
    }

    /// Starts from a signed URL obtained earlier (for example [`ArtifactFile::url`]) instead of
    /// asking the API first; if the storage service refuses it, a fresh one is resolved once.
    pub fn signed_url(mut self, url: RedactedUrl) -> Self {
        self.signed_url = Some(url);
        self
    }

    /// The HTTP client for the storage service, e.g. to share its connection pool across many
    /// downloads or to configure a proxy. It must not carry credentials (no default
    /// `Authorization` or other secret headers): every host the storage service redirects to
    /// sees them. By default a download uses the client's
    /// [`storage_http_client`](oz_api::Client::storage_http_client): the one given to
    /// [`Config::storage_client`](oz_api::Config::storage_client), else a plain client with the
    /// configuration's proxies and root certificates, a 10 s connect timeout and a 60 s limit on
    /// the silence between two chunks.
    pub fn storage_client(mut self, client: reqwest::Client) -> Self {
        self.storage = Some(client);
        self
    }

    /// Whether [`to_file`](Self::to_file) waits for the file to be on disk (`fsync`) before it
    /// renames it into place; `true` by default. With `false` the rename follows the last
    /// write: other processes still never see a partial file, but after a power failure or an
    /// operating-system crash the file may be empty or shorter. On a slow disk the `fsync` of a
    /// large file can take as long as the transfer itself, so `false` suits files that can be
    /// downloaded again (caches, scratch copies).
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// The signed URL itself, without downloading anything. It is a credential until it
    /// expires; [`RedactedUrl::expose`] gives the full URL.
    pub async fn url(self) -> Result<RedactedUrl, DownloadError> {
        if let Some(url) = self.signed_url {
            return Ok(url);
        }
        match resolve(&self.client, &self.target).await? {
            Resolved::Url(url) => Ok(url),
            Resolved::Served(status, _) => Err(DownloadError::MissingLocation { status }),
        }
    }

    /// Streams the body into `writer`, flushes it and returns the number of bytes written.
    /// On error, part of the body may already have been written.
    ///
    /// A body that breaks off continues where it stopped when the storage service answers
    /// ranges, or when it sends the same object (same strong `ETag`) whole again, whose first
    /// part is then skipped. A writer cannot take back what it received, so a download that
    /// would have to start over from the first byte fails with
    /// [`DownloadError::NotResumable`], which says how many bytes the writer received.
    ///
    /// To save the body as a file, prefer [`to_file`](Self::to_file) (with
    /// [`durable(false)`](Self::durable) when the `fsync` is not wanted): a `tokio::fs::File`
    /// copies every write into a buffer of its own and hands it to the blocking pool, one more
    /// pass over every byte, while `to_file` hands the chunks as they arrived to one writing
    /// thread.
    ///
    /// ```no_run
    /// use oz_api_ext::DownloadExt;
    ///
    /// # async fn example(client: oz_api::Client) -> Result<(), oz_api_ext::DownloadError> {
    /// // Any `AsyncWrite`: a socket, a compressor, a file opened for appending...
    /// let mut log = tokio::fs::OpenOptions::new().append(true).open("all.jsonl").await?;
    /// client.download_transcript("run-id").to_writer(&mut log).await?;
    /// # Ok(()) }
    /// ```
    pub async fn to_writer<W>(mut self, mut writer: W) -> Result<u64, DownloadError>
    where
        W: AsyncWrite + Unpin,
    {
        let written = self.transfer(&mut Writer(&mut writer)).await?;
        writer.flush().await?;
        Ok(written)
    }

    /// Saves the body to `path` and returns the number of bytes written.
    ///
    /// The body goes to a temporary file next to `path` that replaces `path` only once the
    /// whole body has arrived and is on disk (unless [`durable(false)`](Self::durable)); a
    /// failed, interrupted or cancelled download removes the temporary file and leaves an
    /// existing `path` untouched. A body that breaks off continues where it stopped when the
    /// storage service answers ranges, and otherwise starts over in the same temporary file.
    pub async fn to_file(mut self, path: impl AsRef<Path>) -> Result<u64, DownloadError> {
        let path = path.as_ref();
        let partial_path = partial_path_for(path)?;
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial_path)
            .await?;
        let mut guard = PartialFile(Some(partial_path));
        let mut writer = FileWriter::start(file.into_std().await)?;
        let written = self.transfer(&mut writer).await?;
        writer.finish(self.durable).await?;
        let partial_path = guard.0.take().expect("the guard holds the path until here");
        if let Err(err) = tokio::fs::rename(&partial_path, path).await {
            guard.0 = Some(partial_path);
            return Err(err.into());
        }
        Ok(written)
    }

    /// The whole body in memory. A body that breaks off continues where it stopped when the
    /// storage service answers ranges, and otherwise starts over.
    pub async fn bytes(mut self) -> Result<Bytes, DownloadError> {
        let mut buffer = Vec::new();
        self.transfer(&mut buffer).await?;
        Ok(buffer.into())
    }

    /// The body decoded as JSON (transcripts are JSON documents whose shape depends on the
    /// harness; `serde_json::Value` takes any of them).
    ///
    /// ```no_run
    /// use oz_api_ext::DownloadExt;
    ///
    /// # async fn example(client: oz_api::Client) -> Result<(), oz_api_ext::DownloadError> {
    /// let transcript: serde_json::Value = client.download_transcript("run-id").json().await?;
    /// # Ok(()) }
    /// ```
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, DownloadError> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(DownloadError::Decode)
    }

    /// Resolves the signed URL and copies the body into `sink`, continuing it (or starting
    /// over) when it breaks off; returns the length of the body.
    async fn transfer<S: Sink>(&mut self, sink: &mut S) -> Result<u64, DownloadError> {
        use tracing::Instrument;

        let span = tracing::info_span!(
            target: "oz_api_ext",
            "oz_api_ext.download",
            oz.operation = self.target.operation(),
            bytes = tracing::field::Empty,
        );
        let result = self
            .transfer_unobserved(sink)
            .instrument(span.clone())
            .await;
        if let Ok(written) = &result {
            span.record("bytes", written);
        }
        result
    }

    /// [`transfer`](Self::transfer) without its span.
    async fn transfer_unobserved<S: Sink>(&mut self, sink: &mut S) -> Result<u64, DownloadError> {
        let storage = match self.storage.take() {
            Some(client) => client,
            None => self
                .client
                .storage_http_client()
                .map_err(|err| DownloadError::Io(std::io::Error::other(err)))?,
        };
        let mut url = match self.signed_url.take() {
            Some(url) => url,
            None => match resolve(&self.client, &self.target).await? {
                Resolved::Url(url) => url,
                // No URL to come back to: a body the API serves itself is not continued.
                Resolved::Served(_, body) => {
                    let mut written = 0;
                    let total = body.length;
                    sink.reserve(total);
                    report(&mut self.on_progress, 0, total);
                    return match pump(body, sink, 0, &mut written, total, &mut self.on_progress)
                        .await?
                    {
                        Pumped::Done => Ok(written),
                        Pumped::Cut(err) => Err(err),
                    };
                }
            },
        };
        let mut object: Option<Object> = None;
        let mut written: u64 = 0;
        let mut resumes: u32 = 0;
        loop {
            let range = match &object {
                Some(object) if written > 0 && object.ranges => Some(RangeRequest {
                    start: written,
                    if_range: object.validators.if_range().cloned(),
                }),
                _ => None,
            };
            let opened = open(
                &self.client,
                &self.target,
                &storage,
                &mut url,
                range.as_ref(),
            )
            .await?;
            let mut skip = 0;
            let body = match (opened, object.as_mut()) {
                (Opened::Body(body), Some(known)) if written > 0 => {
                    if body.partial.is_some() {
                        if !known.continued_by(&body, written) {
                            // A range that does not continue the object (another object, another
                            // length, a misplaced range): it is not spliced; the whole object is
                            // asked for instead.
                            tracing::debug!(target: "oz_api_ext::download", written, "the range answered does not continue the body, asking for the whole object");
                            known.ranges = false;
                            resumes = next_resume(resumes, || unsplicable(written))?;
                            continue;
                        }
                    } else if known.same_as(&body) {
                        skip = written;
                    } else if sink.can_rewind() {
                        sink.rewind().await?;
                        tracing::debug!(target: "oz_api_ext::download", written, "the whole object came again, starting over");
                        written = 0;
                        let fresh = Object::of(&body);
                        sink.reserve(fresh.total);
                        report(&mut self.on_progress, 0, fresh.total);
                        object = Some(fresh);
                    } else {
                        return Err(DownloadError::NotResumable {
                            written,
                            obstacle: known.obstacle(&body),
                        });
                    }
                    body
                }
                (Opened::Body(body), _) => {
                    let fresh = Object::of(&body);
                    if object
                        .as_ref()
                        .is_none_or(|known| known.total != fresh.total)
                    {
                        sink.reserve(fresh.total);
                        report(&mut self.on_progress, 0, fresh.total);
                    }
                    object = Some(fresh);
                    body
                }
                (Opened::Unsatisfiable, known) => {
                    tracing::debug!(target: "oz_api_ext::download", written, "the range is not satisfiable, asking for the whole object");
                    if let Some(known) = known {
                        known.ranges = false;
                    }
                    resumes = next_resume(resumes, || unsplicable(written))?;
                    continue;
                }
            };
            let total = object.as_ref().and_then(|object| object.total);
            match pump(body, sink, skip, &mut written, total, &mut self.on_progress).await? {
                Pumped::Done => return Ok(written),
                Pumped::Cut(err) => {
                    if let Some(known) = &object
                        && written > 0
                        && !known.ranges
                        && known.validators.etag.is_none()
                        && !sink.can_rewind()
                    {
                        // Only the whole object could come again, and nothing could show it to
                        // be the same one.
                        tracing::debug!(target: "oz_api_ext::download", written, error = %err, "the body broke off and cannot be continued");
                        return Err(DownloadError::NotResumable {
                            written,
                            obstacle: ResumeObstacle::RangesNotServed,
                        });
                    }
                    resumes = next_resume(resumes, || err)?;
                    let delay = oz_api::time::backoff(resumes - 1);
                    tracing::debug!(target: "oz_api_ext::download", url = %url, written, resume = resumes, retry_in_ms = delay.as_millis() as u64, "the body broke off, continuing");
                    self.client.sleep_impl().sleep(delay).await;
                }
            }
        }
    }
}

/// Counts one more continuation of the body, or gives `error` when none is left.
fn next_resume(resumes: u32, error: impl FnOnce() -> DownloadError) -> Result<u32, DownloadError> {
    if resumes < MAX_RESUMES {
        Ok(resumes + 1)
    } else {
        Err(error())
    }
}

/// The error of a body that could not be continued because the storage service's ranges did
/// not fit it, once no continuation is left.
fn unsplicable(written: u64) -> DownloadError {
    DownloadError::Io(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!(
            "the body broke off after {written} bytes and the storage service did not send the rest"
        ),
    ))
}

fn report(on_progress: &mut Option<ProgressFn<'_>>, bytes: u64, total: Option<u64>) {
    if let Some(callback) = on_progress.as_mut() {
        callback(Progress { bytes, total });
    }
}

/// Opens the storage response for `url` (asking for `range`, if any), resolving a fresh URL
/// once if the storage service refuses the signature; `url` becomes the URL that worked.
async fn open(
    client: &Client,
    target: &Target,
    storage: &reqwest::Client,
    url: &mut RedactedUrl,
    range: Option<&RangeRequest>,
) -> Result<Opened, DownloadError> {
    let mut resolved_again = false;
    loop {
        match fetch_with_retries(client.sleep_impl(), storage, url.clone(), range).await? {
            Fetched::Body(body) => return Ok(Opened::Body(body)),
            Fetched::Unsatisfiable => return Ok(Opened::Unsatisfiable),
            Fetched::Refused(status, url) if resolved_again => {
                return Err(DownloadError::Storage { status, url });
            }
            Fetched::Refused(status, refused) => {
                tracing::debug!(target: "oz_api_ext::download", status = status.as_u16(), url = %refused, "signed URL refused, resolving a fresh one");
                resolved_again = true;
                *url = match resolve(client, target).await? {
                    Resolved::Url(url) => url,
                    Resolved::Served(_, body) => return Ok(Opened::Body(body)),
                };
            }
        }
    }
}

/// Asks the API for the download; the answer is normally a redirect to the signed URL.
async fn resolve(client: &Client, target: &Target) -> Result<Resolved, DownloadError> {
    let answer = match target {
        Target::Transcript(run_id) => {
            client
                .get_run_transcript()
                .run_id(run_id.clone())
                .send()
                .await
        }
        Target::Artifact(artifact_uid) => {
            client
                .download_artifact()
                .artifact_uid(artifact_uid.clone())
                .send()
                .await
        }
        Target::Screenshot {
            conversation_id,
            screenshot_uid,
        } => {
            client
                .download_conversation_screenshot()
                .conversation_id(conversation_id.clone())
                .screenshot_uid(screenshot_uid.clone())
                .send()
                .await
        }
    };
    match answer {
        Ok(served) => {
            let status = served.status();
            let length = served.content_length();
            let body = Body::served(length, served.into_inner_stream());
            Ok(Resolved::Served(status, body))
        }
        // The API client does not follow redirects, so the generated operation reports the
        // redirect as an unexpected response.
        Err(oz_api::Error::UnexpectedResponse(response)) if response.status().is_redirection() => {
            let status = response.status();
            // The client redacts the query string of the header; the signed URL is kept aside.
            let url = location(oz_api::redirect_location(&response), response.url())
                .ok_or(DownloadError::MissingLocation { status })?
                .ok_or(DownloadError::InvalidUrl {
                    context: UrlContext::ApiRedirect,
                })?;
            Ok(Resolved::Url(url))
        }
        Err(err) => Err(DownloadError::api(target.operation(), err)),
    }
}

/// The `Location` of a redirect resolved against the URL that answered: `None` when absent
/// or empty, `Some(None)` when it is not an http(s) URL.
fn location(value: Option<&HeaderValue>, base: &Url) -> Option<Option<RedactedUrl>> {
    let value = value?;
    let text = value.to_str().map(str::trim).unwrap_or("\u{0}");
    if text.is_empty() {
        return None;
    }
    Some(
        base.join(text)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .map(RedactedUrl),
    )
}

/// [`fetch`], repeated while the storage service fails transiently: downloads are `GET`s, safe
/// to send again. A body that breaks off after it started is continued by
/// [`Download::transfer`], not here.
async fn fetch_with_retries(
    sleep: &SharedSleep,
    storage: &reqwest::Client,
    url: RedactedUrl,
    range: Option<&RangeRequest>,
) -> Result<Fetched, DownloadError> {
    let mut attempt = 1;
    loop {
        let error = match fetch(storage, url.clone(), range).await {
            Err(err) if attempt < STORAGE_ATTEMPTS && is_transient_storage_error(&err) => err,
            other => return other,
        };
        let delay = oz_api::time::backoff(attempt - 1);
        tracing::debug!(target: "oz_api_ext::download", url = %url, attempt, retry_in_ms = delay.as_millis() as u64, error = %error, "storage request failed, retrying");
        sleep.sleep(delay).await;
        attempt += 1;
    }
}

fn is_transient_storage_error(err: &DownloadError) -> bool {
    match err {
        DownloadError::Transport(_) => true,
        DownloadError::Storage { status, .. } => {
            *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
        }
        _ => false,
    }
}

/// GETs a signed URL (from `range.start` on, if given), following the storage service's own
/// redirects.
async fn fetch(
    storage: &reqwest::Client,
    mut url: RedactedUrl,
    range: Option<&RangeRequest>,
) -> Result<Fetched, DownloadError> {
    let mut redirects = 0;
    loop {
        let mut request = storage.get(url.expose().clone());
        if let Some(range) = range {
            request = request.header(RANGE, format!("bytes={}-", range.start));
            if let Some(validator) = &range.if_range {
                request = request.header(IF_RANGE, validator.clone());
            }
        }
        let response = request.send().await.map_err(DownloadError::transport)?;
        let status = response.status();
        tracing::debug!(target: "oz_api_ext::download", status = status.as_u16(), url = %url, range_start = range.map(|r| r.start), "storage answered");
        if status.is_success() {
            return Ok(Fetched::Body(Body::from_response(response)));
        }
        if status == StatusCode::RANGE_NOT_SATISFIABLE && range.is_some() {
            return Ok(Fetched::Unsatisfiable);
        }
        if matches!(status.as_u16(), 401 | 403 | 410) {
            return Ok(Fetched::Refused(status, url));
        }
        if !status.is_redirection() {
            return Err(DownloadError::Storage { status, url });
        }
        if redirects == MAX_STORAGE_REDIRECTS {
            return Err(DownloadError::TooManyRedirects { url });
        }
        redirects += 1;
        url = match location(response.headers().get(LOCATION), response.url()) {
            None => return Err(DownloadError::Storage { status, url }),
            Some(None) => {
                return Err(DownloadError::InvalidUrl {
                    context: UrlContext::StorageRedirect,
                });
            }
            Some(Some(next)) => next,
        };
    }
}

/// Where [`pump`] puts the body.
trait Sink {
    /// Takes the next chunk.
    fn put(&mut self, chunk: Bytes) -> impl Future<Output = std::io::Result<()>>;

    /// Whether [`rewind`](Self::rewind) can take back what was put.
    fn can_rewind(&self) -> bool;

    /// Drops everything put so far, to start over from the first byte.
    fn rewind(&mut self) -> impl Future<Output = std::io::Result<()>>;

    /// The body will be about `total` bytes long.
    fn reserve(&mut self, _total: Option<u64>) {}
}

/// The caller's writer of [`Download::to_writer`]: what it received cannot be taken back.
struct Writer<'w, W>(&'w mut W);

impl<W: AsyncWrite + Unpin> Sink for Writer<'_, W> {
    async fn put(&mut self, chunk: Bytes) -> std::io::Result<()> {
        self.0.write_all(&chunk).await
    }

    fn can_rewind(&self) -> bool {
        false
    }

    async fn rewind(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "a writer cannot take back what it received",
        ))
    }
}

/// The buffer of [`Download::bytes`].
impl Sink for Vec<u8> {
    async fn put(&mut self, chunk: Bytes) -> std::io::Result<()> {
        self.extend_from_slice(&chunk);
        Ok(())
    }

    fn can_rewind(&self) -> bool {
        true
    }

    async fn rewind(&mut self) -> std::io::Result<()> {
        self.clear();
        Ok(())
    }

    fn reserve(&mut self, total: Option<u64>) {
        let wanted = total.unwrap_or(0).min(MAX_PREALLOCATION) as usize;
        self.reserve(wanted.saturating_sub(self.len()));
    }
}

/// The file of [`Download::to_file`], written on a thread of its own with plain `write`
/// calls. The chunks are handed over as they arrived, not copied: a `tokio::fs::File` copies
/// every write into a buffer of its own before handing it to the blocking pool, one more pass
/// over every byte.
///
/// The thread is a plain one rather than a task of Tokio's blocking pool: it lives as long as
/// the transfer, pauses before continuing a body included, and while a blocking-pool task
/// runs, Tokio's paused clock (`start_paused` tests) does not advance by itself, so such a
/// pause would never end in an application's tests.
struct FileWriter {
    chunks: Option<tokio::sync::mpsc::Sender<FileOp>>,
    thread: tokio::sync::oneshot::Receiver<std::io::Result<std::fs::File>>,
}

/// What the writing thread of a [`FileWriter`] does next.
enum FileOp {
    Write(Bytes),
    /// Empties the file, to start over from the first byte.
    Truncate,
}

impl FileWriter {
    fn start(mut file: std::fs::File) -> std::io::Result<Self> {
        let (chunks, mut queue) = tokio::sync::mpsc::channel::<FileOp>(FILE_QUEUE);
        let (done, thread) = tokio::sync::oneshot::channel();
        // Ends when the sender is dropped: at the end of the body, or when the download is
        // cancelled (the temporary file is then removed by its guard).
        std::thread::Builder::new()
            .name("oz-download-file".to_owned())
            .spawn(move || {
                use std::io::{Seek as _, Write as _};
                let mut write = || {
                    while let Some(op) = queue.blocking_recv() {
                        match op {
                            FileOp::Write(chunk) => file.write_all(&chunk)?,
                            FileOp::Truncate => {
                                file.set_len(0)?;
                                file.rewind()?;
                            }
                        }
                    }
                    Ok(())
                };
                let _ = done.send(write().map(|()| file));
            })?;
        Ok(Self {
            chunks: Some(chunks),
            thread,
        })
    }

    /// The error that stopped the writing thread.
    async fn failure(&mut self) -> std::io::Error {
        match (&mut self.thread).await {
            Ok(Err(err)) => err,
            Ok(Ok(_)) => std::io::Error::other("the file writer stopped early"),
            Err(_) => std::io::Error::other("the file writer stopped"),
        }
    }

    /// Waits until every chunk is written, then, when `sync`, until the file is on disk
    /// (`fsync`).
    async fn finish(mut self, sync: bool) -> std::io::Result<()> {
        drop(self.chunks.take());
        let file = match (&mut self.thread).await {
            Ok(written) => written?,
            Err(_) => return Err(std::io::Error::other("the file writer stopped")),
        };
        if sync {
            tokio::fs::File::from_std(file).sync_all().await?;
        }
        Ok(())
    }
}

impl FileWriter {
    async fn send(&mut self, op: FileOp) -> std::io::Result<()> {
        let sent = match &self.chunks {
            Some(chunks) => chunks.send(op).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.failure().await)
        }
    }
}

impl Sink for FileWriter {
    async fn put(&mut self, chunk: Bytes) -> std::io::Result<()> {
        self.send(FileOp::Write(chunk)).await
    }

    fn can_rewind(&self) -> bool {
        true
    }

    async fn rewind(&mut self) -> std::io::Result<()> {
        self.send(FileOp::Truncate).await
    }
}

/// How a body ended.
enum Pumped {
    /// Whole: `written` is the declared length (or the body declared none).
    Done,
    /// Broke off: the connection failed, or the body ended before its declared length.
    Cut(DownloadError),
}

/// Copies the body into `sink` chunk by chunk after dropping its first `skip` bytes (already
/// in the sink), counting in `written` the bytes of the object in the sink and reporting
/// progress. An error of the sink is an `Err`; the body breaking off is [`Pumped::Cut`].
async fn pump<S: Sink>(
    mut body: Body,
    sink: &mut S,
    mut skip: u64,
    written: &mut u64,
    total: Option<u64>,
    on_progress: &mut Option<ProgressFn<'_>>,
) -> Result<Pumped, DownloadError> {
    while let Some(chunk) = body.chunks.next().await {
        let mut chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) => return Ok(Pumped::Cut(DownloadError::transport(err))),
        };
        if skip > 0 {
            let dropped = skip.min(chunk.len() as u64);
            skip -= dropped;
            let _ = chunk.split_to(dropped as usize);
            if chunk.is_empty() {
                continue;
            }
        }
        let len = chunk.len() as u64;
        sink.put(chunk).await?;
        *written += len;
        report(on_progress, *written, total);
    }
    match total {
        Some(total) if *written != total => {
            Ok(Pumped::Cut(DownloadError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the body ended after {written} of {total} bytes"),
            ))))
        }
        _ => Ok(Pumped::Done),
    }
}

/// `dir/.name.<random>.part` next to `path`.
fn partial_path_for(path: &Path) -> Result<PathBuf, DownloadError> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let mut partial = std::ffi::OsString::from(".");
    partial.push(name);
    partial.push(format!(".{:016x}.part", fastrand::u64(..)));
    Ok(path.with_file_name(partial))
}

/// Removes the temporary file unless the download completed, also when the download future is
/// dropped half-way.
struct PartialFile(Option<PathBuf>);

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}
