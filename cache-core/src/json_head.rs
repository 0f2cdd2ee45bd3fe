//! The fast path of [`JsonCodec::decode`](crate::JsonCodec): an untagged envelope exactly as
//! this build writes it,
//!
//! ```text
//! {"v":1,"ttl_ms":…,"grace_ms":…,"delta_us":…,"stored_at_ms":…,"id":…,"ns":"<16 hex>","value":…}
//! ```
//!
//! has its metadata read by hand and only its value by serde_json. Field by field through serde,
//! the metadata cost about a fifth of a Redis hit's instructions (every key a string to match
//! and validate), as much as the value's own decoding beside it. Anything else — entries from
//! older builds, tagged entries, other spacing, damage — is `None` here and goes through serde,
//! which also says why a bad entry is bad. So the fast path accepts nothing serde refuses (but
//! for serde_json's nesting limit of 128, which here counts from the value, not the envelope),
//! and what it accepts decodes to the same envelope.

use serde::de::DeserializeOwned;

use crate::envelope::{ENVELOPE_VERSION, Envelope};
use crate::tag::TagVersion;

/// The envelope in `bytes` if they are an untagged envelope in this build's exact layout.
pub(crate) fn decode_untagged<T: DeserializeOwned>(bytes: &[u8]) -> Option<Envelope<T>> {
    let rest = bytes.strip_prefix(b"{\"v\":1,\"ttl_ms\":")?;
    let (ttl_ms, rest) = integer(rest)?;
    let (grace_ms, rest) = integer(rest.strip_prefix(b",\"grace_ms\":")?)?;
    let (delta_us, rest) = integer(rest.strip_prefix(b",\"delta_us\":")?)?;
    let (stored_at_ms, rest) = integer(rest.strip_prefix(b",\"stored_at_ms\":")?)?;
    let (id, rest) = integer(rest.strip_prefix(b",\"id\":")?)?;
    let (hex, rest) = rest.strip_prefix(b",\"ns\":\"")?.split_at_checked(16)?;
    let ns = TagVersion::parse(hex)?;
    // The value runs to the envelope's closing brace, the last byte.
    let value = rest.strip_prefix(b"\",\"value\":")?.strip_suffix(b"}")?;
    let value = serde_json::from_slice(value).ok()?;
    Some(Envelope {
        version: ENVELOPE_VERSION,
        ttl_ms,
        grace_ms,
        delta_us,
        stored_at_ms,
        id,
        ns: Some(ns),
        tags: None,
        value,
    })
}

/// A JSON integer that fits a `u64` at the start of `bytes` (digits, no sign, no leading zero —
/// as serde_json reads one), and what follows it. What follows is checked by the caller: a
/// fraction or an exponent fails there.
fn integer(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    let mut digits = 0;
    // Eight digits at a time while they last (an envelope's integers run to 20 digits), then
    // one at a time. Up to 19 digits cannot overflow a u64; checked arithmetic only past them.
    while digits + 8 <= 19 {
        let Some(eight) = bytes.get(digits..digits + 8).and_then(eight_digits) else {
            break;
        };
        value = value * 100_000_000 + eight;
        digits += 8;
    }
    for &byte in &bytes[digits..] {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        value = if digits < 19 {
            value * 10 + u64::from(digit)
        } else {
            value.checked_mul(10)?.checked_add(u64::from(digit))?
        };
        digits += 1;
    }
    match bytes {
        _ if digits == 0 => None,
        [b'0', next, ..] if next.is_ascii_digit() => None,
        _ => Some((value, &bytes[digits..])),
    }
}

