//! The differences allowed between a fixture body and the SDK's re-encoding of it.
//!
//! A fixture body is decoded into the SDK's type and encoded again; the two JSON values must be
//! equal after these normalisations, each documented in `tests/README.md`:
//!
//! - [`canonical_timestamps`]: RFC 3339 timestamps are compared as instants written the way
//!   chrono writes them (`Z`, fractional digits only when needed);
//! - [`canonical_numbers`]: numbers are compared by value (`1` and `1.0` are the same);
//! - [`drop_absent_empties`]: a member that is `null`, `[]` or `{}` in the fixture may be
//!   missing from the re-encoding (optional fields skipped when empty);
//! - [`drop_pointers`]: members the SDK does not know (a fixture's `unknown_fields`) are not
//!   expected back;
//! - [`same_location`]: a redirect's `Location` as the typed call reports it may have its query
//!   string replaced by `<redacted>` (signed URLs are credentials).
//!
//! ```
//! use oz_conformance::normalise::{comparable, first_difference};
//! use serde_json::json;
//!
//! let fixture = json!({"at": "2025-01-02T03:04:05.000+00:00", "cost": 1, "tags": [], "x": null});
//! let sdk = json!({"at": "2025-01-02T03:04:05Z", "cost": 1.0});
//! let (expected, actual) = comparable(&fixture, &sdk, &[]);
//! assert_eq!(first_difference(&expected, &actual), None);
//! ```

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// Both sides of a comparison with every normalisation applied: `(expected, actual)`.
pub fn comparable(fixture: &Value, reencoded: &Value, unknown_fields: &[String]) -> (Value, Value) {
    let mut expected = fixture.clone();
    drop_pointers(&mut expected, unknown_fields);
    let mut actual = reencoded.clone();
    for value in [&mut expected, &mut actual] {
        canonical_timestamps(value);
        canonical_numbers(value);
    }
    drop_absent_empties(&mut expected, &actual);
    (expected, actual)
}

/// Rewrites every string that is an RFC 3339 timestamp the way chrono serialises a
/// `DateTime<Utc>`.
pub fn canonical_timestamps(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Ok(at) = DateTime::parse_from_rfc3339(s) {
                *s = at
                    .with_timezone(&Utc)
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(canonical_timestamps),
        Value::Object(map) => map.values_mut().for_each(canonical_timestamps),
        _ => {}
    }
}

/// Rewrites every number with an integral value as an integer, so `1.0` equals `1`.
pub fn canonical_numbers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(canonical_numbers),
        Value::Object(map) => map.values_mut().for_each(canonical_numbers),
        _ => {}
    }
}

/// Removes from `expected` the members that are `null`, `[]` or `{}` and that `actual` does
/// not have at the same place.
pub fn drop_absent_empties(expected: &mut Value, actual: &Value) {
    match (expected, actual) {
        (Value::Object(exp), Value::Object(act)) => {
            exp.retain(|key, value| act.contains_key(key) || !is_empty(value));
            for (key, value) in exp.iter_mut() {
                if let Some(other) = act.get(key) {
                    drop_absent_empties(value, other);
                }
            }
        }
        (Value::Array(exp), Value::Array(act)) => {
            for (value, other) in exp.iter_mut().zip(act) {
                drop_absent_empties(value, other);
            }
        }
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Removes the members at these JSON pointers (missing ones are ignored).
pub fn drop_pointers(value: &mut Value, pointers: &[String]) {
    for pointer in pointers {
        let Some((parent, last)) = pointer.rsplit_once('/') else {
            continue;
        };
        let last = last.replace("~1", "/").replace("~0", "~");
        if let Some(Value::Object(map)) = value.pointer_mut(parent) {
            map.remove(&last);
        }
    }
}

/// Whether the SDK's `Location` is the fixture's: equal, or equal up to the query string when
/// the SDK shows the query as `<redacted>`.
pub fn same_location(fixture: &str, sdk: &str) -> bool {
    if fixture == sdk {
        return true;
    }
    match (fixture.split_once('?'), sdk.strip_suffix("?<redacted>")) {
        (Some((base, _)), Some(sdk_base)) => base == sdk_base,
        _ => false,
    }
}

/// The first place where two values differ, as `"<JSON path>: expected .., got .."`, or `None`
/// when they are equal.
pub fn first_difference(expected: &Value, actual: &Value) -> Option<String> {
    difference_at("", expected, actual)
}

fn difference_at(path: &str, expected: &Value, actual: &Value) -> Option<String> {
    let shown = if path.is_empty() { "/" } else { path };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => object_difference(path, e, a),
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Some(format!(
                    "{shown}: expected {} items, got {}",
                    e.len(),
                    a.len()
                ));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .find_map(|(i, (e, a))| difference_at(&format!("{path}/{i}"), e, a))
        }
        (e, a) if e == a => None,
        (e, a) => Some(format!("{shown}: expected {}, got {}", short(e), short(a))),
    }
}

