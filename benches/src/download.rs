//! Downloads: a 1 GiB transcript streamed to a file by the SDK in a worker process, against
//! `curl -o` fetching the same signed URL in the same run, like for like:
//!
//! - durable: `download_transcript(id).to_file(..)` (temporary file, `fsync`, rename) against
//!   `curl -o` followed by an `fsync` of the file it wrote;
//! - streaming: `to_file(..)` with `durable(false)` (the same bytes, no `fsync`) against plain
//!   `curl -o`; and, without a target, `to_writer(..)` into a `tokio::fs::File`, the way a
//!   caller writing into a file of its own would.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use oz_api_ext::DownloadExt;
use oz_mock::OzMock;
use serde::{Deserialize, Serialize};

use crate::report::{Figure, Section, Target};
use crate::simulator::{Endpoint, Host};
use crate::{Result, Settings, rss, stats};

const FULL_SIZE: usize = 1 << 30;
const QUICK_SIZE: usize = 128 << 20;
const MAX_RSS_MIB: f64 = 32.0;
const MIN_CURL_RATIO: f64 = 0.9;

/// What an SDK worker does with the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Mode {
    /// `to_file`: a temporary file, `fsync`, rename.
    Durable,
    /// `durable(false).to_file`: a temporary file, rename, no `fsync`.
    NotDurable,
    /// `to_writer` into a freshly created `tokio::fs::File`: no `fsync`.
    TokioFile,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Input {
    endpoint: Endpoint,
    run_id: String,
    path: PathBuf,
    size: u64,
    mode: Mode,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Output {
    seconds: f64,
    rss_before: Option<u64>,
    peak_rss: Option<u64>,
}

/// One of the ways of downloading, in the order of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Sdk(Mode),
    /// `curl -o`, then an `fsync` of the file when `true`.
    Curl {
        fsync: bool,
    },
}

const WAYS: [Way; 5] = [
    Way::Sdk(Mode::Durable),
    Way::Curl { fsync: true },
    Way::Sdk(Mode::NotDurable),
    Way::Curl { fsync: false },
    Way::Sdk(Mode::TokioFile),
];

/// Seconds of each download, per way.
#[derive(Default)]
struct Samples {
    to_file: Vec<f64>,
    to_file_no_sync: Vec<f64>,
    to_writer: Vec<f64>,
    curl: Vec<f64>,
    /// `curl -o` and the `fsync` after it, in all.
    curl_fsync: Vec<f64>,
    /// The `fsync` alone, of the same downloads as `curl_fsync`.
    fsync: Vec<f64>,
}

