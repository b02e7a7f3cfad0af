//! The JSON Schema 2020-12 documents of Factory file schema version `v1alpha1`, and a checker
//! for the keywords they use. The documents refer to each other by relative `$id`
//! (`common.schema.json#/$defs/secretRef`), as the service's bundle does.

use std::sync::LazyLock;

#[cfg(test)]
use serde_json::json;
use serde_json::{Map, Value};

/// The only schema version the simulator describes.
pub(crate) const CURRENT_VERSION: &str = "v1alpha1";

/// Every supported version, sorted.
pub(crate) const VERSIONS: [&str; 1] = [CURRENT_VERSION];

#[cfg(test)]
const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The documents of `v1alpha1` as the service publishes them, by file name (which is also each
/// document's `$id`).
const V1ALPHA1: [(&str, &str); 6] = [
    (
        "common.schema.json",
        include_str!("v1alpha1/common.schema.json"),
    ),
    (
        "factory.schema.json",
        include_str!("v1alpha1/factory.schema.json"),
    ),
    (
        "agent.schema.json",
        include_str!("v1alpha1/agent.schema.json"),
    ),
    (
        "automation.schema.json",
        include_str!("v1alpha1/automation.schema.json"),
    ),
    (
        "runner.schema.json",
        include_str!("v1alpha1/runner.schema.json"),
    ),
    (
        "scorer.schema.json",
        include_str!("v1alpha1/scorer.schema.json"),
    ),
];

static BUNDLE: LazyLock<Map<String, Value>> = LazyLock::new(|| {
    V1ALPHA1
        .iter()
        .map(|(name, text)| {
            let document = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("the embedded {name} is not JSON: {e}"));
            ((*name).to_owned(), document)
        })
        .collect()
});

/// The documents of a version, keyed by file name (which is also each document's `$id`).
pub(crate) fn bundle(version: &str) -> Option<Map<String, Value>> {
    (version == CURRENT_VERSION).then(|| BUNDLE.clone())
}

/// Keywords the checker understands; annotations (`title`, `description`, ...) are ignored.
#[cfg(test)]
const CHECKED_KEYWORDS: [&str; 13] = [
    "$ref",
    "type",
    "enum",
    "const",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minItems",
    "minLength",
    "minimum",
    "maximum",
    "$defs",
];

/// Keywords that describe and never constrain.
#[cfg(test)]
const ANNOTATIONS: [&str; 5] = ["$schema", "$id", "title", "description", "default"];

/// One schema violation: the JSON pointer of the offending value, a diagnostic code and a
/// message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Violation {
    pub(crate) pointer: String,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// Checks `value` against the document `doc_name` of a bundle.
pub(crate) fn check(
    documents: &Map<String, Value>,
    doc_name: &str,
    value: &Value,
) -> Vec<Violation> {
    let mut out = Vec::new();
    if let Some(schema) = documents.get(doc_name) {
        check_node(documents, doc_name, schema, value, "", &mut out);
    }
    out
}

/// `a.b[0].c` from `/a/b/0/c`.
pub(crate) fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    out
}

