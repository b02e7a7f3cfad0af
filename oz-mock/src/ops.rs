//! The operations of openapi.json — method, path template, operation id, authentication and
//! request body — read from the document itself (embedded at build time), not restated here.
//! One table drives routing, request counting, per-operation faults, auth and request
//! validation.

use std::sync::LazyLock;

use axum::http::Method;
use serde_json::Value;

/// Path prefix of every API operation.
pub(crate) const API_PREFIX: &str = "/api/v1";

/// The workspace's openapi.json, the single description of the API.
pub(crate) const SPEC_TEXT: &str = include_str!("../openapi.json");

static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(SPEC_TEXT).expect("the embedded openapi.json is valid JSON")
});

static TABLE: LazyLock<Operations> = LazyLock::new(|| {
    Operations::from_spec(document()).expect("the embedded openapi.json describes its operations")
});

/// The embedded openapi.json, parsed.
pub(crate) fn document() -> &'static Value {
    &DOCUMENT
}

/// The operations of the embedded openapi.json.
pub(crate) fn table() -> &'static Operations {
    &TABLE
}

/// What an operation requires of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// A non-empty `security` list without an empty requirement, e.g. `[{bearerAuth: []}]`.
    Required,
    /// `security: [{bearerAuth: []}, {}]`: anonymous callers are served; a wrong key is refused.
    Optional,
    /// `security: []` (or no `security` here nor at the document's root).
    Public,
}

/// An operation's JSON request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestBody {
    /// `requestBody.required`.
    pub(crate) required: bool,
}

#[derive(Debug)]
pub(crate) struct Operation {
    pub(crate) method: Method,
    /// Path template below [`API_PREFIX`], as written in the document (`/agent/runs/{runId}`).
    pub(crate) template: String,
    pub(crate) id: String,
    pub(crate) auth: Auth,
    /// The JSON request body, when the operation declares one.
    pub(crate) body: Option<RequestBody>,
}

/// Every operation of one OpenAPI document, in document order.
#[derive(Debug)]
pub(crate) struct Operations {
    list: Vec<Operation>,
}

const METHODS: [(&str, Method); 8] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("patch", Method::PATCH),
    ("head", Method::HEAD),
    ("options", Method::OPTIONS),
    ("trace", Method::TRACE),
];

impl Operations {
    /// Reads the operations of an OpenAPI 3.0 document. Fails on an operation without an
    /// `operationId`, a repeated id or a request body reference that does not resolve.
    pub(crate) fn from_spec(spec: &Value) -> Result<Self, String> {
        let paths = spec
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("the document has no paths")?;
        let default_security = spec.get("security");
        let mut list: Vec<Operation> = Vec::new();
        for (template, item) in paths {
            for (name, method) in &METHODS {
                let Some(op) = item.get(*name) else {
                    continue;
                };
                let id = op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{} {template} has no operationId", method.as_str()))?;
                if list.iter().any(|o| o.id == id) {
                    return Err(format!("operationId {id} appears twice"));
                }
                list.push(Operation {
                    method: method.clone(),
                    template: template.clone(),
                    id: id.to_owned(),
                    auth: auth_of(op.get("security").or(default_security)),
                    body: json_body(spec, op.get("requestBody"))
                        .map_err(|e| format!("{id}: {e}"))?,
                });
            }
        }
        Ok(Self { list })
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Operation> {
        self.list.iter()
    }

    /// The operation a request is for, if any. HEAD requests match GET operations. When
    /// several templates match, the one with a literal segment where the others have a
    /// parameter wins (`/a/b` before `/a/{id}`).
    pub(crate) fn resolve(&self, method: &Method, path: &str) -> Option<&Operation> {
        let rest = path.strip_prefix(API_PREFIX)?;
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.list
            .iter()
            .filter(|op| op.method == *method && template_matches(&op.template, rest))
            .max_by_key(|op| literal_segments(&op.template))
    }
}

impl Operation {
    /// The first path parameter of `path` (a request for this operation) that is a dot
    /// segment, with its value as sent. A server or proxy that normalises the path would read
    /// `.` as "this directory" and `..` as "the parent", so such a value is never an id.
    pub(crate) fn dot_segment_parameter<'p>(&self, path: &'p str) -> Option<(&str, &'p str)> {
        let rest = path.strip_prefix(API_PREFIX)?;
        self.template
            .split('/')
            .zip(rest.split('/'))
            .find_map(|(wanted, given)| {
                let name = wanted.strip_prefix('{')?.strip_suffix('}')?;
                is_dot_segment(given).then_some((name, given))
            })
    }
}

