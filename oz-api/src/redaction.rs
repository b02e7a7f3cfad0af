//! URLs and other values that are credentials, shown without their secret part.
//!
//! [`redact_url`] is the one rule for every URL the SDK prints or logs: the query string (where
//! a signed URL keeps its signature) and any `user:password@` become `<redacted>`.

use std::borrow::Cow;
use std::fmt;

/// The placeholder that stands for a secret that was left out.
const REDACTED: &str = "<redacted>";

/// `url` (absolute or relative) with its query string, and what follows it, replaced by
/// `?<redacted>`, and any `user:password@` by `<redacted>@`: what may be shown of a signed
/// download URL, a `Location` header or a request URL. The text is not parsed, so a URL that is
/// not well-formed loses the same parts.
///
/// ```
/// use oz_api::redaction::redact_url;
///
/// assert_eq!(
///     redact_url("https://storage.example/t/1.json?X-Goog-Signature=abc123"),
///     "https://storage.example/t/1.json?<redacted>"
/// );
/// assert_eq!(redact_url("https://user:pw@example.com/api"), "https://<redacted>@example.com/api");
/// assert_eq!(redact_url("/relative/path?token=1#top"), "/relative/path?<redacted>");
/// assert_eq!(redact_url("https://app.warp.dev/api/v1/agent/runs"), "https://app.warp.dev/api/v1/agent/runs");
/// ```
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let (before_query, query) = match url.split_once('?') {
        Some((before, _)) => (before, true),
        None => (url, false),
    };
    let userinfo = before_query.split_once("://").and_then(|(scheme, rest)| {
        let authority_end = rest.find(['/', '#']).unwrap_or(rest.len());
        let at = rest[..authority_end].rfind('@')?;
        Some((scheme, &rest[at..]))
    });
    if !query && userinfo.is_none() {
        return Cow::Borrowed(url);
    }
    let mut shown = match userinfo {
        Some((scheme, from_at)) => format!("{scheme}://{REDACTED}{from_at}"),
        None => before_query.to_owned(),
    };
    if query {
        shown.push('?');
        shown.push_str(REDACTED);
    }
    Cow::Owned(shown)
}

/// Shows a signed URL as [`redact_url`] does, in `Debug`. The generated types print their
/// `download_url` fields through it.
///
/// ```
/// use oz_api::types::FileArtifactResponseData;
///
/// let data: FileArtifactResponseData = serde_json::from_value(serde_json::json!({
///     "filename": "report.pdf", "content_type": "application/pdf",
///     "download_url": "https://storage.example/a1?sig=secret", "expires_at": "2026-01-01T00:00:00Z"
/// })).unwrap();
/// let shown = format!("{data:?}");
/// assert!(shown.contains("https://storage.example/a1?<redacted>") && !shown.contains("secret"));
/// ```
pub struct SignedUrl<'a, T: ?Sized>(pub &'a T);

impl fmt::Debug for SignedUrl<'_, String> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact_url(self.0))
    }
}

impl fmt::Debug for SignedUrl<'_, Option<String>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(url) => f.debug_tuple("Some").field(&SignedUrl(url)).finish(),
            None => f.write_str("None"),
        }
    }
}

/// The builders keep each field as a `Result`.
impl<T> fmt::Debug for SignedUrl<'_, Result<T, String>>
where
    for<'b> SignedUrl<'b, T>: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(value) => f.debug_tuple("Ok").field(&SignedUrl(value)).finish(),
            Err(message) => f.debug_tuple("Err").field(message).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_query_and_the_userinfo_are_left_out() {
        let cases = [
            (
                "https://s.example/a?sig=1",
                "https://s.example/a?<redacted>",
            ),
            ("https://s.example/a?", "https://s.example/a?<redacted>"),
            (
                "https://s.example:8443/a#frag",
                "https://s.example:8443/a#frag",
            ),
            (
                "https://u@s.example/a?x",
                "https://<redacted>@s.example/a?<redacted>",
            ),
            ("https://s.example/a/b@c", "https://s.example/a/b@c"),
            (
                "https://s.example/a?next=https://u:p@x",
                "https://s.example/a?<redacted>",
            ),
            ("", ""),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        assert!(matches!(
            redact_url("https://s.example/a"),
            Cow::Borrowed(_)
        ));
    }
}
