//! Client configuration: API key, base URL, timeouts, retries and extra headers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, USER_AGENT};

use crate::hooks::RequestDefaults;
use crate::redaction::redact_url;
use crate::retry::RetryPolicy;
use crate::time::{AsyncSleep, SharedSleep};
use crate::transport::{Network, RootCertificate};
use crate::{Client, ClientInfo, ClientState};

/// Environment variable holding the API key.
pub const API_KEY_ENV: &str = "WARP_API_KEY";
/// Environment variable overriding the base URL, as the newest official SDK
/// (warp-platform-sdk 1.0) names it. Takes precedence over [`BASE_URL_ENV`].
pub const WARP_BASE_URL_ENV: &str = "WARP_BASE_URL";
/// Environment variable overriding the base URL, as the older official SDKs name it. Still
/// read; [`WARP_BASE_URL_ENV`] wins when both are set.
pub const BASE_URL_ENV: &str = "OZ_API_BASE_URL";
/// Environment variable with extra request headers, one `Name: value` per line, as the newest
/// official SDK (warp-platform-sdk 1.0) names it. Takes precedence over [`CUSTOM_HEADERS_ENV`].
pub const WARP_CUSTOM_HEADERS_ENV: &str = "WARP_CUSTOM_HEADERS";
/// Environment variable with extra request headers, one `Name: value` per line, as the older
/// official SDKs name it. Still read; [`WARP_CUSTOM_HEADERS_ENV`] wins when both are set.
pub const CUSTOM_HEADERS_ENV: &str = "OZ_API_CUSTOM_HEADERS";
/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://app.warp.dev/api/v1";
/// Default time limit of one attempt of a request (connect, send, receive the whole body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time limit for establishing a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// The `User-Agent` of the SDK's requests, to the API and to storage hosts, unless
/// [`Config::user_agent`] replaces it: `oz-api-rust/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("oz-api-rust/", env!("CARGO_PKG_VERSION"));
/// Default bound of an answer's body that the client reads whole to decode it: 64 MiB.
///
/// The largest answers of the API are pages of runs and normalised conversations; a page of
/// 1000 runs with 50 KiB prompts each is about 50 MB and still decodes. A server that sends
/// without end fails at this bound instead of taking the process's memory. Streamed downloads
/// (transcripts, artifacts, screenshots) are not bounded by it.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// Header that selects the caller's active team, set by [`Config::team_uid`].
const TEAM_UID_HEADER: &str = "x-warp-team-uid";

/// How to build a [`Client`]: start from [`Config::from_env`] or [`Config::new`], adjust, then
/// [`build`](Config::build). Every setting is checked when the client is built.
///
/// ```
/// use std::time::Duration;
///
/// let client = oz_api::Config::new("wk-example")
///     .base_url("http://127.0.0.1:8080/api/v1")
///     .timeout(Duration::from_secs(30))
///     .max_retries(3)
///     .header("X-Request-Source", "nightly-ci")
///     .build()?;
/// # Ok::<(), oz_api::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Config {
    api_key: Option<String>,
    anonymous: bool,
    base_url: String,
    realtime_url: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    max_retries: u32,
    max_response_bytes: u64,
    headers: Vec<(String, String)>,
    team_uid: Option<String>,
    user_agent: String,
    allow_insecure_http: bool,
    sleep: SharedSleep,
    #[cfg(not(target_arch = "wasm32"))]
    proxies: Vec<reqwest::Proxy>,
    root_certificates: Vec<RootCertificate>,
    http_client: Option<reqwest::Client>,
    storage_client: Option<reqwest::Client>,
    #[cfg(not(target_arch = "wasm32"))]
    layers: crate::middleware::Layers,
}

