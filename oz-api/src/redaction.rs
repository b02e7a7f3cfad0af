//! `Debug` output of values that are credentials.

use std::fmt;

/// Shows a signed URL without its query string (where the signature lives). The generated
/// types print their `download_url` fields through it.
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

fn write_redacted(f: &mut fmt::Formatter<'_>, url: &str) -> fmt::Result {
    match url.split_once('?') {
        Some((base, _)) => write!(f, "{:?}", format!("{base}?<redacted>")),
        None => write!(f, "{url:?}"),
    }
}

impl fmt::Debug for SignedUrl<'_, String> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_redacted(f, self.0)
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
