//! The stored Redis value: the frame header (binary, or the text one of earlier builds) +
//! envelope. Whatever Redis hands back (a value written by another tool, a damaged one),
//! decoding never panics; a decoded payload is the tail of the input and its header re-encodes
//! to the same header; and every header round-trips.
#![no_main]

use cache_core::{Codec, JsonCodec};
use cache_redis::frame::{self, Header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((header, payload)) = frame::decode(data) {
        assert!(data.ends_with(payload));
        let again = frame::encode(header, payload);
        assert_eq!(frame::decode(&again), Some((header, payload)));
        // What a read does next with the payload: a typed error at worst.
        let _ = JsonCodec.decode::<serde_json::Value>(payload);
    }
    if let Some((numbers, payload)) = data.split_first_chunk::<16>() {
        let (exp, px) = numbers.split_at(8);
        let header = Header {
            expires_at_ms: u64::from_le_bytes(exp.try_into().unwrap()),
            lifetime_ms: u64::from_le_bytes(px.try_into().unwrap()),
        };
        let stored = frame::encode(header, payload);
        assert_eq!(frame::decode(&stored), Some((header, payload)));
    }
});
