//! Server-sent events: the `data` of each message of a `text/event-stream` body, as the
//! HTML standard's parsing rules read it.
//!
//! Lines end in LF, CRLF or CR (also when a chunk ends between CR and LF); a line starting
//! with `:` is a comment; `data:` lines (one space after the colon is dropped) are joined by
//! LF; a blank line ends a message, and a message without `data` is none. Other fields
//! (`event`, `id`, `retry`) are read and ignored: the event stream's messages are told apart by
//! their JSON. A message cut off by the end of the connection is dropped, and one longer than
//! [`MAX_MESSAGE_BYTES`] is skipped whole, so a server that never ends a line cannot take the
//! process's memory.

use std::collections::VecDeque;

/// The longest message kept; a longer one is skipped (an `AgentRunEvent` is a few hundred
/// bytes).
pub(crate) const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Reads the messages of an event stream from its chunks.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// The line being read.
    line: Vec<u8>,
    /// The `data` of the message being read, each line followed by LF.
    data: String,
    /// The message has a `data` field (possibly empty).
    has_data: bool,
    /// The message went past [`MAX_MESSAGE_BYTES`]: skipped up to its blank line.
    oversized: bool,
    /// The last byte was CR: an LF right after it ends no second line.
    after_cr: bool,
}

impl SseParser {
    /// Reads `chunk` and appends the `data` of every message it completes to `messages`.
    pub(crate) fn push(&mut self, chunk: &[u8], messages: &mut VecDeque<String>) {
        for &byte in chunk {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    self.end_line(messages);
                }
                _ => {
                    self.after_cr = false;
                    if self.line.len() + self.data.len() < MAX_MESSAGE_BYTES {
                        self.line.push(byte);
                    } else {
                        self.oversized = true;
                    }
                }
            }
        }
    }

    fn end_line(&mut self, messages: &mut VecDeque<String>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if self.has_data && !self.oversized {
                let mut data = std::mem::take(&mut self.data);
                data.pop(); // the LF after the last line
                messages.push_back(data);
            }
            self.data.clear();
            self.has_data = false;
            self.oversized = false;
            return;
        }
        if line[0] == b':' || self.oversized {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (&line[..], &[][..]),
        };
        if field == b"data" {
            self.has_data = true;
            self.data.push_str(&String::from_utf8_lossy(value));
            self.data.push('\n');
            if self.data.len() > MAX_MESSAGE_BYTES {
                self.oversized = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = SseParser::default();
        let mut messages = VecDeque::new();
        for chunk in chunks {
            parser.push(chunk, &mut messages);
        }
        messages.into()
    }

    #[test]
    fn data_lines_comments_and_other_fields() {
        let body = b": hello\n\ndata: {\"a\":1}\n\nevent: x\nid: 7\nretry: 10\ndata:{\"b\":2}\n\n";
        assert_eq!(parse(&[body]), ["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn multi_line_data_is_joined_by_line_feeds() {
        assert_eq!(parse(&[b"data: {\"a\":\ndata:  1}\n\n"]), ["{\"a\":\n 1}"]);
        assert_eq!(parse(&[b"data\n\n"]), [""]);
    }

    #[test]
    fn every_line_ending_and_chunk_boundary() {
        let body = b"data: one\r\n\r\ndata: two\r\rdata: three\n\n";
        let whole = parse(&[body]);
        assert_eq!(whole, ["one", "two", "three"]);
        for split in 0..body.len() {
            let (a, b) = body.split_at(split);
            assert_eq!(parse(&[a, b]), whole, "split at {split}");
        }
        // A CR at the end of one chunk and the LF at the start of the next end one line.
        assert_eq!(parse(&[b"data: x\r", b"\n\r", b"\n"]), ["x"]);
    }

    #[test]
    fn a_message_cut_off_is_dropped_and_one_without_data_is_none() {
        assert_eq!(parse(&[b"data: 1\n\ndata: 2"]), ["1"]);
        assert_eq!(parse(&[b"event: ping\n\n: c\n\n"]), Vec::<String>::new());
    }

    #[test]
    fn an_oversized_message_is_skipped_whole() {
        let mut long = b"data: ".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_MESSAGE_BYTES + 10));
        long.extend(b"\ndata: more\n\ndata: next\n\n");
        assert_eq!(parse(&[&long]), ["next"]);
    }
}
