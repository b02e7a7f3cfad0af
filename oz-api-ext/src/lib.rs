//! Workflows on top of [`oz_api`].
pub use oz_api;
