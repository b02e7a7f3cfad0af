//! What every API request goes through: counting, faults, auth, reading the request as
//! openapi.json declares it (query and JSON body checked against the operation's schemas, the
//! body parsed once), the handler, and rendering of error bodies. Everything here comes from
//! the operation's entry in the document; no handler has code of its own for it.

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;
use crate::faults::{self, Fault};
use crate::request_check::{RequestValidator, Violation};
use crate::routes::{self, ParsedBody};
use crate::server::ConnectionKill;
use crate::{Shared, auth, lock, ops};

static VALIDATOR: LazyLock<RequestValidator> =
    LazyLock::new(|| RequestValidator::new(ops::document()));

pub(crate) async fn api(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let operation = ops::table().resolve(request.method(), &path);
    let operation_id = operation.map_or("unknown", |op| op.id.as_str());
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
    let request = match operation {
        Some(op) => match prepare(op, request).await {
            Ok(request) => request,
            Err(error) => return error.render(&path),
        },
        None => request,
    };
    let response = render_errors(next.run(request).await, &path);
    if cut_body {
        faults::truncate(response).await
    } else {
        response
    }
}

/// Reads the request as its operation declares it: checks the query, and for an operation with
/// a JSON request body reads the body (up to the handler's limit), parses it, checks it against
/// the request schema and hands it to the handler as a [`ParsedBody`].
async fn prepare(op: &ops::Operation, request: Request) -> Result<Request, ApiError> {
    check_query(op, request.uri().query())?;
    let Some(declared) = op.body else {
        return Ok(request);
    };
    let limit = routes::handler_of(&op.id).map_or(routes::DEFAULT_BODY_LIMIT, |h| h.body_limit);
    let (mut parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| ApiError::invalid_request(format!("could not read the body: {e}")))?;
    if bytes.is_empty() && !declared.required {
        return Ok(Request::from_parts(parts, Body::empty()));
    }
    let body = routes::parse_body(&bytes)?;
    VALIDATOR
        .body(&op.id, &body)
        .map_err(|found| invalid(&found, "the body", ""))?;
    parts.extensions.insert(ParsedBody(body));
    Ok(Request::from_parts(parts, Body::empty()))
}

/// Checks the declared query parameters; undeclared ones are ignored, as the service does.
fn check_query(op: &ops::Operation, raw: Option<&str>) -> Result<(), ApiError> {
    let pairs = crate::query::Query::parse(raw);
    VALIDATOR
        .query(&op.id, pairs.pairs())
        .map_err(|found| invalid(&found, "the query", "query parameter "))
}

/// A 400 `invalid_request` whose detail names each offending member, after `prefix`
/// (`whole` stands for the body or query as a whole).
fn invalid(found: &[Violation], whole: &str, prefix: &str) -> ApiError {
    let detail: Vec<String> = found
        .iter()
        .map(|v| {
            if v.path.is_empty() {
                format!("{whole}: {}", v.message)
            } else {
                format!("{prefix}{v}")
            }
        })
        .collect();
    ApiError::invalid_request(detail.join("; "))
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
