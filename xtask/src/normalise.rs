//! Normalisation of `openapi.json` before it reaches progenitor.
//!
//! Each pass is a small function over the parsed JSON with the reason it exists. The spec keeps
//! describing the service as it is; these passes only adapt it to what progenitor 0.15 can
//! generate. What a pass removes is provided by hand in `oz-api-ext` (see the reasons below).
//!
//! What the spec itself must not contain (a `default` response, `additionalProperties: false`,
//! a code fence in a description) is a rule of `tests/tests/spec_rules.rs`, not a pass: a rule
//! keeps the spec honest, a pass that never fires would only hide a broken one.

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
        name: "drop_unpublished_operations",
        reason: "operations marked `x-oz-unpublished: true` are what the service does in \
                 production but the vendor's published spec leaves out (the real-time event \
                 stream `stream_agent_events`); they get no client method: oz-api-ext reads \
                 them by hand (a server-sent event stream is nothing progenitor can read)",
        run: drop_unpublished_operations,
    },
    Pass {
        name: "require_one_success_kind",
        reason: "progenitor asserts at most one success type per operation and panics otherwise \
                 (e.g. 200 JSON + 202 empty); refuse such a spec with the operation ids instead",
        run: require_one_success_kind,
    },
    Pass {
        name: "name_deep_object_parameters",
        reason: "progenitor refuses `style: deepObject` query parameters; each one becomes a form \
                 parameter of a named schema (`x-oz-deep-object`) that the generator replaces with \
                 a hand-written type writing `name[key]=value` (e.g. oz_api::MetadataFilter)",
        run: name_deep_object_parameters,
    },
    Pass {
        name: "widen_integer_enums",
        reason: "typify turns an integer `enum` (a format version such as `metricsVersion: 1`) \
                 into a newtype that rejects every other number, so the next version the server \
                 sends would fail the whole answer; the values stay in the description",
        run: widen_integer_enums,
    },
    Pass {
        name: "cover_undeclared_error_statuses",
        reason: "a proxy or a newer server can answer any 4xx/5xx (502, 503, 418...); an \
                 operation's declared error body also describes those, so they decode as problem \
                 bodies with their status instead of arriving as unexpected responses",
        run: cover_undeclared_error_statuses,
    },
    Pass {
        name: "relax_error_bodies",
        reason: "error bodies come from many layers (legacy handlers, proxies) and a missing field \
                 must not turn a 404 into a decode error that loses the status; schemas used only \
                 by 4xx/5xx responses lose their `required` lists",
        run: relax_error_bodies,
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

/// Calls `f` with the `responses` map of every operation that has one.
fn for_each_responses(spec: &mut Value, mut f: impl FnMut(&mut Map<String, Value>)) {
    for_each_operation(spec, |_, operation| {
        if let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        {
            f(responses);
        }
    });
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

/// Marker of an operation that the vendor's published spec leaves out.
pub const UNPUBLISHED_MARKER: &str = "x-oz-unpublished";

/// Whether an operation object is marked [`UNPUBLISHED_MARKER`].
pub fn is_unpublished(operation: &Value) -> bool {
    operation.get(UNPUBLISHED_MARKER).and_then(Value::as_bool) == Some(true)
}

/// The operations marked [`UNPUBLISHED_MARKER`], as `id (METHOD /path)`.
pub fn unpublished_operations(spec: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            if METHODS.contains(&method.as_str()) && is_unpublished(operation) {
                let id = operation["operationId"]
                    .as_str()
                    .unwrap_or("<no operationId>");
                found.push(format!("{id} ({} {path})", method.to_uppercase()));
            }
        }
    }
    found
}

fn drop_unpublished_operations(spec: &mut Value) -> Result<()> {
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    for item in paths.values_mut() {
        if let Some(item) = item.as_object_mut() {
            item.retain(|key, operation| {
                !(METHODS.contains(&key.as_str()) && is_unpublished(operation))
            });
        }
    }
    // A path left without operations (only its `servers` or `parameters`) is no path.
    paths.retain(|_, item| {
        item.as_object()
            .is_none_or(|item| item.keys().any(|key| METHODS.contains(&key.as_str())))
    });
    Ok(())
}

