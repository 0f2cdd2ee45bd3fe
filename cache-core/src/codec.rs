//! Serialization of envelopes. [`JsonCodec`] by default; implement [`Codec`] for another serde
//! format.
//!
//! # The default layout
//!
//! [`JsonCodec`] writes an envelope as a short binary header, then the value as JSON:
//!
//! ```text
//! 0xFE | postcard(version, ttl_ms, grace_ms, delta_us, stored_at_ms, id, ns, tags) | JSON value
//! ```
//!
//! The header's integers are varints ([postcard](https://docs.rs/postcard)), so it takes about
//! 30 bytes where the same fields as JSON took about 135: on a 621-byte value, a Redis `GET` or
//! `MGET` moves a fifth fewer bytes, and reading the header is a few shifts rather than parsing
//! text. The value stays JSON, readable after the header in `redis-cli`. The first byte, `0xFE`,
//! never starts JSON text, so entries of the all-JSON layout of earlier builds
//! (`{"v":1,"ttl_ms":…,"value":…}`) are still read. Builds before this layout cannot read it: a
//! counted miss there, and a recompute, during a rolling upgrade.

use std::fmt::Debug;
use std::sync::Arc;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::envelope::{ENVELOPE_VERSION, Envelope, TAGGED_ENVELOPE_VERSION, TagVersions};
use crate::error::{CacheError, Result};
use crate::tag::TagVersion;

/// Encodes and decodes envelopes.
///
/// `decode` must map bytes of a newer format to [`CacheError::UnsupportedVersion`], bytes holding
/// another value type to [`CacheError::TypeMismatch`], and anything else unreadable — including a
/// tag section that does not agree with the format version
/// ([`Envelope::tag_section_is_consistent`]) — to [`CacheError::Corrupt`]; never panic. The
/// cache turns all three into a counted miss.
pub trait Codec: Send + Sync + Debug + Default + 'static {
    /// Encodes an envelope.
    fn encode<T: Serialize>(&self, envelope: &Envelope<T>) -> Result<Vec<u8>>;
    /// Decodes an envelope.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<Envelope<T>>;
    /// Encoded size in bytes, without keeping the bytes. Used to weigh in-process entries.
    fn encoded_len<T: Serialize>(&self, envelope: &Envelope<T>) -> Result<usize> {
        self.encode(envelope).map(|b| b.len())
    }
}

/// The default codec: a compact binary header and the value as JSON (see the
/// [module docs](self)).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

/// The first byte of the compact layout: never the first byte of JSON text (nor of UTF-8).
const COMPACT: u8 = 0xFE;

/// The compact header: the envelope's metadata, its tag section borrowed when written
/// (`Tags = &TagVersions`) and owned when read (`Tags = Arc<TagVersions>`). The field order
/// is the layout: postcard writes fields in order, without names.
#[derive(Serialize, Deserialize)]
struct Head<Tags> {
    v: u32,
    ttl_ms: u64,
    grace_ms: u64,
    delta_us: u64,
    stored_at_ms: u64,
    id: u64,
    ns: Option<u64>,
    tags: Option<Tags>,
}

impl<'a> Head<&'a TagVersions> {
    fn of<T>(env: &'a Envelope<T>) -> Self {
        Head {
            v: env.version,
            ttl_ms: env.ttl_ms,
            grace_ms: env.grace_ms,
            delta_us: env.delta_us,
            stored_at_ms: env.stored_at_ms,
            id: env.id,
            ns: env.ns.map(|ns| ns.0),
            tags: env.tags.as_deref(),
        }
    }
}

impl Head<Arc<TagVersions>> {
    fn with_value<T>(self, value: T) -> Envelope<T> {
        Envelope {
            version: self.v,
            ttl_ms: self.ttl_ms,
            grace_ms: self.grace_ms,
            delta_us: self.delta_us,
            stored_at_ms: self.stored_at_ms,
            id: self.id,
            ns: self.ns.map(TagVersion),
            tags: self.tags,
            value,
        }
    }
}

#[derive(Deserialize)]
struct VersionProbe {
    v: u32,
}

impl Codec for JsonCodec {
    fn encode<T: Serialize>(&self, envelope: &Envelope<T>) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(128);
        out.push(COMPACT);
        let mut out = postcard::to_extend(&Head::of(envelope), out)
            .map_err(|e| CacheError::Encode(e.to_string()))?;
        serde_json::to_writer(&mut out, &envelope.value)
            .map_err(|e| CacheError::Encode(e.to_string()))?;
        Ok(out)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<Envelope<T>> {
        match bytes.split_first() {
            Some((&COMPACT, rest)) => decode_compact(rest),
            _ => decode_json(bytes),
        }
    }

