//! Path parameters, checked and encoded for the one URL segment they stand for.
//!
//! A URL's path is normalised before it is sent: `.` and `..` segments are removed with the
//! segment before them, and an empty segment leaves a bare `/`. An id of `..` would turn
//! `POST /agent/runs/{runId}/cancel` into `POST /agent/cancel`, and `""` would turn
//! `GET /agent/runs/{runId}` into the listing of runs; percent-encoding does not help, since
//! URL parsers treat `%2e` as a dot too. So these values are refused before any I/O, naming the
//! builder method that set them. Every operation with a path parameter encodes it here
//! (`cargo xtask regen` routes the generated code through [`encode`]).

/// `value` encoded as one path segment, or why it cannot be one. `name` is the builder method
/// that set it (`run_id`), for the message.
///
/// Besides what `progenitor_client::encode_path` encodes (`/`, `%`, `?`, `#`, spaces, control
/// characters…), a backslash is encoded too: URL parsers read it as `/` in http(s) URLs.
pub(crate) fn encode(value: &str, name: &str) -> Result<String, String> {
    if matches!(value, "" | "." | "..") {
        return Err(format!(
            "{name} is {value:?}: a path parameter must not be empty, \".\" or \"..\" \
             (the request would go to another endpoint)"
        ));
    }
    Ok(progenitor_client::encode_path(value).replace('\\', "%5C"))
}

#[cfg(test)]
mod tests {
    use super::encode;

    /// What the URL parser (reqwest's) makes of a path built from `segment`.
    fn sent_path(segment: &str) -> String {
        url::Url::parse(&format!(
            "https://oz.example/api/v1/agent/runs/{segment}/cancel"
        ))
        .unwrap()
        .path()
        .to_owned()
    }

    #[test]
    fn dot_segments_and_empty_values_are_refused_by_name() {
        for value in ["", ".", ".."] {
            let err = encode(value, "run_id").unwrap_err();
            assert!(err.starts_with("run_id is "), "{err}");
            assert!(err.contains("must not be empty"), "{err}");
        }
    }

    #[test]
    fn every_other_value_stays_inside_its_segment() {
        for value in [
            "a/b", "../x", "..\\", "..\\x", "\\", "%2e%2e", "%2E", ".%2e", "...", ".a", "a.",
            "a b", "a?b#c", "\u{0}", "\t..", "run_1", "é",
        ] {
            let encoded = encode(value, "run_id").unwrap();
            assert_eq!(
                sent_path(&encoded).matches('/').count(),
                "/api/v1/agent/runs/x/cancel".matches('/').count(),
                "{value:?} encoded as {encoded:?} left its segment: {}",
                sent_path(&encoded)
            );
            assert!(sent_path(&encoded).ends_with("/cancel"), "{value:?}");
        }
        assert_eq!(encode("a/b", "run_id").unwrap(), "a%2Fb");
    }
}
