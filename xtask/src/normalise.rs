//! Normalisation of `openapi.json` before it reaches progenitor.
//!
//! Each pass is a small function over the parsed JSON with the reason it exists. The spec keeps
//! describing the service as it is; these passes only adapt it to what progenitor 0.15 can
//! generate. What a pass removes is provided by hand in `oz-api-ext` (see the reasons below).

use std::collections::BTreeSet;

use anyhow::{Result, bail};
use serde_json::{Map, Value};

/// One named step of the normalisation.
pub struct Pass {
    pub name: &'static str,
    pub reason: &'static str,
    pub run: fn(&mut Value) -> Result<()>,
}

/// The passes, in the order they run.
pub const PASSES: &[Pass] = &[
    Pass {
        name: "require_one_success_kind",
        reason: "progenitor asserts at most one success type per operation and panics otherwise \
                 (e.g. 200 JSON + 202 empty); refuse such a spec with the operation ids instead",
        run: require_one_success_kind,
    },
    Pass {
        name: "split_default_responses",
        reason: "progenitor counts a `default` response as both a success and an error kind; \
                 the API only uses it for errors, so it becomes 4XX + 5XX",
        run: split_default_responses,
    },
    Pass {
        name: "drop_deep_object_parameters",
        reason: "progenitor refuses `style: deepObject` query parameters; the `metadata[key]=value` \
                 run filter is added back by hand in oz-api-ext",
        run: drop_deep_object_parameters,
    },
    Pass {
        name: "strip_additional_properties_false",
        reason: "`additionalProperties: false` makes response structs reject fields the server \
                 adds later; unknown fields must be ignored",
        run: strip_additional_properties_false,
    },
    Pass {
        name: "mark_code_fences_as_text",
        reason: "descriptions become rustdoc; a bare code fence is compiled as a Rust doctest",
        run: mark_code_fences_as_text,
    },
];

/// Runs every pass in order.
pub fn run_all(spec: &mut Value) -> Result<()> {
    for pass in PASSES {
        (pass.run)(spec)
            .map_err(|err| err.context(format!("normalisation pass `{}`", pass.name)))?;
    }
    Ok(())
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// Calls `f(operation_label, operation)` for every operation of the spec.
fn for_each_operation(spec: &mut Value, mut f: impl FnMut(&str, &mut Map<String, Value>)) {
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let Some(operation) = operation.as_object_mut() else {
                continue;
            };
            let id = operation
                .get("operationId")
                .and_then(Value::as_str)
                .unwrap_or("<no operationId>")
                .to_owned();
            f(
                &format!("{id} ({} {path})", method.to_uppercase()),
                operation,
            );
        }
    }
}

