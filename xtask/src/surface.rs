//! `cargo xtask surface-diff FILE`: what an official SDK's surface has that our spec lacks.
//!
//! A *surface file* lists an SDK's operations as the package exposes them: method, path, each
//! parameter with where it goes (`path`, `query`, `body`, `header:Name`) and its type, and the
//! response as a tree of models whose fields carry a type string (`list[Task] | null`,
//! `enum["A", "B"]`, `map[string, Model]`). It is flattened here into the same facts as
//! [`crate::spec_diff::facts`] produces for an OpenAPI document, so the two compare as sets:
//! - `GET /factory/{}`, `... param query:stage = TRIAGE` (repeatable or not), `... param header:x-warp-team-uid`;
//! - `POST /factory/{}/tasks body .title` (top-level body members; the SDK does not expand the
//!   types of nested request members);
//! - `GET /factory/{} -> ok .tasks[].stage = TRIAGE` — the surface does not know status codes,
//!   so our side counts the fields of every 2xx answer as `ok`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::spec_diff;

/// Flattens a surface file into facts.
pub fn facts(surface: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for op in surface
        .get("operations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let method = op.get("method").and_then(Value::as_str).unwrap_or("?");
        let raw_path = op.get("path").and_then(Value::as_str).unwrap_or("?");
        let op_key = format!(
            "{} {}",
            method.to_uppercase(),
            spec_diff::generic_path(raw_path)
        );
        out.insert(op_key.clone());
        for param in op
            .get("params")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = param.get("name").and_then(Value::as_str).unwrap_or("?");
            let location = param.get("in").and_then(Value::as_str).unwrap_or("?");
            let ty = param.get("type").and_then(Value::as_str).unwrap_or("");
            let key = match location {
                "path" => format!(
                    "{op_key} param path:{}",
                    spec_diff::path_parameter_position(raw_path, name)
                ),
                "body" => format!("{op_key} body .{name}"),
                header if header.starts_with("header:") => {
                    format!("{op_key} param header:{}", header[7..].to_lowercase())
                }
                other => format!("{op_key} param {other}:{name}"),
            };
            out.insert(key.clone());
            // A repeatable parameter takes the same values as a single one.
            add_enum_values(
                &key,
                strip_wrapper(ty, &["list[", "Sequence["]).unwrap_or(ty),
                &mut out,
            );
        }
        for model in op
            .get("response")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add_model_fields(model, &format!("{op_key} -> ok "), &mut out);
        }
    }
    out
}

/// Our facts in the surface's terms: the status of every 2xx answer becomes `ok`.
pub fn our_facts(doc: &Value) -> BTreeSet<String> {
    spec_diff::facts(doc)
        .into_iter()
        .map(|fact| {
            let Some((op, rest)) = fact.split_once(" -> ") else {
                return fact;
            };
            match rest.split_once(' ') {
                Some((status, tail)) if status.starts_with('2') => format!("{op} -> ok {tail}"),
                _ => fact,
            }
        })
        .collect()
}

/// The facts of the surface that `doc` lacks.
pub fn missing(doc: &Value, surface: &Value) -> Vec<String> {
    let ours = our_facts(doc);
    facts(surface).difference(&ours).cloned().collect()
}

fn add_model_fields(model: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    for (name, field) in model
        .get("fields")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let key = format!("{prefix}.{name}");
        out.insert(key.clone());
        let ty = field.get("type").and_then(Value::as_str).unwrap_or("");
        add_enum_values(&key, ty, out);
        let inner = format!("{key}{}", container_suffix(ty));
        for nested in field
            .get("models")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add_model_fields(nested, &inner, out);
        }
    }
}

/// `[]` for a list, `{*}` for a map, nested in order: `list[map[string, X]]` is `[]{*}`.
fn container_suffix(ty: &str) -> String {
    let mut suffix = String::new();
    let mut rest = strip_optional(ty);
    loop {
        if let Some(inner) = strip_wrapper(rest, &["list[", "Sequence[", "Iterable["]) {
            suffix.push_str("[]");
            rest = strip_optional(inner);
        } else if let Some(inner) = strip_wrapper(rest, &["map["]) {
            suffix.push_str("{*}");
            rest = strip_optional(inner.split_once(',').map_or(inner, |(_, v)| v.trim()));
        } else if let Some(inner) = strip_wrapper(rest, &["UnionType[", "Annotated["]) {
            rest = strip_optional(inner.split(',').next().unwrap_or(inner).trim());
        } else {
            return suffix;
        }
    }
}

/// `X | null` is `X`.
fn strip_optional(ty: &str) -> &str {
    ty.trim()
        .strip_suffix("| null")
        .map_or(ty.trim(), str::trim)
}

