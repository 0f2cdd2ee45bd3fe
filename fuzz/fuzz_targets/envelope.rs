//! The envelope codec on bytes from Redis: a typed error (corrupt, other type, newer version),
//! never a panic; whatever decodes has a tag section that agrees with its format version, and
//! re-encodes to bytes that decode to the same envelope, whose timing arithmetic does not
//! overflow.
#![no_main]

use std::collections::BTreeMap;
use std::fmt::Debug;

use cache_core::codec::is_supported;
use cache_core::{CacheError, Codec, Envelope, JsonCodec};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(data: &[u8]) {
    match JsonCodec.decode::<T>(data) {
        Ok(envelope) => {
            assert!(is_supported(envelope.version));
            assert!(envelope.tag_section_is_consistent());
            let _ = (envelope.timing(), envelope.lifetime());
            let bytes = JsonCodec
                .encode(&envelope)
                .expect("a decoded envelope encodes");
            assert_eq!(JsonCodec.encoded_len(&envelope).ok(), Some(bytes.len()));
            let again: Envelope<T> = JsonCodec.decode(&bytes).expect("re-encoded bytes decode");
            assert_eq!(again, envelope);
        }
        Err(CacheError::UnsupportedVersion { found, .. }) => assert!(!is_supported(found)),
        Err(CacheError::Corrupt(_) | CacheError::TypeMismatch { .. }) => {}
        Err(other) => panic!("decode gave an error of the wrong kind: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    check::<String>(data);
    check::<u64>(data);
    check::<Vec<i64>>(data);
    check::<BTreeMap<String, Option<bool>>>(data);
    // Floats need not round-trip through JSON text exactly: only "no panic" here.
    let _ = JsonCodec.decode::<serde_json::Value>(data);
});
