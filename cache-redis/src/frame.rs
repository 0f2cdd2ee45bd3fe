//! The stored form of a value: a fixed 19-byte binary header with the expiry deadline on the
//! *server's* clock, then the payload (the envelope bytes) unchanged.
//!
//! ```text
//! 0xFD 's' 'c' | exp: u64, little-endian | px: u64, little-endian | <the envelope bytes>
//! ```
//!
//! `exp` is the Unix time in milliseconds, on the Redis server's clock, at which the key expires
//! (the writer's estimate of server time plus the lifetime); `px` is the lifetime it was
//! written with. A reader computes the remaining lifetime from `exp` and its own estimate of
//! the server's time, so a hit is one plain `GET` (see the crate docs for why). Values without
//! the header (written by other tools) are still read: their remaining lifetime comes from
//! `PTTL`.
//!
//! Why this layout: fixed-width fields read with two loads (no digits to parse on every hit) and
//! cut in a Lua script with one `string.sub` ([`crate::scripts`]); 19 bytes where the text header
//! of earlier builds, `@sc exp=1764000123456 px=90000\n`, took 33 — on a 100-byte value, a
//! seventh less to store and move. The first byte, `0xFD`, never starts UTF-8 text, so no text
//! value written by another tool reads as framed. The text header is still read, so entries
//! written by earlier builds keep their lifetimes; builds before this layout read the new one
//! as an unframed value whose envelope does not decode: a counted miss and a recompute, during
//! a rolling upgrade.
//!
//! Public so that tools can read stored values, and so the fuzz targets reach the decoder.

use std::time::Duration;

/// The first bytes of a framed value.
const MAGIC: &[u8; 3] = b"\xFDsc";
/// The whole header: the magic, then two little-endian `u64`s.
pub const HEADER_LEN: usize = MAGIC.len() + 16;

/// The text header of earlier builds: `@sc exp=<ms> px=<ms>\n`, still read.
const TEXT_MAGIC: &[u8] = b"@sc exp=";
const TEXT_LIFETIME: &[u8] = b" px=";

/// The header of a framed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Expiry deadline, Unix milliseconds on the server's clock.
    pub expires_at_ms: u64,
    /// Lifetime the value was written with, in milliseconds.
    pub lifetime_ms: u64,
}

/// Largest `PX` written: ~31 700 years, far from Redis' overflow checks.
pub(crate) const MAX_PX_MS: u64 = 1_000_000_000_000_000;

/// Whole milliseconds for `PX`: rounded up (a lifetime is never shortened), at least 1.
pub(crate) fn lifetime_ms(lifetime: Duration) -> u64 {
    let ms = lifetime.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).clamp(1, MAX_PX_MS)
}

impl Header {
    /// The header of a value written now (`server_now_ms`, on the owning server's clock) to
    /// live `px` milliseconds.
    pub(crate) fn for_write(server_now_ms: f64, px: u64) -> Self {
        let now = server_now_ms.max(0.0) as u64;
        Header {
            expires_at_ms: now.saturating_add(px),
            lifetime_ms: px,
        }
    }

    /// How long the value still lives at `server_now_ms`: never more than it was written with,
    /// even if a re-sync moved the estimate, and never negative.
    pub(crate) fn remaining(&self, server_now_ms: f64) -> Duration {
        let left_ms = self.expires_at_ms as f64 - server_now_ms;
        let left_ms = left_ms.clamp(0.0, self.lifetime_ms as f64);
        Duration::try_from_secs_f64(left_ms / 1000.0).unwrap_or_default()
    }
}

