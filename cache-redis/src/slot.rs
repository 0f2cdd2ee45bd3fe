//! Redis Cluster hash slots, shared by both adapters (the lock key, the clock table and batch
//! grouping must agree with the server whichever client sends the command).
//!
//! `CRC16(tag or key) mod 16384`, where the tag is the text between the first `{` and the
//! first `}` after it, when not empty (the Redis Cluster specification). The CRC is the
//! `crc16` crate's XMODEM variant, the one Redis uses.

/// Hash slots in a Redis Cluster.
pub(crate) const SLOTS: usize = 16_384;

/// The hash slot of `key`.
pub(crate) fn key_slot(key: &[u8]) -> u16 {
    let hashed = hash_tag(key).unwrap_or(key);
    crc16::State::<crc16::XMODEM>::calculate(hashed) % SLOTS as u16
}

/// The bytes Redis hashes when `key` has a non-empty hash tag.
fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let rest = &key[open + 1..];
    let close = rest.iter().position(|&b| b == b'}')?;
    (close > 0).then(|| &rest[..close])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_of_the_specification_examples() {
        // CRC16/XMODEM("123456789") = 0x31C3, the check value the specification gives.
        assert_eq!(key_slot(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12_182);
        // A tag hashes alone; an empty tag does not count, and only the first `{` opens one.
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        assert_eq!(key_slot(b""), 0);
    }

    /// Both drivers must agree with this module on every key.
    #[test]
    fn agrees_with_the_drivers() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(0x5107);
        let alphabet = [b'{', b'}', b'a', b'b', b':', b'1', 0xc3, 0xa9];
        for _ in 0..20_000 {
            let len = rng.random_range(0..12);
            let key: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            #[cfg(feature = "fred")]
            assert_eq!(key_slot(&key), fred::util::redis_keyslot(&key), "{key:?}");
            #[cfg(feature = "redis-rs")]
            {
                use redis::cluster_routing::{Route, SlotAddr};
                assert_eq!(
                    Route::new(key_slot(&key), SlotAddr::Master),
                    Route::with_key(&key, SlotAddr::Master),
                    "{key:?}"
                );
            }
            assert!(usize::from(key_slot(&key)) < SLOTS);
        }
    }
}
