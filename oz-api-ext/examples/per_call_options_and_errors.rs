//! Per-call options and errors: a client handle whose calls all carry options (a deadline,
//! retries, a header), one call that overrides them, and what an application does with each
//! kind of error.
//!
//! ```text
//! cargo run -p oz-api-ext --example per_call_options_and_errors
//! ```
//!
//! Offline against the local simulator unless `WARP_API_KEY` is set; offline it also makes
//! the simulator answer "out of credits" once, to show that error.

use std::time::Duration;

use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::oz_api::{Error, RequestOptions};
use oz_mock::{Fault, FaultRule, Progression};

mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, simulator) = common::connect(Progression::Instant).await?;

    // Every call of this handle: at most 10 s in all (attempts and pauses included), one
    // retry, and a header that tells the service's logs where the calls come from.
    let nightly = client.with_options(
        RequestOptions::new()
            .timeout(Duration::from_secs(10))
            .max_retries(1)
            .header("x-request-source", "nightly-report"),
    );
    let page = nightly.list_runs().limit(5).send().await?;
    println!("{} runs on the first page", page.runs.len());

    // One call with options of its own: they win over the handle's, setting by setting.
    let lookup = nightly
        .get_run()
        .run_id("no-such-run")
        .with_options(RequestOptions::new().max_retries(0))
        .send()
        .await;
    match lookup {
        Ok(run) => println!("found {}", run.run_id),
        // The error classifies itself; its line says everything (status, code, message,
        // trace id), so logging it is enough.
        Err(err) if err.is_not_found() => println!("not found: {err}"),
        Err(err) => return Err(err.into()),
    }

    // A create the service refuses: out of credits is final, not retried, and says why.
    if let Some(mock) = &simulator {
        mock.add_fault(FaultRule::operation("create_run", Fault::OutOfCredits).times(1));
    }
    let created = client
        .create_run()
        .body(RunAgentRequest::builder().prompt("Write the weekly report"))
        .send()
        .await;
    match created {
        Ok(run) => println!("started {}", run.run_id),
        Err(err) => report(&err),
    }
    Ok(())
}

/// What an application typically decides from an error.
fn report(err: &Error) {
    if err.is_out_of_credits() {
        println!("out of credits (not retried): {err}");
    } else if err.is_at_capacity() {
        println!(
            "the team runs {:?} agents already: {err}",
            err.running_agents()
        );
    } else if let Some(operation) = err.unknown_outcome() {
        // The request may have taken effect (a create whose answer was lost): look before
        // starting it again.
        println!("{operation} may have succeeded: {err}");
    } else if err.is_transient() {
        println!("try again later (after {:?}): {err}", err.retry_after());
    } else {
        println!(
            "failed: {err} (code {:?}, trace {:?})",
            err.error_code(),
            err.trace_id()
        );
    }
}