/// `header` followed by `payload`.
pub fn encode(header: Header, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&header.expires_at_ms.to_le_bytes());
    out.extend_from_slice(&header.lifetime_ms.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a stored value into its header and payload; `None` when it has no (valid) header.
/// Reads the binary header and the text header of earlier builds. Never panics, whatever the
/// bytes.
pub fn decode(stored: &[u8]) -> Option<(Header, &[u8])> {
    match stored.strip_prefix(MAGIC) {
        Some(rest) => decode_binary(rest),
        None => decode_text(stored),
    }
}

/// The two numbers after the binary magic, and the payload.
fn decode_binary(rest: &[u8]) -> Option<(Header, &[u8])> {
    let (exp, rest) = rest.split_first_chunk::<8>()?;
    let (px, payload) = rest.split_first_chunk::<8>()?;
    let header = Header {
        expires_at_ms: u64::from_le_bytes(*exp),
        lifetime_ms: u64::from_le_bytes(*px),
    };
    Some((header, payload))
}

/// The text header of earlier builds: `@sc exp=<ms> px=<ms>\n`.
fn decode_text(stored: &[u8]) -> Option<(Header, &[u8])> {
    let rest = stored.strip_prefix(TEXT_MAGIC)?;
    let (expires_at_ms, rest) = parse_u64(rest)?;
    let rest = rest.strip_prefix(TEXT_LIFETIME)?;
    let (lifetime_ms, rest) = parse_u64(rest)?;
    let payload = rest.strip_prefix(b"\n")?;
    Some((
        Header {
            expires_at_ms,
            lifetime_ms,
        },
        payload,
    ))
}

/// A decimal `u64` at the start of `bytes` (1 to 20 digits, no overflow), and what follows it.
/// Every number the text header held reads back, `u64::MAX` included.
fn parse_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    let mut digits = 0;
    for &byte in bytes {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        // Up to 19 digits cannot overflow a u64; checked arithmetic only for the 20th.
        value = match digits {
            0..19 => value * 10 + u64::from(digit),
            19 => value.checked_mul(10)?.checked_add(u64::from(digit))?,
            _ => return None,
        };
        digits += 1;
    }
    (digits > 0).then(|| (value, &bytes[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The text header of earlier builds, as they wrote it.
    fn encode_text(header: Header, payload: &[u8]) -> Vec<u8> {
        let text = format!(
            "@sc exp={} px={}\n",
            header.expires_at_ms, header.lifetime_ms
        );
        [text.as_bytes(), payload].concat()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_header_and_payload_round_trip(
            expires_at_ms in any::<u64>(),
            lifetime_ms in any::<u64>(),
            payload in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let header = Header { expires_at_ms, lifetime_ms };
            let stored = encode(header, &payload);
            prop_assert_eq!(stored.len(), HEADER_LEN + payload.len());
            prop_assert_eq!(decode(&stored), Some((header, &payload[..])));
            let legacy = encode_text(header, &payload);
            prop_assert_eq!(decode(&legacy), Some((header, &payload[..])));
        }

        /// Arbitrary bytes, and bytes that start like a header: never a panic; a decoded payload
        /// is the tail of the input, and re-encoding the header gives the same header back.
        #[test]
        fn arbitrary_bytes_decode_or_not_without_panic(
            prefix in prop_oneof![
                Just(&b""[..]),
                Just(&b"\xFDsc"[..]),
                Just(&b"\xFDsc\x01\x02"[..]),
                Just(&b"@sc exp="[..]),
                Just(&b"@sc exp=1 px="[..]),
            ],
            tail in proptest::collection::vec(prop_oneof![
                4 => prop::sample::select(b"0123456789 px=\n@".to_vec()),
                1 => any::<u8>(),
            ], 0..64),
        ) {
            let stored: Vec<u8> = [prefix, &tail[..]].concat();
            if let Some((header, payload)) = decode(&stored) {
                prop_assert!(stored.ends_with(payload));
                let again = encode(header, payload);
                prop_assert_eq!(decode(&again), Some((header, payload)));
            }
        }
    }

    #[test]
    fn the_layout_is_fixed() {
        let header = Header {
            expires_at_ms: 1_764_000_123_456,
            lifetime_ms: 90_000,
        };
        let stored = encode(header, b"{\"v\":1}");
        let mut expected = b"\xFDsc".to_vec();
        expected.extend_from_slice(&1_764_000_123_456u64.to_le_bytes());
        expected.extend_from_slice(&90_000u64.to_le_bytes());
        expected.extend_from_slice(b"{\"v\":1}");
        assert_eq!(stored, expected);
        assert_eq!(HEADER_LEN, 19);
        assert_eq!(decode(&stored), Some((header, &b"{\"v\":1}"[..])));
    }

    #[test]
    fn the_text_header_of_earlier_builds_is_read() {
        let stored = b"@sc exp=1764000123456 px=90000\n{\"v\":1}";
        let header = Header {
            expires_at_ms: 1_764_000_123_456,
            lifetime_ms: 90_000,
        };
        assert_eq!(decode(stored), Some((header, &b"{\"v\":1}"[..])));
        let largest = Header {
            expires_at_ms: u64::MAX,
            lifetime_ms: 10_000_000_000_000_000_000,
        };
        assert_eq!(
            decode(&encode_text(largest, b"x")),
            Some((largest, &b"x"[..]))
        );
    }

    #[test]
    fn unframed_or_damaged_values_have_no_header() {
        for raw in [
            &b"{\"v\":1}"[..],
            b"",
            b"\xFDs",
            b"\xFDsc",
            b"\xFDsc0123456789abcde", // 15 of the 16 bytes of numbers
            b"\xFEsc0123456789abcdef",
            b"@sc exp=",
            b"@sc exp=12 px=3",
            b"@sc exp=x px=3\n",
            b"@sc exp=18446744073709551616 px=3\n",
            b"@sc exp=99999999999999999999 px=3\n",
            b"@sc exp=100000000000000000000 px=3\n",
            b"@sc exp=000000000000000000001 px=3\n", // 21 digits, though small
            b"@sc exp=1px=3\n",
        ] {
            assert_eq!(decode(raw), None, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn an_empty_payload_and_the_largest_numbers_round_trip() {
        for header in [
            Header {
                expires_at_ms: 0,
                lifetime_ms: 0,
            },
            Header {
                expires_at_ms: u64::MAX,
                lifetime_ms: u64::MAX,
            },
        ] {
            let stored = encode(header, b"");
            assert_eq!(decode(&stored), Some((header, &b""[..])));
        }
    }

    #[test]
    fn lifetimes_round_up_to_whole_milliseconds() {
        assert_eq!(lifetime_ms(Duration::ZERO), 1);
        assert_eq!(lifetime_ms(Duration::from_micros(1)), 1);
        assert_eq!(lifetime_ms(Duration::from_micros(1500)), 2);
        assert_eq!(lifetime_ms(Duration::from_secs(60)), 60_000);
        assert_eq!(lifetime_ms(Duration::MAX), MAX_PX_MS);
    }

    #[test]
    fn remaining_time_is_judged_on_the_given_server_time() {
        let header = Header::for_write(1_000_000.4, 90_000);
        assert_eq!(header.expires_at_ms, 1_090_000);
        assert_eq!(header.remaining(1_030_000.0), Duration::from_secs(60));
        // Past the deadline: nothing left; a clock behind the writer's: no more than written.
        assert_eq!(header.remaining(2_000_000.0), Duration::ZERO);
        assert_eq!(header.remaining(0.0), Duration::from_secs(90));
        assert_eq!(Header::for_write(-5.0, 1).expires_at_ms, 1);
        assert_eq!(
            Header::for_write(f64::MAX, MAX_PX_MS).expires_at_ms,
            u64::MAX
        );
    }

    #[test]
    fn payload_may_contain_anything() {
        let payload: Vec<u8> = (0..=255u8).collect();
        let stored = encode(
            Header {
                expires_at_ms: 5,
                lifetime_ms: 6,
            },
            &payload,
        );
        assert_eq!(decode(&stored).map(|(_, p)| p.to_vec()), Some(payload));
    }
}
