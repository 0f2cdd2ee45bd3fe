//! Tags and `clear()`: the names and values the store holds for them.
//!
//! Every tag has a *version key* in the store, `__smartcache:tag:<escaped tag>`, holding a
//! random [`TagVersion`] (16 lowercase hex digits, readable with `redis-cli`). An entry written
//! with tags records the versions its tags had *before its compute started* (for
//! [`SmartCache::set`](crate::SmartCache::set): before the write); a read compares them with the
//! current ones, and any difference — or a version key that is gone (evicted, flushed) — makes
//! the entry invalid. [`SmartCache::invalidate_tag`](crate::SmartCache::invalidate_tag) writes a
//! new random version: one write, whatever the number of entries.
//!
//! [`SmartCache::clear`](crate::SmartCache::clear) works the same way with one implicit tag
//! every entry carries: the namespace version under [`CLEAR_KEY`].
//!
//! ```
//! use cache_core::{EntryOptions, SmartCache, Source};
//! use cache_memory::MemoryBackend;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), cache_core::CacheError> {
//! let cache = SmartCache::new(MemoryBackend::new(100));
//! let opts = EntryOptions::new().tags(["team:42", "competition:premier-league"]);
//! cache.get_with("odds:7", &opts, || async { 1.9f64 }).await?;
//! cache.invalidate_tag("team:42").await?; // one write, however many entries carry the tag
//! let again = cache
//!     .get_or_compute_detailed("odds:7", &opts, || async { Ok::<_, std::io::Error>(2.1f64) })
//!     .await?;
//! assert_eq!((*again.value, again.source), (2.1, Source::Miss));
//! cache.clear().await?; // everything, in one write too
//! assert!(cache.get::<f64>("odds:7").await?.is_none());
//! # Ok(()) }
//! ```
//!
//! Keys under [`RESERVED_PREFIX`] belong to the cache: `get`, `set` and `get_or_compute` refuse
//! them. Deleting them (by hand, or with a pattern such as `*`) is safe: a missing version key
//! invalidates the entries that recorded it, it never revives one.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{CacheError, Result};

/// Prefix of every key the cache writes for itself (tag versions, the namespace version).
pub const RESERVED_PREFIX: &str = "__smartcache:";

/// Prefix of the tag version keys.
pub const TAG_KEY_PREFIX: &str = "__smartcache:tag:";

/// The key of the namespace version that [`SmartCache::clear`](crate::SmartCache::clear)
/// replaces. Caches that share a store share it.
pub const CLEAR_KEY: &str = "__smartcache:clear";

/// Longest tag accepted, in bytes.
pub const MAX_TAG_BYTES: usize = 1024;

/// Most tags one entry may carry: each is one more key read on a hit.
pub const MAX_TAGS: usize = 64;

/// The version of a tag (or of the namespace): a random 64-bit value, never a timestamp — clocks
/// differ between hosts, random values only ever compare equal to themselves. Stored and
/// serialized as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagVersion(pub u64);

impl TagVersion {
    /// A fresh random version.
    pub fn random() -> Self {
        TagVersion(rand::random())
    }

    /// The 16 lowercase hex digits this version is stored as.
    pub fn to_hex(self) -> [u8; 16] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = DIGITS[((self.0 >> (60 - 4 * i)) & 0xf) as usize];
        }
        out
    }

    /// Parses exactly 16 lowercase hex digits; anything else is `None` (a garbled version key
    /// reads as a missing one: invalidated).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 16 {
            return None;
        }
        let mut value = 0u64;
        for &b in bytes {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => return None,
            };
            value = (value << 4) | u64::from(digit);
        }
        Some(TagVersion(value))
    }
}

impl fmt::Debug for TagVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TagVersion({:016x})", self.0)
    }
}

impl fmt::Display for TagVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for TagVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let hex = self.to_hex();
        // Hex digits are ASCII: always valid UTF-8.
        serializer.serialize_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl<'de> Deserialize<'de> for TagVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Hex;
        impl Visitor<'_> for Hex {
            type Value = TagVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("16 lowercase hex digits")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<TagVersion, E> {
                TagVersion::parse(v.as_bytes())
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_str(Hex)
    }
}