/// Whether a path segment is `.` or `..`, `%2e` (either case) counting as a dot, as URL
/// normalisation reads it.
pub(crate) fn is_dot_segment(segment: &str) -> bool {
    let dots = segment.to_ascii_lowercase().replace("%2e", ".");
    dots == "." || dots == ".."
}

/// Whether a path below [`API_PREFIX`] has an empty segment (`//`, or a trailing `/`): no
/// template has one, and a server that drops it would answer another resource.
pub(crate) fn has_empty_segment(path: &str) -> bool {
    path.strip_prefix(API_PREFIX)
        .is_some_and(|rest| rest.split('/').skip(1).any(str::is_empty))
}

/// Auth from an operation's `security` requirements.
fn auth_of(security: Option<&Value>) -> Auth {
    match security.and_then(Value::as_array) {
        None => Auth::Public,
        Some(requirements) if requirements.is_empty() => Auth::Public,
        Some(requirements)
            if requirements
                .iter()
                .any(|r| r.as_object().is_some_and(|o| o.is_empty())) =>
        {
            Auth::Optional
        }
        Some(_) => Auth::Required,
    }
}

/// The request body, if it has JSON content (`application/json` or a `+json` type).
fn json_body(spec: &Value, body: Option<&Value>) -> Result<Option<RequestBody>, String> {
    let Some(mut body) = body else {
        return Ok(None);
    };
    for _ in 0..16 {
        let Some(reference) = body.get("$ref").and_then(Value::as_str) else {
            break;
        };
        body = reference
            .strip_prefix('#')
            .and_then(|pointer| spec.pointer(pointer))
            .ok_or_else(|| format!("unresolved request body {reference:?}"))?;
    }
    let json = body
        .get("content")
        .and_then(Value::as_object)
        .is_some_and(|content| {
            content.keys().any(|media| {
                let media = media.split(';').next().unwrap_or(media).trim();
                media == "application/json" || media.ends_with("+json")
            })
        });
    Ok(json.then(|| RequestBody {
        required: body.get("required").and_then(Value::as_bool) == Some(true),
    }))
}

/// For each segment, whether it is literal; compares so that literal beats parameter.
fn literal_segments(template: &str) -> Vec<bool> {
    template.split('/').map(|s| !s.starts_with('{')).collect()
}

