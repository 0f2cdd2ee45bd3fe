//! Key building from user ids, names and parameters: an error or a well-formed key, never a
//! panic. A key holds the escaped id as its only hash tag, stays within `MAX_KEY_LEN`, carries no
//! whitespace or control character, is selected by its id pattern, and (unless shortened)
//! unescapes back to the id. Names are accepted exactly when they match `[A-Za-z0-9_.-]{1,64}`.
#![no_main]

use cache_core::glob::matches;
use cache_keys::{KeyError, KeyFactory, MAX_KEY_LEN, canonical_bytes, hash_tag};
use libfuzzer_sys::fuzz_target;
use smartcache_fuzz::{split2, unescape_tag};

fuzz_target!(|data: &[u8]| {
    let (text, params) = split2(data);
    let text = String::from_utf8_lossy(text);
    let _ = hash_tag(&text);

    let valid_name = (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    assert_eq!(
        KeyFactory::new(text.as_ref(), 7).is_ok(),
        valid_name,
        "{text:?}"
    );

    let keys = KeyFactory::new("app", 1).unwrap();
    let params: Option<serde_json::Value> = serde_json::from_slice(params).ok();
    let key = match keys.key_with_params("user", text.as_ref(), &params) {
        Ok(key) => key,
        Err(KeyError::EmptyId) => return assert!(text.is_empty()),
        Err(KeyError::Params(_)) => return,
        Err(other) => panic!("{text:?}: {other:?}"),
    };
    if let Some(params) = &params {
        assert_eq!(canonical_bytes(params).ok(), canonical_bytes(params).ok());
    }
    assert!(key.len() <= MAX_KEY_LEN, "{} bytes", key.len());
    assert!(key.starts_with("app:v1:user:{"), "{key:?}");
    assert_eq!((key.matches('{').count(), key.matches('}').count()), (1, 1));
    assert!(
        !key.chars().any(|c| c.is_whitespace() || c.is_control()),
        "{key:?}"
    );
    let tag = hash_tag(&key).expect("a key has a hash tag");
    assert!(!tag.contains(':'));
    if !tag.contains("%~") {
        assert_eq!(unescape_tag(tag).as_deref(), Some(text.as_ref()));
    }
    let pattern = keys.id_pattern("user", text.as_ref()).unwrap();
    assert!(matches(&pattern, &key), "{pattern:?} misses {key:?}");
    assert_eq!(
        keys.key("user", text.as_ref())
            .ok()
            .map(|k| matches(&pattern, &k)),
        Some(true)
    );
});
