//! Identifiers in the shapes the service uses.

/// A random version-4 UUID string from a seeded generator.
pub(crate) fn uuid(rng: &mut fastrand::Rng) -> String {
    let hi = rng.u64(..);
    let lo = rng.u64(..);
    let time_mid = (hi >> 16) & 0xffff;
    let version = 0x4000 | (hi & 0x0fff);
    let variant = 0x8000 | ((lo >> 48) & 0x3fff);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        time_mid,
        version,
        variant,
        lo & 0xffff_ffff_ffff
    )
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
