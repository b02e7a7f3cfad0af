//! Waiting for a set of runs: each run once it ended, one listing per poll for the whole set.
//! Against the simulator on Tokio's paused clock (runs advance on simulated time).

use std::time::Duration;

use futures::TryStreamExt;
use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::oz_api::{Client, ClientInfo, Config};
use oz_api_ext::{WaitError, WaitForRunsExt, is_terminal};
use oz_mock::{OzMock, Progression};

/// Each of QUEUED, PENDING, CLAIMED and INPROGRESS lasts this long.
const STEP: Duration = Duration::from_secs(5);

/// The simulator, its runs spending `step` in each live state.
async fn simulator(step: Duration) -> OzMock {
    OzMock::builder()
        .progression(Progression::Stepped(step))
        .start()
        .await
        .unwrap()
}

/// A client whose HTTP layer arms no timer, so the paused clock only moves when the waiter
/// sleeps.
fn client(mock: &OzMock) -> Client {
    let base = mock.base_url();
    let configured = Config::new(mock.api_key())
        .base_url(base.clone())
        .build()
        .unwrap();
    let http = oz_api_ext::oz_api::http_client_builder()
        .unwrap()
        .pool_idle_timeout(None)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Client::new_with_client(&base, http, configured.inner().clone())
}

/// Starts `count` runs, `gap` apart on the simulated clock: they end in the order started.
async fn staggered_runs(client: &Client, count: usize, gap: Duration) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        let request = RunAgentRequest::builder().prompt(format!("Child task {i}"));
        ids.push(
            client
                .create_run()
                .body(request)
                .send()
                .await
                .unwrap()
                .run_id
                .clone(),
        );
        tokio::time::sleep(gap).await;
    }
    ids
}

#[tokio::test(start_paused = true)]
async fn each_run_is_yielded_once_as_it_ends_with_one_listing_per_poll() {
    let mock = simulator(STEP).await;
    let client = client(&mock);
    let ids = staggered_runs(&client, 6, Duration::from_secs(3)).await;

    let ended: Vec<_> = client
        .wait_for_runs(ids.iter().cloned().chain([ids[0].clone()]))
        .stream()
        .try_collect()
        .await
        .unwrap();

    let ended_ids: Vec<_> = ended.iter().map(|run| run.run_id.clone()).collect();
    assert_eq!(ended_ids, ids, "each run once, in the order they ended");
    assert!(ended.iter().all(|run| is_terminal(&run.state)));
    // The first poll reads each run (a repeated id once); every later poll is one listing.
    assert_eq!(mock.request_count("get_run"), ids.len());
    let listings = mock.request_count("list_runs");
    assert!(listings >= 1, "{listings}");
    assert!(
        listings <= 15,
        "{listings} listings for about half a minute of waiting"
    );
    mock.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn runs_already_ended_come_first_and_an_empty_set_ends_at_once() {
    let mock = simulator(STEP).await;
    let client = client(&mock);
    let ids = staggered_runs(&client, 2, Duration::from_secs(30)).await;
    let ended = client.wait_for_runs(ids.clone()).send().await.unwrap();
    assert_eq!(ended.len(), 2);
    assert_eq!(
        mock.request_count("list_runs"),
        0,
        "both had ended: no poll needed"
    );

    let none = client
        .wait_for_runs(Vec::<String>::new())
        .send()
        .await
        .unwrap();
    assert!(none.is_empty());
    mock.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_the_wait_naming_a_run_still_pending() {
    let mock = simulator(Duration::from_secs(600)).await;
    let client = client(&mock);
    let ids = staggered_runs(&client, 3, Duration::ZERO).await;
    let err = client
        .wait_for_runs(ids.clone())
        .max_wait(Duration::from_secs(20))
        .send()
        .await
        .unwrap_err();
    let WaitError::ExceededMaxWait {
        last_run, polls, ..
    } = &err
    else {
        panic!("expected a timeout, got {err}");
    };
    assert!(ids.contains(&last_run.as_ref().unwrap().run_id));
    assert_eq!(*polls as usize, 1 + mock.request_count("list_runs"));

    let unknown = client
        .wait_for_runs(["no-such-run"])
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            unknown,
            WaitError::Api {
                operation: "get_run",
                ..
            }
        ),
        "{unknown}"
    );
    assert!(unknown.api_error().is_some());
    mock.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn children_of_one_run_cost_one_listing_per_poll_from_the_first() {
    let mock = simulator(STEP).await;
    let client = client(&mock);
    let parent = client
        .create_run()
        .body(RunAgentRequest::builder().prompt("Orchestrate the migration".to_owned()))
        .send()
        .await
        .unwrap()
        .run_id
        .clone();
    let mut children = Vec::new();
    for i in 0..5 {
        let request = RunAgentRequest::builder()
            .prompt(format!("Migrate module {i}"))
            .parent_run_id(parent.clone());
        children.push(
            client
                .create_run()
                .body(request)
                .send()
                .await
                .unwrap()
                .run_id
                .clone(),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    let ended = client
        .wait_for_runs(children.clone())
        .ancestor_run_id(&parent)
        .send()
        .await
        .unwrap();

    let ended_ids: Vec<_> = ended.iter().map(|run| run.run_id.clone()).collect();
    assert_eq!(ended_ids, children);
    assert_eq!(
        mock.request_count("get_run"),
        0,
        "no run is read on its own"
    );
    assert!(mock.request_count("list_runs") >= 2);
    mock.shutdown().await;
}
