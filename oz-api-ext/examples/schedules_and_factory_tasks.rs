//! Schedules and factories: create a nightly schedule, pause and resume it, list what the team
//! has scheduled, delete it; then start a run in a factory and follow the task it creates.
//!
//! ```text
//! cargo run -p oz-api-ext --example schedules_and_factory_tasks
//! ```
//!
//! Offline against the local simulator unless `WARP_API_KEY` is set (then it creates, and
//! deletes again, a real schedule, and starts a real factory run in your first factory).

use std::time::Duration;

use futures::TryStreamExt;
use oz_api_ext::oz_api::types::{CreateFactoryRunRequest, CreateScheduledAgentRequest};
use oz_api_ext::{PaginateExt, RunWaitExt};
use oz_mock::Progression;

mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, _simulator) = common::connect(Progression::Instant).await?;

    // A schedule that starts a run every night at 03:00 UTC: created, paused, resumed,
    // listed and deleted.
    let schedule = client
        .create_schedule()
        .body(
            CreateScheduledAgentRequest::builder()
                .name("Nightly dependency check")
                .cron_schedule("0 3 * * *")
                .enabled(true)
                .prompt("Check for outdated dependencies and open a PR"),
        )
        .send()
        .await?
        .into_inner();
    println!(
        "created schedule {} ({})",
        schedule.id, schedule.cron_schedule
    );
    let paused = client
        .pause_schedule()
        .schedule_id(&schedule.id)
        .send()
        .await?;
    println!("  paused: enabled = {}", paused.enabled);
    let resumed = client
        .resume_schedule()
        .schedule_id(&schedule.id)
        .send()
        .await?;
    println!("  resumed: enabled = {}", resumed.enabled);
    let listed = client.list_schedules().send().await?;
    for item in &listed.schedules {
        println!(
            "  schedule {:<28} {:<12} {}",
            item.name, item.cron_schedule, item.id
        );
    }
    client
        .delete_schedule()
        .schedule_id(&schedule.id)
        .send()
        .await?;
    println!("deleted schedule {}", schedule.id);

    // Factories: every page of them, as one stream of items.
    let factories: Vec<_> = client.list_factories().items().try_collect().await?;
    let Some(factory) = factories.first() else {
        println!("no factories");
        return Ok(());
    };
    println!(
        "{} factories; using {} ({})",
        factories.len(),
        factory.name,
        factory.uid
    );

    // A factory run creates its task once the run leaves QUEUED.
    let started = client
        .create_factory_run()
        .factory_uid(&factory.uid)
        .body(
            CreateFactoryRunRequest::builder()
                .prompt("Triage the flaky integration test")
                .title("Flaky integration test"),
        )
        .send()
        .await?
        .into_inner();
    let run = client
        .wait_for_run(&started.run_id)
        .min_delay(Duration::from_millis(200))
        .send()
        .await?;
    println!("factory run {} ended {}", run.run_id, run.state);
    let tasks: Vec<_> = client
        .list_factory_tasks()
        .factory_uid(&factory.uid)
        .items()
        .max_items(20)
        .try_collect()
        .await?;
    for task in &tasks {
        println!(
            "  task {:<10} {}  {}",
            task.stage.to_string(),
            task.uid,
            task.title.as_deref().unwrap_or("(untitled)")
        );
    }
    Ok(())
}