fn describe(pointer: &str) -> String {
    if pointer.is_empty() {
        "the document".to_owned()
    } else {
        format!("`{}`", field_path(pointer))
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn has_type(value: &Value, wanted: &str) -> bool {
    match wanted {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => true,
    }
}

/// Resolves `other.schema.json#/$defs/x` or `#/$defs/x` relative to `doc_name`.
fn resolve<'a>(
    documents: &'a Map<String, Value>,
    doc_name: &'a str,
    reference: &'a str,
) -> Option<(&'a str, &'a Value)> {
    let (doc, fragment) = reference.split_once('#').unwrap_or((reference, ""));
    let doc = if doc.is_empty() { doc_name } else { doc };
    let (name, schema) = documents.get_key_value(doc)?;
    let target = if fragment.is_empty() {
        schema
    } else {
        schema.pointer(fragment)?
    };
    Some((name.as_str(), target))
}

fn check_node(
    documents: &Map<String, Value>,
    doc_name: &str,
    schema: &Value,
    value: &Value,
    pointer: &str,
    out: &mut Vec<Violation>,
) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    let mut push = |code: &'static str, message: String| {
        out.push(Violation {
            pointer: pointer.to_owned(),
            code,
            message,
        });
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        match resolve(documents, doc_name, reference) {
            Some((doc, target)) => check_node(documents, doc, target, value, pointer, out),
            None => push(
                "FF_SCHEMA_ERROR",
                format!("the schema refers to {reference}, which does not exist"),
            ),
        }
        return;
    }
    if let Some(wanted) = schema.get("type") {
        let types: Vec<&str> = match wanted {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
            let expected = types
                .iter()
                .map(|t| match *t {
                    "object" => "a mapping",
                    "array" => "a list",
                    "string" => "a string",
                    "integer" => "an integer",
                    "number" => "a number",
                    "boolean" => "true or false",
                    _ => "null",
                })
                .collect::<Vec<_>>()
                .join(" or ");
            push(
                "FF_INVALID_TYPE",
                format!(
                    "{} must be {expected}, got {}",
                    describe(pointer),
                    type_name(value)
                ),
            );
            return;
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed
            .iter()
            .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_owned))
            .collect();
        push(
            "FF_INVALID_VALUE",
            format!("{} must be one of {}", describe(pointer), names.join(", ")),
        );
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        push(
            "FF_INVALID_VALUE",
            format!("{} must be {constant}", describe(pointer)),
        );
    }
    if let (Some(min), Value::String(s)) = (schema.get("minLength").and_then(Value::as_u64), value)
        && (s.trim().chars().count() as u64) < min
    {
        push(
            "FF_INVALID_VALUE",
            format!("{} must not be empty", describe(pointer)),
        );
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            push(
                "FF_INVALID_VALUE",
                format!("{} must be at least {min}", describe(pointer)),
            );
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            push(
                "FF_INVALID_VALUE",
                format!("{} must be at most {max}", describe(pointer)),
            );
        }
    }
    if let Value::Array(items) = value {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            push(
                "FF_INVALID_VALUE",
                format!("{} must have at least {min} item(s)", describe(pointer)),
            );
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check_node(
                    documents,
                    doc_name,
                    item_schema,
                    item,
                    &format!("{pointer}/{i}"),
                    out,
                );
            }
        }
        return;
    }
    let Value::Object(map) = value else {
        return;
    };
    if let Some(Value::Array(required)) = schema.get("required") {
        for key in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(key) {
                out.push(Violation {
                    pointer: pointer.to_owned(),
                    code: "FF_MISSING_FIELD",
                    message: format!(
                        "missing required field `{}`",
                        field_path(&format!("{pointer}/{key}"))
                    ),
                });
            }
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    for (key, child) in map {
        let child_pointer = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
        match properties.and_then(|p| p.get(key)) {
            Some(child_schema) => {
                check_node(
                    documents,
                    doc_name,
                    child_schema,
                    child,
                    &child_pointer,
                    out,
                );
            }
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => out.push(Violation {
                    message: format!("unknown field `{}`", field_path(&child_pointer)),
                    pointer: child_pointer,
                    code: "FF_UNKNOWN_FIELD",
                }),
                Some(extra @ Value::Object(_)) => {
                    check_node(documents, doc_name, extra, child, &child_pointer, out);
                }
                _ => {}
            },
        }
    }
}

/// Every keyword a schema document uses outside property names (for the test that the
/// checker understands all of them).
#[cfg(test)]
fn keywords(schema: &Value, out: &mut std::collections::BTreeSet<String>) {
    let Value::Object(map) = schema else {
        return;
    };
    for (key, value) in map {
        out.insert(key.clone());
        match key.as_str() {
            "properties" | "$defs" => {
                for child in value.as_object().into_iter().flat_map(|m| m.values()) {
                    keywords(child, out);
                }
            }
            "items" | "additionalProperties" => keywords(value, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_of_the_documents_is_checked_or_an_annotation() {
        let bundle = bundle(CURRENT_VERSION).expect("bundle");
        let mut used = std::collections::BTreeSet::new();
        for doc in bundle.values() {
            keywords(doc, &mut used);
        }
        let unknown: Vec<&String> = used
            .iter()
            .filter(|k| {
                !CHECKED_KEYWORDS.contains(&k.as_str()) && !ANNOTATIONS.contains(&k.as_str())
            })
            .collect();
        assert!(unknown.is_empty(), "unchecked keywords: {unknown:?}");
        for (name, doc) in &bundle {
            assert_eq!(doc["$id"], json!(name));
            assert_eq!(doc["$schema"], json!(DRAFT));
        }
    }

    #[test]
    fn references_resolve_across_documents_and_violations_name_the_field() {
        let bundle = bundle(CURRENT_VERSION).expect("bundle");
        let agent = json!({"name": "triage", "secrets": [{"name": ""}, {"nom": "x"}], "colour": 1});
        let found = check(&bundle, "agent.schema.json", &agent);
        let codes: Vec<(&str, &str)> = found.iter().map(|v| (v.pointer.as_str(), v.code)).collect();
        assert!(
            codes.contains(&("/secrets/0/name", "FF_INVALID_VALUE")),
            "{found:?}"
        );
        assert!(
            codes.contains(&("/secrets/1", "FF_MISSING_FIELD")),
            "{found:?}"
        );
        assert!(
            codes.contains(&("/secrets/1/nom", "FF_UNKNOWN_FIELD")),
            "{found:?}"
        );
        assert!(
            codes.contains(&("/colour", "FF_UNKNOWN_FIELD")),
            "{found:?}"
        );
        assert_eq!(field_path("/secrets/1/nom"), "secrets[1].nom");
        assert!(check(&bundle, "agent.schema.json", &json!({"name": "ok"})).is_empty());
    }
}
