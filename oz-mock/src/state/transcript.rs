//! Transcript bodies, whole or generated while they are sent.

use std::convert::Infallible;
use std::io::Write;

use bytes::Bytes;

/// Transcripts of this many bytes or more are generated chunk by chunk as the connection takes
/// them instead of being built in memory first.
pub(crate) const STREAMED_MIN: usize = 16 * 1024 * 1024;

/// What closes a transcript document: the `entries` array, then the object.
pub(crate) const TAIL: &str = "]}";

/// Bytes produced per chunk of a streamed transcript.
const CHUNK: usize = 64 * 1024;

/// A stored object's body.
pub(crate) enum Body {
    /// Held in memory.
    Whole(Vec<u8>),
    /// Generated while it is sent.
    Streamed(Streamed),
}

impl Body {
    /// Exact length in bytes (the `Content-Length`).
    pub(crate) fn len(&self) -> usize {
        match self {
            Body::Whole(bytes) => bytes.len(),
            Body::Streamed(streamed) => streamed.size,
        }
    }

    pub(crate) fn into_http(self) -> axum::body::Body {
        match self {
            Body::Whole(bytes) => axum::body::Body::from(bytes),
            Body::Streamed(streamed) => axum::body::Body::from_stream(futures::stream::iter(
                streamed.map(Ok::<Bytes, Infallible>),
            )),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::Whole(bytes)
    }
}

/// A transcript of exactly `size` bytes: the head, the same numbered entries as an in-memory
/// transcript for as long as they fit, spaces up to the size, then [`TAIL`].
pub(crate) struct Streamed {
    head: Option<String>,
    size: usize,
    sent: usize,
    next_index: usize,
    entries_done: bool,
}

impl Streamed {
    /// `head` holds everything up to and including the first entry.
    pub(crate) fn new(head: String, size: usize) -> Self {
        Self {
            size: size.max(head.len() + TAIL.len()),
            head: Some(head),
            sent: 0,
            next_index: 1,
            entries_done: false,
        }
    }
}

impl Iterator for Streamed {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.sent >= self.size {
            return None;
        }
        let body_end = self.size - TAIL.len();
        let mut chunk = Vec::with_capacity(CHUNK + 256);
        if let Some(head) = self.head.take() {
            chunk.extend_from_slice(head.as_bytes());
        }
        while !self.entries_done && chunk.len() < CHUNK {
            let before = chunk.len();
            let i = self.next_index;
            let role = if i.is_multiple_of(2) {
                "user"
            } else {
                "assistant"
            };
            // Writing into a Vec cannot fail.
            let _ = write!(
                chunk,
                ",{{\"index\":{i},\"role\":\"{role}\",\"text\":\"Step {i}: inspected the repository and ran the test suite.\"}}"
            );
            if self.sent + chunk.len() > body_end {
                chunk.truncate(before);
                self.entries_done = true;
            } else {
                self.next_index += 1;
            }
        }
        if self.entries_done {
            let room = body_end - self.sent - chunk.len();
            let pad = room.min(CHUNK.saturating_sub(chunk.len()));
            chunk.resize(chunk.len() + pad, b' ');
            if self.sent + chunk.len() == body_end {
                chunk.extend_from_slice(TAIL.as_bytes());
            }
        }
        self.sent += chunk.len();
        Some(Bytes::from(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_transcript_is_exactly_its_size_and_valid_json() {
        let head = r#"{"format":"oz","entries":[{"index":0,"role":"user","text":"go"}"#.to_owned();
        for size in [200, 1_000, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let bytes: Vec<u8> = Streamed::new(head.clone(), size).flatten().collect();
            assert_eq!(bytes.len(), size, "size {size}");
            let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
            let entries = doc["entries"].as_array().expect("entries");
            assert_eq!(entries[0]["text"], "go");
            assert_eq!(
                entries[1]["text"],
                "Step 1: inspected the repository and ran the test suite."
            );
            assert_eq!(entries.last().unwrap()["index"], entries.len() - 1);
        }
    }

    #[test]
    fn a_size_below_the_head_still_gives_a_whole_document() {
        let head = r#"{"entries":[{"index":0}"#.to_owned();
        let bytes: Vec<u8> = Streamed::new(head.clone(), 3).flatten().collect();
        assert_eq!(bytes, format!("{head}{TAIL}").into_bytes());
    }
}
