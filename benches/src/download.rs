//! Downloads: a 1 GiB transcript streamed to a file by `download_transcript(id).to_file(..)`
//! in a worker process, against `curl -o` fetching the same signed URL in the same run.

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
const MIN_CURL_RATIO: f64 = 0.8;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Input {
    endpoint: Endpoint,
    run_id: String,
    path: PathBuf,
    size: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Output {
    seconds: f64,
    rss_before: Option<u64>,
    peak_rss: Option<u64>,
}

pub(crate) fn run(host: &Host, settings: &Settings) -> Result<Section> {
    let size = if settings.quick {
        QUICK_SIZE
    } else {
        FULL_SIZE
    };
    let rounds = if settings.quick { 1 } else { 4 };
    let mock = host.start_mock(OzMock::builder().transcript_size(size))?;
    let endpoint = Endpoint::of(&mock);
    let client = endpoint.client()?;
    let run_id = host.block_on(async {
        let run = client
            .create_run()
            .body(
                oz_api_ext::oz_api::types::RunAgentRequest::builder()
                    .prompt("Summarise the build log".to_owned()),
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

    let mut sdk_mb_s = Vec::new();
    let mut curl_mb_s = Vec::new();
    let mut peak = None::<u64>;
    let mut rss_before = None::<u64>;
    let mb_per_s = |seconds: f64| size as f64 / 1e6 / seconds;
    for round in 0..rounds {
        for sdk in [round % 2 == 0, round % 2 != 0] {
            if sdk {
                let input = Input {
                    endpoint: endpoint.clone(),
                    run_id: run_id.clone(),
                    path: dir.path().join("sdk-transcript.json"),
                    size: size as u64,
                };
                let out: Output = crate::worker::spawn("download", &input)?;
                sdk_mb_s.push(mb_per_s(out.seconds));
                peak = peak.max(out.peak_rss);
                rss_before = rss_before.max(out.rss_before);
            } else if let Some(curl) = curl {
                let url = host.block_on(client.download_transcript(run_id.clone()).url())?;
                let path = dir.path().join("curl-transcript.json");
                let seconds = curl_download(curl, url.expose().as_str(), &path, size as u64)?;
                curl_mb_s.push(mb_per_s(seconds));
            }
        }
    }
    drop(dir);
    host.block_on(mock.shutdown());

    let sdk = stats::median(&sdk_mb_s);
    let mut section = Section::new("4. Download (1 GiB transcript to a file)");
    if settings.quick {
        section.title = format!("4. Download ({} MiB transcript to a file)", size >> 20);
    }
    match curl {
        Some(_) => {
            let curl = stats::median(&curl_mb_s);
            let ratio = sdk / curl;
            section.figure(
                Figure::new(
                    "throughput: `to_file` / `curl -o`",
                    format!("{ratio:.2} ({sdk:.0} MB/s / {curl:.0} MB/s)"),
                )
                .with_target(Target::at_least(MIN_CURL_RATIO, ratio, "")),
            );
        }
        None => section.figure(Figure::new(
            "throughput: `to_file`",
            format!("{sdk:.0} MB/s (curl not found: no baseline)"),
        )),
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
        "{rounds} downloads each way, alternating. The simulator, in the parent process, \
         generates the {} MiB transcript while sending it (nothing of that size is held in \
         memory). Each SDK download runs in a fresh worker process (multi-thread Tokio runtime) \
         and covers the whole of `to_file`: resolving the signed URL through the API, streaming \
         the body into a temporary file next to the destination, `fsync` and the rename. `curl \
         -sS -o` gets a freshly signed URL and is timed as a process, start to exit; it does not \
         `fsync`. Files go to a temporary directory that is removed afterwards. MB are 10⁶ \
         bytes.",
        size >> 20
    ));
    Ok(section)
}

fn curl_download(curl: &str, url: &str, path: &Path, size: u64) -> Result<f64> {
    let started = Instant::now();
    let status = Command::new(curl)
        .args(["-sS", "--fail", "-o"])
        .arg(path)
        .arg(url)
        .stdin(Stdio::null())
        .status()?;
    let seconds = started.elapsed().as_secs_f64();
    let written = std::fs::metadata(path)?.len();
    std::fs::remove_file(path)?;
    if !status.success() || written != size {
        return Err(format!("curl failed ({status}) or wrote {written} of {size} bytes").into());
    }
    Ok(seconds)
}

pub(crate) fn worker(input: Input) -> Result<Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = input.endpoint.client()?;
    let rss_before = rss::peak_rss();
    let started = Instant::now();
    let written = runtime.block_on(
        client
            .download_transcript(input.run_id.clone())
            .to_file(&input.path),
    )?;
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