    fn encoded_len<T: Serialize>(&self, envelope: &Envelope<T>) -> Result<usize> {
        let mut counter = postcard::to_extend(&Head::of(envelope), ByteCounter(1))
            .map_err(|e| CacheError::Encode(e.to_string()))?;
        serde_json::to_writer(&mut counter, &envelope.value)
            .map_err(|e| CacheError::Encode(e.to_string()))?;
        Ok(counter.0)
    }
}

/// The compact layout after its first byte. The version is read on its own first, so a newer
/// layout of the rest is reported as what it is, not as damage.
fn decode_compact<T: DeserializeOwned>(bytes: &[u8]) -> Result<Envelope<T>> {
    let corrupt = |e: postcard::Error| CacheError::Corrupt(format!("envelope header: {e}"));
    let (version, _) = postcard::take_from_bytes::<u32>(bytes).map_err(corrupt)?;
    if !is_supported(version) {
        return Err(unsupported(version));
    }
    let (head, value) =
        postcard::take_from_bytes::<Head<Arc<TagVersions>>>(bytes).map_err(corrupt)?;
    let value = match serde_json::from_slice::<T>(value) {
        Ok(value) => value,
        Err(_) if serde_json::from_slice::<IgnoredAny>(value).is_ok() => {
            return Err(CacheError::TypeMismatch {
                expected: std::any::type_name::<T>(),
            });
        }
        Err(err) => return Err(CacheError::Corrupt(err.to_string())),
    };
    let env = head.with_value(value);
    if !env.tag_section_is_consistent() {
        return Err(tag_section_mismatch());
    }
    Ok(env)
}

/// The all-JSON layout of earlier builds (and of envelopes written by hand).
fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<Envelope<T>> {
    match serde_json::from_slice::<Envelope<T>>(bytes) {
        Ok(env) if !is_supported(env.version) => Err(unsupported(env.version)),
        Ok(env) if env.tag_section_is_consistent() => Ok(env),
        Ok(_) => Err(tag_section_mismatch()),
        // Slow path only: say *why* it failed.
        Err(err) => Err(match serde_json::from_slice::<VersionProbe>(bytes) {
            Ok(p) if !is_supported(p.v) => unsupported(p.v),
            Ok(_) if serde_json::from_slice::<Envelope<IgnoredAny>>(bytes).is_ok() => {
                CacheError::TypeMismatch {
                    expected: std::any::type_name::<T>(),
                }
            }
            _ => CacheError::Corrupt(err.to_string()),
        }),
    }
}

fn tag_section_mismatch() -> CacheError {
    CacheError::Corrupt("the tag section does not match the format version".into())
}

/// The format versions this build reads: untagged and tagged entries.
pub fn is_supported(version: u32) -> bool {
    version == ENVELOPE_VERSION || version == TAGGED_ENVELOPE_VERSION
}

fn unsupported(found: u32) -> CacheError {
    CacheError::UnsupportedVersion {
        found,
        supported: TAGGED_ENVELOPE_VERSION,
    }
}

/// A writer that only counts, so weighing an entry allocates nothing.
struct ByteCounter(usize);

