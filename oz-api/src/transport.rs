//! The HTTP client every request of the SDK goes through, with its TLS stack.
//!
//! With the default `rustls` feature, TLS is rustls with the platform's certificate verifier
//! (the system's trust store), on the crypto provider the application installed for the process
//! (`rustls::crypto::CryptoProvider::install_default`) when it installed one, else on the `ring`
//! provider. reqwest's own rustls default would pull `aws-lc-rs`, whose C build dominates a
//! clean build of an application; `ring` gives the same protocols (TLS 1.2 and 1.3) at a
//! fraction of the build time, but no post-quantum key exchange, which is why rustls 0.23.48
//! deprecates its provider. An application that wants the hybrid post-quantum key exchange
//! (X25519MLKEM768) installs the `aws-lc-rs` provider for its process, which this client then
//! uses, or builds with the `rustls-aws-lc` feature (reqwest's own rustls setup, which offers it
//! first). Nothing is installed process-wide by this crate. With `native-tls` instead, the
//! platform's TLS library is used.
//!
//! An application reaches the network its own way through [`Config`](crate::Config): proxies
//! ([`Config::proxy`](crate::Config::proxy); the `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`
//! variables are read by default, and with the default `system-proxy` feature the system
//! settings of macOS and Windows too), extra root certificates
//! ([`Config::add_root_certificate_pem`](crate::Config::add_root_certificate_pem)), or HTTP
//! clients it prepared itself ([`Config::http_client`](crate::Config::http_client),
//! [`Config::storage_client`](crate::Config::storage_client)).

use std::time::Duration;

use reqwest::header::{HeaderMap, USER_AGENT};

use crate::ConfigError;

/// Connection time limit of the storage client the downloads build.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
const STORAGE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence allowed between two chunks of a storage response. There is no limit on the
/// whole transfer: a large transcript may take minutes.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
const STORAGE_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A root certificate given to [`Config`](crate::Config), as given.
#[derive(Clone)]
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) enum RootCertificate {
    /// One or more PEM `CERTIFICATE` blocks.
    Pem(Vec<u8>),
    /// One DER-encoded certificate.
    Der(Vec<u8>),
}

/// How the client reaches the network beyond its TLS stack, checked when the client is built
/// and kept for the storage client of the downloads.
#[derive(Clone, Default)]
pub(crate) struct Network {
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) proxies: Vec<reqwest::Proxy>,
    /// Extra trusted roots, parsed.
    #[cfg(all(feature = "rustls", not(target_arch = "wasm32")))]
    pub(crate) roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    #[cfg(all(not(feature = "rustls"), not(target_arch = "wasm32")))]
    pub(crate) roots: Vec<reqwest::Certificate>,
    /// The client given to [`Config::storage_client`](crate::Config::storage_client).
    pub(crate) storage: Option<reqwest::Client>,
    /// The `User-Agent` of storage requests.
    pub(crate) user_agent: Option<reqwest::header::HeaderValue>,
}

impl Network {
    /// Parses the given root certificates; every one must be a certificate. (On `wasm32` the
    /// browser's or the runtime's trust store decides, and none can be given.)
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn with_roots(self, _given: &[RootCertificate]) -> Result<Self, ConfigError> {
        Ok(self)
    }