pub(crate) fn run(host: &Host, settings: &Settings) -> Result<Section> {
    let size = if settings.quick {
        QUICK_SIZE
    } else {
        FULL_SIZE
    };
    let rounds = if settings.quick { 2 } else { 4 };
    let mock = host.start_mock(OzMock::builder().transcript_size(size))?;
    let endpoint = Endpoint::of(&mock);
    let client = endpoint.client()?;
    let run_id = host.block_on(async {
        let run = client
            .create_run()
            .body(
                oz_api_ext::oz_api::types::RunAgentRequest::builder()
                    .prompt("Summarise the build log"),
            )
            .send()
            .await?
            .into_inner();
        client.get_run().run_id(&run.run_id).send().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(run.run_id)
    })?;
    let dir = tempfile::Builder::new()
        .prefix("oz-bench-download-")
        .tempdir()?;
    let curl = ["/usr/bin/curl", "curl"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });

    let mut samples = Samples::default();
    let mut peak = None::<u64>;
    let mut rss_before = None::<u64>;
    for round in 0..rounds {
        // Each round starts one place further along, so that every way runs in every position.
        for way in WAYS
            .iter()
            .cycle()
            .skip(round % WAYS.len())
            .take(WAYS.len())
        {
            match *way {
                Way::Sdk(mode) => {
                    let input = Input {
                        endpoint: endpoint.clone(),
                        run_id: run_id.clone(),
                        path: dir.path().join("sdk-transcript.json"),
                        size: size as u64,
                        mode,
                    };
                    let out: Output = crate::worker::spawn("download", &input)?;
                    match mode {
                        Mode::Durable => samples.to_file.push(out.seconds),
                        Mode::NotDurable => samples.to_file_no_sync.push(out.seconds),
                        Mode::TokioFile => samples.to_writer.push(out.seconds),
                    }
                    peak = peak.max(out.peak_rss);
                    rss_before = rss_before.max(out.rss_before);
                }
                Way::Curl { fsync } => {
                    let Some(curl) = curl else { continue };
                    let url = host.block_on(client.download_transcript(run_id.clone()).url())?;
                    let path = dir.path().join("curl-transcript.json");
                    let timed =
                        curl_download(curl, url.expose().as_str(), &path, size as u64, fsync)?;
                    if fsync {
                        samples.curl_fsync.push(timed.total);
                        samples.fsync.push(timed.fsync);
                    } else {
                        samples.curl.push(timed.total);
                    }
                }
            }
        }
    }
    drop(dir);
    host.block_on(mock.shutdown());

    let mb_per_s = |seconds: &[f64]| size as f64 / 1e6 / stats::median(seconds);
    let mut section = Section::new("4. Download (1 GiB transcript to a file)");
    if settings.quick {
        section.title = format!("4. Download ({} MiB transcript to a file)", size >> 20);
    }
    let to_file = mb_per_s(&samples.to_file);
    let no_sync = mb_per_s(&samples.to_file_no_sync);
    let to_writer = mb_per_s(&samples.to_writer);
    if curl.is_some() {
        let durable = mb_per_s(&samples.curl_fsync);
        let plain = mb_per_s(&samples.curl);
        let ratio = to_file / durable;
        section.figure(
            Figure::new(
                "throughput, durable: `to_file` / (`curl -o` + `fsync`)",
                format!("{ratio:.2} ({to_file:.0} MB/s / {durable:.0} MB/s)"),
            )
            .with_target(Target::at_least(MIN_CURL_RATIO, ratio, "")),
        );
        let ratio = no_sync / plain;
        section.figure(
            Figure::new(
                "throughput, streaming (no `fsync`): `durable(false).to_file` / `curl -o`",
                format!("{ratio:.2} ({no_sync:.0} MB/s / {plain:.0} MB/s)"),
            )
            .with_target(Target::at_least(MIN_CURL_RATIO, ratio, "")),
        );
        section.figure(Figure::new(
            "throughput, `to_writer` into a caller's `tokio::fs::File` / `curl -o`",
            format!(
                "{:.2} ({to_writer:.0} MB/s / {plain:.0} MB/s)",
                to_writer / plain
            ),
        ));
        let shares: Vec<f64> = samples
            .fsync
            .iter()
            .zip(&samples.curl_fsync)
            .map(|(fsync, total)| fsync / total)
            .collect();
        let sdk_share =
            1.0 - stats::median(&samples.to_file_no_sync) / stats::median(&samples.to_file);
        section.figure(Figure::new(
            "`fsync` share of a durable download: fsync / total",
            format!(
                "{:.0}% for `curl -o` + `fsync` ({:.2} s of {:.2} s); {:.0}% for `to_file` \
                 (1 − time without `fsync` / time with it)",
                stats::median(&shares) * 100.0,
                stats::median(&samples.fsync),
                stats::median(&samples.curl_fsync),
                sdk_share * 100.0
            ),
        ));
    } else {
        section.figure(Figure::new(
            "throughput: `to_file`, `durable(false).to_file`, `to_writer` into a file",
            format!(
                "{to_file:.0} MB/s, {no_sync:.0} MB/s, {to_writer:.0} MB/s (curl not found: \
                 no baseline)"
            ),
        ));
    }
    let peak_figure = Figure::new(
        "peak RSS of the downloading process (VmHWM)",
        match (peak, rss_before) {
            (Some(peak), Some(before)) => format!(
                "{:.1} MiB ({:.1} MiB before the download)",
                rss::mib(peak),
                rss::mib(before)
            ),
            _ => "not available (no /proc/self/status)".to_owned(),
        },
    );
    section.figure(match peak {
        Some(peak) => peak_figure.with_target(Target::below(MAX_RSS_MIB, rss::mib(peak), " MiB")),
        None => peak_figure,
    });
    section.note(format!(
        "{rounds} downloads each of five ways, their order rotating from one round to the next. \
         The simulator, in the parent process, generates the {} MiB transcript while sending it \
         (nothing of that size is held in memory). Each SDK download runs in a fresh worker \
         process (multi-thread Tokio runtime) and is timed from the call to its end, resolving \
         the signed URL through the API included. Durable: `to_file` streams the body into a \
         temporary file next to the destination, `fsync`s it and renames it; its baseline is \
         `curl -sS -o` on a freshly signed URL, timed as a process from start to exit, followed \
         by an `fsync` of the file it wrote (opened again and `sync_all`, timed with it). \
         Streaming: `to_file` with `durable(false)` writes the same bytes the same way \
         without `fsync`, against plain `curl -sS -o`; `to_writer` into a `tokio::fs::File` \
         the worker creates is shown beside it without a target (that file copies every \
         write and hands it to Tokio's blocking pool). The `fsync` of a gigabyte costs about \
         as much as the transfer on this disk, which is why the two are compared separately. \
         Files go to a temporary directory and are removed after each download. MB are 10⁶ \
         bytes.",
        size >> 20
    ));
    Ok(section)
}

/// Wall times of one `curl` download.
struct Timed {
    /// The whole download, `fsync` included when asked for.
    total: f64,
    /// The `fsync` alone (0 without).
    fsync: f64,
}

fn curl_download(curl: &str, url: &str, path: &Path, size: u64, fsync: bool) -> Result<Timed> {
    let started = Instant::now();
    let status = Command::new(curl)
        .args(["-sS", "--fail", "-o"])
        .arg(path)
        .arg(url)
        .stdin(Stdio::null())
        .status()?;
    let transferred = Instant::now();
    if fsync && status.success() {
        // What `to_file` does before its rename: the data reaches the disk.
        std::fs::File::open(path)?.sync_all()?;
    }
    let ended = Instant::now();
    let written = std::fs::metadata(path)?.len();
    std::fs::remove_file(path)?;
    if !status.success() || written != size {
        return Err(format!("curl failed ({status}) or wrote {written} of {size} bytes").into());
    }
    Ok(Timed {
        total: (ended - started).as_secs_f64(),
        fsync: (ended - transferred).as_secs_f64(),
    })
}

pub(crate) fn worker(input: Input) -> Result<Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = input.endpoint.client()?;
    let rss_before = rss::peak_rss();
    let started = Instant::now();
    let download = client.download_transcript(input.run_id.clone());
    let written = runtime.block_on(async {
        match input.mode {
            Mode::Durable => download.to_file(&input.path).await,
            Mode::NotDurable => download.durable(false).to_file(&input.path).await,
            Mode::TokioFile => {
                let file = tokio::fs::File::create(&input.path).await?;
                download.to_writer(file).await
            }
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_rss = rss::peak_rss();
    std::fs::remove_file(&input.path)?;
    if written != input.size {
        return Err(format!("downloaded {written} of {} bytes", input.size).into());
    }
    Ok(Output {
        seconds,
        rss_before,
        peak_rss,
    })
}
