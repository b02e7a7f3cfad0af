//! The API's routes, one module per area.

pub(crate) mod artifacts;
mod catalog;
mod conversations;
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
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// Largest body `validate_factory_file` reads: many files of up to 2 MiB each.
const VALIDATE_BODY_LIMIT: usize = 64 * 1024 * 1024;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::Shared;
use crate::error::ApiError;

/// Shared state as the handlers extract it.
pub(crate) type AppState = axum::extract::State<Arc<Shared>>;

pub(crate) fn api_router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/agent", get(catalog::list_agents))
        .route("/agent/run", post(runs::create))
        .route("/agent/runs", get(runs::list).post(runs::create))
        .route("/agent/runs/{run_id}", get(runs::get))
        .route("/agent/runs/{run_id}/transcript", get(runs::transcript))
        .route(
            "/agent/runs/{run_id}/conversation",
            get(conversations::run_conversation),
        )
        .route("/agent/runs/{run_id}/cancel", post(runs::cancel))
        .route("/agent/runs/{run_id}/followups", post(followups::run))
        .route("/agent/runs/{run_id}/interrupt", post(interrupts::run))
        .route(
            "/agent/runs/{run_id}/harness-usage",
            get(harness_usage::get),
        )
        .route("/agent/runs/{run_id}/timeline", get(runs::timeline))
        .route("/agent/runs/{run_id}/scores", post(runs::scores))
        .route(
            "/agent/runs/{run_id}/handoff/attachments",
            get(runs::handoff_attachments),
        )
        .route(
            "/agent/run-by-external-reference",
            get(runs::by_external_reference),
        )
        .route("/agent/conversations/{id}", get(conversations::get))
        .route(
            "/agent/conversations/{id}/transcript",
            get(conversations::transcript),
        )
        .route(
            "/agent/conversations/{id}/redirect",
            get(conversations::redirect_to_session),
        )
        .route(
            "/agent/conversations/{id}/interrupt",
            post(interrupts::conversation),
        )
        .route(
            "/agent/conversations/{id}/followups",
            post(followups::conversation),
        )
        .route(
            "/agent/conversations/{id}/screenshots/{uid}/download",
            get(conversations::download_screenshot),
        )
        .route(
            "/agent/sessions/{id}/redirect",
            get(conversations::session_redirect),
        )
        .route("/agent/artifacts/{uid}", get(artifacts::get))
        .route("/agent/artifacts/{uid}/download", get(artifacts::download))
        .route("/agent/environments", get(catalog::list_environments))
        .route("/agent/models", get(catalog::list_models))
        .route(
            "/agent/connected-self-hosted-workers",
            get(catalog::list_workers),
        )
        .route(
            "/agent/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route(
            "/agent/schedules/{id}",
            get(schedules::get)
                .put(schedules::update)
                .delete(schedules::delete),
        )
        .route("/agent/schedules/{id}/pause", post(schedules::pause))
        .route("/agent/schedules/{id}/resume", post(schedules::resume))
        .route(
            "/agent/identities",
            get(identities::list).post(identities::create),
        )
        .route(
            "/agent/identities/{uid}",
            get(identities::get)
                .put(identities::update)
                .delete(identities::delete),
        )
        .route("/agent/messages", post(messages::send))
        .route("/agent/messages/{run_id}", get(messages::list))
        .route("/agent/messages/{id}/read", post(messages::read))
        .route("/agent/messages/{id}/delivered", post(messages::delivered))
        .route("/agent/events", get(events::poll))
        .route("/agent/events/{run_id}", post(events::report))
        .route("/factory", get(factories::list))
        .route("/factory/{uid}", get(factories::get))
        .route("/factory/{uid}/runs", post(factories::create_run))
        .route(
            "/factory/{uid}/tasks",
            get(factory_tasks::list).post(factory_tasks::create),
        )
        .route(
            "/factory/{uid}/tasks/{task_uid}",
            get(factory_tasks::get)
                .patch(factory_tasks::update)
                .delete(factory_tasks::delete),
        )
        .route(
            "/factory/{uid}/tasks/{task_uid}/cancel",
            post(factory_tasks::cancel),
        )
        .route("/factory/{uid}/task-by-run", get(factory_tasks::by_run))
        .route(
            "/factory/{uid}/task-by-conversation",
            get(factory_tasks::by_conversation),
        )
        .route("/factory-files/schemas", get(factory_files::list_schemas))
        .route(
            "/factory-files/schemas/{version}",
            get(factory_files::get_schema),
        )
        .route(
            "/factory-files/schemas/{version}/{document}",
            get(factory_files::get_document),
        )
        .route(
            "/factory-files/validate",
            post(factory_files::validate).layer(DefaultBodyLimit::max(VALIDATE_BODY_LIMIT)),
        )
        .route("/networking/egress-ranges", get(networking::egress_ranges));
    Router::new()
        .nest(crate::ops::API_PREFIX, api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            crate::pipeline::api,
        ))
        .with_state(shared)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// A JSON request body; malformed or missing bodies are `invalid_request` problems.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::invalid_request(format!("could not read the body: {e}")))?;
        if bytes.is_empty() {
            return Err(ApiError::invalid_request("a JSON request body is required"));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::invalid_request(format!("invalid JSON body: {e}")))
    }
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
pub(crate) use artifacts::artifact_object;
