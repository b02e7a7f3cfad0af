//! Reading raw JSON request bodies field by field, with problems that name the field.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// The body as a JSON object.
pub(crate) fn object(body: &Value) -> ApiResult<&Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| ApiError::invalid_request("the body must be a JSON object"))
}

/// A string field that must be present and not blank.
pub(crate) fn required_str<'a>(body: &'a Map<String, Value>, key: &str) -> ApiResult<&'a str> {
    match body.get(key) {
        None | Some(Value::Null) => Err(ApiError::invalid_request(format!("{key} is required"))),
        Some(Value::String(s)) if s.trim().is_empty() => Err(ApiError::invalid_request(format!(
            "{key} must not be empty"
        ))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::invalid_request(format!("{key} must be a string"))),
    }
}

/// A string field that must be present (it may be empty).
pub(crate) fn string(body: &Map<String, Value>, key: &str) -> ApiResult<String> {
    optional_str(body, key)?
        .map(str::to_owned)
        .ok_or_else(|| ApiError::invalid_request(format!("{key} is required")))
}

/// An optional string field (`null` counts as absent).
pub(crate) fn optional_str<'a>(
    body: &'a Map<String, Value>,
    key: &str,
) -> ApiResult<Option<&'a str>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid_request(format!("{key} must be a string"))),
    }
}

/// A nullable string field of a partial update: absent → `None`, `null` → `Some(None)`.
pub(crate) fn nullable_str<'a>(
    body: &'a Map<String, Value>,
    key: &str,
) -> ApiResult<Option<Option<&'a str>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s))),
        Some(_) => Err(ApiError::invalid_request(format!(
            "{key} must be a string or null"
        ))),
    }
}

/// An optional array field (`null` counts as absent).
pub(crate) fn optional_array<'a>(
    body: &'a Map<String, Value>,
    key: &str,
) -> ApiResult<&'a [Value]> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(ApiError::invalid_request(format!("{key} must be an array"))),
    }
}

/// An optional boolean field (`null` counts as absent).
pub(crate) fn optional_bool(body: &Map<String, Value>, key: &str) -> ApiResult<Option<bool>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid_request(format!(
            "{key} must be a boolean"
        ))),
    }
}

/// A boolean field that must be present.
pub(crate) fn required_bool(body: &Map<String, Value>, key: &str) -> ApiResult<bool> {
    optional_bool(body, key)?.ok_or_else(|| ApiError::invalid_request(format!("{key} is required")))
}

/// An optional object field (`null` counts as absent).
pub(crate) fn optional_object<'a>(
    body: &'a Map<String, Value>,
    key: &str,
) -> ApiResult<Option<&'a Map<String, Value>>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(ApiError::invalid_request(format!(
            "{key} must be an object"
        ))),
    }
}

/// An optional map of strings (`metadata`); absent or `null` is empty.
pub(crate) fn string_map(
    body: &Map<String, Value>,
    key: &str,
) -> ApiResult<std::collections::BTreeMap<String, String>> {
    let Some(map) = optional_object(body, key)? else {
        return Ok(Default::default());
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(ApiError::invalid_request(format!(
                "{key}.{k} must be a string"
            ))),
        })
        .collect()
}

/// An array of strings that must be present.
pub(crate) fn required_strings<'a>(
    body: &'a Map<String, Value>,
    key: &str,
) -> ApiResult<Vec<&'a str>> {
    match body.get(key) {
        None | Some(Value::Null) => Err(ApiError::invalid_request(format!("{key} is required"))),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().ok_or_else(|| {
                    ApiError::invalid_request(format!("{key}[{i}] must be a string"))
                })
            })
            .collect(),
        Some(_) => Err(ApiError::invalid_request(format!("{key} must be an array"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn problems_name_the_field() {
        let body = json!({"title": " ", "n": 3, "d": null, "list": {}});
        let map = object(&body).expect("object");
        let detail = |e: ApiError| e.detail.unwrap_or_default();
        assert_eq!(
            detail(required_str(map, "prompt").unwrap_err()),
            "prompt is required"
        );
        assert_eq!(
            detail(required_str(map, "title").unwrap_err()),
            "title must not be empty"
        );
        assert_eq!(
            detail(optional_str(map, "n").unwrap_err()),
            "n must be a string"
        );
        assert_eq!(nullable_str(map, "d").expect("null"), Some(None));
        assert_eq!(nullable_str(map, "x").expect("absent"), None);
        assert!(optional_array(map, "list").is_err());
        assert_eq!(
            detail(optional_bool(map, "title").unwrap_err()),
            "title must be a boolean"
        );
        assert_eq!(
            detail(required_bool(map, "flag").unwrap_err()),
            "flag is required"
        );
        assert!(optional_object(map, "list").expect("object").is_some());
        let labels = json!({"metadata": {"a": "1", "b": 2}});
        assert_eq!(
            detail(string_map(object(&labels).expect("object"), "metadata").unwrap_err()),
            "metadata.b must be a string"
        );
        let to = json!({"to": ["r1", 2]});
        assert_eq!(
            detail(required_strings(object(&to).expect("object"), "to").unwrap_err()),
            "to[1] must be a string"
        );
        assert!(object(&json!([1])).is_err());
    }
}
