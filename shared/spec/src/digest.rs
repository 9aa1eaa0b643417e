//! The content hash every content-addressed key and reference of Ferry carries
//! (`code/<sha256>.tgz`, `tasks/<sha256>.json`, `resume/<sha256>.json`, environment locks, the
//! state machine definition's version): SHA-256 as 64 lower-case hex digits.

use sha2::Digest as _;

/// Lower-case hex SHA-256 of `bytes` (64 characters).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Whether `s` is 64 lower-case hex digits (what [`sha256_hex`] returns).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_known_digest_of_abc() {
        let h = sha256_hex(b"abc");
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_sha256_hex(&h));
        assert!(!is_sha256_hex(&h.to_uppercase()));
        assert!(!is_sha256_hex(&h[1..]));
    }
}