    /// Parses the given root certificates; every one must be a certificate.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn with_roots(mut self, given: &[RootCertificate]) -> Result<Self, ConfigError> {
        let invalid =
            |index: usize, reason: String| ConfigError::InvalidRootCertificate { index, reason };
        for (index, certificate) in given.iter().enumerate() {
            #[cfg(feature = "rustls")]
            {
                use rustls::pki_types::CertificateDer;
                use rustls::pki_types::pem::PemObject;

                match certificate {
                    RootCertificate::Pem(pem) => {
                        let before = self.roots.len();
                        for der in CertificateDer::pem_slice_iter(pem) {
                            self.roots
                                .push(der.map_err(|err| invalid(index, err.to_string()))?);
                        }
                        if self.roots.len() == before {
                            return Err(invalid(index, "no PEM CERTIFICATE block".to_owned()));
                        }
                    }
                    RootCertificate::Der(der) => {
                        check_der(der).map_err(|reason| invalid(index, reason.to_owned()))?;
                        self.roots.push(CertificateDer::from(der.clone()));
                    }
                }
            }
            #[cfg(not(feature = "rustls"))]
            {
                let parsed = match certificate {
                    RootCertificate::Pem(pem) => reqwest::Certificate::from_pem_bundle(pem),
                    RootCertificate::Der(der) => {
                        check_der(der).map_err(|reason| invalid(index, reason.to_owned()))?;
                        reqwest::Certificate::from_der(der).map(|c| vec![c])
                    }
                }
                .map_err(|err| invalid(index, err.to_string()))?;
                if parsed.is_empty() {
                    return Err(invalid(index, "no PEM CERTIFICATE block".to_owned()));
                }
                self.roots.extend(parsed);
            }
        }
        Ok(self)
    }

    /// A `reqwest::ClientBuilder` with the SDK's TLS stack, these extra roots and these
    /// proxies, and nothing else.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn builder(&self) -> Result<reqwest::ClientBuilder, ConfigError> {
        Ok(reqwest::Client::builder())
    }

    /// A `reqwest::ClientBuilder` with the SDK's TLS stack, these extra roots and these
    /// proxies, and nothing else.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn builder(&self) -> Result<reqwest::ClientBuilder, ConfigError> {
        let builder = reqwest::Client::builder();
        #[cfg(feature = "rustls")]
        let builder = builder.tls_backend_preconfigured(rustls_config(&self.roots)?);
        #[cfg(not(feature = "rustls"))]
        let builder = self
            .roots
            .iter()
            .cloned()
            .fold(builder, reqwest::ClientBuilder::add_root_certificate);
        Ok(self
            .proxies
            .iter()
            .cloned()
            .fold(builder, reqwest::ClientBuilder::proxy))
    }

    /// The HTTP client of storage downloads: the one the application gave, else a new one
    /// without credentials that follows no redirects by itself (the downloads check and count
    /// every hop).
    pub(crate) fn storage_client(&self) -> Result<reqwest::Client, ConfigError> {
        if let Some(client) = &self.storage {
            return Ok(client.clone());
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            self.user_agent.clone().unwrap_or_else(|| {
                reqwest::header::HeaderValue::from_static(crate::DEFAULT_USER_AGENT)
            }),
        );
        let builder = self.builder()?.default_headers(headers);
        // On wasm32 fetch follows redirects itself and has no connection or read limits.
        #[cfg(not(target_arch = "wasm32"))]
        let builder = builder
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(STORAGE_CONNECT_TIMEOUT)
            .read_timeout(STORAGE_READ_TIMEOUT);
        builder
            .build()
            .map_err(|err| ConfigError::Transport(err.to_string()))
    }
}

/// The API client built from `builder`: no redirects followed (the client redacts and hands
/// out the signed `Location` of a download), `timeout` per attempt, `connect_timeout` per
/// connection. On `wasm32`, where fetch has neither limit nor redirect setting, the hook
/// sets `timeout` on each attempt instead.
pub(crate) fn api_client(
    builder: reqwest::ClientBuilder,
    timeout: Duration,
    connect_timeout: Duration,
) -> Result<reqwest::Client, ConfigError> {
    #[cfg(not(target_arch = "wasm32"))]
    let builder = builder
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(connect_timeout);
    #[cfg(target_arch = "wasm32")]
    let _ = (timeout, connect_timeout);
    builder
        .build()
        .map_err(|err| ConfigError::Transport(err.to_string()))
}

#[cfg(not(target_arch = "wasm32"))]
/// A quick check that `der` is one DER `SEQUENCE` spanning the whole input, so that PEM text
/// given as DER is refused with a clear reason when the client is built, not at the first
/// handshake.
fn check_der(der: &[u8]) -> Result<(), &'static str> {
    let [0x30, first, rest @ ..] = der else {
        return Err(
            "not DER: a certificate starts with a SEQUENCE (0x30); PEM text goes to add_root_certificate_pem",
        );
    };
    let (length, rest) = match *first {
        n if n < 0x80 => (usize::from(n), rest),
        0x81..=0x84 => {
            let count = usize::from(*first - 0x80);
            if rest.len() < count {
                return Err("not DER: the length is cut off");
            }
            let (bytes, rest) = rest.split_at(count);
            (
                bytes
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
                rest,
            )
        }
        _ => return Err("not DER: unsupported length encoding"),
    };
    if length != rest.len() {
        return Err("not DER: the length does not match the input");
    }
    Ok(())
}

