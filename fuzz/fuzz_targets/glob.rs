//! The glob matcher and escaper on patterns and keys from users: the same answer as Redis'
//! own algorithm (a transcription of `stringmatchlen`), and an escaped text selects exactly
//! itself. Input: pattern, 0xFF, key.
#![no_main]

use cache_core::glob::{escape, matches};
use cache_core::testing::redis_glob::scan_matches;
use libfuzzer_sys::fuzz_target;
use smartcache_fuzz::split2;

fuzz_target!(|data: &[u8]| {
    let (pattern, key) = split2(data);
    let (pattern, key) = (
        String::from_utf8_lossy(pattern),
        String::from_utf8_lossy(key),
    );
    let answer = matches(&pattern, &key);
    // Redis gives up past 1000 nested `*`; the oracle does not.
    if pattern.matches('*').count() <= 1000 {
        assert_eq!(
            answer,
            scan_matches(pattern.as_bytes(), key.as_bytes()),
            "pattern {pattern:?} key {key:?}"
        );
    }
    for literal in [&pattern, &key] {
        let escaped = escape(literal);
        assert!(matches(&escaped, literal), "{escaped:?} misses {literal:?}");
    }
    let escaped = escape(&pattern);
    assert_eq!(matches(&escaped, &key), pattern == key);
    assert_eq!(
        matches(&format!("{escaped}*"), &key),
        key.starts_with(pattern.as_ref())
    );
});
