//! Query strings as ordered key/value pairs (repeated keys and `metadata[key]` pairs kept).

use crate::error::ApiError;

pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|raw| {
                url::form_urlencoded::parse(raw.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self { pairs }
    }

    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The last value of `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key, in order.
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::invalid_request(format!(
                "{key} must be true or false, got {other:?}"
            ))),
        }
    }

    /// An integer in `min..=max`, or `default` when absent.
    pub(crate) fn int_in(
        &self,
        key: &str,
        min: i64,
        max: i64,
        default: i64,
    ) -> Result<i64, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid_request(format!(
                    "{key} must be an integer between {min} and {max}, got {raw:?}"
                ))),
            },
        }
    }

    /// One of `allowed`, or an invalid_request error naming the parameter.
    pub(crate) fn one_of(
        &self,
        key: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, ApiError> {
        self.get(key).map(|v| one_of(key, v, allowed)).transpose()
    }

    /// Every value of a repeatable enum parameter (repeated keys or comma-separated values),
    /// each one of `allowed`.
    pub(crate) fn all_of(
        &self,
        key: &str,
        allowed: &[&'static str],
    ) -> Result<Vec<&'static str>, ApiError> {
        self.all(key)
            .into_iter()
            .flat_map(|s| s.split(','))
            .map(|s| one_of(key, s, allowed))
            .collect()
    }

    pub(crate) fn date_time(
        &self,
        key: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
        self.get(key)
            .map(|raw| {
                chrono::DateTime::parse_from_rfc3339(raw)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        ApiError::invalid_request(format!(
                            "{key} must be an RFC 3339 date-time, got {raw:?}"
                        ))
                    })
            })
            .transpose()
    }
}

pub(crate) fn one_of(
    key: &str,
    value: &str,
    allowed: &[&'static str],
) -> Result<&'static str, ApiError> {
    allowed
        .iter()
        .copied()
        .find(|a| *a == value)
        .ok_or_else(|| {
            ApiError::invalid_request(format!(
                "{key} must be one of {}, got {value:?}",
                allowed.join(", ")
            ))
        })
}
