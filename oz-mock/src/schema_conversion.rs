//! OpenAPI 3.0 schemas as JSON Schema (2020-12), for the request checks of the simulator and
//! the `spec_validation` module:
//!
//! - `nullable: true` becomes a type union with `"null"` (or an `anyOf` with `{"type": "null"}`
//!   when the schema has no `type`, e.g. `allOf` wrappers and `$ref`s), and `null` joins an
//!   `enum`;
//! - OpenAPI-only keywords (`discriminator`, `example`, `xml`, `externalDocs`, `x-*`) are
//!   dropped — only where a schema is expected, so properties with those names stay.

use serde_json::{Map, Value, json};

/// Keywords whose value is one schema.
const SCHEMA_KEYWORDS: [&str; 4] = ["items", "not", "additionalProperties", "propertyNames"];
/// Keywords whose value is a list of schemas.
const SCHEMA_LIST_KEYWORDS: [&str; 3] = ["allOf", "anyOf", "oneOf"];
/// Keywords whose value maps names to schemas.
const SCHEMA_MAP_KEYWORDS: [&str; 3] = ["properties", "patternProperties", "$defs"];
/// OpenAPI keywords JSON Schema does not know.
const OPENAPI_ONLY: [&str; 4] = ["discriminator", "example", "xml", "externalDocs"];

/// Converts one OpenAPI 3.0 schema object into JSON Schema (2020-12).
pub fn convert_schema(schema: &Value) -> Value {
    let Value::Object(object) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        if key.starts_with("x-") || OPENAPI_ONLY.contains(&key.as_str()) || key == "nullable" {
            continue;
        }
        let converted = if SCHEMA_KEYWORDS.contains(&key.as_str()) {
            convert_schema(value)
        } else if SCHEMA_LIST_KEYWORDS.contains(&key.as_str()) {
            match value {
                Value::Array(items) => Value::Array(items.iter().map(convert_schema).collect()),
                other => other.clone(),
            }
        } else if SCHEMA_MAP_KEYWORDS.contains(&key.as_str()) {
            match value {
                Value::Object(map) => Value::Object(
                    map.iter()
                        .map(|(name, s)| (name.clone(), convert_schema(s)))
                        .collect(),
                ),
                other => other.clone(),
            }
        } else {
            value.clone()
        };
        out.insert(key.clone(), converted);
    }
    if object.get("nullable") == Some(&Value::Bool(true)) {
        make_nullable(out)
    } else {
        Value::Object(out)
    }
}

fn make_nullable(mut schema: Map<String, Value>) -> Value {
    if let Some(Value::Array(values)) = schema.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    match schema.get("type").cloned() {
        Some(Value::String(t)) => {
            schema.insert("type".into(), json!([t, "null"]));
            Value::Object(schema)
        }
        Some(Value::Array(mut types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
            schema.insert("type".into(), Value::Array(types));
            Value::Object(schema)
        }
        _ => json!({"anyOf": [Value::Object(schema), {"type": "null"}]}),
    }
}

/// Converts every schema under `components` (schemas, and the schemas inside responses,
/// parameters and request bodies).
pub(crate) fn convert_components(components: &Value) -> Value {
    let Value::Object(sections) = components else {
        return json!({});
    };
    let mut out = Map::new();
    for (section, entries) in sections {
        let converted = match (section.as_str(), entries) {
            ("schemas", Value::Object(map)) => Value::Object(
                map.iter()
                    .map(|(name, s)| (name.clone(), convert_schema(s)))
                    .collect(),
            ),
            (_, other) => convert_nested_schemas(other),
        };
        out.insert(section.clone(), converted);
    }
    Value::Object(out)
}

/// Converts values under a `schema` key anywhere inside `value`.
fn convert_nested_schemas(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if k == "schema" {
                        convert_schema(v)
                    } else {
                        convert_nested_schemas(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(convert_nested_schemas).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_with_type_becomes_a_union() {
        let s = convert_schema(&json!({"type": "string", "nullable": true, "enum": ["a"]}));
        assert_eq!(s, json!({"type": ["string", "null"], "enum": ["a", null]}));
    }

    #[test]
    fn nullable_without_type_wraps_in_any_of() {
        let s = convert_schema(&json!({"allOf": [{"$ref": "#/x"}], "nullable": true}));
        assert_eq!(
            s,
            json!({"anyOf": [{"allOf": [{"$ref": "#/x"}]}, {"type": "null"}]})
        );
    }

    #[test]
    fn openapi_keywords_go_but_properties_with_their_names_stay() {
        let s = convert_schema(&json!({
            "type": "object",
            "discriminator": {"propertyName": "kind"},
            "x-note": "n",
            "example": {},
            "properties": {"example": {"type": "string", "example": "e"}}
        }));
        assert_eq!(
            s,
            json!({"type": "object", "properties": {"example": {"type": "string"}}})
        );
    }
}
