//! The rules `openapi.json` follows. Each test names the operations or schemas that break a rule.

use std::collections::BTreeSet;

use serde_json::Value;

fn spec() -> Value {
    oz_conformance::Spec::load().document
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// (label, operation) for every operation.
fn operations(spec: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(*method) {
                let id = op["operationId"].as_str().unwrap_or("<none>");
                out.push((
                    format!("{id} ({} {path})", method.to_uppercase()),
                    op.clone(),
                ));
            }
        }
    }
    out
}

fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => spec
            .pointer(r.trim_start_matches('#'))
            .unwrap_or(&Value::Null),
        None => value,
    }
}

fn assert_none(rule: &str, offenders: Vec<String>) {
    assert!(
        offenders.is_empty(),
        "{rule}:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn is_openapi_3_0_3_and_parses_as_such() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.0.3");
    let parsed: openapiv3::OpenAPI = serde_json::from_value(spec).expect("an OpenAPI 3.0 document");
    assert!(parsed.paths.paths.len() > 30);
}

#[test]
fn operation_ids_are_unique_snake_case_and_documented() {
    let spec = spec();
    let mut seen = BTreeSet::new();
    let mut offenders = Vec::new();
    for (label, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap_or("");
        let snake = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !snake || !seen.insert(id.to_owned()) {
            offenders.push(format!("{label}: id not unique snake_case"));
        }
        for key in ["summary", "description"] {
            if op[key].as_str().is_none_or(str::is_empty) {
                offenders.push(format!("{label}: no {key}"));
            }
        }
        if op["tags"].as_array().is_none_or(|t| t.len() != 1) {
            offenders.push(format!("{label}: needs exactly one tag"));
        }
    }
    assert_none("operations breaking the id/doc rule", offenders);
}

#[test]
fn security_is_declared_per_operation_and_errors_match_it() {
    let spec = spec();
    assert!(spec.get("security").is_none(), "no document-wide security");
    let mut offenders = Vec::new();
    for (label, op) in operations(&spec) {
        let Some(security) = op["security"].as_array() else {
            offenders.push(format!("{label}: no security"));
            continue;
        };
        let responses = op["responses"].as_object().unwrap();
        let bearer = security.iter().any(|s| s.get("bearerAuth").is_some());
        if bearer && !responses.contains_key("401") {
            offenders.push(format!("{label}: authenticated but no 401"));
        }
        for status in ["429", "500"] {
            if !responses.contains_key(status) {
                offenders.push(format!("{label}: no {status}"));
            }
        }
        if responses.contains_key("default") {
            offenders.push(format!("{label}: `default` response"));
        }
    }
    assert_none("operations breaking the security/error rule", offenders);
}

#[test]
fn error_bodies_are_problem_details_in_both_media_types() {
    let spec = spec();
    let mut offenders = Vec::new();
    for (label, op) in operations(&spec) {
        for (status, response) in op["responses"].as_object().unwrap() {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let response = resolve(&spec, response);
            for media in ["application/json", "application/problem+json"] {
                if response["content"][media]["schema"]["$ref"] != "#/components/schemas/Error" {
                    offenders.push(format!("{label} {status}: {media} is not Error"));
                }
            }
        }
    }
    assert_none("error responses not declared as Error", offenders);
}

#[test]
fn bodies_are_named_schemas_and_every_reference_resolves() {
    let spec = spec();
    let mut offenders = Vec::new();
    for (label, op) in operations(&spec) {
        let bodies = op["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(m, v)| (format!("request {m}"), v.clone()))
            .chain(
                op["responses"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .flat_map(|(status, r)| {
                        resolve(&spec, r)["content"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(move |(m, v)| (format!("{status} {m}"), v.clone()))
                    }),
            );
        for (what, media) in bodies {
            let schema = &media["schema"];
            let named = schema.get("$ref").is_some()
                || schema["items"].get("$ref").is_some()
                || schema["type"] == "string";
            if !named {
                offenders.push(format!("{label} {what}: inline schema"));
            }
        }
    }
    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    for r in refs {
        if spec.pointer(r.trim_start_matches('#')).is_none() {
            offenders.push(format!("dangling $ref {r}"));
        }
    }
    assert_none("bodies or references breaking the rule", offenders);
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn descriptions_have_no_code_fences() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json")).unwrap();
    // Descriptions become rustdoc, where a fence without a language is compiled as a doctest.
    assert!(!text.contains("```"), "keep descriptions fence-free");
}

/// A closed object would make the generated response struct refuse members the server adds
/// later; unknown members must be ignored.
#[test]
fn no_schema_is_closed_to_new_members() {
    fn walk(value: &Value, at: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if map.get("additionalProperties") == Some(&Value::Bool(false)) {
                    out.push(at.to_owned());
                }
                for (key, inner) in map {
                    walk(inner, &format!("{at}/{key}"), out);
                }
            }
            Value::Array(items) => {
                for (index, inner) in items.iter().enumerate() {
                    walk(inner, &format!("{at}/{index}"), out);
                }
            }
            _ => {}
        }
    }
    let mut offenders = Vec::new();
    walk(&spec(), "", &mut offenders);
    assert_none("additionalProperties: false", offenders);
}

/// The README's list of what the SDK covers says what the spec says: each tag's line lists
/// exactly that tag's operations with a client method, and the total is theirs; an operation
/// marked `x-oz-unpublished` (no client method) is named after the list instead.
#[test]
fn the_readme_lists_every_operation_under_its_tag() {
    let spec = spec();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md at the workspace root");
    let section = readme
        .split("<!-- operations -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /operations -->").next())
        .expect("README.md has an <!-- operations --> section");
    let mut offenders = Vec::new();
    let mut total = 0;
    for tag in spec["tags"].as_array().unwrap() {
        let tag = tag["name"].as_str().unwrap();
        let mut expected: Vec<String> = operations(&spec)
            .into_iter()
            .filter(|(_, op)| op["tags"][0] == tag && op["x-oz-unpublished"] != true)
            .map(|(_, op)| op["operationId"].as_str().unwrap().to_owned())
            .collect();
        total += expected.len();
        let Some(line) = section.lines().find(|l| l.contains(&format!("(`{tag}`)"))) else {
            offenders.push(format!("no line for tag {tag}"));
            continue;
        };
        let listed = line.split_once(':').map_or("", |(_, ops)| ops);
        let mut listed: Vec<String> = listed
            .split(',')
            .map(|op| op.trim().trim_matches('`').to_owned())
            .filter(|op| !op.is_empty())
            .collect();
        expected.sort();
        listed.sort();
        if listed != expected {
            offenders.push(format!(
                "{tag}: README lists {listed:?}, the spec has {expected:?}"
            ));
        }
    }
    if !readme.contains(&format!("({total} in all)")) {
        offenders.push(format!("the README does not say ({total} in all)"));
    }
    let after = readme
        .split("<!-- /operations -->")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap_or_default();
    for (label, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap_or_default();
        if op["x-oz-unpublished"] == true && !after.contains(&format!("`{id}`")) {
            offenders.push(format!(
                "{label} is marked x-oz-unpublished: name it after the list, not in it"
            ));
        }
    }
    assert_none("README.md and openapi.json disagree", offenders);
}