fn strip_wrapper<'a>(ty: &'a str, openers: &[&str]) -> Option<&'a str> {
    openers
        .iter()
        .find_map(|opener| ty.strip_prefix(opener))
        .and_then(|rest| rest.strip_suffix(']'))
}

/// Every `enum[...]` in a type string, listed under its container suffix.
fn add_enum_values(key: &str, ty: &str, out: &mut BTreeSet<String>) {
    let Some(start) = ty.find("enum[") else {
        return;
    };
    let prefix = &ty[..start];
    let lists: usize = ["list[", "Sequence[", "Iterable["]
        .iter()
        .map(|opener| prefix.matches(opener).count())
        .sum();
    let suffix = "[]".repeat(lists);
    let body = &ty[start + 5..];
    let Some(end) = body.find(']') else {
        return;
    };
    for value in body[..end].split(',') {
        let value = value.trim().trim_matches('"');
        if !value.is_empty() {
            out.insert(format!("{key}{suffix} = {value}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn surface() -> Value {
        json!({"operations": [{
            "method": "GET", "path": "/factory/{uid}/tasks",
            "params": [
                {"name": "uid", "in": "path", "type": "string", "required": true},
                {"name": "stage", "in": "query", "type": "list[enum[\"TRIAGE\", \"SPEC\"]]", "required": false},
                {"name": "team_uid", "in": "header:X-Warp-Team-Uid", "type": "string", "required": false}
            ],
            "response": [{"model": "Page", "fields": {
                "tasks": {"type": "list[Task]", "required": true, "models": [{"model": "Task", "fields": {
                    "stage": {"type": "enum[\"TRIAGE\", \"SPEC\"]", "required": true},
                    "labels": {"type": "map[string, Label] | null", "required": false, "models": [
                        {"model": "Label", "fields": {"color": {"type": "string", "required": true}}}
                    ]}
                }}]}
            }}]
        }]})
    }

    #[test]
    fn a_surface_flattens_into_spec_diff_facts() {
        let f = facts(&surface());
        for expected in [
            "GET /factory/{}/tasks",
            "GET /factory/{}/tasks param path:#1",
            "GET /factory/{}/tasks param query:stage = SPEC",
            "GET /factory/{}/tasks param header:x-warp-team-uid",
            "GET /factory/{}/tasks -> ok .tasks[].stage = TRIAGE",
            "GET /factory/{}/tasks -> ok .tasks[].labels{*}.color",
        ] {
            assert!(f.contains(expected), "{expected} not in {f:#?}");
        }
    }

    #[test]
    fn a_spec_that_has_it_all_misses_nothing_and_a_lacking_one_is_named() {
        let mut spec = json!({"paths": {"/factory/{factoryUid}/tasks": {"get": {
            "parameters": [
                {"name": "factoryUid", "in": "path"},
                {"name": "stage", "in": "query", "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Stage"}}},
                {"name": "X-Warp-Team-Uid", "in": "header"}
            ],
            "responses": {"200": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                "tasks": {"type": "array", "items": {"type": "object", "properties": {
                    "stage": {"$ref": "#/components/schemas/Stage"},
                    "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {"color": {"type": "string"}}}}
                }}}
            }}}}}}
        }}}, "components": {"schemas": {"Stage": {"type": "string", "enum": ["TRIAGE", "SPEC"]}}}});
        assert_eq!(missing(&spec, &surface()), Vec::<String>::new());
        spec["components"]["schemas"]["Stage"]["enum"] = json!(["TRIAGE"]);
        assert_eq!(
            missing(&spec, &surface()),
            [
                "GET /factory/{}/tasks -> ok .tasks[].stage = SPEC",
                "GET /factory/{}/tasks param query:stage = SPEC"
            ]
        );
    }

    #[test]
    fn container_suffixes_follow_nesting() {
        assert_eq!(container_suffix("list[Task] | null"), "[]");
        assert_eq!(container_suffix("map[string, list[X]]"), "{*}[]");
        assert_eq!(container_suffix("UnionType[list[X], Omit]"), "[]");
        assert_eq!(container_suffix("Task | null"), "");
    }

    /// The newest official SDK's surface lives beside the project for its maintainers only; a
    /// fresh clone has no such folder, and the check is skipped with a note.
    #[test]
    fn nothing_of_the_newest_official_sdk_is_missing_from_ours() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let file = root.join("../shared/reference/warp-platform-sdk-1.0.0.surface.json");
        if !file.is_file() {
            eprintln!("skipped: {} is absent", file.display());
            return;
        }
        let ours = spec_diff::load_document(&root.join("openapi.json")).unwrap();
        let theirs = spec_diff::load_document(&file).unwrap();
        let missing = missing(&ours, &theirs);
        assert!(
            missing.is_empty(),
            "warp-platform-sdk 1.0.0 has {} facts openapi.json lacks:\n{}",
            missing.len(),
            missing.join("\n")
        );
    }
}