impl Config {
    /// A configuration with the given API key and defaults for everything else
    /// (production base URL, 60 s timeout, 2 retries).
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: Some(api_key.into()),
            ..Self::defaults()
        }
    }

    /// A configuration without an API key, for callers that only use the public operations
    /// (resolving shared session and conversation links, public artifacts). Operations that
    /// require authentication answer 401.
    ///
    /// ```
    /// let client = oz_api::Config::anonymous().build()?;
    /// # let _ = client;
    /// # Ok::<(), oz_api::ConfigError>(())
    /// ```
    pub fn anonymous() -> Self {
        Self {
            anonymous: true,
            ..Self::defaults()
        }
    }

    /// A configuration read from the environment, under the names of both generations of the
    /// official SDKs:
    ///
    /// - `WARP_API_KEY`: the API key (required when the client is built);
    /// - `WARP_BASE_URL` or `OZ_API_BASE_URL`: the base URL (default [`DEFAULT_BASE_URL`]);
    /// - `WARP_REALTIME_URL` or `OZ_API_REALTIME_URL`: where the event stream is (see
    ///   [`realtime_url`](Self::realtime_url));
    /// - `WARP_CUSTOM_HEADERS` or `OZ_API_CUSTOM_HEADERS`: extra headers, one `Name: value`
    ///   per line.
    ///
    /// An empty or blank variable counts as unset. When both names of a setting are set and
    /// differ, the newer one (`WARP_…`) is used and a `tracing` warning (target `oz_api`) names
    /// the variable that was ignored, never its value.
    ///
    /// ```no_run
    /// let client = oz_api::Config::from_env()?.max_retries(5).build()?;
    /// # Ok::<(), oz_api::ConfigError>(())
    /// ```
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// ```
    /// let config = oz_api::Config::from_lookup(|name| match name {
    ///     "WARP_API_KEY" => Some("wk-example".to_owned()),
    ///     "WARP_BASE_URL" => Some("http://127.0.0.1:8080/api/v1".to_owned()),
    ///     _ => None,
    /// })?;
    /// assert_eq!(config.base_url_str(), "http://127.0.0.1:8080/api/v1");
    /// # Ok::<(), oz_api::ConfigError>(())
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::defaults();
        config.api_key = lookup(API_KEY_ENV).filter(|key| !key.trim().is_empty());
        if let Some(url) = newer_or_older(&lookup, WARP_BASE_URL_ENV, BASE_URL_ENV) {
            config.base_url = url;
        }
        config.realtime_url = newer_or_older(
            &lookup,
            crate::WARP_REALTIME_URL_ENV,
            crate::REALTIME_URL_ENV,
        );
        if let Some(lines) = newer_or_older(&lookup, WARP_CUSTOM_HEADERS_ENV, CUSTOM_HEADERS_ENV) {
            config.headers = parse_header_lines(&lines)?;
        }
        Ok(config)
    }

    fn defaults() -> Self {
        Self {
            api_key: None,
            anonymous: false,
            base_url: DEFAULT_BASE_URL.to_owned(),
            realtime_url: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            headers: Vec::new(),
            team_uid: None,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            allow_insecure_http: false,
            sleep: SharedSleep::default(),
            #[cfg(not(target_arch = "wasm32"))]
            proxies: Vec::new(),
            root_certificates: Vec::new(),
            http_client: None,
            storage_client: None,
            #[cfg(not(target_arch = "wasm32"))]
            layers: Default::default(),
        }
    }

    /// Replaces the API key.
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(api_key.into());
        self.anonymous = false;
        self
    }

    /// Base URL of the API including the version path, e.g. `https://app.warp.dev/api/v1`.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Base URL of the realtime service, to which the event stream's path
    /// (`/agent/events/stream`) is appended; the API key is sent there. By default it is
    /// derived from the base URL as Warp's app derives it: `https://rtc.app.warp.dev/api/v1`
    /// for the production API (`app.warp.dev`), the base URL itself for any other host (a
    /// local simulator serves its stream next to its API). Checked like the base URL when the
    /// client is built (`https`, or `http` to this machine). The environment variable
    /// `WARP_REALTIME_URL` (or `OZ_API_REALTIME_URL`) sets it too. See [`realtime`](crate::realtime).
    ///
    /// ```
    /// let client = oz_api::Config::new("wk-example")
    ///     .base_url("https://gateway.example.com/warp/api/v1")
    ///     .realtime_url("https://events.example.com/api/v1")
    ///     .build()?;
    /// assert_eq!(client.realtime_url(), "https://events.example.com/api/v1");
    /// # Ok::<(), oz_api::ConfigError>(())
    /// ```
    pub fn realtime_url(mut self, realtime_url: impl Into<String>) -> Self {
        self.realtime_url = Some(realtime_url.into());
        self
    }

    /// Time limit of one attempt of a request, from connecting to the end of the body.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time limit for establishing a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Number of retries after the first attempt (0 disables retries).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The most bytes of an answer's body the client reads to decode it (default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`], 64 MiB). A longer answer fails with
    /// `Error::ResponseBody` saying "the answer exceeded N bytes", once about that many
    /// bytes arrived (at once when its `Content-Length` says so); for an operation that must not
    /// be repeated, such as `create_run`, it also says that the server acted (the run was
    /// created) and how to find the result. Streamed downloads
    /// (transcripts, artifacts, screenshots) are not bounded by it. Zero is refused when the
    /// client is built.
    ///
    /// ```
    /// let client = oz_api::Config::new("wk-example")
    ///     .max_response_bytes(256 * 1024 * 1024)
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), oz_api::ConfigError>(())
    /// ```
    pub fn max_response_bytes(mut self, max_response_bytes: u64) -> Self {
        self.max_response_bytes = max_response_bytes;
        self
    }

    /// Adds a header sent with every API request. Checked when the client is built.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Selects the team the requests act for (`X-Warp-Team-Uid`), for users on several teams.
    pub fn team_uid(mut self, team_uid: impl Into<String>) -> Self {
        self.team_uid = Some(team_uid.into());
        self
    }

    /// Replaces the `User-Agent` header (default [`DEFAULT_USER_AGENT`],
    /// `oz-api-rust/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// What the client waits with between the attempts of a request, and the workflows of
    /// `oz-api-ext` between polls and download attempts (default
    /// [`TokioSleep`](crate::time::TokioSleep), Tokio's timer; on wasm32 JavaScript's
    /// `setTimeout`). A test gives one that records the pauses and returns at once; see
    /// [`time`](crate::time).
    pub fn sleep_impl(mut self, sleep: impl AsyncSleep + 'static) -> Self {
        self.sleep = SharedSleep::new(sleep);
        self
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Adds a [tower](https://docs.rs/tower) layer that every attempt of every request passes
    /// through, after the key was attached and before the retry decision sees the answer;
    /// layers run in the order they were added (the first is the outermost). A layer sees the
    /// operation id and the attempt number in the request's extensions
    /// ([`Attempt`](crate::middleware::Attempt)), may change the request, or answer without
    /// calling the network. See [`middleware`](crate::middleware).
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<crate::middleware::HttpService> + Send + Sync + 'static,
        L::Service: tower::Service<
                crate::middleware::HttpRequest,
                Response = crate::middleware::HttpResponse,
                Error = crate::middleware::BoxError,
            > + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower::Service<crate::middleware::HttpRequest>>::Future: Send + 'static,
    {
        self.layers.push(layer);
        self
    }

    /// Allows a plain `http://` base URL on a host other than this machine.
    ///
    /// By default the API key is only sent over `https`, or over `http` to a loopback address
    /// (`127.0.0.0/8`, `::1`, `localhost`) such as a local simulator: anyone on the path of a
    /// plain-text connection could read the key. Set this for a trusted network only, for
    /// example a simulator in another container.
    ///
    /// ```
    /// let refused = oz_api::Config::new("wk-example")
    ///     .base_url("http://oz-mock.internal:8080/api/v1")
    ///     .build();
    /// assert!(matches!(refused, Err(oz_api::ConfigError::InsecureHttp { .. })));
    ///
    /// let allowed = oz_api::Config::new("wk-example")
    ///     .base_url("http://oz-mock.internal:8080/api/v1")
    ///     .allow_insecure_http(true)
    ///     .build();
    /// assert!(allowed.is_ok());
    /// ```
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Sends the requests through a proxy (several may be given; the first that matches a
    /// request's URL is used), to the API and to storage hosts alike.
    ///
    /// Without one, the `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` environment
    /// variables are honoured, and with the default `system-proxy` feature the system proxy
    /// settings of macOS and Windows too. A proxy given here replaces them.
    ///
    /// ```
    /// use oz_api::reqwest::Proxy;
    ///
    /// let client = oz_api::Config::new("wk-example")
    ///     .proxy(Proxy::https("http://proxy.internal:3128")?.basic_auth("ci", "secret"))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn proxy(mut self, proxy: reqwest::Proxy) -> Self {
        self.proxies.push(proxy);
        self
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Trusts the certificates of a PEM bundle (one or more `-----BEGIN CERTIFICATE-----`
    /// blocks) as roots, in addition to the platform's trust store: a company's TLS-inspecting
    /// proxy, a simulator behind a private CA. Applies to the API and to storage hosts; checked
    /// when the client is built ([`ConfigError::InvalidRootCertificate`]).
    ///
    /// ```no_run
    /// let client = oz_api::Config::from_env()?
    ///     .add_root_certificate_pem(std::fs::read("/etc/ssl/company-ca.pem")?)
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates
            .push(RootCertificate::Pem(pem.into()));
        self
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Trusts one DER-encoded certificate as a root; see
    /// [`add_root_certificate_pem`](Self::add_root_certificate_pem). PEM text given here is
    /// refused when the client is built, with a reason that says so.
    ///
    /// ```no_run
    /// let client = oz_api::Config::from_env()?
    ///     .add_root_certificate_der(std::fs::read("/etc/ssl/company-ca.der")?)
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.root_certificates
            .push(RootCertificate::Der(der.into()));
        self
    }

    /// Sends the API requests through an HTTP client the application prepared (its own
    /// connection pool, TLS, proxy, DNS or local address), instead of one the SDK builds.
    ///
    /// The SDK still adds to every request what it always adds: the API key, the
    /// `User-Agent` ([`user_agent`](Self::user_agent)), the team and custom headers; the
    /// prepared client's own default headers are sent too, except where this configuration sets
    /// a header of the same name. What a client builder sets is the application's: time limits
    /// ([`timeout`](Self::timeout) and [`connect_timeout`](Self::connect_timeout) apply to a
    /// client the SDK builds; give the prepared one its own, or a server that never answers
    /// holds a call forever), TLS, proxies. So
    /// [`proxy`](Self::proxy) and the root certificates are refused together with a prepared
    /// client ([`ConfigError::PreparedHttpClient`]). Build it without following redirects
    /// (`redirect::Policy::none()`): the downloads resolve the API's redirect to storage
    /// themselves, and a followed redirect would be read as the API's answer. Start from
    /// [`http_client_builder`](crate::http_client_builder) to keep the SDK's TLS stack: with
    /// the default `rustls` feature, a `reqwest::Client::builder()` of its own has no crypto
    /// provider unless the application installed one.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use oz_api::reqwest;
    ///
    /// // The SDK's TLS stack, then the application's settings.
    /// let http = oz_api::http_client_builder()?
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     .pool_max_idle_per_host(32)
    ///     .connect_timeout(Duration::from_secs(3))
    ///     .timeout(Duration::from_secs(30))
    ///     .build()?;
    /// let client = oz_api::Config::new("wk-example").http_client(http).build()?;
    /// # let _ = client;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The HTTP client the downloads of `oz-api-ext` use for storage hosts (signed URLs),
    /// unless a download is given its own. It must carry no credentials (no default
    /// `Authorization` or other secret headers): every host the storage service redirects to
    /// sees them, and it should follow no redirects (the downloads check and count every hop).
    /// By default the SDK builds one per download, with the proxies and root certificates of
    /// this configuration.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use oz_api::reqwest;
    ///
    /// // One pool for every download, with a longer connect timeout for a slow network.
    /// let storage = oz_api::http_client_builder()?
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     .connect_timeout(Duration::from_secs(30))
    ///     .build()?;
    /// let client = oz_api::Config::new("wk-example").storage_client(storage).build()?;
    /// # let _ = client;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn storage_client(mut self, client: reqwest::Client) -> Self {
        self.storage_client = Some(client);
        self
    }

    /// The base URL requests go to, without a trailing slash.
    pub fn base_url_str(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// Checks every setting and builds the client.
    pub fn build(self) -> Result<Client, ConfigError> {
        let authorization = if self.anonymous {
            None
        } else {
            let api_key = self
                .api_key
                .as_deref()
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .ok_or(ConfigError::MissingApiKey)?;
            let mut auth = HeaderValue::from_str(&format!("Bearer {api_key}"))
                .map_err(|_| ConfigError::InvalidApiKey)?;
            auth.set_sensitive(true);
            Some(auth)
        };
        let base_url = parse_base_url(&self.base_url)?;
        let realtime_url = match &self.realtime_url {
            Some(url) => parse_base_url(url)?,
            None => crate::realtime::derive_realtime_url(&base_url),
        };
        for url in [&base_url, &realtime_url] {
            if url.scheme() == "http" && !self.allow_insecure_http && !is_loopback(url) {
                return Err(ConfigError::InsecureHttp {
                    host: url.host_str().unwrap_or_default().to_owned(),
                });
            }
        }
        for (which, limit) in [
            ("timeout", self.timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if limit.is_zero() {
                return Err(ConfigError::InvalidTimeout { which });
            }
        }
        if self.max_response_bytes == 0 {
            return Err(ConfigError::InvalidMaxResponseBytes);
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            header_value(USER_AGENT.as_str(), &self.user_agent)?,
        );
        if let Some(team) = &self.team_uid {
            headers.insert(
                HeaderName::from_static(TEAM_UID_HEADER),
                header_value(TEAM_UID_HEADER, team)?,
            );
        }
        for (name, value) in &self.headers {
            let header_name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                ConfigError::InvalidHeader {
                    name: name.clone(),
                    reason: "not a valid header name",
                }
            })?;
            if header_name == AUTHORIZATION {
                return Err(ConfigError::InvalidHeader {
                    name: name.clone(),
                    reason: "the Authorization header is set from the API key",
                });
            }
            // Custom headers often carry credentials of a proxy: keep them out of Debug output.
            let mut value = header_value(name, value)?;
            value.set_sensitive(true);
            headers.append(header_name, value);
        }
        // On wasm32 the roots are all that the default adds.
        #[cfg_attr(target_arch = "wasm32", allow(clippy::needless_update))]
        let network = Network {
            #[cfg(not(target_arch = "wasm32"))]
            proxies: self.proxies,
            storage: self.storage_client,
            user_agent: headers.get(USER_AGENT).cloned(),
            ..Network::default()
        }
        .with_roots(&self.root_certificates)?;
        #[cfg(not(target_arch = "wasm32"))]
        let proxied = !network.proxies.is_empty();
        #[cfg(target_arch = "wasm32")]
        let proxied = false;
        let http = match self.http_client {
            Some(_) if proxied => {
                return Err(ConfigError::PreparedHttpClient { setting: "proxy" });
            }
            Some(_) if !self.root_certificates.is_empty() => {
                return Err(ConfigError::PreparedHttpClient {
                    setting: "root certificates",
                });
            }
            Some(client) => client,
            None => crate::transport::api_client(
                network.builder()?,
                self.timeout,
                self.connect_timeout,
            )?,
        };
        let state = ClientState {
            retry: RetryPolicy::new(self.max_retries),
            sleep: self.sleep,
            authorization,
            max_response_bytes: self.max_response_bytes,
            defaults: Arc::new(RequestDefaults { headers }),
            network: Arc::new(network),
            call_options: Default::default(),
            #[cfg(not(target_arch = "wasm32"))]
            middleware: self.layers.build(http.clone()),
            realtime: Arc::new(crate::realtime::Realtime {
                url: realtime_url.as_str().trim_end_matches('/').to_owned(),
                memo: Default::default(),
            }),
            #[cfg(target_arch = "wasm32")]
            attempt_timeout: self.timeout,
        };
        Ok(Client::new_with_client(
            base_url.as_str().trim_end_matches('/'),
            http,
            state,
        ))
    }
}

impl Config {
    fn proxy_count(&self) -> usize {
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.proxies.len()
        }
        #[cfg(target_arch = "wasm32")]
        {
            0
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("Config");
        f.field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("anonymous", &self.anonymous)
            .field("base_url", &redact_url(&self.base_url))
            .field(
                "realtime_url",
                &self.realtime_url.as_deref().map(redact_url),
            )
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field("max_response_bytes", &self.max_response_bytes)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("team_uid", &self.team_uid)
            .field("user_agent", &self.user_agent)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("sleep", &self.sleep)
            // A proxy's URL may hold its credentials: counted, not shown.
            .field("proxies", &self.proxy_count())
            .field("root_certificates", &self.root_certificates.len())
            .field("http_client", &self.http_client.is_some())
            .field("storage_client", &self.storage_client.is_some());
        #[cfg(not(target_arch = "wasm32"))]
        f.field("layers", &self.layers);
        f.finish()
    }
}

impl Client {
    /// A client configured from the environment (see [`Config::from_env`]).
    ///
    /// ```no_run
    /// let client = oz_api::Client::from_env()?;
    /// # Ok::<(), oz_api::ConfigError>(())
    /// ```
    pub fn from_env() -> Result<Self, ConfigError> {
        Config::from_env()?.build()
    }

    /// What the client waits with, as given to [`Config::sleep_impl`]; the workflows of
    /// `oz-api-ext` wait with it too.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use oz_api::time::AsyncSleep;
    ///
    /// # async fn example(client: oz_api::Client) {
    /// client.sleep_impl().sleep(Duration::from_millis(10)).await;
    /// # }
    /// ```
    pub fn sleep_impl(&self) -> &SharedSleep {
        &self.inner().sleep
    }

    /// The HTTP client for storage hosts (the signed URLs of transcripts, artifacts and
    /// screenshots), without the API key or custom headers: the one given to
    /// [`Config::storage_client`], else a new one with the SDK's TLS stack and the
    /// configuration's proxies and root certificates, which follows no redirects by itself.
    /// The downloads of `oz-api-ext` use it; one is built per download rather than kept, as a
    /// pooled connection stays bound to the Tokio runtime that opened it.
    ///
    /// ```no_run
    /// # async fn example(client: oz_api::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// // A signed URL obtained earlier (never send the API key there).
    /// let signed_url = "https://storage.example/t/1.json?X-Goog-Signature=abc";
    /// let body = client.storage_http_client()?.get(signed_url).send().await?.bytes().await?;
    /// println!("{} bytes", body.len());
    /// # Ok(()) }
    /// ```
    pub fn storage_http_client(&self) -> Result<reqwest::Client, ConfigError> {
        self.inner().network.storage_client()
    }
}

/// Why a [`Config`] could not become a [`Client`]. Never contains the API key or header values.
///
/// Its `Debug` is the variant and the one line of its `Display`, so that `?` in `main` says
/// what to do:
///
/// ```
/// let err = oz_api::Config::from_lookup(|_| None)?.build().unwrap_err();
/// assert_eq!(
///     format!("{err:?}"),
///     "MissingApiKey: no API key: set the WARP_API_KEY environment variable \
///      (export WARP_API_KEY=wk-...) or pass a key to Config::new"
/// );
/// # Ok::<(), oz_api::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No API key was given (or it is blank) and `WARP_API_KEY` is unset or empty.
    MissingApiKey,
    /// The API key cannot be sent in an HTTP header (it contains a line break or a control
    /// character).
    InvalidApiKey,
    /// The base URL is not an absolute `http` or `https` URL.
    InvalidBaseUrl {
        /// The URL as given, with any `user:password@` part replaced.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A custom header has an invalid name or value.
    InvalidHeader {
        /// The header name as given (the value is never repeated).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A line of `WARP_CUSTOM_HEADERS` (or `OZ_API_CUSTOM_HEADERS`, when the former is unset)
    /// is not of the form `Name: value`.
    InvalidCustomHeadersLine {
        /// 1-based line number in the variable's value.
        line_number: usize,
    },
    /// The base URL is plain `http` on a host that is not this machine, so the API key would
    /// cross the network unencrypted; see [`Config::allow_insecure_http`].
    InsecureHttp {
        /// The host the key would have been sent to.
        host: String,
    },
    /// A time limit is zero, which would fail every request.
    InvalidTimeout {
        /// `timeout` or `connect_timeout`.
        which: &'static str,
    },
    /// The HTTP client could not be created (for example no TLS backend).
    Transport(String),
    /// [`Config::max_response_bytes`] is zero, which would fail every answer with a body.
    InvalidMaxResponseBytes,
    /// A root certificate given to [`Config::add_root_certificate_pem`] or
    /// [`Config::add_root_certificate_der`] is not one.
    InvalidRootCertificate {
        /// Which one, counting from 0 in the order given.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting that only applies to a client the SDK builds was given together with
    /// [`Config::http_client`]: set it on that client instead.
    PreparedHttpClient {
        /// `proxy` or `root certificates`.
        setting: &'static str,
    },
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            Self::MissingApiKey => "MissingApiKey",
            Self::InvalidApiKey => "InvalidApiKey",
            Self::InvalidBaseUrl { .. } => "InvalidBaseUrl",
            Self::InvalidHeader { .. } => "InvalidHeader",
            Self::InvalidCustomHeadersLine { .. } => "InvalidCustomHeadersLine",
            Self::InsecureHttp { .. } => "InsecureHttp",
            Self::InvalidTimeout { .. } => "InvalidTimeout",
            Self::Transport(_) => "Transport",
            Self::InvalidMaxResponseBytes => "InvalidMaxResponseBytes",
            Self::InvalidRootCertificate { .. } => "InvalidRootCertificate",
            Self::PreparedHttpClient { .. } => "PreparedHttpClient",
        };
        write!(f, "{variant}: {self}")
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingApiKey => write!(
                f,
                "no API key: set the {API_KEY_ENV} environment variable (export {API_KEY_ENV}=wk-...) \
                 or pass a key to Config::new"
            ),
            Self::InvalidApiKey => {
                f.write_str("the API key contains characters that cannot be sent in an HTTP header")
            }
            Self::InvalidBaseUrl { url, reason } => write!(f, "invalid base URL {url:?}: {reason}"),
            Self::InvalidHeader { name, reason } => write!(f, "invalid header {name:?}: {reason}"),
            Self::InvalidCustomHeadersLine { line_number } => write!(
                f,
                "custom headers ({WARP_CUSTOM_HEADERS_ENV} or {CUSTOM_HEADERS_ENV}) line \
                 {line_number} is not of the form `Name: value`"
            ),
            Self::InsecureHttp { host } => write!(
                f,
                "refusing to send the API key over plain http to {host:?}: use https, or \
                 Config::allow_insecure_http(true) for a trusted network"
            ),
            Self::InvalidTimeout { which } => write!(f, "{which} must be longer than zero"),
            Self::Transport(reason) => {
                write!(
                    f,
                    "cannot create the HTTP client: {}",
                    reason.replace(['\n', '\r'], " ")
                )
            }
            Self::InvalidMaxResponseBytes => {
                f.write_str("max_response_bytes must be larger than zero")
            }
            Self::InvalidRootCertificate { index, reason } => write!(
                f,
                "root certificate #{index} is not a certificate: {}",
                reason.replace(['\n', '\r'], " ")
            ),
            Self::PreparedHttpClient { setting } => write!(
                f,
                "the {setting} setting has no effect on a client given to Config::http_client: \
                 set it on that client"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

fn parse_base_url(text: &str) -> Result<url::Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidBaseUrl {
        url: redact_url(text).into_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(text.trim()).map_err(|err| invalid(&err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials belong in the API key, not in the URL"));
    }
    Ok(url)
}

/// Whether the URL's host is this machine: `localhost`, `127.0.0.0/8` or `::1` (also as an
/// IPv4-mapped IPv6 address).
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => {
            name.trim_end_matches('.').eq_ignore_ascii_case("localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// The value of the variable `newer`, else of `older`; blank values count as unset. When both
/// are set to different values, `newer` wins and one warning names `older`. Values are never
/// logged: custom headers often carry credentials.
fn newer_or_older(
    lookup: &impl Fn(&str) -> Option<String>,
    newer: &'static str,
    older: &'static str,
) -> Option<String> {
    let read = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
    match (read(newer), read(older)) {
        (Some(new), Some(old)) => {
            if new != old {
                tracing::warn!(
                    target: "oz_api",
                    used = newer,
                    ignored = older,
                    "both {newer} and {older} are set to different values: using {newer}, \
                     ignoring {older}"
                );
            }
            Some(new)
        }
        (new, old) => new.or(old),
    }
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, ConfigError> {
    HeaderValue::from_str(value.trim()).map_err(|_| ConfigError::InvalidHeader {
        name: name.to_owned(),
        reason: "the value contains characters not allowed in a header",
    })
}

/// Parses `Name: value` lines; blank lines are skipped.
fn parse_header_lines(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let (name, value) = line
                .split_once(':')
                .filter(|(name, _)| !name.trim().is_empty())
                .ok_or(ConfigError::InvalidCustomHeadersLine {
                    line_number: index + 1,
                })?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn missing_key_names_the_environment_variable() {
        let err = Config::from_lookup(env(&[])).unwrap().build().unwrap_err();
        assert_eq!(err, ConfigError::MissingApiKey);
        assert!(err.to_string().contains("WARP_API_KEY"), "{err}");
    }

    #[test]
    fn environment_sets_key_base_url_and_headers() {
        let config = Config::from_lookup(env(&[
            ("WARP_API_KEY", "wk-secret"),
            ("OZ_API_BASE_URL", "http://127.0.0.1:9/api/v1/"),
            ("OZ_API_CUSTOM_HEADERS", "X-One: 1\n\nX-Two: a: b\n"),
        ]))
        .unwrap();
        assert_eq!(config.base_url_str(), "http://127.0.0.1:9/api/v1");
        assert_eq!(
            config.headers,
            vec![
                ("X-One".into(), "1".into()),
                ("X-Two".into(), "a: b".into())
            ]
        );
        config.build().unwrap();
    }

    #[test]
    fn the_newest_sdks_variable_names_are_read() {
        let config = Config::from_lookup(env(&[
            ("WARP_API_KEY", "wk-secret"),
            ("WARP_BASE_URL", "http://127.0.0.1:9/api/v2/"),
            ("WARP_CUSTOM_HEADERS", "X-New: 1"),
        ]))
        .unwrap();
        assert_eq!(config.base_url_str(), "http://127.0.0.1:9/api/v2");
        assert_eq!(config.headers, vec![("X-New".into(), "1".into())]);
        config.build().unwrap();
    }

    #[test]
    fn the_older_sdks_variable_names_are_still_read() {
        let config = Config::from_lookup(env(&[
            ("WARP_API_KEY", "wk-secret"),
            ("OZ_API_BASE_URL", "http://127.0.0.1:9/api/v1"),
            ("OZ_API_CUSTOM_HEADERS", "X-Old: 1"),
        ]))
        .unwrap();
        assert_eq!(config.base_url_str(), "http://127.0.0.1:9/api/v1");
        assert_eq!(config.headers, vec![("X-Old".into(), "1".into())]);
    }

    #[test]
    fn when_both_names_are_set_the_newer_one_wins() {
        let config = Config::from_lookup(env(&[
            ("WARP_BASE_URL", "http://127.0.0.1:9/new"),
            ("OZ_API_BASE_URL", "http://127.0.0.1:9/old"),
            ("WARP_CUSTOM_HEADERS", "X-New: 1"),
            ("OZ_API_CUSTOM_HEADERS", "X-Old: 1"),
        ]))
        .unwrap();
        assert_eq!(config.base_url_str(), "http://127.0.0.1:9/new");
        assert_eq!(config.headers, vec![("X-New".into(), "1".into())]);
    }

    #[test]
    fn a_blank_newer_variable_counts_as_unset() {
        let config = Config::from_lookup(env(&[
            ("WARP_BASE_URL", " "),
            ("OZ_API_BASE_URL", "http://127.0.0.1:9/old"),
            ("WARP_CUSTOM_HEADERS", ""),
            ("OZ_API_CUSTOM_HEADERS", "X-Old: 1"),
        ]))
        .unwrap();
        assert_eq!(config.base_url_str(), "http://127.0.0.1:9/old");
        assert_eq!(config.headers, vec![("X-Old".into(), "1".into())]);
        let config =
            Config::from_lookup(env(&[("WARP_BASE_URL", ""), ("OZ_API_BASE_URL", "")])).unwrap();
        assert_eq!(config.base_url_str(), DEFAULT_BASE_URL);
    }

    #[test]
    fn the_older_headers_are_not_parsed_when_the_newer_ones_win() {
        // A broken value under the ignored name does not fail the configuration.
        let config = Config::from_lookup(env(&[
            ("WARP_CUSTOM_HEADERS", "X-New: 1"),
            ("OZ_API_CUSTOM_HEADERS", "no colon"),
        ]))
        .unwrap();
        assert_eq!(config.headers, vec![("X-New".into(), "1".into())]);
        let err =
            Config::from_lookup(env(&[("WARP_CUSTOM_HEADERS", "X-Ok: 1\nno colon")])).unwrap_err();
        assert_eq!(
            err,
            ConfigError::InvalidCustomHeadersLine { line_number: 2 }
        );
        assert!(err.to_string().contains("WARP_CUSTOM_HEADERS"), "{err}");
    }

    #[test]
    fn malformed_custom_header_line_is_refused_with_its_line_number() {
        let err = Config::from_lookup(env(&[("OZ_API_CUSTOM_HEADERS", "X-Ok: 1\nno colon")]))
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::InvalidCustomHeadersLine { line_number: 2 }
        );
    }

    #[test]
    fn the_realtime_url_comes_from_the_environment_or_the_base_url() {
        let config = Config::from_lookup(env(&[
            ("WARP_API_KEY", "wk-secret"),
            ("WARP_BASE_URL", "http://127.0.0.1:9/api/v1"),
        ]))
        .unwrap();
        assert_eq!(
            config.build().unwrap().realtime_url(),
            "http://127.0.0.1:9/api/v1"
        );
        let config = Config::from_lookup(env(&[
            ("WARP_API_KEY", "wk-secret"),
            ("WARP_REALTIME_URL", "https://rt.example.com/api/v1/"),
        ]))
        .unwrap();
        let client = config.build().unwrap();
        assert_eq!(client.base_url(), DEFAULT_BASE_URL);
        assert_eq!(client.realtime_url(), "https://rt.example.com/api/v1");
        let client = Config::new("wk").build().unwrap();
        assert_eq!(client.realtime_url(), "https://rtc.app.warp.dev/api/v1");
    }

    #[test]
    fn a_realtime_url_is_checked_like_the_base_url() {
        let err = Config::new("wk")
            .realtime_url("http://rt.example.com/api/v1")
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::InsecureHttp {
                host: "rt.example.com".into()
            }
        );
        let err = Config::new("wk")
            .realtime_url("ftp://rt.example.com")
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::InvalidBaseUrl { .. }), "{err}");
        Config::new("wk")
            .realtime_url("http://rt.example.com/api/v1")
            .allow_insecure_http(true)
            .build()
            .unwrap();
    }

    #[test]
    fn bad_base_urls_are_refused_clearly() {
        for url in [
            "not a url",
            "ftp://example.com",
            "https://user:pw@example.com/api",
            "https://x.dev/api?a=1",
        ] {
            let err = Config::new("wk").base_url(url).build().unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidBaseUrl { .. }),
                "{url}: {err}"
            );
            assert!(err.to_string().starts_with("invalid base URL"), "{err}");
        }
    }

    #[test]
    fn credentials_in_a_base_url_are_never_echoed() {
        let config = Config::new("wk").base_url("https://user:hunter2@example.com/api");
        assert!(!format!("{config:?}").contains("hunter2"));
        let err = config.build().unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(
            err.to_string()
                .contains("https://<redacted>@example.com/api"),
            "{err}"
        );
    }

    #[test]
    fn bad_headers_are_refused_without_echoing_values() {
        let err = Config::new("wk")
            .header("Bad Name", "v")
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::InvalidHeader { .. }), "{err}");
        let err = Config::new("wk")
            .header("X-Ok", "line\nbreak-secret")
            .build()
            .unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        let err = Config::new("wk")
            .header("authorization", "Bearer other")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("API key"), "{err}");
        let err = Config::new("wk-\nsecret").build().unwrap_err();
        assert_eq!(err, ConfigError::InvalidApiKey);
    }

    #[test]
    fn debug_output_never_shows_the_key_or_header_values() {
        let config = Config::new("wk-topsecret").header("X-Token", "hidden-value");
        let text = format!("{config:?}");
        assert!(
            !text.contains("topsecret") && !text.contains("hidden-value"),
            "{text}"
        );
        let client = config.build().unwrap();
        let text = format!("{client:?}");
        assert!(
            !text.contains("topsecret") && !text.contains("hidden-value"),
            "{text}"
        );
    }
}
