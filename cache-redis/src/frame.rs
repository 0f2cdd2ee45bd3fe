//! The stored form of a value: a one-line text header with the expiry deadline on the
//! *server's* clock, then the payload (the envelope bytes) unchanged.
//!
//! ```text
//! @sc exp=1764000123456 px=90000
//! {"v":1,"ttl_ms":60000,"grace_ms":30000,...}
//! ```
//!
//! `exp` is the Unix time in milliseconds, on the Redis server's clock, at which the key expires
//! (the writer's estimate of server time plus the lifetime); `px` is the lifetime it was
//! written with. A reader computes the remaining lifetime from `exp` and its own estimate of
//! the server's time, so a hit is one plain `GET` (see the crate docs for why). Values without
//! the header (written by other tools) are still read: their remaining lifetime comes from
//! `PTTL`.

use std::io::Write;

const MAGIC: &[u8] = b"@sc exp=";
const LIFETIME: &[u8] = b" px=";

/// The header of a framed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Expiry deadline, Unix milliseconds on the server's clock.
    pub(crate) expires_at_ms: u64,
    /// Lifetime the value was written with, in milliseconds.
    pub(crate) lifetime_ms: u64,
}

/// `header` followed by `payload`.
pub(crate) fn encode(header: Header, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 40);
    out.extend_from_slice(MAGIC);
    // Writing into a Vec cannot fail.
    let _ = writeln!(out, "{} px={}", header.expires_at_ms, header.lifetime_ms);
    out.extend_from_slice(payload);
    out
}

/// Splits a stored value into its header and payload; `None` when it has no (valid) header.
pub(crate) fn decode(stored: &[u8]) -> Option<(Header, &[u8])> {
    let rest = stored.strip_prefix(MAGIC)?;
    let (expires_at_ms, rest) = parse_u64(rest)?;
    let rest = rest.strip_prefix(LIFETIME)?;
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

/// A decimal number of 1 to 19 digits at the start of `bytes`, and what follows it.
fn parse_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes
        .iter()
        .take(20)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let value = bytes[..digits]
        .iter()
        .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
    Some((value, &bytes[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_readable() {
        let header = Header {
            expires_at_ms: 1_764_000_123_456,
            lifetime_ms: 90_000,
        };
        let stored = encode(header, b"{\"v\":1}");
        assert_eq!(stored, b"@sc exp=1764000123456 px=90000\n{\"v\":1}");
        assert_eq!(decode(&stored), Some((header, &b"{\"v\":1}"[..])));
        let empty = encode(
            Header {
                expires_at_ms: 0,
                lifetime_ms: 0,
            },
            b"",
        );
        assert_eq!(
            decode(&empty),
            Some((
                Header {
                    expires_at_ms: 0,
                    lifetime_ms: 0
                },
                &b""[..]
            ))
        );
    }

    #[test]
    fn unframed_or_damaged_values_have_no_header() {
        for raw in [
            &b"{\"v\":1}"[..],
            b"",
            b"@sc exp=",
            b"@sc exp=12 px=3",
            b"@sc exp=x px=3\n",
            b"@sc exp=99999999999999999999 px=3\n",
            b"@sc exp=1px=3\n",
        ] {
            assert_eq!(decode(raw), None, "{}", String::from_utf8_lossy(raw));
        }
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
