//! The operations of `openapi.json` and the validation of fixtures against their schemas.
//!
//! Validation itself is `oz_mock::spec_validation`; this module decides what to validate for a
//! fixture and names the fixture in every message.

use std::collections::BTreeSet;
use std::path::Path;

use oz_mock::spec_validation::SpecValidator;
use serde_json::Value;

use crate::fixture::LoadedFixture;

/// One operation of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// `operationId`.
    pub id: String,
    /// HTTP method, upper case.
    pub method: String,
    /// Path template below the base URL, e.g. `/agent/runs/{runId}`.
    pub path: String,
    /// Who may call it.
    pub auth: AuthRule,
    /// Every declared response status (numeric keys only).
    pub statuses: BTreeSet<u16>,
    /// Marked `x-oz-unpublished`: described by our spec, left out of the vendor's published
    /// one, and read by hand in oz-api-ext; the generated client has no call to replay.
    pub unpublished: bool,
}

/// Who may call an operation without a key, from its `security`. The SDK sends its key (when
/// it has one) to every operation whatever this says; the replay checks `Authorization` by the
/// client's [`Credentials`](crate::replay::Credentials), not by this rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRule {
    /// Bearer auth is required.
    Required,
    /// Bearer auth or none (`security` lists an empty requirement beside bearer).
    Optional,
    /// `security: []`: the spec declares the operation public (callable without a key).
    Public,
}

impl Operation {
    /// The declared 2xx/3xx statuses.
    pub fn success_statuses(&self) -> impl Iterator<Item = u16> + '_ {
        self.statuses.iter().copied().filter(|s| *s < 400)
    }

    /// The declared 4xx/5xx statuses.
    pub fn error_statuses(&self) -> impl Iterator<Item = u16> + '_ {
        self.statuses.iter().copied().filter(|s| *s >= 400)
    }

    /// The values of the path parameters in `path`, matched against the template; `None` when
    /// the path does not fit it.
    pub fn path_params(&self, path: &str) -> Option<Vec<(String, String)>> {
        let template: Vec<&str> = self.path.split('/').collect();
        let actual: Vec<&str> = path.split('/').collect();
        if template.len() != actual.len() {
            return None;
        }
        let mut out = Vec::new();
        for (t, a) in template.iter().zip(&actual) {
            if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                out.push((name.to_owned(), percent_decode(a)?));
            } else if t != a {
                return None;
            }
        }
        Some(out)
    }
}

/// Decodes `%XX` escapes of a path segment; `None` when they do not form UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = segment.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `openapi.json` with its validator.
pub struct Spec {
    /// The document.
    pub document: Value,
    /// Validator of bodies against it.
    pub validator: SpecValidator,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec").finish_non_exhaustive()
    }
}

impl Spec {
    /// The spec of a parsed document.
    pub fn new(document: Value) -> Self {
        Self {
            validator: SpecValidator::new(&document),
            document,
        }
    }

