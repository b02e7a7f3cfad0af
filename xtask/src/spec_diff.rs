//! `cargo xtask spec-diff FILE`: what another OpenAPI document and ours do not share.
//!
//! Both documents are flattened into sets of facts, walked from the operations so that schema
//! names (which differ where we named inline schemas) do not matter:
//! - `GET /agent/runs/{}`: an operation (path parameter names are ignored);
//! - `GET /agent/runs param query:state` and `... param query:state = QUEUED`: parameters and
//!   their enum values;
//! - `GET /agent/runs/{} -> 404` and `... -> 302 header Location`: status codes and headers;
//! - `GET /agent/runs/{} -> 200 .artifacts[].data.url` and `... .state = QUEUED`: every field
//!   reachable from a request or response body, and every enum value.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::Value;

/// Reads a YAML or JSON OpenAPI document.
pub fn load_document(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|ext| ext == "json") {
        return serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()));
    }
    let documents = Yaml::load_from_str(&text)
        .map_err(|err| anyhow::anyhow!("{err}"))
        .with_context(|| format!("parsing {}", path.display()))?;
    match documents.as_slice() {
        [document] => Ok(yaml_to_json(document)),
        _ => anyhow::bail!(
            "{} holds {} YAML documents, not one",
            path.display(),
            documents.len()
        ),
    }
}

/// The JSON value of a YAML node (aliases are resolved by the loader). YAML allows keys that
/// are not strings (`200:`); OpenAPI means them as strings.
fn yaml_to_json(yaml: &Yaml<'_>) -> Value {
    match yaml {
        Yaml::Value(scalar) => scalar_to_json(scalar),
        Yaml::Representation(text, ..) => Value::String(text.to_string()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key_text(key), yaml_to_json(value)))
                .collect(),
        ),
        Yaml::Tagged(_, inner) => yaml_to_json(inner),
        Yaml::Alias(_) | Yaml::BadValue => Value::Null,
    }
}

