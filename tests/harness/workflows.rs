//! Drives a fixture through the `oz-api-ext` workflow of its operation, where one exists.

use futures::StreamExt;
use oz_api_ext::oz_api::Client;
use oz_api_ext::oz_api::types::RunState;
use oz_api_ext::{
    DownloadError, DownloadExt, EventsExt, MessagesExt, PaginateExt, RunWaitExt, Transport,
};
use serde_json::Value;

use crate::dispatch::{self, Outcome, Params};
use crate::dispatch_table;
use crate::fixture::Fixture;
use crate::spec::Operation;

/// What a workflow produced, and which part of the fixture's response body it is compared
/// with.
#[derive(Debug)]
pub struct WorkflowRun {
    /// The workflow, e.g. `list_runs().items()`.
    pub name: &'static str,
    /// JSON pointer into the fixture's response body that `outcome` reproduces (`""`: all).
    pub compare_to: &'static str,
    /// What the workflow returned, or why it failed.
    pub outcome: Result<Outcome, String>,
    /// How many requests the workflow must have sent.
    pub requests: usize,
    /// Whether the outcome's status is the answer's (a resolved download URL has none).
    pub status_known: bool,
}

/// Runs the workflow of the fixture's operation; `None` when the operation has none or the
/// fixture is not a case the workflow can replay (e.g. a run that is not finished yet, which
/// the waiter would poll forever).
pub async fn run(client: &Client, operation: &Operation, fixture: &Fixture) -> Option<WorkflowRun> {
    let p = match Params::new(operation, &fixture.request) {
        Ok(p) => p,
        Err(e) => {
            return Some(WorkflowRun {
                name: "parameters",
                compare_to: "",
                outcome: Err(e),
                requests: 1,
                status_known: true,
            });
        }
    };
    let body = fixture.response.body.as_ref();
    let items = |key: &str| {
        body.and_then(|b| b.pointer(key))
            .and_then(Value::as_array)
            .map(Vec::len)
    };
    let success = fixture.response.status < 400;
    match operation.id.as_str() {
        id if dispatch_table::paged_list(id).is_some() => {
            let (name, key) = dispatch_table::paged_list(id)?;
            // Stop after the items of this page so the next page is never requested.
            let count = if success { items(key)? } else { 1 };
            if success && count == 0 && has_next_page(body) {
                return None;
            }
            Some(WorkflowRun {
                name,
                compare_to: if success { key } else { "" },
                outcome: dispatch_table::items(client, id, &p, count).await,
                requests: 1,
                status_known: true,
            })
        }
        "get_run" => {
            let state = body.and_then(|b| b.get("state")).and_then(Value::as_str);
            if success
                && !state.is_some_and(|s| {
                    s.parse::<RunState>()
                        .is_ok_and(|s| oz_api_ext::is_terminal(&s))
                })
            {
                return None;
            }
            let run_id = p.path("runId").ok()?;
            let outcome = match client.wait_for_run(run_id).send().await {
                Ok(run) => serde_json::to_value(run)
                    .map(|body| Outcome::Success { status: 200, body })
                    .map_err(|e| e.to_string()),
                Err(oz_api_ext::WaitError::Api { source, .. }) => dispatch::from_error(*source),
                Err(other) => Err(other.to_string()),
            };
            Some(WorkflowRun {
                name: "wait_for_run()",
                compare_to: "",
                outcome,
                requests: 1,
                status_known: true,
            })
        }
        "get_run_transcript" => {
            let run_id = p.path("runId").ok()?;
            Some(download(
                "download_transcript().url()",
                client.download_transcript(run_id).url().await,
            ))
        }
        "download_artifact" => {
            let uid = p.path("artifactUid").ok()?;
            Some(download(
                "download_artifact_file().url()",
                client.download_artifact_file(uid).url().await,
            ))
        }
        "download_conversation_screenshot" => {
            let conversation_id = p.path("conversationId").ok()?;
            let screenshot_uid = p.path("screenshotUid").ok()?;
            Some(download(
                "download_screenshot().url()",
                client
                    .download_screenshot(conversation_id, screenshot_uid)
                    .url()
                    .await,
            ))
        }
        "poll_agent_events" => {
            let count = if success { items("")? } else { 1 };
            if count == 0 {
                return None;
            }
            let run_ids: Vec<String> = p.query("run_ids").ok()??;
            // The fixture is the polling operation: the tail polls it, without the stream.
            let mut tail = client.events(run_ids).transport(Transport::Poll);
            if let Ok(Some(since)) = p.query::<i64>("since") {
                tail = tail.since(since);
            }
            if let Ok(Some(limit)) = p.query::<u32>("limit") {
                tail = tail.limit(limit);
            }
            let collected: Vec<_> = tail.stream().take(count).collect().await;
            Some(WorkflowRun {
                name: "events().stream()",
                compare_to: "",
                outcome: collect_items(collected),
                requests: 1,
                status_known: true,
            })
        }
        "list_agent_messages" => {
            let count = if success { items("")? } else { 1 };
            if count == 0 {
                return None;
            }
            let mut inbox = client.inbox(p.path("runId").ok()?);
            if let Ok(Some(unread)) = p.query::<bool>("unread") {
                inbox = inbox.unread(unread);
            }
            if let Ok(Some(since)) = p.query::<chrono::DateTime<chrono::Utc>>("since") {
                inbox = inbox.since(since);
            }
            if let Ok(Some(limit)) = p.query::<u32>("limit") {
                inbox = inbox.limit(limit);
            }
            let collected: Vec<_> = inbox.stream().take(count).collect().await;
            Some(WorkflowRun {
                name: "inbox().stream()",
                compare_to: "",
                outcome: collect_items(collected),
                requests: 1,
                status_known: true,
            })
        }
        _ => None,
    }
}

