//! Validation of JSON bodies against the response schemas of an OpenAPI 3.0 document.
//!
//! OpenAPI 3.0 schemas are not quite JSON Schema, so each schema is converted first:
//!
//! - `nullable: true` becomes a type union with `"null"` (or an `anyOf` with `{"type": "null"}`
//!   when the schema has no `type`, e.g. `allOf` wrappers and `$ref`s), and `null` joins an
//!   `enum`;
//! - OpenAPI-only keywords (`discriminator`, `example`, `xml`, `externalDocs`, `x-*`) are
//!   dropped — only where a schema is expected, so properties with those names stay.
//!
//! The conversion ([`convert_schema`]) and the checker are the simulator's own, those of its
//! request checks: schemas are compiled (JSON Schema 2020-12) by `boon`, and each problem is
//! reported at the member it is about, in the simulator's request wording (`<operation>
//! <status>: at /id: 7 is not of type "string"`). `#/components/...` references resolve
//! because the converted components sit in the document each schema is compiled from. Formats
//! (`date-time`, `uri`, `uuid`, ...) are checked; unknown formats (`int64`, `double`, `byte`)
//! are ignored.
//!
//! ```
//! use oz_mock::spec_validation::SpecValidator;
//! use serde_json::json;
//!
//! let spec = json!({
//!     "openapi": "3.0.3",
//!     "paths": {"/things/{id}": {"get": {
//!         "operationId": "get_thing",
//!         "responses": {"200": {"description": "ok", "content": {"application/json": {
//!             "schema": {"$ref": "#/components/schemas/Thing"}}}}}
//!     }}},
//!     "components": {"schemas": {"Thing": {
//!         "type": "object",
//!         "required": ["id"],
//!         "properties": {"id": {"type": "string"}, "note": {"type": "string", "nullable": true}}
//!     }}}
//! });
//! let validator = SpecValidator::new(&spec);
//! assert!(validator.validate("get_thing", 200, &json!({"id": "a", "note": null})).is_ok());
//! let errors = validator.validate("get_thing", 200, &json!({"id": 7})).unwrap_err();
//! assert!(errors[0].contains("get_thing 200") && errors[0].contains("/id"));
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::schema_check::{CompiledSchemas, pointer};
use crate::schema_conversion::convert_components;
pub use crate::schema_conversion::convert_schema;

/// What an operation declares for one status.
enum Expected {
    /// The response has no body.
    NoBody,
    /// The body must match this (converted) schema.
    Schema(Value),
}

/// Validates bodies against one OpenAPI document, caching compiled validators.
pub struct SpecValidator {
    spec: Value,
    components: Value,
    cache: Mutex<HashMap<CacheKey, Arc<CompiledExpectation>>>,
}

/// Where the schema of one expectation is compiled from: the converted components and the
/// schema (at `/target`), so that `#/components/...` references resolve.
const DOCUMENT: &str = "urn:oz-mock:spec-validation";
/// The name of the one schema of a compiled expectation.
const TARGET: &str = "target";

/// Operation id, response key and media type.
type CacheKey = (String, String, Option<String>);

enum CompiledExpectation {
    NoBody,
    Schema(CompiledSchemas),
}

impl std::fmt::Debug for SpecValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpecValidator")
            .field("operations", &self.operation_ids().len())
            .finish_non_exhaustive()
    }
}

