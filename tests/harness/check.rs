//! Replays one fixture through the SDK and lists everything that does not conform.

use serde_json::Value;

use crate::dispatch::{self, Outcome};
use crate::fixture::LoadedFixture;
use crate::normalise::{comparable, first_difference, same_location};
use crate::replay::{self, ReplayServer};
use crate::spec::Spec;
use crate::workflows;

// Both checks run unconstrained by tokio's cooperative budget: dropping a wiremock server
// waits on a lock with a blocking executor, which spins forever once a long sequence of checks
// in one task has used the budget up.

/// How long one replay may take before it counts as hung (a workflow polling forever, say):
/// a guard against a stuck test run, not a measure of speed.
pub const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(10);

/// Replays `loaded` through the typed call of its operation: the request must match the
/// fixture's, and the decoded answer must re-encode to the fixture's body. Every message starts
/// with the fixture file and the operation.
pub async fn typed_call(spec: &Spec, loaded: &LoadedFixture) -> Vec<String> {
    tokio::task::unconstrained(typed_call_inner(spec, loaded)).await
}

async fn typed_call_inner(spec: &Spec, loaded: &LoadedFixture) -> Vec<String> {
    let prefix = format!("{} ({}) typed call", loaded.label(), loaded.operation_id);
    let Some(operation) = spec.operation(&loaded.operation_id) else {
        return vec![format!("{prefix}: no such operation in openapi.json")];
    };
    let server = ReplayServer::start(&loaded.fixture.response).await;
    // Configured with a key, which the SDK must send with every operation, public ones included.
    let client = replay::client(&server.base_url());
    let outcome = match tokio::time::timeout(
        HANG_GUARD,
        dispatch::call(&client, &operation, &loaded.fixture.request),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no outcome after {HANG_GUARD:?}")),
    };
    let mut problems = server
        .check(&loaded.fixture.request, replay::CREDENTIALS, 1)
        .await;
    match outcome {
        Err(e) => problems.push(e),
        Ok(outcome) => problems.extend(outcome_mismatches(loaded, &outcome, "", true)),
    }
    problems
        .into_iter()
        .map(|p| format!("{prefix}: {p}"))
        .collect()
}

/// Replays `loaded` through the `oz-api-ext` workflow of its operation, when there is one that
/// applies; an empty list otherwise.
pub async fn workflow(spec: &Spec, loaded: &LoadedFixture) -> (Option<&'static str>, Vec<String>) {
    tokio::task::unconstrained(workflow_inner(spec, loaded)).await
}

async fn workflow_inner(
    spec: &Spec,
    loaded: &LoadedFixture,
) -> (Option<&'static str>, Vec<String>) {
    let Some(operation) = spec.operation(&loaded.operation_id) else {
        return (None, Vec::new());
    };
    let server = ReplayServer::start(&loaded.fixture.response).await;
    // Configured with a key, which the SDK must send with every operation, public ones included.
    let client = replay::client(&server.base_url());
    let run = match tokio::time::timeout(
        HANG_GUARD,
        workflows::run(&client, &operation, &loaded.fixture),
    )
    .await
    {
        Ok(Some(run)) => run,
        Ok(None) => return (None, Vec::new()),
        Err(_) => {
            return (
                Some("workflow"),
                vec![format!(
                    "{} ({}) workflow: no outcome after {HANG_GUARD:?}",
                    loaded.label(),
                    loaded.operation_id
                )],
            );
        }
    };
    let prefix = format!("{} ({}) {}", loaded.label(), loaded.operation_id, run.name);
    let mut problems = server
        .check(&loaded.fixture.request, replay::CREDENTIALS, run.requests)
        .await;
    match run.outcome {
        Err(e) => problems.push(e),
        Ok(outcome) => problems.extend(outcome_mismatches(
            loaded,
            &outcome,
            run.compare_to,
            run.status_known,
        )),
    }
    (
        Some(run.name),
        problems
            .into_iter()
            .map(|p| format!("{prefix}: {p}"))
            .collect(),
    )
}

/// What differs between the SDK's outcome and the fixture's response. `compare_to` points into
/// the fixture body (`""`: all of it).
pub fn outcome_mismatches(
    loaded: &LoadedFixture,
    outcome: &Outcome,
    compare_to: &str,
    status_known: bool,
) -> Vec<String> {
    let response = &loaded.fixture.response;
    let mut problems = Vec::new();
    if status_known && outcome.status() != response.status {
        problems.push(format!(
            "status: the fixture answers {}, the SDK reports {}",
            response.status,
            outcome.status()
        ));
    }
    let fixture_body = response.body.clone().unwrap_or(Value::Null);
    let expected_body = fixture_body
        .pointer(compare_to)
        .cloned()
        .unwrap_or(Value::Null);
    let unknown: Vec<String> = loaded
        .fixture
        .unknown_fields
        .iter()
        .filter_map(|p| p.strip_prefix(compare_to).map(str::to_owned))
        .collect();
    let compare = |what: &str, actual: &Value| {
        let (expected, actual) = comparable(&expected_body, actual, &unknown);
        first_difference(&expected, &actual).map(|d| format!("{what} at {d}"))
    };
    match (response.status, outcome) {
        (400.., Outcome::Problem { body, .. }) => problems.extend(compare("problem body", body)),
        // 304 Not Modified is no redirect: the SDK must report it as such, with its ETag.
        (304, Outcome::NotModified { etag }) => {
            let expected = response.headers.get("etag");
            if expected != etag.as_ref() {
                problems.push(format!(
                    "etag: the fixture says {expected:?}, the SDK gives {etag:?}"
                ));
            }
        }
        (304, other) => problems.push(format!(
            "the fixture answers 304 Not Modified, the SDK made {other:?} of it"
        )),
        (300..=399, Outcome::Redirect { location, .. }) => {
            let expected = response.headers.get("location");
            let same = match (expected, location) {
                (Some(e), Some(l)) => same_location(e, l),
                (None, None) => true,
                _ => false,
            };
            if !same {
                problems.push(format!(
                    "location: the fixture says {expected:?}, the SDK gives {location:?}"
                ));
            }
        }
        (..=299, Outcome::Success { body, .. }) => problems.extend(compare("decoded body", body)),
        (status, other) => problems.push(format!(
            "the fixture answers {status}, the SDK made {other:?} of it"
        )),
    }
    problems
}

/// The failures of a check over `total` fixtures as one report (empty when there are none).
pub fn report(kind: &str, total: usize, failures: &[String]) -> String {
    if failures.is_empty() {
        return String::new();
    }
    format!(
        "{kind}: {} problem(s) across {total} fixtures:\n  {}",
        failures.len(),
        failures.join("\n  ")
    )
}
