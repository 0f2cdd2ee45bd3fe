//! The name of a key's refresh lock: it must live in the key's hash slot, so that the lock, the
//! value and the release script (which touches both) work on a cluster.
//!
//! Redis hashes the *hash tag* of a key — the text between the first `{` and the first `}`
//! after it, when that text is not empty — or else the whole key. The lock key is
//! `{T}:lock:KEY`, where `T` is chosen so that `{T}` is itself a valid tag hashing like `KEY`:
//!
//! - `KEY` has a tag `t`: `T = t` (`{user:1}:profile` → `{user:1}:lock:{user:1}:profile`).
//! - `KEY` has no tag and no `}`: `T = KEY`, which is hashed whole (`user:1` →
//!   `{user:1}:lock:user:1`). Note that naively wrapping a key that *contains* braces, such as
//!   `{}x` (empty tag, hashed whole) or `a}b`, would produce a different tag.
//! - Otherwise (`KEY` holds a `}` but no valid tag, or is empty): `T` is a short decimal string
//!   picked from a precomputed table to hash to the same slot as `KEY`.
//!
//! Appending `KEY` keeps lock names distinct per key.
//!
//! Every adapter names locks here (and releases them with [`crate::scripts::UNLOCK`]), so a
//! fred-based and a redis-rs-based instance honour each other's locks.

use std::sync::OnceLock;

use crate::slot::{SLOTS, key_slot as redis_keyslot};

/// The lock key for `key`, in the same hash slot.
pub(crate) fn lock_key(key: &str) -> String {
    let tag = match hash_tag(key) {
        Some(tag) => tag.to_owned(),
        None if !key.is_empty() && !key.contains('}') => key.to_owned(),
        None => slot_alias(redis_keyslot(key.as_bytes())).to_string(),
    };
    format!("{{{tag}}}:lock:{key}")
}

/// The hash tag of `key` under Redis' rule, if it has a non-empty one.
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let close = key[open + 1..].find('}')?;
    let tag = &key[open + 1..open + 1 + close];
    (!tag.is_empty()).then_some(tag)
}

/// A number whose decimal spelling hashes to `slot`.
fn slot_alias(slot: u16) -> u32 {
    static TABLE: OnceLock<Vec<u32>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        // Coupon collection over 0, 1, 2, …: every slot is hit within a few hundred thousand.
        let mut table = vec![u32::MAX; SLOTS];
        let mut missing = SLOTS;
        let mut n = 0u32;
        while missing > 0 {
            let slot = usize::from(redis_keyslot(n.to_string().as_bytes())) % SLOTS;
            if table[slot] == u32::MAX {
                table[slot] = n;
                missing -= 1;
            }
            n += 1;
        }
        table
    });
    table[usize::from(slot) % SLOTS]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn same_slot(key: &str) {
        let lock = lock_key(key);
        assert_eq!(
            redis_keyslot(lock.as_bytes()),
            redis_keyslot(key.as_bytes()),
            "{key:?} -> {lock:?}"
        );
        assert!(lock.ends_with(key));
    }

    #[test]
    fn examples() {
        assert_eq!(lock_key("user:1"), "{user:1}:lock:user:1");
        assert_eq!(
            lock_key("{user:1}:profile"),
            "{user:1}:lock:{user:1}:profile"
        );
        for key in [
            "",
            "{}",
            "{}x",
            "a}b",
            "}{",
            "x{",
            "{a",
            "a{}b}c",
            "{{nested}}",
            "é}",
            "{}{x}",
        ] {
            same_slot(key);
        }
    }

    #[test]
    fn random_keys_with_braces_keep_their_slot() {
        let mut rng = StdRng::seed_from_u64(0x10C4);
        let alphabet = ['{', '}', 'a', 'b', ':', '1', 'é'];
        for _ in 0..20_000 {
            let len = rng.random_range(0..10);
            let key: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            same_slot(&key);
        }
    }

    #[test]
    fn distinct_keys_get_distinct_locks() {
        assert_ne!(lock_key("{t}a"), lock_key("{t}b"));
        assert_ne!(lock_key("a}"), lock_key("b}"));
    }
}
