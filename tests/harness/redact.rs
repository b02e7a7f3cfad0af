//! Removing secrets from recorded exchanges before they are written to disk.
//!
//! - request and response headers: only an allow-list is kept (no `Authorization`, cookies or
//!   tokens);
//! - URLs with a query string (signed download URLs): every query value becomes `REDACTED`;
//! - e-mail addresses become `user@example.com`.
//!
//! A URL is redacted here differently from how the SDK shows one
//! (`oz_api::redaction::redact_url`, which ends it in `?<redacted>`, not a valid URI): a fixture
//! is data that the replay serves and the spec describes (`format: uri`), so its URLs stay
//! well-formed, with their parameter names.
//!
//! ```
//! use oz_conformance::redact::redact_value;
//! use serde_json::json;
//!
//! let mut body = json!({
//!     "creator": {"email": "jane.doe@corp.example"},
//!     "download_url": "https://storage.example/t.json?X-Signature=abc123&expires=99"
//! });
//! redact_value(&mut body);
//! assert_eq!(body["creator"]["email"], "user@example.com");
//! assert_eq!(
//!     body["download_url"],
//!     "https://storage.example/t.json?X-Signature=REDACTED&expires=REDACTED"
//! );
//! ```

use std::collections::BTreeMap;

use serde_json::Value;

/// Placeholder of every e-mail address.
pub const EMAIL_PLACEHOLDER: &str = "user@example.com";
/// Placeholder of every query value of a URL.
pub const QUERY_PLACEHOLDER: &str = "REDACTED";

/// Response headers worth keeping in a fixture.
pub const KEPT_RESPONSE_HEADERS: &[&str] = &["content-type", "location", "retry-after"];

/// Redacts every string inside `value`.
pub fn redact_value(value: &mut Value) {
    match value {
        Value::String(s) => *s = redact_text(s),
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(map) => map.values_mut().for_each(redact_value),
        _ => {}
    }
}

/// Redacts one string: a URL loses its query values, an e-mail address becomes the
/// placeholder.
pub fn redact_text(text: &str) -> String {
    if let Ok(mut url) = url::Url::parse(text)
        && matches!(url.scheme(), "http" | "https")
    {
        if url.query().is_some() {
            let names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(names.iter().map(|n| (n.as_str(), QUERY_PLACEHOLDER)));
        }
        if !url.username().is_empty() || url.password().is_some() {
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        return url.to_string();
    }
    text.split(' ')
        .map(|word| {
            if looks_like_email(word) {
                EMAIL_PLACEHOLDER
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn looks_like_email(word: &str) -> bool {
    let Some((local, domain)) = word.split_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.contains('@')
}

/// The response headers to keep, redacted.
pub fn kept_response_headers<'a>(
    headers: impl Iterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, String> {
    headers
        .filter(|(name, _)| KEPT_RESPONSE_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
        .map(|(name, value)| (name.to_ascii_lowercase(), redact_text(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_replaced_wherever_they_stand() {
        assert_eq!(
            redact_text("by ann@x.dev today"),
            "by user@example.com today"
        );
        assert_eq!(redact_text("@mention and a@b"), "@mention and a@b");
    }

    #[test]
    fn urls_keep_their_path_and_lose_query_values_and_userinfo() {
        assert_eq!(
            redact_text("https://u:p@s.example/a/b?sig=1"),
            "https://s.example/a/b?sig=REDACTED"
        );
        assert_eq!(
            redact_text("https://app.example/r/1"),
            "https://app.example/r/1"
        );
    }

    #[test]
    fn only_harmless_headers_are_kept() {
        let kept = kept_response_headers(
            [
                ("Content-Type", "application/json"),
                ("Set-Cookie", "s=1"),
                ("Location", "https://s.example/f?token=abc"),
            ]
            .into_iter(),
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept["location"], "https://s.example/f?token=REDACTED");
    }
}