fn scalar_to_json(scalar: &Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(n) => Value::from(*n),
        Scalar::FloatingPoint(x) => {
            serde_json::Number::from_f64(x.into_inner()).map_or(Value::Null, Value::Number)
        }
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

/// A mapping key as the string OpenAPI means: `200` → `"200"`, `true` → `"true"`.
fn key_text(key: &Yaml<'_>) -> String {
    match yaml_to_json(key) {
        Value::String(s) => s,
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// The facts of both documents that the other lacks.
pub struct Report {
    missing_on_our_side: Vec<String>,
    only_on_our_side: Vec<String>,
    /// Our operations marked `x-oz-unpublished` (`GET /agent/events/stream`): what the service
    /// does but no published spec describes, so the other document lacks them on purpose.
    unpublished: Vec<String>,
}

impl Report {
    /// Facts the other document has and ours lacks.
    pub fn missing_on_our_side(&self) -> &[String] {
        &self.missing_on_our_side
    }

    /// A readable report.
    pub fn render(&self, ours: &str, theirs: &str) -> String {
        let mut out = String::new();
        for (title, items) in [
            (
                format!("in {theirs}, missing from {ours}"),
                &self.missing_on_our_side,
            ),
            (
                format!("in {ours}, not in {theirs}"),
                &self.only_on_our_side,
            ),
        ] {
            let _ = writeln!(out, "{title}: {}", items.len());
            for item in items {
                let _ = writeln!(out, "  {item}");
            }
        }
        let unpublished: Vec<&String> = self
            .unpublished
            .iter()
            .filter(|op| self.only_on_our_side.contains(op))
            .collect();
        if !unpublished.is_empty() {
            let _ = writeln!(
                out,
                "of these, ours only and marked x-oz-unpublished (not in the vendor's published \
                 spec): {}",
                unpublished
                    .iter()
                    .map(|op| op.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        out
    }
}

/// Compares two documents.
pub fn diff(ours: &Value, theirs: &Value) -> Report {
    let unpublished = unpublished_operations(ours);
    let ours = facts(ours);
    let theirs = facts(theirs);
    Report {
        missing_on_our_side: theirs.difference(&ours).cloned().collect(),
        only_on_our_side: ours.difference(&theirs).cloned().collect(),
        unpublished,
    }
}

/// The operations of `doc` marked `x-oz-unpublished`, as facts (`GET /agent/events/stream`).
fn unpublished_operations(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for method in METHODS {
            if item
                .get(*method)
                .is_some_and(crate::normalise::is_unpublished)
            {
                out.push(format!("{} {}", method.to_uppercase(), generic_path(path)));
            }
        }
    }
    out
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// Flattens a document into its facts.
pub fn facts(doc: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (raw_path, item) in paths {
        let path = generic_path(raw_path);
        let shared_params = item.get("parameters").and_then(Value::as_array);
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let op_key = format!("{} {path}", method.to_uppercase());
            out.insert(op_key.clone());
            let params = shared_params.into_iter().flatten().chain(
                op.get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
            for param in params {
                let param = resolve(doc, param);
                let name = param.get("name").and_then(Value::as_str).unwrap_or("?");
                let location = param.get("in").and_then(Value::as_str).unwrap_or("?");
                let name = match location {
                    // Header names are case-insensitive.
                    "header" => name.to_lowercase(),
                    // Path parameters are positional on the wire; their names are ours to choose.
                    "path" => path_parameter_position(raw_path, name),
                    _ => name.to_owned(),
                };
                let key = format!("{op_key} param {location}:{name}");
                out.insert(key.clone());
                if let Some(schema) = param.get("schema") {
                    // A repeatable parameter takes the same values as a single one.
                    let schema = resolve(doc, schema);
                    let values = match schema.get("type").and_then(Value::as_str) {
                        Some("array") => schema.get("items").unwrap_or(schema),
                        _ => schema,
                    };
                    walk_schema(doc, values, &key, &mut Vec::new(), &mut out);
                }
            }
            if let Some(body) = op.get("requestBody") {
                let body = resolve(doc, body);
                for media in body
                    .get("content")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(_, m)| m)
                {
                    if let Some(schema) = media.get("schema") {
                        walk_schema(
                            doc,
                            schema,
                            &format!("{op_key} body "),
                            &mut Vec::new(),
                            &mut out,
                        );
                    }
                }
            }
            let responses = op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten();
            for (status, response) in responses {
                let key = format!("{op_key} -> {status}");
                out.insert(key.clone());
                let response = resolve(doc, response);
                for (header, _) in response
                    .get("headers")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    out.insert(format!("{key} header {}", header.to_lowercase()));
                }
                for (_, media) in response
                    .get("content")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    if let Some(schema) = media.get("schema") {
                        walk_schema(doc, schema, &format!("{key} "), &mut Vec::new(), &mut out);
                    }
                }
            }
        }
    }
    out
}

/// `/agent/runs/{runId}` and `/agent/runs/{run_id}` are the same endpoint.
pub fn generic_path(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push_str("{}");
            }
            '}' => inside = false,
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// `#1` for the first `{…}` of the path template, and so on.
pub fn path_parameter_position(path: &str, name: &str) -> String {
    path.split('{')
        .skip(1)
        .position(|segment| segment.split('}').next() == Some(name))
        .map(|index| format!("#{}", index + 1))
        .unwrap_or_else(|| format!("{name} (not in the path)"))
}

/// Follows a local `$ref`.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    let mut current = value;
    for _ in 0..16 {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            return current;
        };
        let pointer = reference.trim_start_matches('#');
        match doc.pointer(pointer) {
            Some(target) => current = target,
            None => return current,
        }
    }
    current
}

fn walk_schema(
    doc: &Value,
    schema: &Value,
    prefix: &str,
    stack: &mut Vec<String>,
    out: &mut BTreeSet<String>,
) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        if stack.iter().any(|r| r == reference) {
            return; // recursive schema: its fields were listed further up
        }
        stack.push(reference.to_owned());
        walk_schema(doc, resolve(doc, schema), prefix, stack, out);
        stack.pop();
        return;
    }
    for value in schema
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = value
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        out.insert(format!("{} = {text}", prefix.trim_end()));
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for part in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk_schema(doc, part, prefix, stack, out);
        }
    }
    if let Some(items) = schema.get("items") {
        walk_schema(doc, items, &format!("{prefix}[]"), stack, out);
    }
    if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        walk_schema(doc, extra, &format!("{prefix}{{*}}"), stack, out);
    }
    for (name, property) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let field = format!("{prefix}.{name}");
        out.insert(field.clone());
        walk_schema(doc, property, &field, stack, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(paths: Value) -> Value {
        json!({
            "paths": paths,
            "components": {"schemas": {
                "Run": {"type": "object", "properties": {
                    "id": {"type": "string"},
                    "state": {"$ref": "#/components/schemas/State"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}}
                }},
                "State": {"type": "string", "enum": ["QUEUED", "DONE"]}
            }}
        })
    }

    #[test]
    fn facts_cover_operations_parameters_statuses_fields_and_enums() {
        let d = doc(json!({"/runs/{run_id}": {"get": {
            "parameters": [{"name": "run_id", "in": "path"}, {"name": "X-Team", "in": "header"}],
            "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Run"}}}},
                          "302": {"headers": {"Location": {}}}}
        }}}));
        let f = facts(&d);
        // A recursive schema is listed once, not followed forever.
        assert!(!f.contains("GET /runs/{} -> 200 .children[].id"));
        for expected in [
            "GET /runs/{}",
            "GET /runs/{} param path:#1",
            "GET /runs/{} param header:x-team",
            "GET /runs/{} -> 200 .state = QUEUED",
            "GET /runs/{} -> 200 .children",
            "GET /runs/{} -> 302 header location",
        ] {
            assert!(f.contains(expected), "{expected} not in {f:#?}");
        }
    }

    #[test]
    fn renamed_path_parameters_and_schemas_do_not_count_as_differences() {
        let theirs = doc(json!({"/runs/{run_id}": {"get": {"responses": {
            "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Run"}}}}}}}}));
        let mut ours = theirs.clone();
        ours["paths"] = json!({"/runs/{runId}": {"get": {"responses": {
            "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunItem"}}}}}}}});
        ours["components"]["schemas"]["RunItem"] = ours["components"]["schemas"]["Run"].clone();
        let report = diff(&ours, &theirs);
        assert!(
            report.missing_on_our_side().is_empty(),
            "{:?}",
            report.missing_on_our_side()
        );
    }

    #[test]
    fn a_missing_enum_value_and_field_are_reported() {
        let theirs = doc(json!({"/runs": {"get": {"responses": {
            "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Run"}}}}}}}}));
        let mut ours = theirs.clone();
        ours["components"]["schemas"]["State"]["enum"] = json!(["QUEUED"]);
        ours["components"]["schemas"]["Run"]["properties"]
            .as_object_mut()
            .unwrap()
            .remove("id");
        let report = diff(&ours, &theirs);
        assert_eq!(
            report.missing_on_our_side(),
            ["GET /runs -> 200 .id", "GET /runs -> 200 .state = DONE"]
        );
    }

    #[test]
    fn operations_of_ours_marked_unpublished_are_named_in_the_report() {
        let ok = json!({"200": {"description": "ok"}});
        let theirs = doc(json!({"/events": {"get": {"responses": ok}}}));
        let mut ours = theirs.clone();
        ours["paths"]["/events/stream"] =
            json!({"get": {"x-oz-unpublished": true, "responses": ok}});
        let report = diff(&ours, &theirs);
        assert!(report.missing_on_our_side().is_empty());
        let text = report.render("openapi.json", "theirs.yaml");
        assert!(
            text.ends_with(
                "of these, ours only and marked x-oz-unpublished (not in the vendor's \
                 published spec): GET /events/stream\n"
            ),
            "{text}"
        );
        assert!(
            !diff(&theirs, &theirs)
                .render("a", "b")
                .contains("unpublished")
        );
    }

    /// The vendor's published descriptions live beside the project for its maintainers only;
    /// a fresh clone has no such folder, and the check is skipped with a note.
    #[test]
    fn nothing_of_the_vendor_descriptions_is_missing_from_ours() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let reference = root.join("../shared/reference");
        if !reference.is_dir() {
            eprintln!("skipped: {} is absent", reference.display());
            return;
        }
        let ours = load_document(&root.join("openapi.json")).unwrap();
        for name in ["agent-api-openapi.yaml", "agent-api-openapi.later.yaml"] {
            let theirs = load_document(&reference.join(name)).unwrap();
            let report = diff(&ours, &theirs);
            assert!(
                report.missing_on_our_side().is_empty(),
                "{name} has what openapi.json lacks:\n{}",
                report.missing_on_our_side().join("\n")
            );
        }
    }

    fn load_yaml(text: &str) -> Result<Value> {
        let dir = std::env::temp_dir().join(format!("xtask-yaml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{:x}.yaml", text.len() * 31 + text.lines().count()));
        std::fs::write(&path, text).unwrap();
        let loaded = load_document(&path);
        std::fs::remove_file(&path).unwrap();
        loaded
    }

    #[test]
    fn yaml_integer_keys_become_strings() {
        assert_eq!(
            load_yaml("responses:\n  200:\n    description: ok\n").unwrap(),
            json!({"responses": {"200": {"description": "ok"}}})
        );
    }

    #[test]
    fn yaml_scalars_anchors_and_tags_read_as_json() {
        let text = "\
base: &base {type: string, nullable: true}
copy: *base
numbers: [1, -2, 2.5, 1e3]
flags: [true, false, null, ~]
quoted: '200'
tagged: !!str 42
";
        assert_eq!(
            load_yaml(text).unwrap(),
            json!({
                "base": {"type": "string", "nullable": true},
                "copy": {"type": "string", "nullable": true},
                "numbers": [1, -2, 2.5, 1000.0],
                "flags": [true, false, null, null],
                "quoted": "200",
                "tagged": "42"
            })
        );
    }

    #[test]
    fn a_yaml_error_or_several_documents_are_refused() {
        let err = load_yaml("a: [1, 2\n").unwrap_err();
        assert!(format!("{err:#}").starts_with("parsing "), "{err:#}");
        let err = load_yaml("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(
            err.to_string().ends_with("holds 2 YAML documents, not one"),
            "{err}"
        );
    }
}
