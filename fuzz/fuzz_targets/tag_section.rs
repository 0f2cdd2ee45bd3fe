//! The tag section of an envelope (and its namespace version), as bytes from Redis put it
//! there: a typed error (corrupt), never a panic; a section that decodes is consistent (format
//! version 2, 1 to `MAX_TAGS` valid tags, versions of 16 hex digits), re-encodes to the same
//! envelope, and maps each tag to a version key without braces or glob characters.
#![no_main]

use cache_core::tag::{TAG_KEY_PREFIX, TagVersion, version_key};
use cache_core::{CacheError, Codec, Envelope, JsonCodec, TAGGED_ENVELOPE_VERSION};
use libfuzzer_sys::fuzz_target;
use smartcache_fuzz::split2;

fuzz_target!(|data: &[u8]| {
    let (tags, ns) = split2(data);
    let mut bytes = br#"{"v":2,"ttl_ms":1000,"grace_ms":0,"delta_us":0,"stored_at_ms":0,"id":1,"#.to_vec();
    if !ns.is_empty() {
        bytes.extend_from_slice(b"\"ns\":");
        bytes.extend_from_slice(ns);
        bytes.push(b',');
    }
    bytes.extend_from_slice(b"\"tags\":");
    bytes.extend_from_slice(tags);
    bytes.extend_from_slice(br#","value":7}"#);
    match JsonCodec.decode::<u64>(&bytes) {
        Ok(envelope) => {
            assert_eq!(envelope.version, TAGGED_ENVELOPE_VERSION);
            assert!(envelope.tag_section_is_consistent());
            let section = envelope.tags.as_ref().expect("a version 2 entry has tags");
            for (tag, version) in section.iter() {
                assert_eq!(TagVersion::parse(&version.to_hex()), Some(*version));
                let key = version_key(tag);
                let escaped = &key[TAG_KEY_PREFIX.len()..];
                assert!(!escaped.contains(['{', '}', '*', '?', '[', ']', '\\']), "{key}");
            }
            let again: Envelope<u64> = JsonCodec
                .decode(&JsonCodec.encode(&envelope).expect("encodes"))
                .expect("re-encoded bytes decode");
            assert_eq!(again, envelope);
        }
        Err(CacheError::Corrupt(_)) => {}
        Err(other) => panic!("a bad tag section gave the wrong error: {other:?}"),
    }
});