/// `spec` without its unpublished operations: what the generated client and its glue cover.
pub fn published(spec: &Value) -> Value {
    let mut spec = spec.clone();
    // The pass cannot fail.
    let _ = drop_unpublished_operations(&mut spec);
    spec
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

/// Marker on the schemas made by [`name_deep_object_parameters`]; the value is the parameter name.
pub const DEEP_OBJECT_MARKER: &str = "x-oz-deep-object";

fn name_deep_object_parameters(spec: &mut Value) -> Result<()> {
    let mut named = Vec::new();
    for_each_operation(spec, |_, operation| {
        let id = operation
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        else {
            return;
        };
        for parameter in parameters {
            if parameter.get("style").and_then(Value::as_str) != Some("deepObject") {
                continue;
            }
            let name = parameter["name"].as_str().unwrap_or_default().to_owned();
            let type_name = format!("{}{}", pascal_case(&id), pascal_case(&name));
            let mut schema = parameter["schema"].take();
            schema[DEEP_OBJECT_MARKER] = Value::String(name);
            parameter["schema"] =
                serde_json::json!({"$ref": format!("#/components/schemas/{type_name}")});
            parameter["style"] = Value::String("form".to_owned());
            named.push((type_name, schema));
        }
    });
    if !named.is_empty() {
        let schemas = spec
            .pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| anyhow::anyhow!("the spec has no components.schemas"))?;
        for (type_name, schema) in named {
            schemas.insert(type_name, schema);
        }
    }
    Ok(())
}

fn pascal_case(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
                .collect::<String>()
        })
        .collect()
}

fn widen_integer_enums(spec: &mut Value) -> Result<()> {
    visit_objects(spec, &mut |map| {
        if map.get("type").and_then(Value::as_str) != Some("integer") {
            return;
        }
        let Some(Value::Array(values)) = map.remove("enum") else {
            return;
        };
        let known: Vec<String> = values.iter().map(Value::to_string).collect();
        let note = format!("Known values: {}.", known.join(", "));
        let description = match map.get("description").and_then(Value::as_str) {
            Some(text) => format!("{text} {note}"),
            None => note,
        };
        map.insert("description".into(), Value::String(description));
    });
    Ok(())
}

fn cover_undeclared_error_statuses(spec: &mut Value) -> Result<()> {
    for_each_responses(spec, |responses| {
        // The body of the lowest declared status of each class serves the whole class.
        for class in ["4", "5"] {
            let range = format!("{class}XX");
            if responses.contains_key(&range) {
                continue;
            }
            let declared = responses
                .iter()
                .filter(|(status, _)| status.starts_with(class))
                .min_by(|a, b| a.0.cmp(b.0))
                .map(|(_, response)| response.clone());
            if let Some(response) = declared {
                responses.insert(range, response);
            }
        }
    });
    Ok(())
}

fn relax_error_bodies(spec: &mut Value) -> Result<()> {
    let mut error_refs = BTreeSet::new();
    let mut other_refs = BTreeSet::new();
    let snapshot = spec.clone();
    for_each_operation(spec, |_, operation| {
        if let Some(responses) = operation.get("responses").and_then(Value::as_object) {
            for (status, response) in responses {
                let response = response
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| snapshot.pointer(r.trim_start_matches('#')))
                    .unwrap_or(response);
                let target = if status.starts_with('4') || status.starts_with('5') {
                    &mut error_refs
                } else {
                    &mut other_refs
                };
                collect_schema_refs(response, target);
            }
        }
        if let Some(body) = operation.get("requestBody") {
            collect_schema_refs(body, &mut other_refs);
        }
    });
    for name in error_refs.difference(&other_refs) {
        if let Some(schema) = spec
            .pointer_mut(&format!("/components/schemas/{name}"))
            .and_then(Value::as_object_mut)
        {
            schema.remove("required");
        }
    }
    Ok(())
}

