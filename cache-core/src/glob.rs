//! Redis-compatible glob patterns (`SCAN MATCH`, `KEYS`), shared by every in-process backend so
//! that a pattern selects the same keys everywhere.
//!
//! Semantics follow Redis' `stringmatchlen`: `*` any run (including empty), `?` one character,
//! `[abc]`, `[^abc]`, `[a-z]` classes, and `\x` matches `x` literally. Matching is per byte, as in
//! Redis, so a `?` matches one byte of a multi-byte UTF-8 character. Redis' corner cases are kept
//! too (a property test compares with a transcription of its C code, and each case below with a
//! real server): the empty key matches only the patterns `*` and ``; a `]` right after `-` is the
//! end of a range, not of the class (`[a-]` is an unterminated class holding `']'..='a'`); and
//! range ends compare as C's signed `char` on x86-64, so bytes from 0x80 sort below 0x00.

/// The characters that are special in a Redis glob.
pub const GLOB_SPECIAL: &[char] = &['*', '?', '[', ']', '\\'];

/// Escapes every glob character of `literal`, so the result matches exactly `literal`.
///
/// ```
/// use cache_core::glob::{escape, matches};
/// let id = "4*";
/// let pattern = format!("match:{}:*", escape(id));
/// assert!(matches(&pattern, "match:4*:x"));
/// assert!(!matches(&pattern, "match:42:x"));
/// ```
pub fn escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len() + 4);
    for c in literal.chars() {
        if GLOB_SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// True when `key` matches the Redis glob `pattern`.
pub fn matches(pattern: &str, key: &str) -> bool {
    match_bytes(pattern.as_bytes(), key.as_bytes())
}

fn match_bytes(p: &[u8], s: &[u8]) -> bool {
    if s.is_empty() {
        // `SCAN`/`KEYS` select every key for `*` without running the matcher; the matcher itself
        // only accepts an empty key with an empty pattern.
        return p.is_empty() || p == b"*";
    }
    // Iterative matcher with one backtrack point (the last `*`): O(len(p)·len(s)) worst case,
    // so a hostile pattern like `*a*a*a…` cannot make a scan exponential.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            let advanced = match p[pi] {
                b'*' => {
                    star = Some((pi + 1, si));
                    pi += 1;
                    continue;
                }
                b'?' => Some(pi + 1),
                b'[' => {
                    let (matched, rest) = match_class(&p[pi + 1..], s[si]);
                    matched.then(|| p.len() - rest.len())
                }
                b'\\' if pi + 1 < p.len() => (p[pi + 1] == s[si]).then_some(pi + 2),
                c => (c == s[si]).then_some(pi + 1),
            };
            if let Some(next) = advanced {
                pi = next;
                si += 1;
                continue;
            }
        }
        match star {
            Some((after_star, start)) => {
                pi = after_star;
                si = start + 1;
                star = Some((after_star, start + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Matches `c` against a class body (after `[`); returns whether it matched and the pattern
/// after the closing `]` (or the end, as Redis treats an unterminated class).
fn match_class(mut p: &[u8], c: u8) -> (bool, &[u8]) {
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let mut matched = false;
    loop {
        match p {
            [] => break,
            [b'\\', lit, rest @ ..] => {
                matched |= *lit == c;
                p = rest;
            }
            [b']', rest @ ..] => {
                p = rest;
                return (matched != negate, p);
            }
            [lo, b'-', hi, rest @ ..] => {
                // Redis compares `int`s made from C `char`s: signed on x86-64.
                let (lo, hi) = (*lo as i8, *hi as i8);
                let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                matched |= (lo..=hi).contains(&(c as i8));
                p = rest;
            }
            [lit, rest @ ..] => {
                matched |= *lit == c;
                p = rest;
            }
        }
    }
    // Unterminated class: Redis treats the end of the pattern as the end of the class.
    (matched != negate, p)
}

/// The oracle the property test compares with: `cache_core::testing::redis_glob`, compiled here
/// too when the `testing` feature is off.
#[cfg(all(test, not(feature = "testing")))]
#[path = "testing/redis_glob.rs"]
mod redis_reference;
#[cfg(all(test, feature = "testing"))]
use crate::testing::redis_glob as redis_reference;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn redis_semantics() {
        assert!(matches("*", ""));
        assert!(matches("a*c", "abbbc"));
        assert!(!matches("a*c", "abbb"));
        assert!(matches("h?llo", "hello"));
        assert!(!matches("h?llo", "hllo"));
        assert!(matches("h[ae]llo", "hallo"));
        assert!(!matches("h[ae]llo", "hillo"));
        assert!(matches("h[^e]llo", "hallo"));
        assert!(!matches("h[^e]llo", "hello"));
        assert!(matches("h[a-b]llo", "hbllo"));
        assert!(!matches("h[a-b]llo", "hcllo"));
        assert!(matches("a\\*b", "a*b"));
        assert!(!matches("a\\*b", "axb"));
    }

    #[test]
    fn escape_matches_only_the_literal() {
        for id in ["4*", "a?b", "[x]", "back\\slash", "plain", "*?[]\\"] {
            let p = format!("k:{}:*", escape(id));
            assert!(matches(&p, &format!("k:{id}:1")), "{p}");
            assert!(!matches(&p, &format!("k:{id}x:1")), "{p}");
        }
        assert!(!matches(&format!("k:{}:*", escape("4*")), "k:42:1"));
    }

    /// Each answer is what a real `redis-server` 7.0 on x86-64 gave for `SCAN 0 MATCH pattern`.
    #[test]
    fn follows_redis_where_it_surprises() {
        // The empty key: `SCAN` selects it for `*` alone (it skips the matcher), never otherwise.
        assert!(matches("*", ""));
        assert!(!matches("**", ""));
        assert!(!matches("[^a]*", ""));
        // A `]` right after `-` ends a range, not the class: `[a-]x` is the class
        // `{']'..='a', 'x'}`, unterminated.
        assert!(!matches("[a-]x", "ax"));
        assert!(!matches("[a-]x", "-x"));
        assert!(matches("[a-]x", "a"));
        assert!(matches("[b-]", "b"));
        // Range ends are C `char`s, signed on x86-64: bytes 0x80.. sort below 0x00.
        assert!(!match_bytes(b"[a-\xff]", b"b"));
        assert!(match_bytes(b"[\x01-\xfe]", b"\xfe"));
        assert!(match_bytes(b"[\x7f-\x81]", b"b"));
        assert!(!match_bytes(b"[\x7f-\x81]", b"\x80"));
        // `é` is 0xC3 0xA9: the range 0xC3..='a' holds `a` but not `b`.
        assert!(matches("[a-é]", "a") && !matches("[a-é]", "b"));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

        /// Same answer as Redis' own algorithm, on patterns and keys over a small alphabet rich in
        /// glob syntax (so classes, ranges, escapes and stars meet) plus arbitrary bytes.
        #[test]
        fn agrees_with_redis_stringmatchlen(pattern in glob_bytes(), key in glob_bytes()) {
            prop_assert_eq!(
                match_bytes(&pattern, &key),
                redis_reference::scan_matches(&pattern, &key),
                "pattern {:?} key {:?}", pattern.escape_ascii().to_string(), key.escape_ascii().to_string()
            );
        }

        /// `escape(a)` selects exactly `a`; with `*` appended, exactly the keys starting with `a`.
        #[test]
        fn escaped_text_matches_only_itself(a in ".{0,12}", b in ".{0,12}") {
            let a_ = a.replace(|c: char| !GLOB_SPECIAL.contains(&c) && c.is_ascii_punctuation(), "*");
            for literal in [&a, &a_] {
                let escaped = escape(literal);
                prop_assert!(matches(&escaped, literal) || literal.is_empty() && escaped.is_empty());
                prop_assert_eq!(matches(&escaped, &b), *literal == b);
                prop_assert_eq!(matches(&format!("{escaped}*"), &b), b.starts_with(literal.as_str()));
            }
        }

        #[test]
        fn arbitrary_text_never_panics(pattern in ".{0,40}", key in ".{0,40}") {
            let _ = matches(&pattern, &key);
            let _ = escape(&pattern);
        }
    }

    fn glob_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            6 => prop::sample::select(b"*?[]^-\\ab".to_vec()),
            1 => any::<u8>(),
        ];
        prop::collection::vec(byte, 0..14)
    }

    #[test]
    fn hostile_pattern_terminates() {
        let p = "*a".repeat(50);
        assert!(!matches(&p, &"a".repeat(40)));
        assert!(matches(&p, &"a".repeat(60)));
    }
}