    /// The workspace's `openapi.json`.
    pub fn load() -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self::new(serde_json::from_str(&text).expect("openapi.json is JSON"))
    }

    /// Every operation, in document order.
    pub fn operations(&self) -> Vec<Operation> {
        let mut out = Vec::new();
        let Some(paths) = self.document.get("paths").and_then(Value::as_object) else {
            return out;
        };
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete", "patch"] {
                let Some(op) = item.get(method) else { continue };
                let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                    continue;
                };
                let security = op.get("security").or_else(|| self.document.get("security"));
                let auth = match security.and_then(Value::as_array) {
                    None => AuthRule::Required,
                    Some(reqs) if reqs.is_empty() => AuthRule::Public,
                    Some(reqs)
                        if reqs
                            .iter()
                            .any(|r| r.as_object().is_some_and(|o| o.is_empty())) =>
                    {
                        AuthRule::Optional
                    }
                    Some(_) => AuthRule::Required,
                };
                let statuses = op
                    .get("responses")
                    .and_then(Value::as_object)
                    .map(|r| r.keys().filter_map(|k| k.parse().ok()).collect())
                    .unwrap_or_default();
                out.push(Operation {
                    id: id.to_owned(),
                    method: method.to_uppercase(),
                    path: path.clone(),
                    auth,
                    statuses,
                    unpublished: op.get("x-oz-unpublished").and_then(Value::as_bool) == Some(true),
                });
            }
        }
        out
    }

    /// The operation with this id.
    pub fn operation(&self, id: &str) -> Option<Operation> {
        self.operations().into_iter().find(|op| op.id == id)
    }

    /// Validates a fixture's request and response against the spec. Every message names the
    /// fixture file, the operation, the status and the JSON path.
    ///
    /// For a fixture with `spec_exempt`, the response body must fail validation, at the listed
    /// paths and nowhere else.
    pub fn check_fixture(&self, loaded: &LoadedFixture) -> Vec<String> {
        let label = loaded.label();
        let fixture = &loaded.fixture;
        let op_id = loaded.operation_id.as_str();
        let mut problems = Vec::new();
        let Some(operation) = self.operation(op_id) else {
            return vec![format!("{label}: no operation {op_id:?} in openapi.json")];
        };
        if !fixture
            .request
            .method
            .eq_ignore_ascii_case(&operation.method)
        {
            problems.push(format!(
                "{label}: {op_id} is {} {}, the fixture says {}",
                operation.method, operation.path, fixture.request.method
            ));
        }
        if operation.path_params(&fixture.request.path).is_none() {
            problems.push(format!(
                "{label}: path {:?} does not fit {op_id}'s {}",
                fixture.request.path, operation.path
            ));
        }
        let request_body = fixture.request.body.clone().unwrap_or(Value::Null);
        if let Err(errors) = self.validator.validate_request(op_id, &request_body) {
            problems.extend(errors.into_iter().map(|e| format!("{label}: {e}")));
        }
        let response = &fixture.response;
        let body = response.body.clone().unwrap_or(Value::Null);
        let result =
            self.validator
                .validate_media(op_id, response.status, response.content_type(), &body);
        match (&fixture.spec_exempt, result) {
            (None, Ok(())) => {}
            (None, Err(errors)) => {
                problems.extend(errors.into_iter().map(|e| format!("{label}: {e}")));
            }
            (Some(exempt), Ok(())) => problems.push(format!(
                "{label}: marked spec_exempt ({}) but {op_id} {} validates: the paths {:?} \
                 no longer break the spec, drop the mark",
                exempt.reason, response.status, exempt.paths
            )),
            (Some(exempt), Err(errors)) => {
                let mut failed_paths = BTreeSet::new();
                for error in errors {
                    let path = error_path(&error).unwrap_or("?").to_owned();
                    if !exempt.paths.contains(&path) {
                        problems.push(format!("{label}: {error} (not an exempt path)"));
                    }
                    failed_paths.insert(path);
                }
                for path in &exempt.paths {
                    if !failed_paths.contains(path) {
                        problems.push(format!(
                            "{label}: {op_id} {}: at {path}: expected to break the spec \
                             (spec_exempt) but validates",
                            response.status
                        ));
                    }
                }
            }
        }
        // 304 Not Modified is the one 3xx that is no redirect.
        if (300..400).contains(&response.status)
            && response.status != 304
            && !response.headers.contains_key("location")
        {
            problems.push(format!(
                "{label}: {op_id} {}: a redirect without a location header",
                response.status
            ));
        }
        if !operation.statuses.contains(&response.status) {
            problems.push(format!(
                "{label}: {op_id} does not declare status {}",
                response.status
            ));
        }
        problems
    }
}

/// The JSON path of a validation message (`"<op> <status>: at /runs/0/state: ..."`).
pub fn error_path(message: &str) -> Option<&str> {
    let rest = &message[message.find(": at ")? + 5..];
    Some(rest.split(": ").next().unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_paths_are_read_from_validation_messages() {
        assert_eq!(
            error_path("list_runs 200: at /runs/0/state: \"X\" is not one of"),
            Some("/runs/0/state")
        );
        assert_eq!(error_path("get_run 200: at /: missing"), Some("/"));
        assert_eq!(error_path("no path here"), None);
    }

    #[test]
    fn path_parameters_come_from_the_template() {
        let op = Operation {
            id: "get_run".into(),
            method: "GET".into(),
            path: "/agent/runs/{runId}".into(),
            auth: AuthRule::Required,
            statuses: BTreeSet::new(),
            unpublished: false,
        };
        assert_eq!(
            op.path_params("/agent/runs/a%20b"),
            Some(vec![("runId".into(), "a b".into())])
        );
        assert_eq!(op.path_params("/agent/runs"), None);
        assert_eq!(op.path_params("/agent/other/x"), None);
    }
}
