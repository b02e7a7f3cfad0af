//! Your own code around every attempt: [tower](https://docs.rs/tower) layers given to
//! [`Config::layer`](crate::Config::layer).
//!
//! Each attempt of a request (the first one and every retry) passes through the layers, in
//! the order they were added (the first added is the outermost), after the client attached the
//! key and before its retry decision sees the answer. A layer sees an
//! `http::Request<reqwest::Body>` whose extensions hold the [`Attempt`] (operation id and
//! attempt number), and answers with an `http::Response<reqwest::Body>` or an error; it may
//! change the request (sign it, add a header), measure it, or answer without calling the
//! network at all (a cache, a circuit breaker). An error of a layer ends the attempt like a
//! connection that broke off (the retry policy decides; the call's
//! [`Error::Connection`](crate::Error::Connection) names the layer's error as its cause).
//!
//! ```
//! use oz_api::middleware::{Attempt, HttpRequest};
//! use tower::ServiceExt;
//!
//! // Signs every attempt with a header of its own.
//! let signing = tower::layer::layer_fn(|inner: oz_api::middleware::HttpService| {
//!     inner.map_request(|mut request: HttpRequest| {
//!         let operation = request.extensions().get::<Attempt>().map_or("", |a| a.operation_id());
//!         let signature = format!("sig-{operation}");
//!         request.headers_mut().insert("x-signature", signature.parse().unwrap());
//!         request
//!     })
//! });
//! let client = oz_api::Config::new("wk-example").layer(signing).build()?;
//! # let _ = client;
//! # Ok::<(), oz_api::ConfigError>(())
//! ```
//!
//! # Why tower
//!
//! progenitor's generated code sends every request through one hook (`exec`, in this crate),
//! so either library could sit there; reqwest-middleware (0.5.2 supports the reqwest 0.13 of
//! the lock file) would bring `anyhow`, `async-trait` (with `syn`'s `full` feature),
//! `thiserror` and its own client type, while `tower` 0.5 with its `util` feature is already
//! compiled for reqwest 0.13 (its connector stack): taking tower layers adds no crate to a
//! user's build (measured: `cargo tree -e normal,build -p oz-api` lists the same 151 crates
//! before and after, the lock file gains only the edge oz-api → tower; the added compile
//! time is this module's). reqwest-middleware would add `anyhow`, `async-trait` and
//! `thiserror`, none of which the client builds today. Tower's `Layer` is also what the
//! ecosystem's middleware (`tower-http`, `tower::limit`, metrics and tracing layers) is
//! written against.
//!
//! When no layer is configured the client calls reqwest directly, so the middleware costs
//! nothing; with layers, each attempt converts reqwest's request to `http`'s and back.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt};

/// The tower crate the layers are written against, at the version the client takes them in
/// (`oz_api::middleware::tower::layer::layer_fn`, `…::ServiceExt`), so that an application
/// needs no `tower` dependency of its own to write one.
pub use tower;

/// The request a layer sees: `http`'s request with reqwest's body.
pub type HttpRequest = http::Request<reqwest::Body>;

/// The answer a layer gives: `http`'s response with reqwest's body
/// (`reqwest::Response::from` and `http::Response::from` convert).
pub type HttpResponse = http::Response<reqwest::Body>;

/// The error of a layer.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// The service a layer wraps: the layers after it, then the network.
pub type HttpService = BoxCloneSyncService<HttpRequest, HttpResponse, BoxError>;

/// Which operation an attempt belongs to, and which attempt it is; in the extensions of the
/// request every layer sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    operation_id: &'static str,
    number: u32,
}

impl Attempt {
    /// The operation id of openapi.json, e.g. `get_run`.
    pub fn operation_id(&self) -> &'static str {
        self.operation_id
    }

    /// 1 for the first attempt, 2 for the first retry, ...
    pub fn number(&self) -> u32 {
        self.number
    }
}

/// Wraps the service of the layers added after it.
type Wrap = Arc<dyn Fn(HttpService) -> HttpService + Send + Sync>;

/// The layers of a [`Config`](crate::Config), in the order they were added.
#[derive(Clone, Default)]
pub(crate) struct Layers(Vec<Wrap>);

impl fmt::Debug for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} layer(s)", self.0.len())
    }
}

impl Layers {
    pub(crate) fn push<L>(&mut self, layer: L)
    where
        L: Layer<HttpService> + Send + Sync + 'static,
        L::Service: Service<HttpRequest, Response = HttpResponse, Error = BoxError>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<HttpRequest>>::Future: Send + 'static,
    {
        self.0.push(Arc::new(move |inner| {
            BoxCloneSyncService::new(layer.layer(inner))
        }));
    }

    /// The stack around `http`, or `None` without layers.
    pub(crate) fn build(&self, http: reqwest::Client) -> Option<HttpService> {
        if self.0.is_empty() {
            return None;
        }
        let network = tower::service_fn(move |request: HttpRequest| {
            let http = http.clone();
            async move {
                let request = reqwest::Request::try_from(request)?;
                let response = http.execute(request).await?;
                Ok::<_, BoxError>(HttpResponse::from(response))
            }
        });
        let mut service = BoxCloneSyncService::new(network);
        for wrap in self.0.iter().rev() {
            service = wrap(service);
        }
        Some(service)
    }
}

/// One attempt through the layers: the answer, or the error as a reqwest error (a reqwest
/// error of the network as it is, another one in the source chain of a new one).
pub(crate) async fn send(
    stack: &HttpService,
    request: reqwest::Request,
    operation_id: &'static str,
    number: u32,
) -> reqwest::Result<reqwest::Response> {
    let mut request = match HttpRequest::try_from(request) {
        Ok(request) => request,
        Err(err) => return Err(err),
    };
    request.extensions_mut().insert(Attempt {
        operation_id,
        number,
    });
    match stack.clone().oneshot(request).await {
        Ok(response) => Ok(reqwest::Response::from(response)),
        Err(err) => match err.downcast::<reqwest::Error>() {
            Ok(err) => Err(*err),
            Err(err) => Err(crate::hooks::reqwest_error(Box::new(LayerError(err))).await),
        },
    }
}

/// An error of a layer, as the cause of the attempt's failure.
struct LayerError(BoxError);

impl fmt::Display for LayerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a layer of Config::layer failed: {}", self.0)
    }
}

impl fmt::Debug for LayerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl StdError for LayerError {}
