//! Identifiers in the shapes the service uses.

/// A random version-4 UUID string from a seeded generator (so a seeded simulator hands out the
/// same ids every time).
pub(crate) fn uuid(rng: &mut fastrand::Rng) -> String {
    let bytes = (u128::from(rng.u64(..)) << 64 | u128::from(rng.u64(..))).to_be_bytes();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// A 22-character alphanumeric id, the shape of environment ids.
pub(crate) fn short_id(rng: &mut fastrand::Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..22)
        .map(|_| ALPHABET[rng.usize(..ALPHABET.len())] as char)
        .collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_follow_the_seed() {
        let id = uuid(&mut fastrand::Rng::with_seed(7));
        let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(id, uuid(&mut fastrand::Rng::with_seed(7)));
        assert_ne!(id, uuid(&mut fastrand::Rng::with_seed(8)));
    }
}
