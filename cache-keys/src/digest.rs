//! The digest encoding shared by parameters and shortened ids.

/// Lowercase hex of a 128-bit hash, high 64 bits first: the canonical (big-endian) form that
/// `xxhsum -H2` prints for XXH3-128.
pub(crate) fn hex128(hash: u128) -> String {
    format!("{hash:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_128;

    #[test]
    fn matches_the_xxhash_reference_vector() {
        // XXH3_128bits("") from the xxHash sanity checks: high64 0x99AA06D3014798D8,
        // low64 0x6001C324468D497F.
        assert_eq!(hex128(xxh3_128(b"")), "99aa06d3014798d86001c324468d497f");
    }

    #[test]
    fn keeps_leading_zeros() {
        assert_eq!(hex128(1), "00000000000000000000000000000001");
    }
}
