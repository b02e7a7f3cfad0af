//! Ten runs at once: start them concurrently, then follow the whole set with one listing per
//! poll (not ten waiters), reporting each run as it ends.
//!
//! ```text
//! cargo run -p oz-api-ext --example many_runs
//! ```
//!
//! Offline against the local simulator unless `WARP_API_KEY` is set (then it starts ten real
//! runs).

use std::time::Duration;

use futures::TryStreamExt;
use futures::future::try_join_all;
use oz_api_ext::WaitForRunsExt;
use oz_api_ext::oz_api::types::{RunAgentRequest, RunState};
use oz_mock::Progression;

mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, _simulator) = common::connect(Progression::Realistic).await?;

    // `send_owned()` futures own a clone of the client, so they run side by side (or can be
    // spawned); every create is sent once: a create is never retried after the server may
    // have acted on it.
    let creates = (1..=10).map(|n| {
        // Every fourth run of the simulator fails, to show how a failure is reported.
        let marker = if n % 4 == 0 { " [fail]" } else { "" };
        client
            .create_run()
            .body(RunAgentRequest::builder().prompt(format!("Fix lint warning #{n}{marker}")))
            .send_owned()
    });
    let started = try_join_all(creates).await?;
    let run_ids: Vec<String> = started
        .into_iter()
        .map(|answer| answer.into_inner().run_id)
        .collect();
    println!("started {} runs", run_ids.len());

    // One `list_runs` per poll for the whole set; each run comes out as soon as it ended.
    let mut ended = client
        .wait_for_runs(&run_ids)
        .min_delay(Duration::from_millis(500))
        .max_wait(Duration::from_secs(30 * 60))
        .stream();
    let (mut succeeded, mut other) = (0, 0);
    while let Some(run) = ended.try_next().await? {
        println!(
            "  {:<10} {}  {}",
            run.state.to_string(),
            run.run_id,
            run.title
        );
        if run.state == RunState::Succeeded {
            succeeded += 1;
        } else {
            other += 1;
        }
    }
    println!("{succeeded} succeeded, {other} did not");
    Ok(())
}
