//! The API's routes, one module per area. Paths and methods come from openapi.json
//! ([`ops::table`]); [`HANDLERS`] maps each operation id to the code that answers it.

mod artifacts;
mod catalog;
mod conversations;
mod event_stream;
mod events;
mod factories;
mod factory_files;
mod factory_tasks;
mod fields;
mod followups;
mod harness_usage;
mod identities;
mod interrupts;
mod messages;
mod networking;
mod runs;
mod schedules;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::Shared;
pub(crate) use crate::body::JsonBody;
use crate::error::ApiError;
use crate::ops;
#[cfg(test)]
use crate::ops::Operations;

/// Shared state as the handlers extract it.
pub(crate) type AppState = axum::extract::State<Arc<Shared>>;

/// Largest JSON body the request pipeline reads unless a handler allows more (axum's default).
pub(crate) const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Largest body `validate_factory_files` reads: many files of up to 2 MiB each.
const VALIDATE_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The code that answers one operation of openapi.json.
pub(crate) struct Handler {
    pub(crate) operation_id: &'static str,
    /// Routes the operation's method to its handler.
    route: fn(MethodFilter) -> MethodRouter<Arc<Shared>>,
    /// Largest request body read for the operation.
    pub(crate) body_limit: usize,
}

const fn handler(
    operation_id: &'static str,
    route: fn(MethodFilter) -> MethodRouter<Arc<Shared>>,
) -> Handler {
    Handler {
        operation_id,
        route,
        body_limit: DEFAULT_BODY_LIMIT,
    }
}

/// The operation id of the real-time event stream, which the pipeline hands its faults and
/// which [`OzMockBuilder::event_stream`](crate::OzMockBuilder::event_stream) switches off.
pub(crate) const EVENT_STREAM: &str = "stream_agent_events";

/// Every operation's handler, by operation id: the one place that binds openapi.json to code.
/// Methods and paths come from the document.
pub(crate) static HANDLERS: &[Handler] = &[
    handler("list_agents", |m| on(m, catalog::list_agents)),
    handler("run_agent", |m| on(m, runs::create)),
    handler("create_run", |m| on(m, runs::create)),
    handler("list_runs", |m| on(m, runs::list)),
    handler("get_run", |m| on(m, runs::get)),
    handler("get_run_transcript", |m| on(m, runs::transcript)),
    handler("get_run_conversation", |m| {
        on(m, conversations::run_conversation)
    }),
    handler("cancel_run", |m| on(m, runs::cancel)),
    handler("interrupt_run", |m| on(m, interrupts::run)),
    handler("get_run_harness_usage", |m| on(m, harness_usage::get)),
    handler("submit_run_followup", |m| on(m, followups::run)),
    handler("get_run_timeline", |m| on(m, runs::timeline)),
    handler("report_run_scores", |m| on(m, runs::scores)),
    handler("list_handoff_attachments", |m| {
        on(m, runs::handoff_attachments)
    }),
    handler("get_run_by_external_reference", |m| {
        on(m, runs::by_external_reference)
    }),
    handler("get_conversation", |m| on(m, conversations::get)),
    handler("get_conversation_transcript", |m| {
        on(m, conversations::transcript)
    }),
    handler("get_conversation_redirect", |m| {
        on(m, conversations::redirect_to_session)
    }),
    handler("submit_conversation_followup", |m| {
        on(m, followups::conversation)
    }),
    handler("interrupt_conversation", |m| {
        on(m, interrupts::conversation)
    }),
    handler("download_conversation_screenshot", |m| {
        on(m, conversations::download_screenshot)
    }),
    handler("get_session_redirect", |m| {
        on(m, conversations::session_redirect)
    }),
    handler("get_artifact", |m| on(m, artifacts::get)),
    handler("download_artifact", |m| on(m, artifacts::download)),
    handler("list_environments", |m| on(m, catalog::list_environments)),
    handler("list_models", |m| on(m, catalog::list_models)),
    handler("list_connected_self_hosted_workers", |m| {
        on(m, catalog::list_workers)
    }),
    handler("create_schedule", |m| on(m, schedules::create)),
    handler("list_schedules", |m| on(m, schedules::list)),
    handler("get_schedule", |m| on(m, schedules::get)),
    handler("update_schedule", |m| on(m, schedules::update)),
    handler("delete_schedule", |m| on(m, schedules::delete)),
    handler("pause_schedule", |m| on(m, schedules::pause)),
    handler("resume_schedule", |m| on(m, schedules::resume)),
    handler("create_agent_identity", |m| on(m, identities::create)),
    handler("list_agent_identities", |m| on(m, identities::list)),
    handler("get_agent_identity", |m| on(m, identities::get)),
    handler("update_agent_identity", |m| on(m, identities::update)),
    handler("delete_agent_identity", |m| on(m, identities::delete)),
    handler("send_agent_message", |m| on(m, messages::send)),
    handler("list_agent_messages", |m| on(m, messages::list)),
    handler("read_agent_message", |m| on(m, messages::read)),
    handler("mark_agent_message_delivered", |m| {
        on(m, messages::delivered)
    }),
    handler("poll_agent_events", |m| on(m, events::poll)),
    handler("report_agent_event", |m| on(m, events::report)),
    handler(EVENT_STREAM, |m| on(m, event_stream::stream)),
    handler("list_egress_ranges", |m| on(m, networking::egress_ranges)),
    handler("list_factories", |m| on(m, factories::list)),
    handler("get_factory", |m| on(m, factories::get)),
    handler("create_factory_run", |m| on(m, factories::create_run)),
    handler("list_factory_tasks", |m| on(m, factory_tasks::list)),
    handler("create_factory_task", |m| on(m, factory_tasks::create)),
    handler("get_factory_task", |m| on(m, factory_tasks::get)),
    handler("update_factory_task", |m| on(m, factory_tasks::update)),
    handler("delete_factory_task", |m| on(m, factory_tasks::delete)),
    handler("cancel_factory_task", |m| on(m, factory_tasks::cancel)),
    handler("get_factory_task_by_run", |m| on(m, factory_tasks::by_run)),
    handler("get_factory_task_by_conversation", |m| {
        on(m, factory_tasks::by_conversation)
    }),
    handler("list_factory_file_schemas", |m| {
        on(m, factory_files::list_schemas)
    }),
    handler("get_factory_file_schema", |m| {
        on(m, factory_files::get_schema)
    }),
    handler("get_factory_file_schema_document", |m| {
        on(m, factory_files::get_document)
    }),
    Handler {
        body_limit: VALIDATE_BODY_LIMIT,
        ..handler("validate_factory_files", |m| on(m, factory_files::validate))
    },
];

