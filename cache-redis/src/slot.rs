//! Redis Cluster hash slots, shared by both adapters (the lock key, the clock table and batch
//! grouping must agree with the server whichever client sends the command).
//!
//! `CRC16(tag or key) mod 16384`, where the tag is the text between the first `{` and the
//! first `}` after it, when not empty (the Redis Cluster specification). The CRC is the
//! `crc16` crate's XMODEM variant, the one Redis uses.

use std::collections::BTreeMap;

/// Hash slots in a Redis Cluster.
pub(crate) const SLOTS: usize = 16_384;

/// The hash slot of `key`.
pub(crate) fn key_slot(key: &[u8]) -> u16 {
    let hashed = hash_tag(key).unwrap_or(key);
    crc16::State::<crc16::XMODEM>::calculate(hashed) % SLOTS as u16
}

/// Indexes of `keys` grouped by hash slot, in slot order: a multi-key command on a cluster must
/// stay within one slot.
pub(crate) fn group_by_slot<'k>(keys: impl Iterator<Item = &'k [u8]>) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
    for (i, key) in keys.enumerate() {
        groups.entry(key_slot(key)).or_default().push(i);
    }
    groups.into_values().collect()
}

/// The values of `len` keys in key order, from one `MGET` answer per group of
/// [`group_by_slot`] (or any grouping of indexes); an error message if an answer's length is
/// not its group's.
pub(crate) fn ungroup<T: Clone>(
    len: usize,
    groups: &[Vec<usize>],
    answers: Vec<Vec<Option<T>>>,
) -> Result<Vec<Option<T>>, String> {
    let mut values = vec![None; len];
    for (group, answer) in groups.iter().zip(answers) {
        if answer.len() != group.len() {
            return Err(miscounted(group.len(), answer.len()));
        }
        for (&i, value) in group.iter().zip(answer) {
            values[i] = value;
        }
    }
    Ok(values)
}

/// Why an `MGET` answer of `answered` values for `asked` keys cannot be used.
pub(crate) fn miscounted(asked: usize, answered: usize) -> String {
    format!("MGET of {asked} keys answered {answered} values")
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

    #[test]
    fn groups_hold_one_slot_each_and_ungroup_restores_the_order() {
        let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
        let mut tagged = keys.clone();
        tagged.push("{k3}x".into());
        let groups = group_by_slot(tagged.iter().map(|k| k.as_bytes()));
        let mut seen: Vec<usize> = groups.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..tagged.len()).collect::<Vec<_>>());
        for group in &groups {
            let slot = key_slot(tagged[group[0]].as_bytes());
            assert!(
                group
                    .iter()
                    .all(|&i| key_slot(tagged[i].as_bytes()) == slot)
            );
        }
        assert!(groups.iter().any(|g| g.contains(&3) && g.contains(&50)));
        // Each group's answer is its keys' names: ungrouped, they are back in key order.
        let answers = groups
            .iter()
            .map(|g| g.iter().map(|&i| Some(tagged[i].clone())).collect())
            .collect();
        let values = ungroup(tagged.len(), &groups, answers).unwrap();
        assert_eq!(values, tagged.iter().cloned().map(Some).collect::<Vec<_>>());
        let short = groups.iter().map(|_| vec![None::<u8>]).collect();
        assert!(ungroup(tagged.len(), &groups, short).is_err());
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