fn object_difference(path: &str, e: &Map<String, Value>, a: &Map<String, Value>) -> Option<String> {
    for (key, value) in e {
        let child = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
        match a.get(key) {
            None => return Some(format!("{child}: expected {}, missing", short(value))),
            Some(other) => {
                if let Some(d) = difference_at(&child, value, other) {
                    return Some(d);
                }
            }
        }
    }
    a.iter()
        .find(|(key, _)| !e.contains_key(*key))
        .map(|(key, value)| format!("{path}/{key}: not in the fixture, got {}", short(value)))
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        let cut: String = text.chars().take(117).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_become_chrono_style() {
        let mut v = json!([
            "2025-01-02T03:04:05.120+01:00",
            "2025-01-02T03:04:05Z",
            "PT2M"
        ]);
        canonical_timestamps(&mut v);
        assert_eq!(
            v,
            json!(["2025-01-02T02:04:05.120Z", "2025-01-02T03:04:05Z", "PT2M"])
        );
    }

    #[test]
    fn integral_floats_become_integers() {
        let mut v = json!({"a": 2.0, "b": 2.5, "c": 3});
        canonical_numbers(&mut v);
        assert_eq!(v, json!({"a": 2, "b": 2.5, "c": 3}));
    }

    #[test]
    fn empties_are_dropped_only_when_the_sdk_left_them_out() {
        let mut expected = json!({"a": null, "b": [], "c": {}, "d": [], "e": {"f": null}});
        drop_absent_empties(&mut expected, &json!({"d": [], "e": {}}));
        assert_eq!(expected, json!({"d": [], "e": {}}));
        let mut kept = json!({"a": 0, "b": ""});
        drop_absent_empties(&mut kept, &json!({}));
        assert_eq!(kept, json!({"a": 0, "b": ""}));
    }

    #[test]
    fn locations_may_hide_their_query() {
        assert!(same_location(
            "https://s.example/f?sig=1",
            "https://s.example/f?<redacted>"
        ));
        assert!(same_location("https://s.example/f", "https://s.example/f"));
        assert!(!same_location(
            "https://s.example/f?sig=1",
            "https://s.example/g?<redacted>"
        ));
        assert!(!same_location(
            "https://s.example/f?sig=1",
            "https://s.example/f?sig=2"
        ));
        assert!(!same_location(
            "https://s.example/f",
            "https://s.example/f?<redacted>"
        ));
    }

    #[test]
    fn pointers_are_removed() {
        let mut v = json!({"runs": [{"id": 1, "new": true}], "x/y": 1});
        drop_pointers(
            &mut v,
            &["/runs/0/new".into(), "/x~1y".into(), "/nope/z".into()],
        );
        assert_eq!(v, json!({"runs": [{"id": 1}]}));
    }

    #[test]
    fn differences_name_the_json_path() {
        let d = first_difference(
            &json!({"runs": [{"state": "A"}]}),
            &json!({"runs": [{"state": "B"}]}),
        );
        assert_eq!(
            d.as_deref(),
            Some("/runs/0/state: expected \"A\", got \"B\"")
        );
        let d = first_difference(&json!({"a": 1}), &json!({"a": 1, "b": 2}));
        assert_eq!(d.as_deref(), Some("/b: not in the fixture, got 2"));
        let d = first_difference(&json!({"a": 1}), &json!({}));
        assert_eq!(d.as_deref(), Some("/a: expected 1, missing"));
        assert_eq!(first_difference(&json!([1]), &json!([1])), None);
    }
}