fn template_matches(template: &str, path: &str) -> bool {
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolve(method: Method, path: &str) -> Option<(&'static str, Auth)> {
        table()
            .resolve(&method, path)
            .map(|o| (o.id.as_str(), o.auth))
    }

    #[test]
    fn resolves_templates_and_methods() {
        let id = |m, p| resolve(m, p).map(|(id, _)| id);
        assert_eq!(id(Method::GET, "/api/v1/agent/runs/abc"), Some("get_run"));
        assert_eq!(id(Method::HEAD, "/api/v1/agent/runs/abc"), Some("get_run"));
        assert_eq!(id(Method::POST, "/api/v1/agent/runs"), Some("create_run"));
        assert!(resolve(Method::GET, "/api/v1/agent/runs//cancel").is_none());
        assert!(resolve(Method::GET, "/agent/runs").is_none());
        assert_eq!(
            resolve(Method::PATCH, "/api/v1/factory/f1/tasks/t1"),
            Some(("update_factory_task", Auth::Required))
        );
        assert_eq!(
            resolve(
                Method::GET,
                "/api/v1/factory-files/schemas/v1alpha1/agent.schema.json"
            ),
            Some(("get_factory_file_schema_document", Auth::Public))
        );
        assert_eq!(
            id(Method::GET, "/api/v1/factory/f1/task-by-run"),
            Some("get_factory_task_by_run")
        );
    }

    #[test]
    fn dot_segments_and_empty_segments_are_found() {
        for dots in [".", "..", "%2e", "%2E%2e", ".%2E", "%2e."] {
            assert!(is_dot_segment(dots), "{dots}");
        }
        for id in ["", "...", "a.", ".a", "%2e%2f", "%252e", "run-1"] {
            assert!(!is_dot_segment(id), "{id}");
        }
        let op = |id: &str| table().iter().find(|o| o.id == id).expect("operation");
        let task = op("get_factory_task");
        assert_eq!(
            task.dot_segment_parameter("/api/v1/factory/f1/tasks/%2e%2e"),
            Some(("taskUid", "%2e%2e"))
        );
        assert_eq!(
            task.dot_segment_parameter("/api/v1/factory/./tasks/t1"),
            Some(("factoryUid", "."))
        );
        assert_eq!(
            task.dot_segment_parameter("/api/v1/factory/f1/tasks/t1"),
            None
        );
        assert!(has_empty_segment("/api/v1/agent/runs/"));
        assert!(has_empty_segment("/api/v1/agent/runs//cancel"));
        assert!(!has_empty_segment("/api/v1/agent/runs"));
        assert!(!has_empty_segment("/elsewhere//"));
    }

    #[test]
    fn auth_comes_from_each_operations_security() {
        assert_eq!(
            resolve(Method::GET, "/api/v1/agent/artifacts/a1"),
            Some(("get_artifact", Auth::Optional))
        );
        assert_eq!(
            resolve(Method::GET, "/api/v1/agent/sessions/s1/redirect"),
            Some(("get_session_redirect", Auth::Public))
        );
        assert_eq!(
            resolve(Method::GET, "/api/v1/agent/models"),
            Some(("list_models", Auth::Required))
        );
        assert_eq!(auth_of(None), Auth::Public);
        assert_eq!(auth_of(Some(&json!([]))), Auth::Public);
        assert_eq!(auth_of(Some(&json!([{"bearerAuth": []}]))), Auth::Required);
        assert_eq!(
            auth_of(Some(&json!([{"bearerAuth": []}, {}]))),
            Auth::Optional
        );
    }

    #[test]
    fn request_bodies_come_from_the_document() {
        let body = |id: &str| {
            table()
                .iter()
                .find(|o| o.id == id)
                .unwrap_or_else(|| panic!("no {id}"))
                .body
        };
        assert_eq!(body("create_run"), Some(RequestBody { required: true }));
        assert_eq!(body("get_run"), None);
        assert_eq!(body("cancel_run"), None);
    }

    /// An operation added to a document shows up with its method, path and auth, and no other
    /// edit.
    #[test]
    fn an_operation_added_to_the_document_is_in_the_table() {
        let mut spec = document().clone();
        let paths = spec["paths"].as_object_mut().expect("paths");
        paths.insert(
            "/agent/dummies/{dummyId}".into(),
            json!({
                "patch": {
                    "operationId": "patch_dummy",
                    "security": [{"bearerAuth": []}, {}],
                    "requestBody": {"content": {"application/json": {"schema": {}}}},
                    "responses": {"204": {"description": "done"}}
                },
                "get": {
                    "operationId": "get_dummy",
                    "security": [],
                    "responses": {"204": {"description": "done"}}
                },
                "delete": {
                    "operationId": "delete_dummy",
                    "security": [{"bearerAuth": []}],
                    "responses": {"204": {"description": "done"}}
                }
            }),
        );
        let ops = Operations::from_spec(&spec).expect("table");
        assert_eq!(ops.iter().count(), table().iter().count() + 3);
        let found = |method: Method| {
            let op = ops
                .resolve(&method, "/api/v1/agent/dummies/d1")
                .expect("resolves");
            (op.id.as_str(), op.template.as_str(), op.auth, op.body)
        };
        let template = "/agent/dummies/{dummyId}";
        assert_eq!(
            found(Method::PATCH),
            (
                "patch_dummy",
                template,
                Auth::Optional,
                Some(RequestBody { required: false })
            )
        );
        assert_eq!(
            found(Method::GET),
            ("get_dummy", template, Auth::Public, None)
        );
        assert_eq!(
            found(Method::DELETE),
            ("delete_dummy", template, Auth::Required, None)
        );
        assert!(
            ops.resolve(&Method::POST, "/api/v1/agent/dummies/d1")
                .is_none()
        );
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        let spec = json!({"paths": {
            "/a/{id}": {"get": {"operationId": "by_id"}},
            "/a/latest": {"get": {"operationId": "latest"}},
        }});
        let ops = Operations::from_spec(&spec).expect("table");
        let id = |path: &str| ops.resolve(&Method::GET, path).map(|o| o.id.clone());
        assert_eq!(id("/api/v1/a/latest").as_deref(), Some("latest"));
        assert_eq!(id("/api/v1/a/x").as_deref(), Some("by_id"));
    }

    #[test]
    fn broken_documents_are_refused() {
        let no_id = json!({"paths": {"/a": {"get": {}}}});
        assert!(
            Operations::from_spec(&no_id)
                .unwrap_err()
                .contains("GET /a has no operationId")
        );
        let twice = json!({"paths": {
            "/a": {"get": {"operationId": "x"}},
            "/b": {"get": {"operationId": "x"}}
        }});
        assert!(
            Operations::from_spec(&twice)
                .unwrap_err()
                .contains("x appears twice")
        );
    }

    /// The simulator's own [`RunState`](crate::RunState) has exactly the document's names.
    #[test]
    fn run_states_are_the_documents() {
        let wire: Vec<&str> = crate::RunState::ALL.iter().map(|s| s.as_str()).collect();
        let spec: Vec<&str> = document()["components"]["schemas"]["RunState"]["enum"]
            .as_array()
            .expect("RunState enum")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(wire, spec);
    }
}
