//! The checks every request gets before its handler runs, from openapi.json alone: the JSON
//! body against the operation's request schema, the query against the operation's declared
//! query parameters (undeclared ones are ignored, as the service does). Each problem names the
//! member it is about (`config.idle_timeout_minutes`, `attachments[0].data`, `state[1]`).
//!
//! Schemas are converted to JSON Schema first ([`crate::schema_conversion`]) and compiled once
//! by the simulator's one checker, [`crate::schema_check`] (the `boon` library), which Factory
//! files use too; this module words its problems (`member: message`). `agrees_with_jsonschema`
//! (with the `validation` feature) compares its verdicts with jsonschema's on bodies derived
//! from every request schema.
//!
//! # A library instead?
//!
//! Measured on 2026-12-07 (2 shared cores, load average 10–12, so wall times are noisy and CPU
//! times are the figure to read): a user's test crate outside the workspace that depends on
//! `oz-mock` (`default-features = false`) and starts it in one `#[tokio::test]`,
//! `cargo build --tests` from an empty target directory, twice each, with and without the
//! library as one more dependency:
//!
//! | build | CPU (user + sys) | wall | units |
//! |---|---|---|---|
//! | today (own checkers; YAML by saphyr) | 66.8 s, 66.6 s | 197 s, 201 s | 119 |
//! | + `boon` 0.6.1 | 84.0 s, 81.6 s (+15 to +17 s) | 251 s, 217 s | 144 (+25: regex and its automata, fluent-uri, ahash, …) |
//! | + `jsonschema` 0.61 without default features | 122.6 s, 116.2 s (+50 to +56 s) | 352 s, 265 s | 179 (+60) |
//!
//! Agreement on the bodies `agrees_with_jsonschema` derives from every request schema of
//! openapi.json (4,207 bodies, 3,310 of them refused): both libraries gave the same verdict as
//! the simulator's hand-written validator of the time on every one (boon compiled from the same
//! converted schemas, with format assertions on).
//!
//! The choice: `jsonschema` does not fit a user's test build (it would nearly double the
//! simulator's share). `boon` fits: a quarter more CPU for the simulator alone, about a tenth
//! of a test build that also builds the SDK, for full agreement. It is the simulator's one
//! checker, of request bodies and queries and of Factory files (whose documents refer to each
//! other by `$id`, which boon resolves as added resources), and replaced the two hand-written
//! ones; this module's wording (member path and message) and the Factory codes
//! (`FF_INVALID_TYPE`, `FF_MISSING_FIELD`, …) are mapped from its error kinds. Checking is
//! faster than with the hand-written validator: 60,000 checks (a valid and an invalid
//! `run_agent` body, a `list_runs` query) took 0.82–0.92 s instead of 1.6–2.6 s in a debug
//! test build on the same loaded machine; compiling the schemas of openapi.json once takes
//! about 0.15 s there.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::schema_check::{CompiledSchemas, Found, Step};
use crate::schema_conversion::{convert_components, convert_schema};

/// One problem with a request: the member it is about and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// Path of the member, e.g. `config.idle_timeout_minutes`, `attachments[0].data` or
    /// `metadata["team.name"]`; empty for the body (or query) as a whole.
    pub(crate) path: String,
    /// What is wrong, e.g. `0 is less than the minimum of 1`, or `is required` for a missing
    /// member.
    pub(crate) message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.path.as_str(), self.message.as_str()) {
            ("", message) => f.write_str(message),
            (path, "is required") => write!(f, "{path} is required"),
            (path, message) => write!(f, "{path}: {message}"),
        }
    }
}

impl From<Found> for Violation {
    fn from(found: Found) -> Self {
        Self {
            path: member_path(&found.path),
            message: found.message(),
        }
    }
}

/// Where the converted schemas of the document live for boon (never fetched).
const DOCUMENT: &str = "http://oz-mock.invalid/openapi.json";

/// The request checks of one OpenAPI document, compiled once.
pub(crate) struct RequestValidator {
    /// Request body schemas (named `body:<operation id>`) and query schemas
    /// (`query:<operation id>`).
    schemas: CompiledSchemas,
    /// Declared query parameters of each operation that has any.
    queries: HashMap<String, Vec<QueryParameter>>,
}