impl SpecValidator {
    /// A validator for an OpenAPI 3.0 document (as parsed JSON).
    pub fn new(spec: &Value) -> Self {
        Self {
            components: convert_components(spec.get("components").unwrap_or(&Value::Null)),
            spec: spec.clone(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Every operation id of the document, in document order.
    pub fn operation_ids(&self) -> Vec<String> {
        self.operations()
            .map(|(_, _, op)| op)
            .filter_map(|op| op.get("operationId").and_then(Value::as_str))
            .map(str::to_owned)
            .collect()
    }

    /// Every `(operation id, status)` pair the document declares (`default`, `4XX` kept as
    /// written).
    pub fn declared_responses(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (_, _, op) in self.operations() {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            if let Some(Value::Object(responses)) = op.get("responses") {
                out.extend(responses.keys().map(|s| (id.to_owned(), s.clone())));
            }
        }
        out
    }

    fn operations(&self) -> impl Iterator<Item = (&str, &str, &Value)> {
        self.spec
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|paths| paths.iter())
            .flat_map(|(path, item)| {
                item.as_object()
                    .into_iter()
                    .flat_map(|m| m.iter())
                    .filter(|(method, _)| {
                        matches!(
                            method.as_str(),
                            "get"
                                | "put"
                                | "post"
                                | "delete"
                                | "patch"
                                | "head"
                                | "options"
                                | "trace"
                        )
                    })
                    .map(move |(method, op)| (path.as_str(), method.as_str(), op))
            })
    }

    /// Validates `body` (use `Value::Null` for an empty body) as the JSON answer of
    /// `operation_id` with `status`. Errors name the operation, status and JSON path.
    pub fn validate(
        &self,
        operation_id: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), Vec<String>> {
        self.validate_media(operation_id, status, None, body)
    }

    /// Like [`SpecValidator::validate`], choosing the schema declared for `content_type`
    /// (parameters such as `; charset=utf-8` ignored); without one, `application/json` is
    /// preferred.
    pub fn validate_media(
        &self,
        operation_id: &str,
        status: u16,
        content_type: Option<&str>,
        body: &Value,
    ) -> Result<(), Vec<String>> {
        let context = format!("{operation_id} {status}");
        let media =
            content_type.map(|c| c.split(';').next().unwrap_or(c).trim().to_ascii_lowercase());
        let expectation = self
            .compiled(operation_id, status, media.as_deref())
            .map_err(|e| vec![format!("{context}: {e}")])?;
        check(&context, &expectation, body)
    }

    /// Validates `body` (use `Value::Null` for no body) as the JSON request body of
    /// `operation_id`. Errors name the operation (`<id> request`) and the JSON path.
    ///
    /// ```
    /// use oz_mock::spec_validation::SpecValidator;
    /// use serde_json::json;
    ///
    /// let spec = json!({
    ///     "openapi": "3.0.3",
    ///     "paths": {"/things": {"post": {
    ///         "operationId": "create_thing",
    ///         "requestBody": {"content": {"application/json": {"schema": {
    ///             "type": "object", "required": ["name"],
    ///             "properties": {"name": {"type": "string"}}}}}},
    ///         "responses": {"204": {"description": "created"}}
    ///     }}}
    /// });
    /// let validator = SpecValidator::new(&spec);
    /// assert!(validator.validate_request("create_thing", &json!({"name": "a"})).is_ok());
    /// let errors = validator.validate_request("create_thing", &json!({"name": 1})).unwrap_err();
    /// assert!(errors[0].contains("create_thing request") && errors[0].contains("/name"));
    /// ```
    pub fn validate_request(&self, operation_id: &str, body: &Value) -> Result<(), Vec<String>> {
        let context = format!("{operation_id} request");
        let expectation = self
            .compiled_request(operation_id)
            .map_err(|e| vec![format!("{context}: {e}")])?;
        check(&context, &expectation, body)
    }

    fn compiled_request(&self, operation_id: &str) -> Result<Arc<CompiledExpectation>, String> {
        let operation = self.operation(operation_id)?;
        let cache_key = (operation_id.to_owned(), "request".to_owned(), None);
        let expected = match operation.get("requestBody") {
            None => Expected::NoBody,
            Some(body) => {
                let content = self
                    .resolve(body)?
                    .get("content")
                    .and_then(Value::as_object)
                    .ok_or_else(|| "the request body declares no content".to_owned())?;
                let media_type = content
                    .get("application/json")
                    .or_else(|| content.values().next())
                    .ok_or_else(|| "the request body declares empty content".to_owned())?;
                let schema = media_type.get("schema").cloned().unwrap_or(json!({}));
                Expected::Schema(convert_schema(&schema))
            }
        };
        self.compile_cached(cache_key, expected)
    }

    fn operation(&self, operation_id: &str) -> Result<&Value, String> {
        self.operations()
            .map(|(_, _, op)| op)
            .find(|op| op.get("operationId").and_then(Value::as_str) == Some(operation_id))
            .ok_or_else(|| format!("no operation {operation_id:?} in the document"))
    }

    fn compiled(
        &self,
        operation_id: &str,
        status: u16,
        media: Option<&str>,
    ) -> Result<Arc<CompiledExpectation>, String> {
        let (key, expected) = self.expected(operation_id, status, media)?;
        let cache_key = (operation_id.to_owned(), key, media.map(str::to_owned));
        self.compile_cached(cache_key, expected)
    }

    fn compile_cached(
        &self,
        cache_key: CacheKey,
        expected: Expected,
    ) -> Result<Arc<CompiledExpectation>, String> {
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cache_key)
        {
            return Ok(hit.clone());
        }
        let compiled = match expected {
            Expected::NoBody => CompiledExpectation::NoBody,
            Expected::Schema(schema) => {
                let document = json!({"components": self.components, "target": schema});
                let compiled = CompiledSchemas::try_new(
                    [(DOCUMENT.to_owned(), document)],
                    [(TARGET.to_owned(), format!("{DOCUMENT}#/target"))],
                    &[],
                )
                .map_err(|e| format!("cannot compile the schema: {e}"))?;
                CompiledExpectation::Schema(compiled)
            }
        };
        let compiled = Arc::new(compiled);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cache_key, compiled.clone());
        Ok(compiled)
    }