/// Visits every JSON object of the document, depth first.
fn visit_objects(value: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
    match value {
        Value::Object(map) => {
            f(map);
            for child in map.values_mut() {
                visit_objects(child, f);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| visit_objects(item, f)),
        _ => {}
    }
}

fn require_one_success_kind(spec: &mut Value) -> Result<()> {
    let mut offenders = Vec::new();
    for_each_operation(spec, |label, operation| {
        let Some(responses) = operation.get("responses").and_then(Value::as_object) else {
            return;
        };
        let kinds: BTreeSet<String> = responses
            .iter()
            .filter(|(status, _)| status.starts_with('2') || status.as_str() == "default")
            .map(|(_, response)| success_kind(response))
            .collect();
        if kinds.len() > 1 {
            offenders.push(format!(
                "{label}: {}",
                kinds.into_iter().collect::<Vec<_>>().join(" + ")
            ));
        }
    });
    if !offenders.is_empty() {
        bail!(
            "operations with more than one kind of success response (progenitor supports one):\n  {}",
            offenders.join("\n  ")
        );
    }
    Ok(())
}

/// What a response decodes into, as far as progenitor is concerned.
fn success_kind(response: &Value) -> String {
    match response
        .get("content")
        .and_then(|content| content.get("application/json"))
    {
        Some(media) => format!("json {}", media.get("schema").unwrap_or(&Value::Null)),
        None if response
            .get("content")
            .is_some_and(|c| c.as_object().is_some_and(|c| !c.is_empty())) =>
        {
            "raw body".to_owned()
        }
        None => "no body".to_owned(),
    }
}

fn split_default_responses(spec: &mut Value) -> Result<()> {
    for_each_operation(spec, |_, operation| {
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        if let Some(default) = responses.remove("default") {
            responses.entry("4XX").or_insert_with(|| default.clone());
            responses.entry("5XX").or_insert(default);
        }
    });
    Ok(())
}

fn drop_deep_object_parameters(spec: &mut Value) -> Result<()> {
    for_each_operation(spec, |_, operation| {
        if let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        {
            parameters.retain(|p| p.get("style").and_then(Value::as_str) != Some("deepObject"));
        }
    });
    Ok(())
}

fn strip_additional_properties_false(spec: &mut Value) -> Result<()> {
    visit_objects(spec, &mut |map| {
        if map.get("additionalProperties") == Some(&Value::Bool(false)) {
            map.remove("additionalProperties");
        }
    });
    Ok(())
}

fn mark_code_fences_as_text(spec: &mut Value) -> Result<()> {
    visit_objects(spec, &mut |map| {
        for key in ["description", "summary"] {
            if let Some(Value::String(text)) = map.get_mut(key)
                && text.contains("```")
            {
                *text = fence_as_text(text);
            }
        }
    });
    Ok(())
}

/// Turns every opening fence without a language into a `text` fence.
fn fence_as_text(text: &str) -> String {
    let mut inside = false;
    text.split('\n')
        .map(|line| {
            let trimmed = line.trim_start();
            if !trimmed.starts_with("```") {
                return line.to_owned();
            }
            inside = !inside;
            if inside && trimmed.trim_end() == "```" {
                line.replacen("```", "```text", 1)
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(responses: Value) -> Value {
        json!({"paths": {"/x": {"get": {"operationId": "get_x", "responses": responses}}}})
    }

    #[test]
    fn one_success_kind_passes_and_two_kinds_name_the_operation() {
        let schema = json!({"$ref": "#/components/schemas/A"});
        let mut same = op(json!({
            "200": {"description": "", "content": {"application/json": {"schema": schema}}},
            "206": {"description": "", "content": {"application/json": {"schema": schema}}},
            "404": {"description": ""}
        }));
        require_one_success_kind(&mut same).unwrap();

        let mut mixed = op(json!({
            "200": {"description": "", "content": {"application/json": {"schema": schema}}},
            "202": {"description": ""}
        }));
        let err = require_one_success_kind(&mut mixed)
            .unwrap_err()
            .to_string();
        assert!(err.contains("get_x (GET /x)"), "{err}");
    }

    #[test]
    fn default_response_becomes_client_and_server_error_ranges() {
        let mut spec = op(json!({"200": {"description": "ok"}, "default": {"description": "err"}}));
        split_default_responses(&mut spec).unwrap();
        assert_eq!(
            spec["paths"]["/x"]["get"]["responses"],
            json!({"200": {"description": "ok"}, "4XX": {"description": "err"}, "5XX": {"description": "err"}})
        );
    }

    #[test]
    fn deep_object_parameters_are_dropped_and_others_kept() {
        let mut spec = json!({"paths": {"/runs": {"get": {"parameters": [
            {"name": "state", "in": "query", "style": "form", "explode": true},
            {"name": "metadata", "in": "query", "style": "deepObject", "explode": true}
        ]}}}});
        drop_deep_object_parameters(&mut spec).unwrap();
        assert_eq!(
            spec["paths"]["/runs"]["get"]["parameters"],
            json!([{"name": "state", "in": "query", "style": "form", "explode": true}])
        );
    }

    #[test]
    fn additional_properties_false_is_removed_but_maps_are_kept() {
        let mut spec = json!({"components": {"schemas": {
            "Closed": {"type": "object", "additionalProperties": false},
            "Map": {"type": "object", "additionalProperties": {"type": "string"}}
        }}});
        strip_additional_properties_false(&mut spec).unwrap();
        assert_eq!(
            spec["components"]["schemas"],
            json!({"Closed": {"type": "object"}, "Map": {"type": "object", "additionalProperties": {"type": "string"}}})
        );
    }

    #[test]
    fn bare_fences_become_text_fences_and_tagged_ones_stay() {
        let mut spec = json!({"description": "Example:\n```\ncurl x\n```\nand\n```json\n{}\n```"});
        mark_code_fences_as_text(&mut spec).unwrap();
        assert_eq!(
            spec["description"],
            json!("Example:\n```text\ncurl x\n```\nand\n```json\n{}\n```")
        );
    }

    #[test]
    fn every_pass_has_a_name_and_a_reason() {
        let names: BTreeSet<_> = PASSES.iter().map(|p| p.name).collect();
        assert_eq!(names.len(), PASSES.len());
        assert!(PASSES.iter().all(|p| !p.reason.is_empty()));
    }
}