/// The converted schemas of a document: `components`, each operation's request body schema
/// and its query parameters.
struct Converted {
    components: Value,
    bodies: HashMap<String, Value>,
    queries: HashMap<String, Vec<QueryParameter>>,
}

impl Converted {
    fn of(spec: &Value) -> Self {
        let components = convert_components(spec.get("components").unwrap_or(&Value::Null));
        let mut bodies = HashMap::new();
        let mut queries = HashMap::new();
        let paths = spec.get("paths").and_then(Value::as_object);
        for (path_item, op) in paths.into_iter().flatten().flat_map(|(_, item)| {
            [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .into_iter()
            .filter_map(move |m| item.get(m).map(|op| (item, op)))
        }) {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            if let Some(schema) = request_body_schema(spec, op.get("requestBody")) {
                bodies.insert(id.to_owned(), convert_schema(schema));
            }
            let params = query_parameters(spec, path_item, op);
            if !params.is_empty() {
                queries.insert(id.to_owned(), params);
            }
        }
        Self {
            components,
            bodies,
            queries,
        }
    }
}

/// The object schema of a query: each declared parameter a member, required ones required.
fn query_schema(params: &[QueryParameter]) -> Value {
    let properties: Map<String, Value> = params
        .iter()
        .map(|p| (p.name.clone(), p.schema.clone()))
        .collect();
    let required: Vec<&str> = params
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name.as_str())
        .collect();
    json!({"type": "object", "properties": properties, "required": required})
}

impl RequestValidator {
    /// Prepares the checks of every operation of `spec` (an OpenAPI 3.0 document): its
    /// schemas converted to JSON Schema and compiled.
    pub(crate) fn new(spec: &Value) -> Self {
        let Converted {
            components,
            bodies,
            queries,
        } = Converted::of(spec);
        let escape = |id: &str| id.replace('~', "~0").replace('/', "~1");
        let mut targets = Vec::new();
        for id in bodies.keys() {
            targets.push((
                format!("body:{id}"),
                format!("{DOCUMENT}#/bodies/{}", escape(id)),
            ));
        }
        for id in queries.keys() {
            targets.push((
                format!("query:{id}"),
                format!("{DOCUMENT}#/queries/{}", escape(id)),
            ));
        }
        let query_schemas: Map<String, Value> = queries
            .iter()
            .map(|(id, params)| (id.clone(), query_schema(params)))
            .collect();
        let document = json!({
            "components": components,
            "bodies": bodies,
            "queries": query_schemas,
        });
        let schemas = CompiledSchemas::new([(DOCUMENT.to_owned(), document)], targets, &[]);
        Self { schemas, queries }
    }

    /// Checks the JSON body of a request to `operation_id` against its request schema
    /// (operations without one accept any body).
    pub(crate) fn body(&self, operation_id: &str, body: &Value) -> Result<(), Vec<Violation>> {
        self.check(&format!("body:{operation_id}"), body)
    }

    /// Checks the query of a request to `operation_id`, given as decoded pairs in order: each
    /// declared query parameter against its schema, required ones present. Values are read as
    /// the parameter's type says (integers, numbers, booleans; arrays from repeated or
    /// comma-separated values; `deepObject` parameters from `name[key]=value` pairs); when a
    /// parameter appears more than once, the last value counts.
    pub(crate) fn query(
        &self,
        operation_id: &str,
        query: &[(String, String)],
    ) -> Result<(), Vec<Violation>> {
        match self.queries.get(operation_id) {
            None => Ok(()),
            Some(params) => self.check(
                &format!("query:{operation_id}"),
                &query_object(params, query),
            ),
        }
    }

    fn check(&self, name: &str, instance: &Value) -> Result<(), Vec<Violation>> {
        match self.schemas.check(name, instance) {
            None | Some(Ok(())) => Ok(()),
            Some(Err(found)) => Err(found.into_iter().map(Violation::from).collect()),
        }
    }
}

/// The schema of an operation's JSON request body, `$ref`s followed.
fn request_body_schema<'a>(spec: &'a Value, body: Option<&'a Value>) -> Option<&'a Value> {
    let body = resolve(spec, body?)?;
    let content = body.get("content")?.as_object()?;
    let (_, media) = content.iter().find(|(media, _)| {
        let media = media.split(';').next().unwrap_or(media).trim();
        media == "application/json" || media.ends_with("+json")
    })?;
    Some(media.get("schema").unwrap_or(&Value::Bool(true)))
}