    /// The response key used (`"200"`, `"4XX"`, `"default"`) and what it expects.
    fn expected(
        &self,
        operation_id: &str,
        status: u16,
        media: Option<&str>,
    ) -> Result<(String, Expected), String> {
        let operation = self.operation(operation_id)?;
        let responses = operation
            .get("responses")
            .and_then(Value::as_object)
            .ok_or_else(|| "the operation has no responses".to_owned())?;
        let range = format!("{}XX", status / 100);
        let (key, response) = [status.to_string(), range, "default".to_owned()]
            .into_iter()
            .find_map(|k| responses.get(&k).map(|r| (k, r)))
            .ok_or_else(|| format!("status {status} is not declared"))?;
        let response = self.resolve(response)?;
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            return Ok((key, Expected::NoBody));
        };
        let media_type = match media {
            Some(m) => content
                .get(m)
                .ok_or_else(|| format!("content type {m:?} is not declared for status {key}"))?,
            None => content
                .get("application/json")
                .or_else(|| content.get("application/problem+json"))
                .or_else(|| content.values().next())
                .ok_or_else(|| format!("status {key} declares empty content"))?,
        };
        let schema = media_type.get("schema").cloned().unwrap_or(json!({}));
        Ok((key, Expected::Schema(convert_schema(&schema))))
    }

    /// Follows a local `$ref` (e.g. `#/components/responses/NotFound`).
    fn resolve<'a>(&'a self, value: &'a Value) -> Result<&'a Value, String> {
        let mut current = value;
        for _ in 0..16 {
            let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
                return Ok(current);
            };
            let pointer = reference
                .strip_prefix('#')
                .ok_or_else(|| format!("only local references are supported, got {reference:?}"))?;
            current = self
                .spec
                .pointer(pointer)
                .ok_or_else(|| format!("unresolved reference {reference:?}"))?;
        }
        Err("reference chain too long".to_owned())
    }
}

