//! Downloads with progress: a run's transcript into a file (written to a temporary file,
//! `fsync`ed and renamed into place), reporting progress, then each file artifact of the run.
//!
//! ```text
//! cargo run -p oz-api-ext --example downloads_with_progress [-- <run id>]
//! ```
//!
//! Without a run id it starts one (offline against the local simulator unless `WARP_API_KEY`
//! is set) whose transcript is 32 MB, so that progress shows.

use std::time::Duration;

use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::{DownloadExt, RunWaitExt};
use oz_mock::Progression;

mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, simulator) = common::connect(Progression::Instant).await?;
    let run = match std::env::args().nth(1) {
        Some(run_id) => client.get_run().run_id(run_id).send().await?.into_inner(),
        None => {
            // The simulator reads markers in the prompt: a 32 MB transcript and a file artifact.
            let request = RunAgentRequest::builder()
                .prompt("Summarise the build logs [transcript:32MB] [file]");
            client
                .run_and_wait(request)
                .min_delay(Duration::from_millis(200))
                .send()
                .await?
        }
    };
    let dir = std::env::temp_dir().join(format!("oz-downloads-{}", run.run_id));
    std::fs::create_dir_all(&dir)?;

    // The transcript, with a line every 10 % (the callback runs as bytes arrive).
    let path = dir.join("transcript.json");
    let mut next_report = 0;
    let bytes = client
        .download_transcript(&run.run_id)
        .on_progress(move |progress| {
            if let Some(total) = progress.total.filter(|total| *total > 0) {
                let percent = progress.bytes * 100 / total;
                if percent >= next_report {
                    println!(
                        "  transcript {percent:>3} % ({} of {total} bytes)",
                        progress.bytes
                    );
                    next_report = percent + 10;
                }
            }
        })
        .to_file(&path)
        .await?;
    println!("transcript: {} ({bytes} bytes)", path.display());

    // Each file or screenshot artifact, from the signed URL its download resolves.
    for artifact in &run.artifacts {
        let Some(uid) = artifact.file_artifact_uid() else {
            continue; // plans, pull requests and links have no file
        };
        let target = dir.join(artifact.file_name().unwrap_or(uid));
        let written = client.download_artifact_file(uid).to_file(&target).await?;
        println!("artifact: {} ({written} bytes)", target.display());
    }
    if simulator.is_some() {
        // The simulator's files are of no use afterwards.
        std::fs::remove_dir_all(&dir)?;
        println!("removed {} (simulated run)", dir.display());
    }
    Ok(())
}
