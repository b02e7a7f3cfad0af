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
///
/// Its `Debug` is the variant and the one line of its `Display`, so that `?` in `main` says
/// what to do:
///
/// ```
/// let err = oz_api::MetadataFilter::new().with("", "x").unwrap_err();
/// assert_eq!(
///     format!("{err:?}"),
///     "EmptyKey: a metadata filter key must not be empty: name the metadata key to match"
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataFilterError {
    /// More than [`MetadataFilter::MAX_PAIRS`] pairs.
    TooManyPairs,
    /// A key is empty.
    EmptyKey,
    /// A key contains `[` or `]`, which the query syntax cannot carry.
    BracketInKey(String),
}

impl fmt::Debug for MetadataFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            Self::TooManyPairs => "TooManyPairs",
            Self::EmptyKey => "EmptyKey",
            Self::BracketInKey(_) => "BracketInKey",
        };
        write!(f, "{variant}: {self}")
    }
}

impl fmt::Display for MetadataFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyPairs => write!(
                f,
                "a metadata filter takes at most {} key/value pairs: filter on the most selective \
                 ones and check the others on the runs listed",
                MetadataFilter::MAX_PAIRS
            ),
            Self::EmptyKey => f.write_str(
                "a metadata filter key must not be empty: name the metadata key to match",
            ),
            // `{:?}` escapes line breaks and quotes, so a key keeps the message on one line.
            Self::BracketInKey(key) => write!(
                f,
                "metadata filter key {key:?} must not contain '[' or ']', which the query \
                 syntax cannot carry: filter on another key or check it on the runs listed"
            ),
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

    #[test]
    fn debug_is_the_variant_and_the_one_line_that_says_what_to_do() {
        let too_many = MetadataFilter::try_from([
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("d", "4"),
            ("e", "5"),
            ("f", "6"),
        ])
        .unwrap_err();
        assert_eq!(
            format!("{too_many:?}"),
            "TooManyPairs: a metadata filter takes at most 5 key/value pairs: filter on the most \
             selective ones and check the others on the runs listed"
        );
        let bracket = MetadataFilter::new().with("a[b]\nc", "x").unwrap_err();
        assert_eq!(
            format!("{bracket:?}"),
            "BracketInKey: metadata filter key \"a[b]\\nc\" must not contain '[' or ']', which \
             the query syntax cannot carry: filter on another key or check it on the runs listed"
        );
        let empty = MetadataFilter::new().with("", "x").unwrap_err();
        assert_eq!(format!("{empty:?}"), format!("EmptyKey: {empty}"));
        for err in [too_many, bracket, empty] {
            assert!(!format!("{err:?}").contains('\n'), "{err:?}");
            assert!(!format!("{err:#?}").contains('\n'), "{err:#?}");
        }
    }
}