impl Extend<u8> for ByteCounter {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        self.0 += bytes.into_iter().count();
    }
}

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tag::TagVersion;
    use proptest::prelude::*;
    use std::time::Duration;

    fn arb_envelope() -> impl Strategy<Value = Envelope<String>> {
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            ".*",
        )
            .prop_map(
                |(ttl_ms, grace_ms, delta_us, stored_at_ms, id, value)| Envelope {
                    version: ENVELOPE_VERSION,
                    ttl_ms,
                    grace_ms,
                    delta_us,
                    stored_at_ms,
                    id,
                    ns: None,
                    tags: None,
                    value,
                },
            )
    }

    /// Envelopes with and without a namespace version and tags.
    fn arb_stamped_envelope() -> impl Strategy<Value = Envelope<String>> {
        let tags =
            proptest::collection::btree_map(".{1,8}", any::<u64>().prop_map(TagVersion), 0..4);
        (arb_envelope(), any::<Option<u64>>(), tags).prop_map(|(env, ns, tags)| {
            let tags = (!tags.is_empty()).then(|| std::sync::Arc::new(tags));
            match ns {
                Some(ns) => env.stamped(TagVersion(ns), tags),
                None => env,
            }
        })
    }

    proptest! {
        #[test]
        fn stamped_round_trip(env in arb_stamped_envelope()) {
            let bytes = JsonCodec.encode(&env).unwrap();
            prop_assert_eq!(JsonCodec.encoded_len(&env).unwrap(), bytes.len());
            prop_assert_eq!(JsonCodec.decode::<String>(&bytes).unwrap(), env.clone());
            // The compact layout: its marker, then the header, then the value as JSON.
            prop_assert_eq!(bytes[0], COMPACT);
            let value = serde_json::to_vec(&env.value).unwrap();
            prop_assert!(bytes.ends_with(&value));
            // The all-JSON layout of earlier builds still reads the same.
            let json = serde_json::to_vec(&env).unwrap();
            prop_assert_eq!(JsonCodec.decode::<String>(&json).unwrap(), env);
        }

        #[test]
        fn damaged_stamped_envelopes_decode_to_an_error_or_round_trip(
            env in arb_stamped_envelope(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = JsonCodec.encode(&env).unwrap();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            match JsonCodec.decode::<String>(&bytes) {
                Ok(decoded) => {
                    prop_assert!(decoded.tag_section_is_consistent());
                    let again = JsonCodec.encode(&decoded).unwrap();
                    prop_assert_eq!(JsonCodec.decode::<String>(&again).unwrap(), decoded);
                }
                Err(CacheError::UnsupportedVersion { found, .. }) => prop_assert!(!is_supported(found)),
                Err(CacheError::Corrupt(_) | CacheError::TypeMismatch { .. }) => {}
                Err(other) => prop_assert!(false, "wrong error kind: {other:?}"),
            }
        }

        #[test]
        fn round_trip(env in arb_envelope()) {
            let bytes = JsonCodec.encode(&env).unwrap();
            prop_assert_eq!(JsonCodec.encoded_len(&env).unwrap(), bytes.len());
            prop_assert_eq!(JsonCodec.decode::<String>(&bytes).unwrap(), env);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = JsonCodec.decode::<String>(&bytes);
            let _ = JsonCodec.decode::<Vec<u64>>(&bytes);
        }

        /// A valid envelope with bytes changed: a typed error, or an envelope that re-encodes to
        /// bytes decoding to the same envelope.
        #[test]
        fn damaged_envelopes_decode_to_an_error_or_round_trip(
            env in arb_envelope(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = JsonCodec.encode(&env).unwrap();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            match JsonCodec.decode::<String>(&bytes) {
                Ok(decoded) => {
                    let again = JsonCodec.encode(&decoded).unwrap();
                    prop_assert_eq!(JsonCodec.decode::<String>(&again).unwrap(), decoded);
                }
                Err(CacheError::UnsupportedVersion { found, .. }) => prop_assert_ne!(found, ENVELOPE_VERSION),
                Err(CacheError::Corrupt(_) | CacheError::TypeMismatch { .. }) => {}
                Err(other) => prop_assert!(false, "wrong error kind: {other:?}"),
            }
        }
    }

    #[test]
    fn tag_sections_that_disagree_with_the_version_are_corrupt() {
        let tagged = Envelope::new(1u32, Duration::from_secs(1), Duration::ZERO, Duration::ZERO)
            .stamped(
                TagVersion(1),
                Some(std::sync::Arc::new(
                    [("t".to_owned(), TagVersion(2))].into_iter().collect(),
                )),
            );
        // The all-JSON layout (earlier builds).
        let text = serde_json::to_string(&tagged).unwrap();
        assert!(text.starts_with("{\"v\":2,"), "{text}");
        assert!(
            text.contains("\"tags\":{\"t\":\"0000000000000002\"}"),
            "{text}"
        );
        assert_eq!(JsonCodec.decode::<u32>(text.as_bytes()).unwrap(), tagged);
        let cases = [
            // Version 1 with a tag section, version 2 without one or with an empty one.
            text.replacen("\"v\":2", "\"v\":1", 1),
            text.replace(",\"tags\":{\"t\":\"0000000000000002\"}", ""),
            text.replace("{\"t\":\"0000000000000002\"}", "{}"),
            // Garbled versions, an empty tag, a section of the wrong shape.
            text.replace("0000000000000002", "000000000000000Z"),
            text.replace("0000000000000002", "2"),
            text.replace("{\"t\":", "{\"\":"),
            text.replace("{\"t\":\"0000000000000002\"}", "[1,2]"),
            text.replace("\"ns\":\"0000000000000001\"", "\"ns\":7"),
        ];
        for case in cases {
            assert!(
                matches!(
                    JsonCodec.decode::<u32>(case.as_bytes()),
                    Err(CacheError::Corrupt(_))
                ),
                "{case}"
            );
        }
        let many: String = (0..=crate::tag::MAX_TAGS)
            .map(|i| format!("\"t{i}\":\"0000000000000002\""))
            .collect::<Vec<_>>()
            .join(",");
        let too_many = text.replace("\"t\":\"0000000000000002\"", &many);
        assert!(matches!(
            JsonCodec.decode::<u32>(too_many.as_bytes()),
            Err(CacheError::Corrupt(_))
        ));

        // The compact layout: the same disagreements, written by hand.
        let compact = |v: u32, tags: Option<&TagVersions>| {
            let mut head = Head::of(&tagged);
            head.v = v;
            head.tags = tags;
            let mut bytes = postcard::to_extend(&head, vec![COMPACT]).unwrap();
            bytes.extend_from_slice(b"1");
            JsonCodec.decode::<u32>(&bytes)
        };
        let tags = tagged.tags.as_deref().unwrap();
        assert_eq!(compact(2, Some(tags)).unwrap(), tagged);
        let empty = TagVersions::new();
        let crowd: TagVersions = (0..=crate::tag::MAX_TAGS)
            .map(|i| (format!("t{i}"), TagVersion(2)))
            .collect();
        for (v, tags) in [
            (1, Some(tags)),
            (2, None),
            (2, Some(&empty)),
            (2, Some(&crowd)),
        ] {
            assert!(
                matches!(compact(v, tags), Err(CacheError::Corrupt(_))),
                "v{v} {tags:?}"
            );
        }
    }

    /// The layout is a contract with entries already stored: these bytes (also a fuzz seed,
    /// `fuzz/seeds/envelope/compact`) must keep decoding to this envelope.
    #[test]
    fn the_compact_layout_is_stable() {
        let bytes: &[u8] = &[
            &b"\xfe\x01\xe0\xd4\x03\xb0\xea\x01\xf0\x0b\xb0\xd5\xe1\xb4\xab\x33\xc0\xf5"[..],
            b"\xd6\xea\xf2\xf8\xdf\xf1\x7d\x01\x8c\xbe\xb1\xf8\xc5\xe1\x97\x86\x5f\x00",
            br#""hello""#,
        ]
        .concat();
        let expected = Envelope {
            version: ENVELOPE_VERSION,
            ttl_ms: 60_000,
            grace_ms: 30_000,
            delta_us: 1_520,
            stored_at_ms: 1_764_000_033_456,
            id: 9_071_234_567_890_123_456,
            ns: Some(TagVersion(0x5f0c_5f0c_5f0c_5f0c)),
            tags: None,
            value: "hello".to_owned(),
        };
        assert_eq!(JsonCodec.decode::<String>(bytes).unwrap(), expected);
        assert_eq!(JsonCodec.encode(&expected).unwrap(), bytes);
    }

    #[test]
    fn the_compact_header_is_small() {
        let env = Envelope::new(
            "x".to_owned(),
            Duration::from_secs(3600),
            Duration::from_secs(60),
            Duration::from_millis(150),
        )
        .stamped(TagVersion(u64::MAX), None);
        let bytes = JsonCodec.encode(&env).unwrap();
        let json = serde_json::to_vec(&env).unwrap();
        // 1 + 5 varints (≤ 10 bytes each, ~3 for these) + id, ns (≤ 10 each) + 1: under 40.
        assert!(bytes.len() - 3 <= 40, "{} bytes", bytes.len());
        assert!(json.len() - 3 > 120, "{} bytes", json.len());
    }

    #[test]
    fn typed_errors() {
        let env = Envelope::new(
            42u32,
            Duration::from_secs(1),
            Duration::ZERO,
            Duration::ZERO,
        );
        for bytes in [
            JsonCodec.encode(&env).unwrap(),
            serde_json::to_vec(&env).unwrap(),
        ] {
            assert!(matches!(
                JsonCodec.decode::<String>(&bytes),
                Err(CacheError::TypeMismatch { .. })
            ));
        }
        // A newer compact layout: only its version is known.
        let mut newer = postcard::to_extend(&7u32, vec![COMPACT]).unwrap();
        newer.extend_from_slice(b"\x01\x02 another layout");
        assert!(matches!(
            JsonCodec.decode::<u32>(&newer),
            Err(CacheError::UnsupportedVersion { found: 7, .. })
        ));
        let future = serde_json::to_string(&env)
            .unwrap()
            .replace("\"v\":1", "\"v\":7");
        assert!(matches!(
            JsonCodec.decode::<u32>(future.as_bytes()),
            Err(CacheError::UnsupportedVersion { found: 7, .. })
        ));
        let future_shape = br#"{"v":3,"payload":"other layout"}"#;
        assert!(matches!(
            JsonCodec.decode::<u32>(future_shape),
            Err(CacheError::UnsupportedVersion { found: 3, .. })
        ));
        for garbage in [
            &b"\xff\x00garbage"[..],
            b"\xfe",
            b"\xfe\x01\x80",
            b"\xfe\x01\x01",
        ] {
            assert!(
                matches!(
                    JsonCodec.decode::<u32>(garbage),
                    Err(CacheError::Corrupt(_))
                ),
                "{garbage:?}"
            );
        }
    }
}
