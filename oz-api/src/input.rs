//! What the generated setters accept, so the obvious spelling compiles.
//!
//! A setter of an optional member of a request type takes anything [`IntoOption`] of the
//! member's type: the value itself, `Some(value)` or `None`, the member type's builder, and
//! for text members a `&str`, `&String`, `Box<str>` or `Cow<str>` as well. A repeatable query
//! filter, and a list member of a request type, takes anything [`OneOrMany`]: one value, an
//! array, a `Vec` or a slice of them.
//!
//! ```no_run
//! # async fn example(client: &oz_api::Client) -> Result<(), oz_api::Error> {
//! use oz_api::types::{AmbientAgentConfig, RunAgentRequest, RunState};
//!
//! let request = RunAgentRequest::builder()
//!     .prompt("Fix the flaky test")
//!     .title(None)
//!     .config(AmbientAgentConfig::builder().model_id("claude-4-6-opus-high"));
//! let failed = client.list_runs().state(RunState::Failed).send().await?;
//! let ended = client.list_runs().state([RunState::Failed, RunState::Error]).send().await?;
//! # let _ = (request, failed, ended); Ok(()) }
//! ```

use std::borrow::Cow;

use crate::types::error::ConversionError;

/// A value for an optional member: the value itself, `Some(value)`, `None`, the member type's
/// builder (generated impls), or for a text member any borrowed or boxed string.
pub trait IntoOption<T> {
    /// The member's value, `None` for an absent one; an error for a builder that cannot build
    /// its value (a required member missing), which the request's `send()` reports.
    fn into_option(self) -> Result<Option<T>, ConversionError>;
}

impl<T> IntoOption<T> for T {
    fn into_option(self) -> Result<Option<T>, ConversionError> {
        Ok(Some(self))
    }
}

impl<T> IntoOption<T> for Option<T> {
    fn into_option(self) -> Result<Option<T>, ConversionError> {
        Ok(self)
    }
}

impl IntoOption<String> for &str {
    fn into_option(self) -> Result<Option<String>, ConversionError> {
        Ok(Some(self.to_owned()))
    }
}

impl IntoOption<String> for &String {
    fn into_option(self) -> Result<Option<String>, ConversionError> {
        Ok(Some(self.clone()))
    }
}

impl IntoOption<String> for Box<str> {
    fn into_option(self) -> Result<Option<String>, ConversionError> {
        Ok(Some(self.into()))
    }
}

impl IntoOption<String> for Cow<'_, str> {
    fn into_option(self) -> Result<Option<String>, ConversionError> {
        Ok(Some(self.into_owned()))
    }
}

/// The values of a repeatable parameter or a list member: one value, or an array, `Vec`,
/// `VecDeque` or slice of them (for text also of `&str`).
pub trait OneOrMany<T> {
    /// The values, in order.
    fn into_vec(self) -> Vec<T>;
}

impl<T> OneOrMany<T> for T {
    fn into_vec(self) -> Vec<T> {
        vec![self]
    }
}

impl<T> OneOrMany<T> for Vec<T> {
    fn into_vec(self) -> Vec<T> {
        self
    }
}

impl<T, const N: usize> OneOrMany<T> for [T; N] {
    fn into_vec(self) -> Vec<T> {
        self.into()
    }
}

impl<T> OneOrMany<T> for std::collections::VecDeque<T> {
    fn into_vec(self) -> Vec<T> {
        self.into()
    }
}

impl<T> OneOrMany<T> for Box<[T]> {
    fn into_vec(self) -> Vec<T> {
        self.into()
    }
}

impl<T: Clone> OneOrMany<T> for &[T] {
    fn into_vec(self) -> Vec<T> {
        self.to_vec()
    }
}

impl<T: Clone, const N: usize> OneOrMany<T> for &[T; N] {
    fn into_vec(self) -> Vec<T> {
        self.to_vec()
    }
}

impl<T: Clone> OneOrMany<T> for &Vec<T> {
    fn into_vec(self) -> Vec<T> {
        self.clone()
    }
}

impl OneOrMany<String> for &str {
    fn into_vec(self) -> Vec<String> {
        vec![self.to_owned()]
    }
}

impl OneOrMany<String> for &String {
    fn into_vec(self) -> Vec<String> {
        vec![self.clone()]
    }
}

impl<const N: usize> OneOrMany<String> for [&str; N] {
    fn into_vec(self) -> Vec<String> {
        self.into_iter().map(str::to_owned).collect()
    }
}

impl OneOrMany<String> for Vec<&str> {
    fn into_vec(self) -> Vec<String> {
        self.into_iter().map(str::to_owned).collect()
    }
}

impl OneOrMany<String> for &[&str] {
    fn into_vec(self) -> Vec<String> {
        self.iter().map(|text| (*text).to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn optional<T: IntoOption<String>>(value: T) -> Option<String> {
        value.into_option().unwrap()
    }

    fn many<T: OneOrMany<String>>(value: T) -> Vec<String> {
        value.into_vec()
    }

    #[test]
    fn every_spelling_of_a_text_value_converts() {
        let owned = String::from("b");
        assert_eq!(optional("a"), Some("a".to_owned()));
        assert_eq!(optional(&owned), Some("b".to_owned()));
        assert_eq!(optional(owned.clone()), Some("b".to_owned()));
        assert_eq!(optional(Some("c".to_owned())), Some("c".to_owned()));
        assert_eq!(optional(None), None);
        assert_eq!(optional(Cow::Borrowed("d")), Some("d".to_owned()));
        assert_eq!(optional(Box::<str>::from("e")), Some("e".to_owned()));
    }

    #[test]
    fn a_member_given_as_a_builder_is_built_and_one_that_cannot_build_is_named() {
        use crate::types::{AwsProviderConfig, ProvidersConfig};

        let built: ProvidersConfig = ProvidersConfig::builder()
            .aws(AwsProviderConfig::builder().role_arn("arn:aws:iam::1:role/oz"))
            .try_into()
            .unwrap();
        assert_eq!(built.aws.unwrap().role_arn, "arn:aws:iam::1:role/oz");

        let incomplete = ProvidersConfig::builder().aws(AwsProviderConfig::builder());
        let err = ProvidersConfig::try_from(incomplete)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "error converting supplied value for aws: no value supplied for role_arn"
        );
    }

    #[test]
    fn one_value_or_a_collection_becomes_the_list_in_order() {
        let owned = vec!["x".to_owned(), "y".to_owned()];
        let expected = ["x", "y"].map(str::to_owned).to_vec();
        assert_eq!(many("x"), vec!["x".to_owned()]);
        assert_eq!(many(["x", "y"]), expected);
        assert_eq!(many(vec!["x", "y"]), expected);
        assert_eq!(many(&["x", "y"][..]), expected);
        assert_eq!(many(&owned), expected);
        assert_eq!(many(&owned[..]), expected);
        assert_eq!(many(owned), expected);
    }
}
