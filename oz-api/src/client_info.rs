//! What a [`Client`] knows about itself, as inherent methods: no progenitor trait needs to be
//! in scope to ask.

use crate::{Client, ClientState};
use progenitor_client::ClientInfo;

impl Client {
    /// The base URL every operation's path is appended to, e.g.
    /// `https://app.warp.dev/api/v1`.
    ///
    /// ```
    /// let client = oz_api::Config::new("wk-example").base_url("https://oz.example.com/api/v1").build()?;
    /// assert_eq!(client.base_url(), "https://oz.example.com/api/v1");
    /// # Ok::<(), oz_api::ConfigError>(())
    /// ```
    pub fn base_url(&self) -> &str {
        ClientInfo::baseurl(self)
    }

    /// The HTTP client requests go through (time limits, TLS, no redirect following).
    pub fn http_client(&self) -> &reqwest::Client {
        ClientInfo::client(self)
    }

    /// The key, retry policy and hooks of this client, to build another [`Client`] on a
    /// different HTTP client with [`Client::new_with_client`].
    pub fn state(&self) -> &ClientState {
        ClientInfo::inner(self)
    }

    /// The version of the API description the client was generated from.
    pub fn api_version() -> &'static str {
        <Self as ClientInfo<ClientState>>::api_version()
    }
}