/// The first `count` items of a paged listing (every item when `count` is 0), or the problem of
/// the page that failed.
pub(crate) async fn paged<'a, B>(builder: B, count: usize) -> Result<Outcome, String>
where
    B: PaginateExt<'a> + 'a,
    B::Item: serde::Serialize,
{
    let mut stream = builder.items();
    if count > 0 {
        stream = stream.max_items(count as u64);
    }
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(item) => items.push(item),
            Err(oz_api_ext::PaginationError::Api { source, .. }) => {
                return dispatch::from_error(*source);
            }
            Err(other) => return Err(other.to_string()),
        }
    }
    encode_list(&items)
}

fn has_next_page(body: Option<&Value>) -> bool {
    body.and_then(|b| b.pointer("/page_info/has_next_page"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn encode_list<T: serde::Serialize>(items: &[T]) -> Result<Outcome, String> {
    serde_json::to_value(items)
        .map(|body| Outcome::Success { status: 200, body })
        .map_err(|e| e.to_string())
}

/// The items a tail yielded, or the problem of its first error.
fn collect_items<T: serde::Serialize>(
    collected: Vec<Result<T, oz_api_ext::TailError>>,
) -> Result<Outcome, String> {
    let mut items = Vec::new();
    for item in collected {
        match item {
            Ok(item) => items.push(item),
            Err(oz_api_ext::TailError::Api { source, .. }) => return dispatch::from_error(*source),
            Err(other) => return Err(other.to_string()),
        }
    }
    encode_list(&items)
}

fn download(
    name: &'static str,
    result: Result<oz_api_ext::RedactedUrl, DownloadError>,
) -> WorkflowRun {
    let outcome = match result {
        Ok(url) => Ok(Outcome::Redirect {
            status: 302,
            location: Some(url.expose().to_string()),
        }),
        Err(DownloadError::Api { source, .. }) => dispatch::from_error(*source),
        Err(other) => Err(other.to_string()),
    };
    WorkflowRun {
        name,
        compare_to: "",
        status_known: !matches!(outcome, Ok(Outcome::Redirect { .. })),
        outcome,
        requests: 1,
    }
}
