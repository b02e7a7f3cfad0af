//! Signed storage URLs: `?expires=<unix seconds>&sig=<hex>`.
//!
//! The signature is a keyed hash of the path and expiry computed with the standard library's
//! `DefaultHasher` (SipHash) seeded by a per-simulator secret. It is NOT a cryptographic MAC —
//! good enough to make a simulator reject tampered or expired URLs, nothing more.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use crate::lock;

pub(crate) struct Signer {
    secret: u64,
    ttl: Mutex<Duration>,
}

/// Why a signed URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureError {
    Missing,
    Invalid,
    Expired,
}

impl Signer {
    pub(crate) fn new(secret: u64, ttl: Duration) -> Self {
        Self {
            secret,
            ttl: Mutex::new(ttl),
        }
    }

    pub(crate) fn set_ttl(&self, ttl: Duration) {
        *lock(&self.ttl) = ttl;
    }

    pub(crate) fn ttl(&self) -> Duration {
        *lock(&self.ttl)
    }

    fn signature(&self, path: &str, expires: i64) -> String {
        let mut out = String::with_capacity(32);
        for round in 0..2u8 {
            let mut hasher = DefaultHasher::new();
            self.secret.hash(&mut hasher);
            round.hash(&mut hasher);
            path.hash(&mut hasher);
            expires.hash(&mut hasher);
            out.push_str(&format!("{:016x}", hasher.finish()));
        }
        out
    }

    /// The query string (without `?`) that makes `path` downloadable until `now + ttl`; also
    /// returns the expiry in unix seconds.
    pub(crate) fn sign(&self, path: &str, now_unix: i64) -> (String, i64) {
        let expires = now_unix + i64::try_from(self.ttl().as_secs()).unwrap_or(i64::MAX / 2);
        let sig = self.signature(path, expires);
        (format!("expires={expires}&sig={sig}"), expires)
    }

    pub(crate) fn verify(
        &self,
        path: &str,
        expires: Option<&str>,
        sig: Option<&str>,
        now_unix: i64,
    ) -> Result<(), SignatureError> {
        let (Some(expires), Some(sig)) = (expires, sig) else {
            return Err(SignatureError::Missing);
        };
        let expires: i64 = expires.parse().map_err(|_| SignatureError::Invalid)?;
        if self.signature(path, expires) != sig {
            return Err(SignatureError::Invalid);
        }
        if now_unix >= expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}
