//! Redis-compatible glob patterns (`SCAN MATCH`, `KEYS`), shared by every in-process backend so
//! that a pattern selects the same keys everywhere.
//!
//! Semantics follow Redis' `stringmatchlen`: `*` any run (including empty), `?` one character,
//! `[abc]`, `[^abc]`, `[a-z]` classes, and `\x` matches `x` literally. Matching is per byte, as in
//! Redis, so a `?` matches one byte of a multi-byte UTF-8 character.

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
            [lo, b'-', hi, rest @ ..] if *hi != b']' => {
                let (lo, hi) = if lo <= hi { (*lo, *hi) } else { (*hi, *lo) };
                matched |= (lo..=hi).contains(&c);
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn hostile_pattern_terminates() {
        let p = "*a".repeat(50);
        assert!(!matches(&p, &"a".repeat(40)));
        assert!(matches(&p, &"a".repeat(60)));
    }
}
