//! The `metadata[key]=value` filter of `list_runs`.

use std::collections::BTreeMap;
use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

/// Runs whose metadata contains every one of these key/value pairs (at most
/// [`MAX_PAIRS`](Self::MAX_PAIRS)), sent as `metadata[key]=value`. Checked when built, so a bad
/// filter never reaches the server.
///
/// ```
/// use oz_api::MetadataFilter;
///
/// let filter = MetadataFilter::new().with("ticket", "VIS-238")?.with("team", "infra")?;
/// assert_eq!(filter.len(), 2);
/// assert!(MetadataFilter::new().with("", "x").is_err());
/// # Ok::<(), oz_api::MetadataFilterError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataFilter {
    pairs: BTreeMap<String, String>,
}

impl MetadataFilter {
    /// The most pairs the API accepts in one filter.
    pub const MAX_PAIRS: usize = 5;

    /// An empty filter (matches every run).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pair, or replaces the value of an existing key.
    pub fn with(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MetadataFilterError> {
        self.insert(key, value)?;
        Ok(self)
    }

    /// Adds a pair, or replaces the value of an existing key.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), MetadataFilterError> {
        let key = key.into();
        if key.is_empty() {
            return Err(MetadataFilterError::EmptyKey);
        }
        if key.contains(['[', ']']) {
            return Err(MetadataFilterError::BracketInKey(key));
        }
        if !self.pairs.contains_key(&key) && self.pairs.len() == Self::MAX_PAIRS {
            return Err(MetadataFilterError::TooManyPairs);
        }
        self.pairs.insert(key, value.into());
        Ok(())
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the filter has no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> TryFrom<Vec<(K, V)>> for MetadataFilter {
    type Error = MetadataFilterError;

    fn try_from(pairs: Vec<(K, V)>) -> Result<Self, Self::Error> {
        pairs
            .into_iter()
            .try_fold(Self::new(), |filter, (k, v)| filter.with(k, v))
    }
}

impl<K: Into<String>, V: Into<String>, const N: usize> TryFrom<[(K, V); N]> for MetadataFilter {
    type Error = MetadataFilterError;

    fn try_from(pairs: [(K, V); N]) -> Result<Self, Self::Error> {
        Self::try_from(Vec::from(pairs))
    }
}

/// Serialised as query pairs `metadata[key]=value`.
impl Serialize for MetadataFilter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.pairs.len()))?;
        for (key, value) in &self.pairs {
            map.serialize_entry(&format!("metadata[{key}]"), value)?;
        }
        map.end()
    }
}

/// Why a metadata filter was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataFilterError {
    /// More than [`MetadataFilter::MAX_PAIRS`] pairs.
    TooManyPairs,
    /// A key is empty.
    EmptyKey,
    /// A key contains `[` or `]`, which the query syntax cannot carry.
    BracketInKey(String),
}

impl fmt::Display for MetadataFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyPairs => write!(
                f,
                "a metadata filter has at most {} key/value pairs",
                MetadataFilter::MAX_PAIRS
            ),
            Self::EmptyKey => f.write_str("a metadata filter key must not be empty"),
            Self::BracketInKey(key) => {
                write!(f, "metadata filter key {key:?} must not contain '[' or ']'")
            }
        }
    }
}

impl std::error::Error for MetadataFilterError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sixth_pair_is_refused_but_replacing_a_key_is_not() {
        let mut filter =
            MetadataFilter::try_from([("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")])
                .unwrap();
        assert_eq!(
            filter.insert("f", "6"),
            Err(MetadataFilterError::TooManyPairs)
        );
        filter.insert("a", "replaced").unwrap();
        assert_eq!(filter.iter().next(), Some(("a", "replaced")));
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(
            MetadataFilter::new().with("", "x"),
            Err(MetadataFilterError::EmptyKey)
        );
        assert!(matches!(
            MetadataFilter::new().with("a[b]", "x"),
            Err(MetadataFilterError::BracketInKey(_))
        ));
    }
}
