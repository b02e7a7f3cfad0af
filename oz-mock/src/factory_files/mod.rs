//! Factory files: the schema documents the service publishes (`v1alpha1`) and the validation of
//! a Factory tree sent as paths and contents. Neither needs tenant state, so both are public.
//!
//! Files are read by extension: `.json` as JSON, `agent.md` as Markdown whose front matter
//! between `---` lines holds the agent's fields (the Markdown below is its `prompt`), anything
//! else as YAML 1.2 with [`yaml`] (the `saphyr` parser, with the position of every node).

pub(crate) mod schemas;
pub(crate) mod validate;
pub(crate) mod yaml;

/// A strong entity tag for a body: FNV-1a of its bytes, stable across runs and builds.
pub(crate) fn etag(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in body {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("\"ff-{hash:016x}\"")
}

/// Whether an `If-None-Match` value (`*`, or a list of tags, weak `W/` ones included) matches
/// `etag`. Comparison is weak, as RFC 9110 asks for `If-None-Match`.
pub(crate) fn none_match(header: &str, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || (!tag.is_empty() && opaque(tag) == opaque(etag)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_stable_and_if_none_match_compares_weakly() {
        let tag = etag(b"{\"a\":1}");
        assert_eq!(tag, etag(b"{\"a\":1}"));
        assert_ne!(tag, etag(b"{\"a\":2}"));
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert!(none_match(&tag, &tag));
        assert!(none_match(&format!("W/{tag}"), &tag));
        assert!(none_match(&format!("\"other\", {tag}"), &tag));
        assert!(none_match("*", &tag));
        assert!(!none_match("\"other\"", &tag));
        assert!(!none_match("", &tag));
    }
}