/// Names of the component schemas referenced directly inside `value`.
fn collect_schema_refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.insert(name.to_owned());
            }
            map.values().for_each(|v| collect_schema_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_schema_refs(v, out)),
        _ => {}
    }
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
    fn deep_object_parameters_become_named_form_parameters() {
        let map = json!({"type": "object", "additionalProperties": {"type": "string"}});
        let mut spec = json!({
            "paths": {"/runs": {"get": {"operationId": "list_runs", "parameters": [
                {"name": "state", "in": "query", "style": "form", "explode": true},
                {"name": "metadata", "in": "query", "style": "deepObject", "explode": true, "schema": map}
            ]}}},
            "components": {"schemas": {}}
        });
        name_deep_object_parameters(&mut spec).unwrap();
        assert_eq!(
            spec["paths"]["/runs"]["get"]["parameters"],
            json!([
                {"name": "state", "in": "query", "style": "form", "explode": true},
                {"name": "metadata", "in": "query", "style": "form", "explode": true,
                 "schema": {"$ref": "#/components/schemas/ListRunsMetadata"}}
            ])
        );
        assert_eq!(
            spec["components"]["schemas"]["ListRunsMetadata"],
            json!({"type": "object", "additionalProperties": {"type": "string"}, "x-oz-deep-object": "metadata"})
        );
    }

    #[test]
    fn integer_enums_become_plain_integers_that_name_their_known_values() {
        let mut spec = json!({"components": {"schemas": {
            "Envelope": {"type": "object", "properties": {
                "version": {"type": "integer", "enum": [1], "description": "Format version."},
                "kind": {"type": "string", "enum": ["A", "B"]}
            }}
        }}});
        widen_integer_enums(&mut spec).unwrap();
        assert_eq!(
            spec["components"]["schemas"]["Envelope"]["properties"],
            json!({
                "version": {"type": "integer", "description": "Format version. Known values: 1."},
                "kind": {"type": "string", "enum": ["A", "B"]}
            })
        );
    }

    #[test]
    fn undeclared_error_statuses_share_the_declared_error_body() {
        let error = json!({"$ref": "#/components/responses/NotFound"});
        let mut spec =
            op(json!({"200": {"description": "ok"}, "404": error, "500": {"description": "e"}}));
        cover_undeclared_error_statuses(&mut spec).unwrap();
        let responses = &spec["paths"]["/x"]["get"]["responses"];
        assert_eq!(responses["4XX"], error);
        assert_eq!(responses["5XX"], json!({"description": "e"}));
        assert!(responses.get("2XX").is_none());
    }

    #[test]
    fn schemas_of_error_bodies_lose_required_but_shared_ones_keep_it() {
        let mut spec = json!({
            "paths": {"/x": {"get": {"operationId": "get_x", "responses": {
                "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                "404": {"$ref": "#/components/responses/NotFound"},
                "500": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
            }}}},
            "components": {
                "responses": {"NotFound": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
                "schemas": {
                    "Error": {"type": "object", "required": ["type", "title"]},
                    "Thing": {"type": "object", "required": ["id"]}
                }
            }
        });
        relax_error_bodies(&mut spec).unwrap();
        assert_eq!(
            spec["components"]["schemas"]["Error"],
            json!({"type": "object"})
        );
        assert_eq!(
            spec["components"]["schemas"]["Thing"]["required"],
            json!(["id"])
        );
    }

    #[test]
    fn unpublished_operations_and_the_paths_they_leave_empty_are_dropped() {
        let ok = json!({"200": {"description": "ok"}});
        let mut spec = json!({"paths": {
            "/events": {"get": {"operationId": "poll_events", "responses": ok}},
            "/events/stream": {
                "servers": [{"url": "https://rtc.example/api/v1"}],
                "get": {"operationId": "stream_events", "x-oz-unpublished": true, "responses": ok}
            },
            "/things": {
                "get": {"operationId": "list_things", "x-oz-unpublished": false, "responses": ok},
                "post": {"operationId": "watch_things", "x-oz-unpublished": true, "responses": ok}
            }
        }});
        assert_eq!(
            unpublished_operations(&spec),
            [
                "stream_events (GET /events/stream)",
                "watch_things (POST /things)"
            ]
        );
        assert_eq!(published(&spec)["paths"].as_object().unwrap().len(), 2);
        drop_unpublished_operations(&mut spec).unwrap();
        assert_eq!(
            spec["paths"],
            json!({
                "/events": {"get": {"operationId": "poll_events", "responses": ok}},
                "/things": {"get": {"operationId": "list_things", "x-oz-unpublished": false, "responses": ok}}
            })
        );
        assert!(unpublished_operations(&spec).is_empty());
    }

    #[test]
    fn every_pass_has_a_name_and_a_reason() {
        let names: BTreeSet<_> = PASSES.iter().map(|p| p.name).collect();
        assert_eq!(names.len(), PASSES.len());
        assert!(PASSES.iter().all(|p| !p.reason.is_empty()));
    }
}