/// A `reqwest::ClientBuilder` with the SDK's TLS setup and nothing else: the API client
/// ([`Config::build`](crate::Config::build)) and the credential-free storage client of the
/// downloads start from it, and so should a client the application prepares for
/// [`Config::http_client`](crate::Config::http_client).
///
/// With the default `rustls` feature that is rustls with the platform's verifier, on the crypto
/// provider the application installed for its process, else on `ring`, which has no
/// post-quantum key exchange. For the hybrid X25519MLKEM768, install aws-lc-rs's provider
/// before the first client is built
/// (`rustls::crypto::aws_lc_rs::default_provider().install_default()`), or build with the
/// `rustls-aws-lc` feature instead of `rustls`.
///
/// ```
/// let http = oz_api::http_client_builder()?
///     .redirect(reqwest::redirect::Policy::none())
///     .build()
///     .expect("a TLS client");
/// # let _ = http;
/// # Ok::<(), oz_api::ConfigError>(())
/// ```
pub fn http_client_builder() -> Result<reqwest::ClientBuilder, ConfigError> {
    Network::default().builder()
}

#[cfg(feature = "rustls")]
fn rustls_config(
    extra_roots: &[rustls::pki_types::CertificateDer<'static>],
) -> Result<rustls::ClientConfig, ConfigError> {
    use std::sync::Arc;

    use rustls_platform_verifier::BuilderVerifierExt;

    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(ring_provider()));
    let tls_error = |err: rustls::Error| ConfigError::Transport(format!("TLS setup: {err}"));
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let builder = if extra_roots.is_empty() {
        builder.with_platform_verifier().map_err(tls_error)?
    } else {
        platform_verifier_with_roots(builder, extra_roots, provider)?
    };
    let mut config = builder.with_no_client_auth();
    // A preconfigured TLS stack gets no ALPN from reqwest: offer HTTP/2 (when built in) and
    // HTTP/1.1. Offering h2 without it would let the server pick a protocol reqwest cannot speak.
    config.alpn_protocols = alpn_protocols();
    Ok(config)
}

/// The platform's verifier, trusting `extra_roots` too.
#[cfg(all(feature = "rustls", not(target_os = "android")))]
fn platform_verifier_with_roots(
    builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>,
    extra_roots: &[rustls::pki_types::CertificateDer<'static>],
    provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>, ConfigError>
{
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots.to_vec(), provider)
            .map_err(|err| ConfigError::Transport(format!("TLS setup: {err}")))?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(verifier)))
}

/// Android's platform verifier takes no extra roots.
#[cfg(all(feature = "rustls", target_os = "android"))]
fn platform_verifier_with_roots(
    _builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>,
    _extra_roots: &[rustls::pki_types::CertificateDer<'static>],
    _provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>, ConfigError>
{
    Err(ConfigError::Transport(
        "extra root certificates are not supported on Android with the `rustls` feature".to_owned(),
    ))
}

/// The `ring` provider, the default of the `rustls` feature for its build cost. rustls 0.23.48
/// deprecates it because `ring` has no post-quantum key exchange (see the module docs for the
/// ways to get one); the choice is deliberate, so the deprecation is not passed on to every
/// build of an application.
#[cfg(feature = "rustls")]
#[allow(deprecated)]
fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[cfg(feature = "rustls")]
fn alpn_protocols() -> Vec<Vec<u8>> {
    let mut protocols = Vec::new();
    if cfg!(feature = "http2") {
        protocols.push(b"h2".to_vec());
    }
    protocols.push(b"http/1.1".to_vec());
    protocols
}

#[cfg(all(test, feature = "rustls"))]
mod tests {
    use super::*;

    #[test]
    fn the_tls_stack_is_rustls_on_ring_offering_http2_and_http11() {
        let config = rustls_config(&[]).unwrap();
        let expected: &[&[u8]] = if cfg!(feature = "http2") {
            &[b"h2", b"http/1.1"]
        } else {
            &[b"http/1.1"]
        };
        assert_eq!(config.alpn_protocols, expected);
        let suites = &config.crypto_provider().cipher_suites;
        assert!(!suites.is_empty());
        assert!(http_client_builder().unwrap().build().is_ok());
    }

    #[test]
    fn a_provider_the_application_installed_is_used() {
        // Installing is process-wide: the other test of this binary only checks what any
        // provider has (cipher suites, ALPN).
        let chosen = rustls::crypto::CryptoProvider {
            kx_groups: vec![rustls::crypto::ring::kx_group::SECP256R1],
            ..ring_provider()
        };
        let _ = chosen.install_default();
        let installed = rustls::crypto::CryptoProvider::get_default().unwrap();
        let config = rustls_config(&[]).unwrap();
        assert!(std::sync::Arc::ptr_eq(config.crypto_provider(), installed));
    }
}