/// The version key of `tag`: [`TAG_KEY_PREFIX`] then the tag with `%`, the Redis glob
/// characters (`* ? [ ] \`), the hash-tag braces (`{ }`), and control characters
/// percent-encoded. The encoding is one-to-one (two tags never share a key), and a tag cannot
/// pick its cluster slot with braces: the slot is the hash of the whole key, like any key's.
pub fn version_key(tag: &str) -> String {
    let mut key = String::with_capacity(TAG_KEY_PREFIX.len() + tag.len());
    key.push_str(TAG_KEY_PREFIX);
    for c in tag.chars() {
        match c {
            '%' | '*' | '?' | '[' | ']' | '\\' | '{' | '}' => push_escaped(&mut key, c),
            c if c.is_control() => push_escaped(&mut key, c),
            c => key.push(c),
        }
    }
    key
}

fn push_escaped(key: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for byte in c.encode_utf8(&mut buf).bytes() {
        key.push_str(&format!("%{byte:02X}"));
    }
}

/// Checks a tag: not empty, at most [`MAX_TAG_BYTES`] long. Any other character is allowed
/// (see [`version_key`]).
///
/// # Errors
///
/// [`CacheError::InvalidTag`] saying what is wrong.
pub fn validate_tag(tag: &str) -> Result<()> {
    if tag.is_empty() {
        return Err(CacheError::InvalidTag("the tag is empty".into()));
    }
    if tag.len() > MAX_TAG_BYTES {
        return Err(CacheError::InvalidTag(format!(
            "the tag is {} bytes long; the limit is {MAX_TAG_BYTES}",
            tag.len()
        )));
    }
    Ok(())
}

/// Checks an entry's tags: each valid, at most [`MAX_TAGS`] of them.
///
/// # Errors
///
/// [`CacheError::InvalidTag`] for the first problem found.
pub fn validate_tags(tags: &[String]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(CacheError::InvalidTag(format!(
            "{} tags on one entry; the limit is {MAX_TAGS}",
            tags.len()
        )));
    }
    tags.iter().try_for_each(|tag| validate_tag(tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn versions_are_16_lowercase_hex_digits() {
        let v = TagVersion(0x0123_4567_89ab_cdef);
        assert_eq!(&v.to_hex(), b"0123456789abcdef");
        assert_eq!(TagVersion::parse(b"0123456789abcdef"), Some(v));
        for bad in [
            &b"0123456789ABCDEF"[..],
            b"+123456789abcdef",
            b"0123456789abcde",
            b"0123456789abcdef0",
            b"",
            b"0123456789abcdeg",
        ] {
            assert_eq!(TagVersion::parse(bad), None, "{bad:?}");
        }
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"0123456789abcdef\"");
    }

    #[test]
    fn braces_and_glob_characters_are_escaped() {
        assert_eq!(version_key("team:42"), "__smartcache:tag:team:42");
        assert_eq!(version_key("{x}"), "__smartcache:tag:%7Bx%7D");
        assert_eq!(
            version_key("a*b?[c]\\"),
            "__smartcache:tag:a%2Ab%3F%5Bc%5D%5C"
        );
        assert_eq!(version_key("100%"), "__smartcache:tag:100%25");
        assert_eq!(version_key("a\nb"), "__smartcache:tag:a%0Ab");
    }

    #[test]
    fn bad_tags_are_refused() {
        assert!(matches!(validate_tag(""), Err(CacheError::InvalidTag(_))));
        assert!(validate_tag(&"x".repeat(MAX_TAG_BYTES)).is_ok());
        assert!(matches!(
            validate_tag(&"x".repeat(MAX_TAG_BYTES + 1)),
            Err(CacheError::InvalidTag(_))
        ));
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| i.to_string()).collect();
        assert!(validate_tags(&many).is_err());
        assert!(validate_tags(&many[..MAX_TAGS]).is_ok());
    }

    proptest! {
        #[test]
        fn version_keys_are_one_to_one_and_free_of_special_characters(a in ".{0,12}", b in ".{0,12}") {
            let (ka, kb) = (version_key(&a), version_key(&b));
            prop_assert_eq!(a == b, ka == kb);
            let tail = &ka[TAG_KEY_PREFIX.len()..];
            let special = ['{', '}', '*', '?', '[', ']', '\\'];
            prop_assert!(!tail.contains(special), "{}", tail);
            prop_assert!(!tail.chars().any(char::is_control));
        }

        #[test]
        fn versions_round_trip(v in any::<u64>()) {
            let v = TagVersion(v);
            prop_assert_eq!(TagVersion::parse(&v.to_hex()), Some(v));
            let json = serde_json::to_string(&v).unwrap();
            prop_assert_eq!(serde_json::from_str::<TagVersion>(&json).unwrap(), v);
        }
    }
}
