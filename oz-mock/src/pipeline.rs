//! What every API request goes through: counting, faults, auth, the handler, and rendering of
//! error bodies.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;
use crate::faults::{self, Fault};
use crate::server::ConnectionKill;
use crate::{Shared, auth, lock, ops};

pub(crate) async fn api(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let operation = ops::resolve(request.method(), &path);
    let operation_id = operation.map_or("unknown", |op| op.id);
    let plan = admit(&shared, operation_id, &path, false);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    let mut cut_body = false;
    match plan.action {
        None => {}
        Some(Fault::TruncatedBody) => cut_body = true,
        Some(Fault::ConnectionReset) => return close_connection(kill_switch(&request)).await,
        Some(fault) => {
            if let Some(response) = faults::respond(&fault, &path) {
                return response;
            }
        }
    }
    if let Some(op) = operation
        && let Err(error) = auth::check(&shared.api_key, op.auth, request.headers())
    {
        return error.render(&path);
    }
    let response = render_errors(next.run(request).await, &path);
    if cut_body {
        faults::truncate(response).await
    } else {
        response
    }
}

/// Counts the request and consumes the fault rules that match it.
pub(crate) fn admit(
    shared: &Shared,
    operation_id: &str,
    path: &str,
    storage: bool,
) -> faults::Plan {
    *lock(&shared.request_counts)
        .entry(operation_id.to_owned())
        .or_default() += 1;
    faults::take(&mut lock(&shared.faults), operation_id, path, storage)
}

/// The kill switch of the connection a request arrived on.
pub(crate) fn kill_switch(request: &Request) -> Option<ConnectionKill> {
    request.extensions().get::<ConnectionKill>().cloned()
}

/// Closes the connection and never answers.
pub(crate) async fn close_connection(kill: Option<ConnectionKill>) -> Response {
    if let Some(kill) = kill {
        kill.kill();
    }
    std::future::pending().await
}

/// Replaces the placeholder of an [`ApiError`] by its problem body.
fn render_errors(response: Response, instance: &str) -> Response {
    match response.extensions().get::<ApiError>() {
        Some(error) => error.render(instance),
        None => response,
    }
}