/// Follows local `$ref`s in the raw document.
fn resolve<'a>(spec: &'a Value, mut value: &'a Value) -> Option<&'a Value> {
    for _ in 0..16 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Some(value);
        };
        value = spec.pointer(reference.strip_prefix('#')?)?;
    }
    None
}

/// The type of a schema of the raw document, `$ref`s followed; `""` when it has none.
fn type_of<'a>(spec: &'a Value, schema: Option<&'a Value>) -> &'a str {
    schema
        .and_then(|s| resolve(spec, s))
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A declared query parameter.
struct QueryParameter {
    name: String,
    required: bool,
    /// Converted to JSON Schema.
    schema: Value,
    kind: QueryKind,
}

/// How a query parameter's text becomes JSON.
enum QueryKind {
    Scalar(Scalar),
    /// Repeated (`state=A&state=B`) or comma-separated (`state=A,B`) values.
    Array(Scalar),
    /// `deepObject` pairs: `metadata[key]=value`.
    Object(Scalar),
}

/// The query parameters of an operation, path-level ones included (the operation's own win).
fn query_parameters(spec: &Value, path_item: &Value, op: &Value) -> Vec<QueryParameter> {
    let mut out: Vec<QueryParameter> = Vec::new();
    let declared = [path_item.get("parameters"), op.get("parameters")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|p| resolve(spec, p));
    for param in declared {
        if param.get("in").and_then(Value::as_str) != Some("query") {
            continue;
        }
        let Some(name) = param.get("name").and_then(Value::as_str) else {
            continue;
        };
        let schema = param.get("schema");
        let resolved = schema.and_then(|s| resolve(spec, s));
        let kind = match type_of(spec, schema) {
            "array" => QueryKind::Array(Scalar::of(type_of(
                spec,
                resolved.and_then(|s| s.get("items")),
            ))),
            "object" => QueryKind::Object(Scalar::of(type_of(
                spec,
                resolved.and_then(|s| s.get("additionalProperties")),
            ))),
            other => QueryKind::Scalar(Scalar::of(other)),
        };
        out.retain(|p| p.name != name);
        out.push(QueryParameter {
            name: name.to_owned(),
            required: param.get("required").and_then(Value::as_bool) == Some(true),
            schema: schema.map_or(Value::Bool(true), convert_schema),
            kind,
        });
    }
    out
}

#[derive(Clone, Copy)]
enum Scalar {
    String,
    Integer,
    Number,
    Boolean,
}

impl Scalar {
    fn of(schema_type: &str) -> Self {
        match schema_type {
            "integer" => Scalar::Integer,
            "number" => Scalar::Number,
            "boolean" => Scalar::Boolean,
            _ => Scalar::String,
        }
    }

    /// The JSON value of one query value; text that is not of the type stays a string, so
    /// that the schema refuses it with a message naming the type.
    fn read(self, text: &str) -> Value {
        let number = || {
            text.parse::<i64>()
                .map(Value::from)
                .ok()
                .or_else(|| text.parse::<u64>().map(Value::from).ok())
                .or_else(|| {
                    text.parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                })
        };
        match self {
            Scalar::String => None,
            Scalar::Integer | Scalar::Number => number(),
            Scalar::Boolean => match text {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
        }
        .unwrap_or_else(|| Value::String(text.to_owned()))
    }
}

/// The declared parameters of a query string as one JSON object (undeclared ones left out).
fn query_object(params: &[QueryParameter], query: &[(String, String)]) -> Value {
    let mut out = Map::new();
    for param in params {
        let name = param.name.as_str();
        let value = match param.kind {
            QueryKind::Scalar(scalar) => query
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| scalar.read(v)),
            QueryKind::Array(scalar) => {
                let items: Vec<Value> = query
                    .iter()
                    .filter(|(k, _)| k == name)
                    .flat_map(|(_, v)| v.split(','))
                    .map(|v| scalar.read(v))
                    .collect();
                (!items.is_empty()).then_some(Value::Array(items))
            }
            QueryKind::Object(scalar) => {
                let members: Map<String, Value> = query
                    .iter()
                    .filter_map(|(k, v)| {
                        let key = k.strip_prefix(name)?.strip_prefix('[')?.strip_suffix(']')?;
                        Some((key.to_owned(), scalar.read(v)))
                    })
                    .collect();
                (!members.is_empty()).then_some(Value::Object(members))
            }
        };
        if let Some(value) = value {
            out.insert(param.name.clone(), value);
        }
    }
    Value::Object(out)
}

/// A member's path written as in JavaScript: `a.b[0]`, `metadata["team.name"]`.
fn member_path(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(key) => {
                let plain = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if plain {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                } else {
                    out.push_str(&format!("[{}]", Value::String(key.clone())));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema_check::quote;

    fn pairs(query: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    fn texts(found: Vec<Violation>) -> Vec<String> {
        found.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn bodies_are_checked_and_problems_name_their_member() {
        let spec = json!({
            "paths": {"/t": {"post": {
                "operationId": "make",
                "requestBody": {"$ref": "#/components/requestBodies/Make"},
            }}},
            "components": {
                "requestBodies": {"Make": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Make"}}}}},
                "schemas": {
                    "Make": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string", "maxLength": 3},
                        "n": {"type": "integer", "minimum": 1, "maximum": 9},
                        "kind": {"$ref": "#/components/schemas/Kind"},
                        "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "at": {"type": "string", "format": "date-time"},
                        "who": {"type": "string", "format": "uuid"},
                        "note": {"type": "string", "nullable": true},
                        "inner": {"allOf": [{"$ref": "#/components/schemas/Inner"}],
                                  "nullable": true}
                    }},
                    "Kind": {"type": "string", "enum": ["a", "b"]},
                    "Inner": {"type": "object", "required": ["x"],
                              "properties": {"x": {"type": "boolean"}}}
                }
            }
        });
        let validator = RequestValidator::new(&spec);
        let ok = json!({
            "name": "abc", "n": 9, "kind": "a", "tags": ["x"], "labels": {"k": "v"},
            "at": "2025-03-14T09:30:00Z", "who": "123e4567-e89b-12d3-a456-426614174000",
            "note": null, "inner": null, "extra": {"anything": true}
        });
        assert_eq!(validator.body("make", &ok), Ok(()));
        assert_eq!(
            validator.body(
                "make",
                &json!({"name": "abc", "inner": {"x": true}, "n": 2.0})
            ),
            Ok(())
        );
        let found = validator
            .body(
                "make",
                &json!({
                    "n": 10, "kind": "c", "tags": ["x", 2, "z"], "labels": {"a.b": 1},
                    "at": "yesterday", "who": "nope", "note": 5, "inner": {"x": "yes"}
                }),
            )
            .unwrap_err();
        let mut found = texts(found);
        found.sort();
        let mut expected = [
            "name is required",
            "n: 10 is greater than the maximum of 9",
            "kind: \"c\" is not one of \"a\", \"b\"",
            "tags: has more than 2 items (3)",
            "tags[1]: 2 is not of type \"string\"",
            "labels[\"a.b\"]: 1 is not of type \"string\"",
            "at: \"yesterday\" is not a \"date-time\"",
            "who: \"nope\" is not a \"uuid\"",
            "note: 5 is not of types \"string\", \"null\"",
            "inner.x: \"yes\" is not of type \"boolean\"",
        ];
        expected.sort();
        assert_eq!(found, expected);
        let found = validator.body("make", &json!([1])).unwrap_err();
        assert_eq!(texts(found), ["[1] is not of type \"object\""]);
        assert_eq!(validator.body("unknown", &json!(1)), Ok(()));
    }

    #[test]
    fn query_parameters_are_read_as_their_types_say() {
        let spec = json!({
            "paths": {"/t": {
                "parameters": [
                    {"name": "flag", "in": "query", "schema": {"type": "string"}},
                    {"name": "team", "in": "header", "required": true,
                     "schema": {"type": "string"}}
                ],
                "get": {
                    "operationId": "list",
                    "parameters": [
                        {"$ref": "#/components/parameters/Limit"},
                        {"name": "flag", "in": "query", "schema": {"type": "boolean"}},
                        {"name": "state", "in": "query", "style": "form", "explode": true,
                         "schema": {"type": "array", "items": {"$ref": "#/components/schemas/S"}}},
                        {"name": "labels", "in": "query", "style": "deepObject",
                         "schema": {"type": "object", "maxProperties": 1,
                                    "additionalProperties": {"type": "string"}}},
                        {"name": "since", "in": "query", "required": true,
                         "schema": {"type": "integer", "format": "int64"}}
                    ]
                }
            }},
            "components": {
                "parameters": {"Limit": {"name": "limit", "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 10}}},
                "schemas": {"S": {"type": "string", "enum": ["A", "B"]}}
            }
        });
        let validator = RequestValidator::new(&spec);
        let check = |query: &str| {
            validator.query("list", &pairs(query)).map_err(|found| {
                let mut found = texts(found);
                found.sort();
                found
            })
        };
        assert_eq!(
            check("since=0&limit=10&flag=true&state=A,B&state=A&labels[k]=v&other=x"),
            Ok(())
        );
        assert_eq!(check("limit=1"), Err(vec!["since is required".to_owned()]));
        assert_eq!(
            check("since=1.5&limit=11&flag=yes&state=A,C&labels[a]=1&labels[b]=2"),
            Err(vec![
                "flag: \"yes\" is not of type \"boolean\"".to_owned(),
                "labels: has more than 1 members (2)".to_owned(),
                "limit: 11 is greater than the maximum of 10".to_owned(),
                "since: 1.5 is not of type \"integer\"".to_owned(),
                "state[1]: \"C\" is not one of \"A\", \"B\"".to_owned(),
            ])
        );
        // The last of repeated values counts; operations without parameters take any query.
        assert_eq!(check("since=0&limit=0&limit=5"), Ok(()));
        assert_eq!(validator.query("other", &pairs("limit=x")), Ok(()));
    }

    #[test]
    fn combinations_and_paths() {
        let steps = [
            Step::Key("a".into()),
            Step::Index(1),
            Step::Key("x/y".into()),
            Step::Key("b".into()),
        ];
        assert_eq!(member_path(&steps), "a[1][\"x/y\"].b");
        assert_eq!(member_path(&[]), "");
        assert!(quote(&json!("x".repeat(500))).len() < 90);
        let spec = json!({"paths": {"/t": {"post": {"operationId": "o", "requestBody": {
        "content": {"application/json": {"schema": {"type": "object", "properties": {
            "one": {"oneOf": [{"type": "integer"}, {"type": "number"}]},
            "any": {"anyOf": [{"type": "string"}, {"type": "boolean"}]},
            "not": {"not": {"type": "null"}},
            "closed": {"type": "object", "additionalProperties": false,
                       "properties": {"a": {}}}
        }}}}}}}}});
        let validator = RequestValidator::new(&spec);
        assert_eq!(
            validator.body("o", &json!({"one": 1.5, "any": true, "closed": {"a": 1}})),
            Ok(())
        );
        let found = validator
            .body(
                "o",
                &json!({"one": 1, "any": 3, "not": null, "closed": {"b": 1}}),
            )
            .unwrap_err();
        let mut found = texts(found);
        found.sort();
        assert_eq!(
            found,
            [
                "any: 3 matches none of the schemas of anyOf",
                "closed.b: is not allowed",
                "not: null is not allowed",
                "one: 1 matches more than one schema of oneOf",
            ]
        );
    }

    /// A value the schema accepts: every member, the first enum value, numbers within range.
    fn sample(components: &Value, schema: &Value, depth: usize) -> Value {
        assert!(depth < 64, "the sample nests too deeply");
        let Value::Object(schema) = schema else {
            return json!("s");
        };
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let target = reference
                .strip_prefix("#/components")
                .and_then(|p| components.pointer(p))
                .expect("reference resolves");
            return sample(components, target, depth + 1);
        }
        if let Some(Value::Array(values)) = schema.get("enum") {
            return values[0].clone();
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = schema.get(key) {
                let branch = branches
                    .iter()
                    .find(|b| b.get("type") != Some(&json!("null")))
                    .unwrap_or(&branches[0]);
                return sample(components, branch, depth + 1);
            }
        }
        if let Some(Value::Array(all)) = schema.get("allOf") {
            let mut merged = Map::new();
            for part in all {
                match sample(components, part, depth + 1) {
                    Value::Object(members) => merged.extend(members),
                    other => return other,
                }
            }
            return Value::Object(merged);
        }
        let kind = match schema.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => ts.iter().find_map(Value::as_str).unwrap_or("string"),
            _ if schema.contains_key("properties") => "object",
            _ => "string",
        };
        match kind {
            "object" => {
                let mut out = Map::new();
                for (name, member) in schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    out.insert(name.clone(), sample(components, member, depth + 1));
                }
                if let Some(extra @ Value::Object(_)) = schema.get("additionalProperties") {
                    out.insert("key".into(), sample(components, extra, depth + 1));
                }
                Value::Object(out)
            }
            "array" => {
                let item = schema.get("items").cloned().unwrap_or(json!({}));
                json!([sample(components, &item, depth + 1)])
            }
            "integer" => schema.get("minimum").cloned().unwrap_or(json!(1)),
            "number" => json!(1.5),
            "boolean" => json!(true),
            "null" => Value::Null,
            _ => match schema.get("format").and_then(Value::as_str) {
                Some("date-time") => json!("2025-03-14T09:30:00Z"),
                Some("uuid") => json!("123e4567-e89b-12d3-a456-426614174000"),
                Some("uri") => json!("https://example.com/a"),
                _ => json!("s"),
            },
        }
    }

    /// Every leaf and member of `value` with its path.
    fn places(value: &Value, path: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, Value)>) {
        out.push((path.clone(), value.clone()));
        match value {
            Value::Object(members) => {
                for (k, v) in members {
                    path.push(Step::Key(k.clone()));
                    places(v, path, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    places(v, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    fn at<'v>(value: &'v mut Value, path: &[Step]) -> &'v mut Value {
        path.iter().fold(value, |v, step| match step {
            Step::Key(k) => &mut v[k.as_str()],
            Step::Index(i) => &mut v[*i],
        })
    }

    /// Bodies derived from every request schema of openapi.json: a sample the schema accepts,
    /// and for each member of it a value of each other JSON type, out-of-range numbers, long
    /// strings and the member removed. The validator and jsonschema agree on every one, and a
    /// refusal names the changed member (or one that contains it).
    #[cfg(feature = "validation")]
    #[test]
    fn agrees_with_jsonschema() {
        let spec = crate::ops::document();
        let light = RequestValidator::new(spec);
        let converted = Converted::of(spec);
        let reference = crate::spec_validation::SpecValidator::new(spec);
        let replacements = [
            json!(null),
            json!(true),
            json!(-1),
            json!(0),
            json!(1_000_000),
            json!(2.5),
            json!("zz-unknown"),
            json!("x".repeat(2000)),
            json!([]),
            json!({}),
        ];
        let (mut bodies, mut refused) = (0, 0);
        let mut ids: Vec<&String> = converted.bodies.keys().collect();
        ids.sort();
        for id in ids {
            let schema = &converted.bodies[id];
            let good = sample(&converted.components, schema, 0);
            assert_eq!(light.body(id, &good), Ok(()), "{id}: {good}");
            assert_eq!(
                reference.validate_request(id, &good),
                Ok(()),
                "{id}: {good}"
            );
            let mut found = Vec::new();
            places(&good, &mut Vec::new(), &mut found);
            for (path, _) in found.iter().filter(|(p, _)| !p.is_empty()) {
                let mut variants: Vec<Value> = replacements
                    .iter()
                    .map(|r| {
                        let mut body = good.clone();
                        *at(&mut body, path) = r.clone();
                        body
                    })
                    .collect();
                if let [parent @ .., Step::Key(name)] = path.as_slice() {
                    let mut body = good.clone();
                    if let Some(members) = at(&mut body, parent).as_object_mut() {
                        members.remove(name);
                    }
                    variants.push(body);
                }
                for body in variants {
                    bodies += 1;
                    let ours = light.body(id, &body);
                    let theirs = reference.validate_request(id, &body);
                    if ours.is_ok() != theirs.is_ok() {
                        let theirs = quote(&json!(format!("{theirs:?}")));
                        panic!(
                            "{id} at {}: ours {ours:?}, jsonschema {theirs}, body {}",
                            member_path(path),
                            quote(&body)
                        );
                    }
                    if let Err(problems) = ours {
                        refused += 1;
                        let changed = member_path(path);
                        let parent = member_path(&path[..path.len() - 1]);
                        assert!(
                            problems.iter().any(
                                |p| changed.starts_with(&p.path) || p.path.starts_with(&parent)
                            ),
                            "{id}: {problems:?} do not name {changed}"
                        );
                    }
                }
            }
        }
        assert!(
            bodies > 1000 && refused > 300,
            "{bodies} bodies, {refused} refused"
        );
    }
}
