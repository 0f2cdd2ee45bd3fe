//! Turning an arbitrary Unicode id into the text between the braces of the key's hash tag.
//!
//! Escaping is percent-encoding of a fixed set of characters (see [`must_escape`]): each UTF-8
//! byte of such a character becomes `%XX` (uppercase hex). `%` itself is in the set, so every `%`
//! in the output starts an escape and the encoding can be decoded back: two different ids never
//! give the same text. The set is written out here rather than taken from `char::is_whitespace`,
//! because Unicode tables change between Rust releases and keys must not.

use xxhash_rust::xxh3::xxh3_128;

use crate::digest::hex128;
use crate::error::KeyError;

/// Longest text inside the hash tag braces, in bytes. Longer escaped ids are shortened.
pub const MAX_ID_TAG_LEN: usize = 256;

/// Separates the kept prefix of a shortened id from the digest of the whole id. An escaped id
/// never contains it (its `%` is always followed by two hex digits), so a shortened id can never
/// equal an id that was not shortened.
pub(crate) const SHORTENED_MARKER: &str = "%~";

/// Bytes kept from the escaped id when it is shortened: room for the marker and 32 hex digits.
const SHORTENED_PREFIX_LEN: usize = MAX_ID_TAG_LEN - SHORTENED_MARKER.len() - 32;

/// Unicode `White_Space` code points (Unicode 16), spelled out so that keys never change with the
/// standard library's Unicode version.
const WHITESPACE: [char; 25] = [
    '\u{0009}', '\u{000A}', '\u{000B}', '\u{000C}', '\u{000D}', '\u{0020}', '\u{0085}', '\u{00A0}',
    '\u{1680}', '\u{2000}', '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}',
    '\u{2007}', '\u{2008}', '\u{2009}', '\u{200A}', '\u{2028}', '\u{2029}', '\u{202F}', '\u{205F}',
    '\u{3000}',
];

/// The characters an id may not carry verbatim: `%` (the escape character), `:` (the key
/// separator), `{` and `}` (hash tag delimiters), the glob characters `* ? [ ] \`, Unicode
/// whitespace and control characters (`U+0000..=U+001F`, `U+007F..=U+009F`).
pub(crate) fn must_escape(c: char) -> bool {
    matches!(c, '%' | ':' | '{' | '}' | '*' | '?' | '[' | ']' | '\\')
        || matches!(c, '\u{0}'..='\u{1F}' | '\u{7F}'..='\u{9F}')
        || WHITESPACE.contains(&c)
}

/// The hash tag content for `id`: the escaped id, or — when that is longer than
/// [`MAX_ID_TAG_LEN`] — its first whole characters/escapes up to 222 bytes, then `%~`, then the
/// 32-hex-digit xxh3-128 of the raw id's UTF-8 bytes.
pub(crate) fn id_tag(id: &str) -> Result<String, KeyError> {
    if id.is_empty() {
        return Err(KeyError::EmptyId);
    }
    let mut out = String::with_capacity(id.len().min(MAX_ID_TAG_LEN) + 8);
    // Where to cut if the id turns out too long: the end of the last whole character or escape
    // that fits in the shortened prefix, so no `%XX` and no UTF-8 sequence is split.
    let mut cut = 0;
    for c in id.chars() {
        push_escaped(&mut out, c);
        if out.len() <= SHORTENED_PREFIX_LEN {
            cut = out.len();
        }
        if out.len() > MAX_ID_TAG_LEN {
            out.truncate(cut);
            out.push_str(SHORTENED_MARKER);
            out.push_str(&hex128(xxh3_128(id.as_bytes())));
            return Ok(out);
        }
    }
    Ok(out)
}

fn push_escaped(out: &mut String, c: char) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if !must_escape(c) {
        out.push(c);
        return;
    }
    let mut buf = [0u8; 4];
    for &b in c.encode_utf8(&mut buf).as_bytes() {
        out.push('%');
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xF)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_table_matches_the_standard_library_today() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            assert_eq!(
                WHITESPACE.contains(&c),
                c.is_whitespace(),
                "U+{:04X}",
                c as u32
            );
            let control = matches!(c, '\u{0}'..='\u{1F}' | '\u{7F}'..='\u{9F}');
            assert_eq!(control, c.is_control(), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn escapes_the_documented_set() {
        assert_eq!(id_tag("a:b{c}d%e").unwrap(), "a%3Ab%7Bc%7Dd%25e");
        assert_eq!(id_tag("*?[]\\").unwrap(), "%2A%3F%5B%5D%5C");
        assert_eq!(
            id_tag(" \n\t\u{85}\u{3000}").unwrap(),
            "%20%0A%09%C2%85%E3%80%80"
        );
        assert_eq!(id_tag("héllo-🦀_~.").unwrap(), "héllo-🦀_~.");
    }

    #[test]
    fn empty_id_is_rejected() {
        assert_eq!(id_tag(""), Err(KeyError::EmptyId));
    }

    #[test]
    fn longest_unshortened_and_shortest_shortened() {
        let fits = "a".repeat(MAX_ID_TAG_LEN);
        assert_eq!(id_tag(&fits).unwrap(), fits);
        let over = "a".repeat(MAX_ID_TAG_LEN + 1);
        let tag = id_tag(&over).unwrap();
        assert_eq!(tag.len(), MAX_ID_TAG_LEN);
        assert!(tag.starts_with(&"a".repeat(SHORTENED_PREFIX_LEN)));
        assert!(tag.contains(SHORTENED_MARKER));
    }

    #[test]
    fn shortening_never_splits_an_escape_or_a_character() {
        for id in [
            ":".repeat(200),
            "🦀".repeat(100),
            format!("a{}", "%".repeat(300)),
        ] {
            let tag = id_tag(&id).unwrap();
            let (prefix, digest) = tag.split_once(SHORTENED_MARKER).unwrap();
            assert_eq!(digest.len(), 32);
            assert!(prefix.len() <= SHORTENED_PREFIX_LEN);
            assert!(SHORTENED_PREFIX_LEN - prefix.len() < 12, "{prefix}");
            let full = {
                let mut s = String::new();
                id.chars().for_each(|c| push_escaped(&mut s, c));
                s
            };
            assert!(full.starts_with(prefix));
            // The cut falls between whole escapes: every `%` kept has both its hex digits.
            for (i, _) in prefix.match_indices('%') {
                let hex = prefix.get(i + 1..i + 3).unwrap_or("");
                assert!(
                    hex.len() == 2 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{prefix}"
                );
            }
        }
    }
}
