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

use crate::ConfigError;

/// A `reqwest::ClientBuilder` with the SDK's TLS setup and nothing else: the API client
/// ([`Config::build`](crate::Config::build)) and the credential-free storage client of the
/// downloads start from it.
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
    let builder = reqwest::Client::builder();
    #[cfg(feature = "rustls")]
    let builder = builder.tls_backend_preconfigured(rustls_config()?);
    Ok(builder)
}

#[cfg(feature = "rustls")]
fn rustls_config() -> Result<rustls::ClientConfig, ConfigError> {
    use rustls_platform_verifier::BuilderVerifierExt;

    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(ring_provider()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map_err(|err| ConfigError::Transport(format!("TLS setup: {err}")))?
        .with_no_client_auth();
    // A preconfigured TLS stack gets no ALPN from reqwest: offer HTTP/2 (when built in) and
    // HTTP/1.1. Offering h2 without it would let the server pick a protocol reqwest cannot speak.
    config.alpn_protocols = alpn_protocols();
    Ok(config)
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
        let config = rustls_config().unwrap();
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
        let config = rustls_config().unwrap();
        assert!(std::sync::Arc::ptr_eq(config.crypto_provider(), installed));
    }
}