/// The value of eight ASCII digits, or `None` unless all eight are digits (SWAR: the digits
/// combined pairwise in three multiplications instead of eight steps).
fn eight_digits(chunk: &[u8]) -> Option<u64> {
    let chunk = u64::from_le_bytes(chunk.try_into().ok()?);
    let below_zero = chunk.wrapping_sub(0x3030_3030_3030_3030);
    let above_nine = chunk.wrapping_add(0x4646_4646_4646_4646);
    if (below_zero | above_nine) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    let pairs = (below_zero * 10 + (below_zero >> 8)) & 0x00ff_00ff_00ff_00ff;
    let fours = (pairs * 100 + (pairs >> 16)) & 0x0000_ffff_0000_ffff;
    Some((fours * 10_000 + (fours >> 32)) & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Codec, JsonCodec};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// What serde alone makes of `bytes`.
    fn by_serde(bytes: &[u8]) -> Option<Envelope<BTreeMap<String, u32>>> {
        serde_json::from_slice(bytes).ok()
    }

    fn envelope(
        ttl_ms: u64,
        id: u64,
        ns: u64,
        value: BTreeMap<String, u32>,
    ) -> Envelope<BTreeMap<String, u32>> {
        Envelope {
            version: ENVELOPE_VERSION,
            ttl_ms,
            grace_ms: ttl_ms / 2,
            delta_us: 1_520,
            stored_at_ms: 1_764_000_000_000,
            id,
            ns: None,
            tags: None,
            value,
        }
        .stamped(TagVersion(ns), None)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// What this build writes takes the fast path, and decodes as serde decodes it.
        #[test]
        fn written_envelopes_take_the_fast_path(
            ttl_ms in any::<u64>(),
            id in any::<u64>(),
            ns in any::<u64>(),
            value in proptest::collection::btree_map(".{0,6}", any::<u32>(), 0..4),
        ) {
            let env = envelope(ttl_ms, id, ns, value);
            let bytes = JsonCodec.encode(&env).unwrap();
            prop_assert_eq!(decode_untagged(&bytes), Some(env.clone()));
            prop_assert_eq!(by_serde(&bytes), Some(env));
        }

        /// Damaged bytes: whatever the fast path accepts, serde accepts as the same envelope.
        #[test]
        fn the_fast_path_accepts_nothing_serde_refuses(
            id in any::<u64>(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), prop_oneof![
                3 => prop::sample::select(b"0123456789abcdef{}[],:\" .-e".to_vec()),
                1 => any::<u8>(),
            ]), 1..4),
        ) {
            let env = envelope(60_000, id, 7, [("a".to_owned(), 1)].into_iter().collect());
            let mut bytes = JsonCodec.encode(&env).unwrap();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if let Some(fast) = decode_untagged::<BTreeMap<String, u32>>(&bytes) {
                prop_assert_eq!(Some(fast), by_serde(&bytes));
            }
        }
    }

    #[test]
    fn eight_digits_are_all_digits_or_none() {
        assert_eq!(eight_digits(b"01234567"), Some(1_234_567));
        assert_eq!(eight_digits(b"99999999"), Some(99_999_999));
        for bad in [
            b"1234567:",
            b"1234567/",
            b"/1234567",
            b"12 45678",
            b"1234\xb0678",
        ] {
            assert_eq!(eight_digits(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(eight_digits(b"1234567"), None);
    }

    #[test]
    fn other_layouts_go_through_serde() {
        let env = envelope(60_000, 9, 7, BTreeMap::new());
        let text = String::from_utf8(JsonCodec.encode(&env).unwrap()).unwrap();
        let tagged = env.clone().stamped(
            TagVersion(7),
            Some(std::sync::Arc::new(
                [("t".to_owned(), TagVersion(2))].into_iter().collect(),
            )),
        );
        let tagged = String::from_utf8(JsonCodec.encode(&tagged).unwrap()).unwrap();
        for other in [
            tagged,                                           // version 2
            text.replace(",\"ns\":\"0000000000000007\"", ""), // written before `clear`
            text.replace(",\"id\":9", ""),                    // written before ids
            text.replace(":60000,", ": 60000,"),              // other spacing
            format!("{text} "),
            text.replace(":60000,", ":060000,"), // not JSON
            text.replace(":60000,", ":6e4,"),
            text.replace("\"id\":9", "\"id\":18446744073709551616"), // overflow
            text.replace("\"id\":9", "\"id\":100000000000000000000"),
            text.replace("\"id\":9", "\"id\":-9"),
        ] {
            assert_eq!(
                decode_untagged::<BTreeMap<String, u32>>(other.as_bytes()),
                None,
                "{other}"
            );
        }
        assert!(text.starts_with("{\"v\":1,\"ttl_ms\":60000,"), "{text}");
        assert_eq!(decode_untagged(text.as_bytes()), Some(env));
    }

    proptest! {
        #[test]
        fn integers_read_as_serde_json_reads_them_whatever_their_length(
            n in any::<u64>(),
            wide in 0u128..1_000_000_000_000_000_000_000,
        ) {
            for text in [n.to_string(), wide.to_string()] {
                let parsed = integer(format!("{text},").as_bytes()).map(|(n, rest)| {
                    assert_eq!(rest, b",");
                    n
                });
                prop_assert_eq!(parsed, serde_json::from_str::<u64>(&text).ok(), "{}", text);
            }
        }
    }

    #[test]
    fn integers_read_as_serde_json_reads_them() {
        for (text, expected) in [
            ("0,", Some(0)),
            ("7,", Some(7)),
            ("1764000000000,", Some(1_764_000_000_000)),
            ("9999999999999999999,", Some(9_999_999_999_999_999_999)),
            ("18446744073709551615,", Some(u64::MAX)),
            ("18446744073709551616,", None),
            ("99999999999999999999,", None),
            ("00,", None),
            ("01,", None),
            (",", None),
            ("12345678,", Some(12_345_678)),
            ("1234567890123456,", Some(1_234_567_890_123_456)),
            ("12345678901234567890,", Some(12_345_678_901_234_567_890)),
            ("123456789012345678901,", None),
        ] {
            let fast = integer(text.as_bytes()).map(|(n, rest)| {
                assert_eq!(rest, b",");
                n
            });
            let serde = serde_json::from_str::<u64>(text.trim_end_matches(',')).ok();
            assert_eq!(fast, expected, "{text}");
            assert_eq!(fast, serde, "{text}");
        }
    }
}
