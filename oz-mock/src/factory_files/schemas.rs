//! The JSON Schema 2020-12 documents of Factory file schema version `v1alpha1`, and the check
//! of a file against them: compiled once by the simulator's one checker
//! ([`crate::schema_check`], `boon`), its problems worded as Factory diagnostics (`FF_*` codes).
//! The documents refer to each other by relative `$id`
//! (`common.schema.json#/$defs/secretRef`), as the service's bundle does.
//!
//! Two rules of the diagnostics are stricter than JSON Schema, and the compiled copies (not the
//! published documents) say so with formats of the simulator's: `minLength: 1` counts what is
//! left once spaces are trimmed ([`NOT_BLANK`]), and an integer is written without a fraction,
//! `2.0` is a number ([`WHOLE`]).

use std::sync::LazyLock;

use boon::Format;
#[cfg(test)]
use serde_json::json;
use serde_json::{Map, Value};

use crate::schema_check::{self, CompiledSchemas, Found, Problem};

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

/// Where the documents of `v1alpha1` live for boon (never fetched); their relative `$id`s
/// resolve against it.
const BASE: &str = "http://oz-mock.invalid/factory/v1alpha1/";

/// The format standing for `minLength: 1` in the compiled schemas: not empty once spaces are
/// trimmed (a name of only spaces is as empty as no name; JSON Schema counts the spaces).
const NOT_BLANK: Format = Format {
    name: "oz-mock-not-blank",
    func: |value| match value {
        Value::String(s) if s.trim().is_empty() => Err("empty".into()),
        _ => Ok(()),
    },
};

/// The format joining `type: integer` in the compiled schemas: a number written without a
/// fraction (JSON Schema also takes `2.0` as an integer).
const WHOLE: Format = Format {
    name: "oz-mock-whole",
    func: |value| match value {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => Err("not an integer".into()),
        _ => Ok(()),
    },
};

/// The documents of `v1alpha1` compiled once, by file name.
static CHECKER: LazyLock<CompiledSchemas> = LazyLock::new(|| {
    let resources = BUNDLE
        .iter()
        .map(|(name, document)| (format!("{BASE}{name}"), with_trimmed_lengths(document)));
    let targets = BUNDLE
        .keys()
        .map(|name| (name.clone(), format!("{BASE}{name}")));
    CompiledSchemas::new(resources, targets, &[NOT_BLANK, WHOLE])
});

/// A document as the checker compiles it: `minLength: 1` of a string as the [`NOT_BLANK`]
/// format, and [`WHOLE`] with `type: integer` (the documents use no other formats).
fn with_trimmed_lengths(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), with_trimmed_lengths(v)))
                .collect();
            if !out.contains_key("format") {
                if out.get("minLength") == Some(&Value::from(1)) {
                    out.remove("minLength");
                    out.insert("format".into(), NOT_BLANK.name.into());
                } else if out.get("type").and_then(Value::as_str) == Some("integer") {
                    out.insert("format".into(), WHOLE.name.into());
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(with_trimmed_lengths).collect()),
        other => other.clone(),
    }
}

/// One schema violation: the JSON pointer of the offending value, a diagnostic code and a
/// message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Violation {
    pub(crate) pointer: String,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// Checks `value` against the document `doc_name` (`agent.schema.json`, ...) of the current
/// version.
pub(crate) fn check(doc_name: &str, value: &Value) -> Vec<Violation> {
    match CHECKER.check(doc_name, value) {
        None | Some(Ok(())) => Vec::new(),
        Some(Err(found)) => found.into_iter().map(violation).collect(),
    }
}

/// A problem in the words and codes of Factory diagnostics.
fn violation(found: Found) -> Violation {
    let mut pointer = schema_check::pointer(&found.path);
    let at = describe(&pointer);
    let (code, message) = match &found.problem {
        Problem::Type(types) => {
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
            (
                "FF_INVALID_TYPE",
                format!("{at} must be {expected}, got {}", type_name(&found.value)),
            )
        }
        Problem::Format(name) if *name == WHOLE.name => (
            "FF_INVALID_TYPE",
            format!("{at} must be an integer, got {}", type_name(&found.value)),
        ),
        Problem::Format(name) if *name == NOT_BLANK.name => {
            ("FF_INVALID_VALUE", format!("{at} must not be empty"))
        }
        Problem::Enum(allowed) => {
            let names: Vec<String> = allowed
                .iter()
                .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_owned))
                .collect();
            (
                "FF_INVALID_VALUE",
                format!("{at} must be one of {}", names.join(", ")),
            )
        }
        Problem::Const(constant) => ("FF_INVALID_VALUE", format!("{at} must be {constant}")),
        Problem::Minimum(min) => (
            "FF_INVALID_VALUE",
            format!("{at} must be at least {}", min.as_f64().unwrap_or_default()),
        ),
        Problem::Maximum(max) => (
            "FF_INVALID_VALUE",
            format!("{at} must be at most {}", max.as_f64().unwrap_or_default()),
        ),
        Problem::MinItems(min) => (
            "FF_INVALID_VALUE",
            format!("{at} must have at least {min} item(s)"),
        ),
        Problem::Required => {
            let message = format!("missing required field `{}`", field_path(&pointer));
            // The diagnostic points at the mapping that lacks the field.
            pointer.truncate(pointer.rfind('/').unwrap_or(0));
            ("FF_MISSING_FIELD", message)
        }
        Problem::UnknownMember => (
            "FF_UNKNOWN_FIELD",
            format!("unknown field `{}`", field_path(&pointer)),
        ),
        _ => ("FF_INVALID_VALUE", format!("{at}: {}", found.message())),
    };
    Violation {
        pointer,
        code,
        message,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_compile_and_name_themselves() {
        let bundle = bundle(CURRENT_VERSION).expect("bundle");
        for (name, doc) in &bundle {
            assert_eq!(doc["$id"], json!(name));
            assert_eq!(doc["$schema"], json!(DRAFT));
        }
        assert!(
            bundle
                .keys()
                .all(|name| CHECKER.check(name, &json!(null)).is_some())
        );
    }

    #[test]
    fn blank_names_and_fractional_integers_are_refused() {
        let found = check("agent.schema.json", &json!({"name": "  "}));
        assert_eq!(
            found,
            [Violation {
                pointer: "/name".into(),
                code: "FF_INVALID_VALUE",
                message: "`name` must not be empty".into(),
            }]
        );
        let found = check(
            "runner.schema.json",
            &json!({"name": "r", "max_concurrent_runs": 2.0}),
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, "FF_INVALID_TYPE");
        assert_eq!(
            found[0].message,
            "`max_concurrent_runs` must be an integer, got a number"
        );
    }

    #[test]
    fn references_resolve_across_documents_and_violations_name_the_field() {
        let agent = json!({"name": "triage", "secrets": [{"name": ""}, {"nom": "x"}], "colour": 1});
        let found = check("agent.schema.json", &agent);
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
        assert!(check("agent.schema.json", &json!({"name": "ok"})).is_empty());
    }
}