/// Checks `body` against a compiled expectation; errors start with `context`.
fn check(
    context: &str,
    expectation: &CompiledExpectation,
    body: &Value,
) -> Result<(), Vec<String>> {
    match expectation {
        CompiledExpectation::NoBody if body.is_null() => Ok(()),
        CompiledExpectation::NoBody => Err(vec![format!(
            "{context}: the operation declares no body for this status, got one"
        )]),
        CompiledExpectation::Schema(compiled) => match compiled.check(TARGET, body) {
            Some(Ok(())) => Ok(()),
            None => Err(vec![format!("{context}: the schema was not compiled")]),
            Some(Err(found)) => Err(found
                .iter()
                .map(|f| {
                    let path = pointer(&f.path);
                    let path = if path.is_empty() { "/" } else { path.as_str() };
                    format!("{context}: at {path}: {}", f.message())
                })
                .collect()),
        },
    }
}

/// Validates `body` as the answer of `operation_id` with `status` against `spec`.
///
/// Compiles the schema on every call; keep a [`SpecValidator`] to validate many bodies.
pub fn validate(
    spec: &Value,
    operation_id: &str,
    status: u16,
    body: &Value,
) -> Result<(), Vec<String>> {
    SpecValidator::new(spec).validate(operation_id, status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_are_checked_against_the_request_schema() {
        let spec = json!({
            "paths": {"/t": {
                "post": {
                    "operationId": "make",
                    "requestBody": {"$ref": "#/components/requestBodies/Make"},
                    "responses": {"204": {"description": "done"}}
                },
                "get": {"operationId": "list", "responses": {"204": {"description": "none"}}}
            }},
            "components": {"requestBodies": {"Make": {"content": {"application/json": {
                "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}}}}}
        });
        let validator = SpecValidator::new(&spec);
        assert!(validator.validate_request("make", &json!({"n": 1})).is_ok());
        let errors = validator
            .validate_request("make", &json!({"n": "x"}))
            .unwrap_err();
        assert!(errors[0].starts_with("make request: at /n"), "{errors:?}");
        assert!(validator.validate_request("list", &Value::Null).is_ok());
        assert!(validator.validate_request("list", &json!({})).is_err());
        assert!(validator.validate_request("nope", &Value::Null).is_err());
    }

    #[test]
    fn problems_are_reported_at_their_member_in_the_simulators_words() {
        let spec = json!({
            "paths": {"/t": {"get": {
                "operationId": "get_t",
                "responses": {"200": {"description": "ok", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/T"}}}}}
            }}},
            "components": {"schemas": {
                "T": {
                    "type": "object",
                    "required": ["id", "at"],
                    "additionalProperties": false,
                    "properties": {
                        "id": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"},
                        "size": {"type": "string", "format": "int64"},
                        "state": {"allOf": [{"$ref": "#/components/schemas/S"}],
                                  "nullable": true}
                    }
                },
                "S": {"type": "string", "enum": ["A", "B"]}
            }}
        });
        let validator = SpecValidator::new(&spec);
        let good = json!({"id": "a", "at": "2026-01-01T00:00:00Z", "size": "7", "state": null});
        assert_eq!(validator.validate("get_t", 200, &good), Ok(()));
        let mut errors = validator
            .validate(
                "get_t",
                200,
                &json!({"id": 7, "at": "yesterday", "state": "C", "extra": 1}),
            )
            .unwrap_err();
        errors.sort();
        assert_eq!(
            errors,
            [
                r#"get_t 200: at /at: "yesterday" is not a "date-time""#,
                r#"get_t 200: at /extra: is not allowed"#,
                r#"get_t 200: at /id: 7 is not of type "string""#,
                r#"get_t 200: at /state: "C" is not one of "A", "B""#,
            ]
        );
        let errors = validator.validate("get_t", 200, &json!({"at": "2026-01-01T00:00:00Z"}));
        assert_eq!(
            errors,
            Err(vec!["get_t 200: at /id: is required".to_owned()])
        );
    }
}
