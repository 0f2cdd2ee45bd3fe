//! A test oracle for [`glob::matches`](crate::glob::matches): Redis 7.0's `stringmatchlen`
//! (`src/util.c`), transcribed line for line, so property tests and fuzz targets can check the
//! fast matcher against what `SCAN MATCH` really selects.
//!
//! It keeps Redis' recursion on `*` (with its "skip longer matches" cut, which makes it
//! polynomial) and differs from Redis only where the real thing gives up: Redis returns "no
//! match" once `*` recursion nests deeper than 1000, this function recurses on. Callers compare
//! only patterns with at most 1000 `*`.

/// Whether `string` matches the Redis glob `pattern`, as `SCAN … MATCH pattern` decides.
///
/// Like `SCAN` (and `KEYS`), the pattern `*` alone selects every key without running the
/// matcher, so it also selects the empty key, which `stringmatchlen("*", "")` would not.
pub fn scan_matches(pattern: &[u8], string: &[u8]) -> bool {
    if pattern == b"*" {
        return true;
    }
    let mut skip_longer = false;
    stringmatchlen(pattern, string, &mut skip_longer)
}

/// `stringmatchlen_impl` with `nocase = 0`. Indexes replace Redis' pointer arithmetic; `at(p, i)`
/// reads the NUL terminator C would find one past the end.
fn stringmatchlen(mut p: &[u8], mut s: &[u8], skip_longer: &mut bool) -> bool {
    fn at(p: &[u8], i: usize) -> u8 {
        p.get(i).copied().unwrap_or(0)
    }
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while !p.is_empty() && at(p, 1) == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if stringmatchlen(&p[1..], s, skip_longer) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                // `q` keeps the `[`: Redis' `pattern--` on an unterminated class may step back
                // onto it (or onto the `^`).
                let q = p;
                let mut i = 1;
                let not = at(q, i) == b'^';
                if not {
                    i += 1;
                }
                let mut matched = false;
                loop {
                    let left = q.len() - i;
                    if at(q, i) == b'\\' && left >= 2 {
                        i += 1;
                        if q[i] == s[0] {
                            matched = true;
                        }
                    } else if at(q, i) == b']' {
                        break;
                    } else if left == 0 {
                        i -= 1;
                        break;
                    } else if left >= 3 && q[i + 1] == b'-' {
                        // `int start = pattern[0]` sign-extends a C `char` on x86-64.
                        let (mut start, mut end) = (q[i] as i8, q[i + 2] as i8);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        i += 2;
                        if (start..=end).contains(&(s[0] as i8)) {
                            matched = true;
                        }
                    } else if q[i] == s[0] {
                        matched = true;
                    }
                    i += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                p = &q[i..];
                s = &s[1..];
            }
            c => {
                let c = if c == b'\\' && p.len() >= 2 {
                    p = &p[1..];
                    p[0]
                } else {
                    c
                };
                if c != s[0] {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while at(p, 0) == b'*' {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::scan_matches;

    /// Answers of a real `redis-server` 7.0 on x86-64 (`SCAN 0 MATCH pattern`), quirks included.
    #[test]
    fn agrees_with_redis_on_its_quirks() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"*", b"", true),
            (b"**", b"", false),
            (b"[a-]x", b"ax", false),
            (b"[a-]x", b"-x", false),
            (b"[b-]", b"b", true),
            (b"x[", b"x]", false),
            (b"[a-\xff]", b"b", false),
            (b"[a-\xff]", b"\x80", false),
            (b"[\x01-\xfe]", b"\xfe", true),
            (b"[\x7f-\x81]", b"b", true),
            (b"[\x7f-\x81]", b"\x80", false),
            (b"h[^e]llo", b"hallo", true),
            (b"a*c", b"abbbc", true),
            (b"a\\*b", b"a*b", true),
        ];
        for &(p, s, want) in cases {
            assert_eq!(
                scan_matches(p, s),
                want,
                "{:?} {:?}",
                p.escape_ascii().to_string(),
                s.escape_ascii().to_string()
            );
        }
    }
}
