//! Start a cloud agent run, show its state changes as they happen, wait for it to end, print
//! a summary and save its transcript (into the system's temporary directory).
//!
//! ```text
//! cargo run --example quickstart [-- "your prompt"]
//! ```
//!
//! Without `WARP_API_KEY` it starts the local Oz simulator in-process and runs against it, so it
//! works offline. With `WARP_API_KEY` set it talks to the real service (`WARP_BASE_URL`, or the
//! older `OZ_API_BASE_URL`, overrides the address) and starts a real run.

use std::time::Duration;

use oz_api_ext::oz_api::types::{ArtifactItem, RunAgentRequest, RunItem};
use oz_api_ext::{DownloadExt, RunWaitExt};
use oz_mock::Progression;

mod common;

const DEFAULT_PROMPT: &str = "Add a CHANGELOG entry for the 1.2 release";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_PROMPT.to_owned());

    // Keep the simulator alive for the whole run when there is no key.
    let (client, _simulator) = common::connect(Progression::Realistic).await?;

    println!("prompt: {prompt}");
    let request = RunAgentRequest::builder().prompt(prompt);
    let run = client
        .run_and_wait(request)
        .min_delay(Duration::from_millis(500))
        .max_delay(Duration::from_secs(10))
        .max_wait(Duration::from_secs(30 * 60))
        .on_state_change(|run| println!("  {:<10} {}", run.state.to_string(), run.run_id))
        .send()
        .await?;

    print_summary(&run);

    // Into the system's temporary directory, not the working tree.
    let path = std::env::temp_dir().join(format!("transcript-{}.json", run.run_id));
    let bytes = client
        .download_transcript(&run.run_id)
        .to_file(&path)
        .await?;
    println!("transcript: {} ({bytes} bytes)", path.display());
    Ok(())
}

fn print_summary(run: &RunItem) {
    println!("run {} ended {}", run.run_id, run.state);
    println!("  title:   {}", run.title);
    if let Some(status) = &run.status_message {
        println!("  status:  {}", status.message);
    }
    for artifact in &run.artifacts {
        println!("  artifact {}", describe(artifact));
    }
    if let Some(link) = &run.session_link {
        println!("  session: {link}");
    }
}

fn describe(artifact: &ArtifactItem) -> String {
    match serde_json::to_value(artifact) {
        Ok(value) => {
            let kind = value["artifact_type"].as_str().unwrap_or("?").to_owned();
            let data = &value["data"];
            let label = ["url", "title", "filename", "description"]
                .iter()
                .find_map(|key| data[*key].as_str())
                .unwrap_or("");
            format!("{kind} {label}")
        }
        Err(_) => "(unreadable)".to_owned(),
    }
}
