//! Serialization of envelopes. JSON by default; implement [`Codec`] for another serde format.

use std::fmt::Debug;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::envelope::{ENVELOPE_VERSION, Envelope};
use crate::error::{CacheError, Result};

/// Encodes and decodes envelopes.
///
/// `decode` must map bytes of a newer format to [`CacheError::UnsupportedVersion`], bytes holding
/// another value type to [`CacheError::TypeMismatch`], and anything else unreadable to
/// [`CacheError::Corrupt`] — never panic. The cache turns all three into a counted miss.
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
        match serde_json::from_slice::<Envelope<T>>(bytes) {
            Ok(env) if env.version == ENVELOPE_VERSION => Ok(env),
            Ok(env) => Err(unsupported(env.version)),
            // Slow path only: say *why* it failed.
            Err(err) => Err(match serde_json::from_slice::<VersionProbe>(bytes) {
                Ok(p) if p.v != ENVELOPE_VERSION => unsupported(p.v),
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

fn unsupported(found: u32) -> CacheError {
    CacheError::UnsupportedVersion {
        found,
        supported: ENVELOPE_VERSION,
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
                    value,
                },
            )
    }

    proptest! {
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
        let future_shape = br#"{"v":2,"payload":"other layout"}"#;
        assert!(matches!(
            JsonCodec.decode::<u32>(future_shape),
            Err(CacheError::UnsupportedVersion { found: 2, .. })
        ));
        assert!(matches!(
            JsonCodec.decode::<u32>(b"\xff\x00garbage"),
            Err(CacheError::Corrupt(_))
        ));
    }
}
