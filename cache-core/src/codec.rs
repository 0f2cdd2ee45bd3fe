//! Serialization of envelopes. JSON by default; implement [`Codec`] for another serde format.

use std::fmt::Debug;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::envelope::{ENVELOPE_VERSION, Envelope, TAGGED_ENVELOPE_VERSION};
use crate::error::{CacheError, Result};

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

/// The default codec: JSON, readable with `redis-cli`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

#[derive(Deserialize)]
struct VersionProbe {
    v: u32,
}

impl Codec for JsonCodec {
    fn encode<T: Serialize>(&self, envelope: &Envelope<T>) -> Result<Vec<u8>> {
        serde_json::to_vec(envelope).map_err(|e| CacheError::Encode(e.to_string()))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<Envelope<T>> {
        // What this build writes untagged, at the cost of decoding the value alone.
        if let Some(env) = crate::json_head::decode_untagged(bytes) {
            return Ok(env);
        }
        match serde_json::from_slice::<Envelope<T>>(bytes) {
            Ok(env) if !is_supported(env.version) => Err(unsupported(env.version)),
            Ok(env) if env.tag_section_is_consistent() => Ok(env),
            Ok(_) => Err(CacheError::Corrupt(
                "the tag section does not match the format version".into(),
            )),
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

    fn encoded_len<T: Serialize>(&self, envelope: &Envelope<T>) -> Result<usize> {
        let mut counter = ByteCounter(0);
        serde_json::to_writer(&mut counter, envelope)
            .map_err(|e| CacheError::Encode(e.to_string()))?;
        Ok(counter.0)
    }
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

    /// The envelope of a build before tags, as its reader decoded it.
    #[derive(Debug, Deserialize)]
    struct OldEnvelope {
        v: u32,
        id: u64,
        value: String,
    }

    proptest! {
        #[test]
        fn stamped_round_trip(env in arb_stamped_envelope()) {
            let bytes = JsonCodec.encode(&env).unwrap();
            prop_assert_eq!(JsonCodec.encoded_len(&env).unwrap(), bytes.len());
            prop_assert_eq!(JsonCodec.decode::<String>(&bytes).unwrap(), env.clone());
            let text = String::from_utf8(bytes.clone()).unwrap();
            // Untagged entries carry no tag section and keep format version 1, which a reader
            // from before tags still reads; tagged ones are version 2, which it refuses.
            prop_assert_eq!(text.contains("\"tags\""), env.tags.is_some());
            let old: OldEnvelope = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!((old.id, &old.value), (env.id, &env.value));
            prop_assert_eq!(old.v == ENVELOPE_VERSION, env.tags.is_none());
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
        let text = String::from_utf8(JsonCodec.encode(&tagged).unwrap()).unwrap();
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
    }

    #[test]
    fn typed_errors() {
        let env = Envelope::new(
            42u32,
            Duration::from_secs(1),
            Duration::ZERO,
            Duration::ZERO,
        );
        let bytes = JsonCodec.encode(&env).unwrap();
        assert!(matches!(
            JsonCodec.decode::<String>(&bytes),
            Err(CacheError::TypeMismatch { .. })
        ));
        let future = String::from_utf8(bytes)
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
        assert!(matches!(
            JsonCodec.decode::<u32>(b"\xff\x00garbage"),
            Err(CacheError::Corrupt(_))
        ));
    }
}