/// The handler of an operation id.
pub(crate) fn handler_of(operation_id: &str) -> Option<&'static Handler> {
    HANDLERS.iter().find(|h| h.operation_id == operation_id)
}

/// Operations without a handler and handlers without an operation (or listed twice), each
/// named, or `Ok` when the two match one to one.
#[cfg(test)]
fn check_handlers(operations: &Operations, handlers: &[Handler]) -> Result<(), String> {
    let mut problems = Vec::new();
    for op in operations.iter() {
        match handlers.iter().filter(|h| h.operation_id == op.id).count() {
            0 => problems.push(format!(
                "operation {} ({} {}) has no handler",
                op.id, op.method, op.template
            )),
            1 => {}
            n => problems.push(format!("operation {} has {n} handlers", op.id)),
        }
    }
    for h in handlers {
        if !operations.iter().any(|op| op.id == h.operation_id) {
            problems.push(format!(
                "handler {} answers no operation of the document",
                h.operation_id
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The API's routes: every operation of openapi.json at its path and method, answered by its
/// handler in [`HANDLERS`]. The request pipeline wraps them
/// ([`pipeline::api_router`](crate::pipeline::api_router)).
pub(crate) fn router() -> Router<Arc<Shared>> {
    let mut paths: Vec<(&str, MethodRouter<Arc<Shared>>)> = Vec::new();
    for op in ops::table().iter() {
        // Unanswered operations are caught by `every_operation_has_exactly_one_handler`.
        let Some(handler) = handler_of(&op.id) else {
            continue;
        };
        let filter =
            MethodFilter::try_from(op.method.clone()).unwrap_or_else(|e| panic!("{}: {e}", op.id));
        let route = (handler.route)(filter);
        match paths.iter_mut().find(|(p, _)| *p == op.template) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(route),
            None => paths.push((&op.template, route)),
        }
    }
    let api = paths
        .into_iter()
        .fold(Router::new(), |router, (path, route)| {
            router.route(path, route)
        });
    Router::new()
        .nest(ops::API_PREFIX, api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// A 200 JSON answer.
pub(crate) fn json(value: serde_json::Value) -> Response {
    json_with(StatusCode::OK, value)
}

pub(crate) fn json_with(status: StatusCode, value: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// A 302 to `location`.
pub(crate) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = header::HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_exactly_one_handler() {
        if let Err(problems) = check_handlers(ops::table(), HANDLERS) {
            panic!("openapi.json and HANDLERS disagree: {problems}");
        }
    }

    #[test]
    fn an_odd_operation_or_handler_is_named() {
        let mut spec = ops::document().clone();
        let paths = spec["paths"].as_object_mut().expect("paths");
        paths.insert(
            "/agent/dummies".into(),
            serde_json::json!({"get": {"operationId": "list_dummies"}}),
        );
        paths.remove("/agent/models");
        let table = Operations::from_spec(&spec).expect("table");
        let problems = check_handlers(&table, HANDLERS).unwrap_err();
        assert!(
            problems.contains("operation list_dummies (GET /agent/dummies) has no handler"),
            "{problems}"
        );
        assert!(
            problems.contains("handler list_models answers no operation"),
            "{problems}"
        );
        let twice = [
            handler("list_dummies", |m| on(m, not_found)),
            handler("list_dummies", |m| on(m, not_found)),
        ];
        let spec = serde_json::json!({"paths": {"/agent/dummies": {"get": {"operationId": "list_dummies"}}}});
        let problems =
            check_handlers(&Operations::from_spec(&spec).expect("table"), &twice).unwrap_err();
        assert!(
            problems.contains("list_dummies has 2 handlers"),
            "{problems}"
        );
    }
}
