//! Options of one call: a deadline, how often to retry, extra headers.
//!
//! Every operation builder of [`Client`](crate::Client) and every workflow of `oz-api-ext`
//! takes them through `with_options`; a workflow applies them to each request it sends.
//!
//! ```no_run
//! # async fn example(client: oz_api::Client) -> Result<(), oz_api::Error> {
//! use std::time::Duration;
//! use oz_api::RequestOptions;
//!
//! let run = client
//!     .get_run()
//!     .run_id("run_1")
//!     .with_options(
//!         RequestOptions::new()
//!             .timeout(Duration::from_secs(5))
//!             .max_retries(0)
//!             .header("x-request-source", "nightly"),
//!     )
//!     .send()
//!     .await?;
//! # let _ = run;
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use progenitor_client::ClientInfo;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use crate::Client;

/// Options of one call, for `with_options` of an operation builder or a workflow.
///
/// Options left unset keep what the [`Config`](crate::Config) says. A header that cannot be
/// sent (a bad name or value, or `Authorization`, which only the configured key sets) is not
/// a panic: the call fails with [`Error::InvalidRequest`](crate::Error::InvalidRequest)
/// before anything is sent.
///
/// ```
/// use std::time::Duration;
/// use oz_api::RequestOptions;
///
/// let options = RequestOptions::new()
///     .timeout(Duration::from_secs(5))
///     .max_retries(0)
///     .header("x-request-source", "nightly");
/// assert_eq!(options.get_timeout(), Some(Duration::from_secs(5)));
/// // Header values never show in Debug output.
/// assert!(!format!("{options:?}").contains("nightly"));
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct RequestOptions {
    timeout: Option<Duration>,
    max_retries: Option<u32>,
    headers: HeaderMap,
    /// The first header that could not be accepted, said as the call's error.
    invalid: Option<String>,
}

impl RequestOptions {
    /// No options: every setting as the [`Config`](crate::Config) says.
    pub fn new() -> Self {
        Self::default()
    }

    /// The deadline of the whole call: every attempt, the pauses between them and the reading
    /// of the answer's body. When it passes, during an attempt or a pause, the call ends with
    /// [`Error::Timeout`](crate::Error::Timeout) ("the call's deadline of 5s
    /// (RequestOptions::timeout) passed after 2 attempts"); for an operation that must not be
    /// repeated, with [`unknown_outcome`](crate::Error::unknown_outcome) set once a request
    /// was sent. It is measured with the sleep of
    /// [`Config::sleep_impl`](crate::Config::sleep_impl) (a sleep that returns at once makes it
    /// pass at once); [`Config::timeout`](crate::Config::timeout) still bounds each attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many times a failed attempt is repeated, instead of
    /// [`Config::max_retries`](crate::Config::max_retries); `0` sends each request once.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// A header sent with every request of the call, in place of one of the same name. Its
    /// value is marked sensitive (never shown in `Debug` output). `Authorization` cannot be
    /// set here: the key comes from the [`Config`](crate::Config).
    pub fn header<V>(mut self, name: impl AsRef<str>, value: V) -> Self
    where
        V: TryInto<HeaderValue>,
        V::Error: fmt::Display,
    {
        if self.invalid.is_some() {
            return self;
        }
        let name = name.as_ref();
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{name:?} is not a valid header name"))
            .and_then(|parsed| {
                if parsed == AUTHORIZATION {
                    return Err(
                        "RequestOptions::header cannot set authorization: the API key comes \
                         from the Config"
                            .to_owned(),
                    );
                }
                let mut value = value
                    .try_into()
                    .map_err(|err| format!("the value of header {parsed} is invalid: {err}"))?;
                value.set_sensitive(true);
                Ok((parsed, value))
            });
        match parsed {
            Ok((name, value)) => {
                self.headers.insert(name, value);
            }
            Err(reason) => self.invalid = Some(reason),
        }
        self
    }

    /// The deadline of the call, if one is set.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The number of retries, if set.
    pub fn get_max_retries(&self) -> Option<u32> {
        self.max_retries
    }

    /// The extra headers.
    pub fn get_headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// `self` with every setting of `over` in place of its own (headers of the same name
    /// included).
    fn merged(mut self, over: RequestOptions) -> Self {
        self.timeout = over.timeout.or(self.timeout);
        self.max_retries = over.max_retries.or(self.max_retries);
        self.invalid = self.invalid.or(over.invalid);
        for (name, value) in over.headers {
            if let Some(name) = name {
                self.headers.insert(name, value);
            }
        }
        self
    }

    /// Puts the headers of the client's options, then the call's, into a request the
    /// generated code built, and returns what the request hook needs of the rest (the call's
    /// setting, else the client's). An invalid header fails here, before anything is sent.
    pub(crate) fn apply(
        self,
        client: &Client,
        request: &mut reqwest::Request,
    ) -> Result<CallOptions, String> {
        let defaults = &client.inner().call_options;
        if let Some(reason) = defaults.invalid.as_ref().or(self.invalid.as_ref()) {
            return Err(reason.clone());
        }
        for (name, value) in defaults.headers.iter().chain(&self.headers) {
            request.headers_mut().insert(name, value.clone());
        }
        Ok(CallOptions {
            timeout: self.timeout.or(defaults.timeout),
            max_retries: self.max_retries.or(defaults.max_retries),
        })
    }
}

impl Client {
    /// A handle on the same client (same connections, configuration and key) whose every call
    /// uses `options`, as if each had been given them with `with_options`; a call's own
    /// options take precedence, setting by setting (headers by name). The workflows of
    /// `oz-api-ext` apply their `with_options` this way, to every request they send.
    ///
    /// ```no_run
    /// # async fn example(client: oz_api::Client) -> Result<(), oz_api::Error> {
    /// let nightly = client.with_options(oz_api::RequestOptions::new().header("x-request-source", "nightly"));
    /// let run = nightly.get_run().run_id("run_1").send().await?;
    /// # let _ = run;
    /// # Ok(()) }
    /// ```
    pub fn with_options(&self, options: RequestOptions) -> Client {
        let mut state = self.inner().clone();
        state.call_options =
            std::sync::Arc::new(RequestOptions::clone(&state.call_options).merged(options));
        Client::new_with_client(self.baseurl(), self.client().clone(), state)
    }
}

/// Names of the headers only: their values may be credentials of the application.
impl fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("RequestOptions");
        debug
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("headers", &self.headers.keys().collect::<Vec<_>>());
        if let Some(invalid) = &self.invalid {
            debug.field("invalid", invalid);
        }
        debug.finish()
    }
}

/// What the request hook needs of a call's options.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_retries: Option<u32>,
}

/// The call's deadline passed; in the source chain of the [`Error::Timeout`](crate::Error::Timeout).
#[derive(Debug)]
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) struct DeadlinePassed {
    pub(crate) timeout: Duration,
    pub(crate) attempts: u32,
}

impl fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attempts = self.attempts;
        let plural = if attempts == 1 { "" } else { "s" };
        write!(
            f,
            "the call's deadline of {:?} (RequestOptions::timeout) passed after {attempts} attempt{plural}",
            self.timeout
        )
    }
}

impl std::error::Error for DeadlinePassed {}
