//! Conformance tests of the Oz API SDK against recorded HTTP exchanges.
//!
//! The tests live in `tests/tests/`; this library is their harness:
//!
//! - [`fixture`]: one JSON file per exchange under `tests/fixtures/<operation_id>/<case>.json`;
//! - [`spec`]: the operations of `openapi.json` and the validation of fixture bodies against it;
//! - [`replay`]: a local server that answers with a fixture and checks the SDK's request;
//! - [`dispatch`] and [`workflows`]: drive a fixture through the typed `oz-api` call and the
//!   `oz-api-ext` workflow of its operation; [`dispatch_table`] holds the typed call of every
//!   operation, generated from `openapi.json` by `cargo xtask regen`;
//! - [`check`]: replays one fixture and lists what does not conform;
//! - [`normalise`]: the documented differences allowed between a fixture body and its
//!   decoded-then-re-encoded value;
//! - [`redact`] and [`record`]: record mode, which writes new fixtures from the live service.
//!
//! See `tests/README.md` for the fixture format and how to run each part.
#![forbid(unsafe_code)]

#[path = "harness/check.rs"]
pub mod check;
#[path = "harness/dispatch.rs"]
pub mod dispatch;
#[path = "harness/dispatch_table.rs"]
#[rustfmt::skip]
pub mod dispatch_table;
#[path = "harness/fixture.rs"]
pub mod fixture;
#[path = "harness/normalise.rs"]
pub mod normalise;
#[path = "harness/record.rs"]
pub mod record;
#[path = "harness/redact.rs"]
pub mod redact;
#[path = "harness/replay.rs"]
pub mod replay;
#[path = "harness/spec.rs"]
pub mod spec;
#[path = "harness/workflows.rs"]
pub mod workflows;

pub use dispatch::Outcome;

/// The examples of the repository's README, compiled as doctests so they never drift from the
/// API (each published crate compiles its own README the same way).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct RepositoryReadmeDoctests;
pub use fixture::{Fixture, FixtureRequest, FixtureResponse, LoadedFixture, SpecExempt};
pub use spec::{Operation, Spec};
