//! Typed client for Warp's Oz Agent API (cloud coding agents).
//!
//! The client and its types are generated from the project's `openapi.json` by
//! `cargo xtask regen`; every operation is a method on [`Client`] in builder style, ending in
//! `send()`. This crate adds what must sit next to the generated client: configuration
//! ([`Config`]), the retry and tracing hook with its pauses ([`time`]), the error of every
//! operation ([`Error`], one line when printed, classified by its methods), and the
//! forward-compatible enums (every enum the server owns has an `Unknown` variant that keeps
//! values this version does not know).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use oz_api::types::{RunAgentRequest, RunState};
//!
//! let client = oz_api::Client::from_env()?; // WARP_API_KEY, WARP_BASE_URL
//! let started = client
//!     .create_run()
//!     .body(RunAgentRequest::builder().prompt("Fix the flaky test in ci.yml"))
//!     .send()
//!     .await?;
//! let failed = client
//!     .list_runs()
//!     .state([RunState::Failed, RunState::Error])
//!     .limit(50)
//!     .send()
//!     .await?;
//! println!("started {}, {} recent failures", started.run_id, failed.runs.len());
//! # Ok(()) }
//! ```
//!
//! Request bodies are built through their builders (`RunAgentRequest::builder()`): the
//! generated structs are `#[non_exhaustive]`, so a member the API adds later is not a breaking
//! change. Setters take the obvious spelling: text as `&str` or `String`, an optional member as
//! its value, `Some`/`None` or its type's builder ([`IntoOption`]), a list or a repeatable
//! filter as one value or many ([`OneOrMany`]). Timestamps are [`chrono`]'s, re-exported here;
//! a file to attach is [`AttachmentInput::from_path`](types::AttachmentInput::from_path).
//!
//! The crate builds for `wasm32-unknown-unknown` too (browsers, edge workers; without its
//! default features), on the runtime's `fetch` and JavaScript's timer. There its futures are
//! not `Send` ([`MaybeSend`]), the network settings the runtime owns (proxies, root
//! certificates, connection time limit) and [`Config::layer`] do not exist, and a call's
//! deadline bounds each attempt rather than the whole call.
//!
//! Most applications want the workflows of `oz-api-ext` (pagination streams, waiting for a
//! run, transcript downloads), which re-exports this crate.
//!
//! Every call can be tuned: `with_options(`[`RequestOptions`]`)` on any operation builder (and
//! on every workflow of `oz-api-ext`) sets a deadline for the call, its retries and extra
//! headers. Code of your own runs around every attempt through [`Config::layer`] (tower
//! layers; see [`middleware`]). Every call is a `tracing` span (`oz_api.call`, target
//! `oz_api`) with a child span per attempt whose fields follow OpenTelemetry's HTTP client
//! conventions; with the feature `opentelemetry`, each request carries the W3C `traceparent`
//! of its attempt's span.
//!
//! # Configuration
//!
//! [`Config`] holds every setting; [`Config::from_env`] (and [`Client::from_env`]) read the
//! environment.
//!
#![doc = include_str!("../docs/configuration.md")]
//!
//! # Feature flags
//!
#![cfg_attr(feature = "document-features", doc = document_features::document_features!())]
#![cfg_attr(
    not(feature = "document-features"),
    doc = "The features and what each selects are listed in the crate's `Cargo.toml` (and on \
           docs.rs, where this section shows them)."
)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Every public item of the generated code is documented (missing_docs applies to it too): from
// openapi.json's descriptions, or by xtask/src/docs.rs for what the spec leaves implicit (enum
// variants get their JSON value, fields of a named type its summary). rustdoc's lints stay on:
// the generator escapes the spec's prose for rustdoc.
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, unused)]
mod generated;

mod artifact;
mod attachment;
mod client_info;
mod conditional;
mod config;
mod error;
mod error_body;
mod hooks;
mod input;
mod metadata_filter;
#[cfg(not(target_arch = "wasm32"))]
pub mod middleware;
mod null_as_default;
mod options;
mod path_segment;
pub mod realtime;
pub mod redaction;
mod retry;
pub mod time;
mod transport;

pub use attachment::DEFAULT_MEDIA_TYPE;
/// The date-time library of the types' timestamps (`created_after` filters, `created_at`
/// fields), re-exported so an application needs no dependency of its own:
/// `oz_api::chrono::{TimeDelta, Utc}`.
pub use chrono;
pub use conditional::Conditional;
pub use config::{
    API_KEY_ENV, BASE_URL_ENV, CUSTOM_HEADERS_ENV, Config, ConfigError, DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT,
    DEFAULT_USER_AGENT, WARP_BASE_URL_ENV, WARP_CUSTOM_HEADERS_ENV,
};
pub use error::Error;
pub use generated::*;
pub use hooks::{ClientState, redirect_location};
pub use input::{IntoOption, OneOrMany};
pub use metadata_filter::{MetadataFilter, MetadataFilterError};
pub use options::RequestOptions;
pub use realtime::{EventStreamMemo, REALTIME_URL_ENV, StreamAgentEvents, WARP_REALTIME_URL_ENV};
/// The HTTP library of the client, for what [`Config`] takes from it
/// ([`reqwest::Proxy`], a prepared [`reqwest::Client`]) at the version the client is built with.
pub use reqwest;
pub use transport::http_client_builder;

/// `Send` on every target but `wasm32`, where nothing is: the bound of the futures the client
/// returns (`send_owned`, [`time::Sleep`]).
///
/// On native targets every future of the client can be spawned on a multi-threaded runtime;
/// in a browser or an edge worker (`wasm32-unknown-unknown`) requests are JavaScript promises,
/// which stay on their thread, and so do the client's futures. Code generic over both writes
/// `F: Future + MaybeSend`; it never needs to be implemented by hand.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}

/// `Send` on every target but `wasm32`, where nothing is: the bound of the futures the client
/// returns (`send_owned`, [`time::Sleep`]).
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// The crate README's examples (the page crates.io shows), compiled as doctests so they never
/// drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
