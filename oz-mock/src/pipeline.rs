//! What every API request goes through: counting, faults, auth, reading the request as
//! openapi.json declares it (query and JSON body checked against the operation's schemas, the
//! body parsed once), the handler, and rendering of error bodies. Everything here comes from
//! the operation's entry in the document; no handler has code of its own for it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;

use crate::body::{self, ParsedBody};
use crate::error::ApiError;
use crate::faults::{self, EventStreamFaults, Fault};
use crate::request_check::{RequestValidator, Violation};
use crate::request_log::ReceivedRequest;
use crate::routes;
use crate::{Shared, auth, lock, ops, server};

static VALIDATOR: LazyLock<RequestValidator> =
    LazyLock::new(|| RequestValidator::new(ops::document()));

pub(crate) async fn api(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let operation = ops::table().resolve(request.method(), request.uri().path());
    let operation_id = operation.map_or("unknown", |op| op.id.as_str());
    // The body is read here, up to what the operation reads, so that the request log holds
    // it; a body that cannot be read is refused where the operation reads its body, after auth.
    let limit =
        routes::handler_of(operation_id).map_or(routes::DEFAULT_BODY_LIMIT, |h| h.body_limit);
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| ApiError::invalid_request(format!("could not read the body: {e}")));
    let received = ReceivedRequest::new(
        &parts,
        operation_id,
        body.as_deref().unwrap_or_default(),
        &shared.api_key,
    );
    let sequence = lock(&shared.request_log).record(received);
    let request = Request::from_parts(parts, Body::empty());
    let response = answer(&shared, operation, operation_id, request, body, next).await;
    lock(&shared.request_log).answered(sequence, response.status().as_u16());
    response
}

/// Faults, auth, the request as its operation declares it, the handler and error bodies.
async fn answer(
    shared: &Shared,
    operation: Option<&'static ops::Operation>,
    operation_id: &str,
    request: Request,
    body: Result<Bytes, ApiError>,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let plan = faults::admit(shared, operation_id, &path, false);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    let event_stream = operation_id == routes::EVENT_STREAM;
    let mut stream_faults = EventStreamFaults {
        delay: plan.event_delay,
        ..EventStreamFaults::default()
    };
    let mut cut_body = false;
    match plan.action {
        None => {}
        // An event stream never ends by itself: its cut comes after whole events.
        Some(Fault::TruncatedBody) if event_stream => stream_faults.cut_after = Some(0),
        Some(Fault::EventStreamCut { after_events }) if event_stream => {
            stream_faults.cut_after = Some(after_events);
        }
        Some(Fault::EventStreamSilent) if event_stream => stream_faults.silent = true,
        Some(Fault::TruncatedBody | Fault::EventStreamCut { .. }) => cut_body = true,
        Some(Fault::ConnectionReset) => return server::close_connection(&request).await,
        Some(fault) => {
            if let Some(response) = faults::respond(&fault, &path) {
                return response;
            }
        }
    }
    // With the stream switched off the path is answered as by a host without it, whatever
    // the key.
    if event_stream && !shared.event_stream.load(Ordering::Relaxed) {
        return ApiError::not_found("no such endpoint").render(&path);
    }
    if let Some(op) = operation
        && let Err(error) = auth::check(&shared.api_key, op.auth, request.headers())
    {
        return error.render(&path);
    }
    let mut request = match operation {
        Some(op) => match prepare(op, request, body) {
            Ok(request) => request,
            Err(error) => return error.render(&path),
        },
        // A path the router could still match by an empty parameter is no operation's.
        None if ops::has_empty_segment(&path) => {
            return ApiError::not_found("no such endpoint").render(&path);
        }
        // No operation: the fallback answers 404 or 405 and reads no body.
        None => request,
    };
    if event_stream {
        request.extensions_mut().insert(stream_faults);
    }
    let response = render_errors(next.run(request).await, &path);
    if cut_body {
        faults::truncate(response).await
    } else {
        response
    }
}

/// Reads the request as its operation declares it: checks the query, and for an operation with
/// a JSON request body parses the body (read up to the handler's limit), checks it against the
/// request schema and hands it to the handler as a [`ParsedBody`]. Handlers of operations
/// without a declared body that read one anyway get the bytes.
fn prepare(
    op: &ops::Operation,
    request: Request,
    body: Result<Bytes, ApiError>,
) -> Result<Request, ApiError> {
    if let Some((name, value)) = op.dot_segment_parameter(request.uri().path()) {
        return Err(ApiError::invalid_request(format!(
            "path parameter {name}: {value:?} is a dot segment, not an id"
        )));
    }
    check_query(op, request.uri().query())?;
    let (mut parts, _) = request.into_parts();
    let Some(declared) = op.body else {
        return Ok(Request::from_parts(
            parts,
            Body::from(body.unwrap_or_default()),
        ));
    };
    let bytes = body?;
    if bytes.is_empty() && !declared.required {
        return Ok(Request::from_parts(parts, Body::empty()));
    }
    let body = body::parse(&bytes)?;
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

/// Replaces the placeholder of an [`ApiError`] by its problem body.
fn render_errors(response: Response, instance: &str) -> Response {
    match response.extensions().get::<ApiError>() {
        Some(error) => error.render(instance),
        None => response,
    }
}

/// The API listener's router: the routes behind the request pipeline.
pub(crate) fn api_router(shared: Arc<Shared>) -> Router {
    routes::router()
        .layer(axum::middleware::from_fn_with_state(shared.clone(), api))
        .with_state(shared)
}
