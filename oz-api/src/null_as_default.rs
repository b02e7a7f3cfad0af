//! `null` for an optional list or map of the generated types: decoded as absent.
//!
//! openapi.json leaves these members out of `required`, and the generated types hold them as
//! an empty `Vec` or map when they are missing. Many backends write `null` for an empty list,
//! which serde refuses for a `Vec`; `cargo xtask regen` points every such member at
//! [`deserialize`], so `"artifacts": null` reads as no artifacts (members held in an `Option`
//! already take `null` as `None`).

use serde::{Deserialize, Deserializer};

/// Decodes `null` as `T::default()`, any other value as `T`.
pub(crate) fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Holder {
        #[serde(default, deserialize_with = "super::deserialize")]
        items: Vec<u32>,
    }

    #[test]
    fn null_and_absence_read_alike_and_values_still_decode() {
        let decode = |text: &str| serde_json::from_str::<Holder>(text);
        assert_eq!(
            decode(r#"{"items": null}"#).unwrap().items,
            Vec::<u32>::new()
        );
        assert_eq!(decode("{}").unwrap().items, Vec::<u32>::new());
        assert_eq!(decode(r#"{"items": [1, 2]}"#).unwrap().items, vec![1, 2]);
        assert!(decode(r#"{"items": "x"}"#).is_err());
    }
}
