//! Test helpers: an independent reference for the documented id escaping, and key parsing.
#![allow(dead_code)] // each test binary uses a different subset

use cache_keys::KeyFactory;
use proptest::prelude::*;
use xxhash_rust::xxh3::xxh3_128;

pub fn factory() -> KeyFactory {
    KeyFactory::new("app", 1).unwrap()
}

/// The hash tag content the crate docs promise for `id`, written from the docs with the
/// standard library's Unicode tables (the crate spells its tables out).
pub fn expected_tag(id: &str) -> String {
    let tokens: Vec<String> = id
        .chars()
        .map(|c| {
            let special = "%:{}*?[]\\".contains(c) || c.is_whitespace() || c.is_control();
            if special {
                c.to_string().bytes().map(|b| format!("%{b:02X}")).collect()
            } else {
                c.to_string()
            }
        })
        .collect();
    let escaped: String = tokens.concat();
    if escaped.len() <= 256 {
        return escaped;
    }
    let mut prefix = String::new();
    for token in &tokens {
        if prefix.len() + token.len() > 222 {
            break;
        }
        prefix.push_str(token);
    }
    format!("{prefix}%~{:032x}", xxh3_128(id.as_bytes()))
}

/// Inverse of the escaping of an unshortened tag (panics on malformed input: a test failure).
pub fn unescape(tag: &str) -> String {
    let mut bytes = Vec::new();
    let raw = tag.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3]).unwrap();
            bytes.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).unwrap()
}

/// Checks the structure every key must have and returns its hash tag content.
pub fn assert_well_formed<'k>(factory: &KeyFactory, entity: &str, key: &'k str) -> &'k str {
    let prefix = format!("{}:v{}:{entity}:{{", factory.namespace(), factory.version());
    assert!(
        key.starts_with(&prefix),
        "{key:?} does not start with {prefix:?}"
    );
    assert!(key.len() <= cache_keys::MAX_KEY_LEN, "{} bytes", key.len());
    assert_eq!(key.matches('{').count(), 1, "{key:?}");
    assert_eq!(key.matches('}').count(), 1, "{key:?}");
    let close = key.find('}').unwrap();
    let tail = &key[close + 1..];
    assert_eq!(tail.len(), 1 + cache_keys::DIGEST_LEN, "{key:?}");
    assert!(tail.starts_with(':'));
    assert!(
        tail[1..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert!(
        !key.chars().any(|c| c.is_whitespace() || c.is_control()),
        "{key:?}"
    );
    let tag = &key[prefix.len()..close];
    assert!(!tag.contains(':'), "{key:?}");
    assert_eq!(cache_keys::hash_tag(key), Some(tag));
    tag
}

/// Ids with separators, braces, glob characters, whitespace, controls, emoji, look-alikes of
/// escapes and of whole keys, and 10 kB ids that differ only at one end.
pub fn hostile_ids() -> Vec<String> {
    let ten_kb = "x".repeat(10 * 1024);
    let mut ids: Vec<String> = [
        ":",
        "{",
        "}",
        "*",
        "?",
        "[",
        "]",
        "\\",
        " ",
        "\n",
        "\r\n",
        "\t",
        "\0",
        "\u{7f}",
        "\u{85}",
        "\u{a0}",
        "\u{3000}",
        "%",
        "%25",
        "%3A",
        "%~",
        "🦀",
        "👨‍👩‍👧",
        "é",
        "e\u{301}",
        "42",
        "4*",
        "4?",
        "4[2]",
        "4\\*",
        "a:b",
        "a b",
        "a\nb",
        "{42}",
        "}{",
        "x}:other:v1:user:{y",
        "}:evil:v9:user:{42",
        "user:{42}:0",
        "a%3Ab",
        "🦀:🦀",
        "[^a]*",
        "\\\\",
        "--",
        ".",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ids.push(ten_kb.clone());
    // Long ids equal but for their last or first character: only the digest tells them apart.
    ids.push(format!("{}y", &ten_kb[1..]));
    ids.push(format!("y{}", &ten_kb[1..]));
    ids.push(":".repeat(10 * 1024));
    ids.push("🦀".repeat(2600));
    ids.push(format!("{}*", "x".repeat(300)));
    ids.push(format!("{}?", "x".repeat(300)));
    ids
}

/// Ids that favour the characters the escaping exists for, plus arbitrary Unicode.
pub fn id() -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        4 => prop::sample::select(vec![
            ':', '{', '}', '*', '?', '[', ']', '\\', ' ', '\n', '%', '~', '4', '2', 'a', '🦀', '\u{0}',
        ]),
        1 => any::<char>(),
    ];
    prop_oneof![
        8 => prop::collection::vec(chars.clone(), 1..12),
        1 => prop::collection::vec(chars, 80..400), // around the shortening threshold
    ]
    .prop_map(String::from_iter)
}
