//! Files sent with a prompt ([`AttachmentInput`]), made from bytes or a path: the contents
//! are base64-encoded and the media type is guessed from the file name's extension.

use std::io;
use std::path::Path;

use crate::types::AttachmentInput;

/// Media types by lower-case file extension; anything else is `application/octet-stream`.
const MEDIA_TYPES: &[(&str, &str)] = &[
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("svg", "image/svg+xml"),
    ("pdf", "application/pdf"),
    ("json", "application/json"),
    ("txt", "text/plain"),
    ("log", "text/plain"),
    ("md", "text/markdown"),
    ("csv", "text/csv"),
    ("html", "text/html"),
    ("htm", "text/html"),
    ("xml", "application/xml"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("zip", "application/zip"),
];

/// What the attachment's media type is when the extension says nothing.
pub const DEFAULT_MEDIA_TYPE: &str = "application/octet-stream";

impl AttachmentInput {
    /// An attachment named `file_name` holding `bytes`, encoded as the API expects (base64),
    /// its media type guessed from the name's extension (`image/png` for `shot.png`,
    /// [`DEFAULT_MEDIA_TYPE`] when unknown; [`with_mime_type`](Self::with_mime_type) sets
    /// another).
    ///
    /// ```
    /// use oz_api::types::AttachmentInput;
    ///
    /// let attachment = AttachmentInput::from_bytes("failure.png", [0x89, b'P', b'N', b'G']);
    /// assert_eq!(attachment.mime_type, "image/png");
    /// assert_eq!(attachment.data, "iVBORw==");
    /// ```
    pub fn from_bytes(file_name: impl Into<String>, bytes: impl AsRef<[u8]>) -> Self {
        let file_name = file_name.into();
        Self {
            mime_type: media_type(&file_name).to_owned(),
            data: base64(bytes.as_ref()),
            file_name,
        }
    }

    /// An attachment with the contents of the file at `path`, named after its last
    /// component, as [`from_bytes`](Self::from_bytes) makes it. Reads the whole file (the API
    /// takes a few small files per run), blocking the calling thread while it does.
    ///
    /// ```no_run
    /// # async fn example(client: &oz_api::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use oz_api::types::{AttachmentInput, RunAgentRequest};
    ///
    /// let screenshot = AttachmentInput::from_path("target/failure.png")?;
    /// let run = client
    ///     .create_run()
    ///     .body(RunAgentRequest::builder().prompt("Why does this page render blank?").attachments(vec![screenshot]))
    ///     .send()
    ///     .await?;
    /// # let _ = run; Ok(()) }
    /// ```
    pub fn from_path(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} does not name a file", path.display()),
                )
            })?;
        let bytes = std::fs::read(path)?;
        Ok(Self::from_bytes(file_name, bytes))
    }

    /// The same attachment with another media type, for a file whose extension does not tell.
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = mime_type.into();
        self
    }
}

/// The media type of a file name by its extension.
fn media_type(file_name: &str) -> &'static str {
    let Some((_, extension)) = file_name.rsplit_once('.') else {
        return DEFAULT_MEDIA_TYPE;
    };
    MEDIA_TYPES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(extension))
        .map_or(DEFAULT_MEDIA_TYPE, |(_, media_type)| media_type)
}

/// Standard base64 with padding (RFC 4648 §4), what `format: byte` means in OpenAPI.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (index, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if index <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected, "{input:?}");
        }
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
    }

    #[test]
    fn the_media_type_follows_the_extension_whatever_its_case() {
        assert_eq!(media_type("a.PNG"), "image/png");
        assert_eq!(media_type("photo.jpeg"), "image/jpeg");
        assert_eq!(media_type("notes.tar.md"), "text/markdown");
        assert_eq!(media_type("Makefile"), DEFAULT_MEDIA_TYPE);
        assert_eq!(media_type("data.unknown"), DEFAULT_MEDIA_TYPE);
    }

    #[test]
    fn an_attachment_from_a_path_is_named_after_the_file_and_holds_its_bytes() {
        let dir = std::env::temp_dir().join(format!("oz-api-attachment-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trace.json");
        std::fs::write(&path, b"{}").unwrap();
        let attachment = AttachmentInput::from_path(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(attachment.file_name, "trace.json");
        assert_eq!(attachment.mime_type, "application/json");
        assert_eq!(attachment.data, "e30=");
        let missing = AttachmentInput::from_path(dir.join("gone.png")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        let no_name = AttachmentInput::from_path("..").unwrap_err();
        assert_eq!(no_name.kind(), io::ErrorKind::InvalidInput);
    }
}
