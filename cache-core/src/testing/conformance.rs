//! The contracts of [`CacheBackend`], one async function each.
//!
//! Every function takes the backend and a key prefix unique to the run (see
//! [`unique_prefix`](super::unique_prefix)), writes only keys under `{prefix}:{contract}:`, and
//! panics with a message naming the backend and the contract when the backend breaks it.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use super::support::{Scope, Stopwatch, bytes, noise};
use crate::backend::{CacheBackend, ObjectPayload, Payload, PayloadKind};
use crate::envelope::Envelope;
use crate::glob::escape;

/// Lifetime of entries that must outlive the contract that writes them.
const LONG: Duration = Duration::from_secs(60);
/// Lifetime of entries a contract waits to see expire.
const SHORT: Duration = Duration::from_millis(150);
/// How long past [`SHORT`] a contract waits before it expects the entry gone.
const EXPIRY_MARGIN: Duration = Duration::from_millis(250);
/// Slack for clocks that count in whole milliseconds (Redis `PTTL`) and for scheduling.
const CLOCK_SLACK: Duration = Duration::from_millis(50);

/// Runs every contract, one after the other (about a second, mostly waiting for expiry).
pub async fn run_all(backend: &dyn CacheBackend, prefix: &str) {
    ping(backend, prefix).await;
    round_trip_bytes(backend, prefix).await;
    round_trip_object(backend, prefix).await;
    lifetime_and_remaining(backend, prefix).await;
    expiry(backend, prefix).await;
    delete(backend, prefix).await;
    overwrite_replaces_value_and_lifetime(backend, prefix).await;
    pattern_invalidation(backend, prefix).await;
    escaped_patterns(backend, prefix).await;
    large_and_empty_values(backend, prefix).await;
    unusual_keys(backend, prefix).await;
    batch_consistency(backend, prefix).await;
    conditional_writes(backend, prefix).await;
}

/// `ping` answers `Ok`.
pub async fn ping(backend: &dyn CacheBackend, prefix: &str) {
    let scope = Scope::new(backend, prefix, "ping");
    if let Err(err) = backend.ping().await {
        scope.fail(format_args!("ping returned an error: {err}"))
    }
}

/// Bytes come back exactly as written (NUL and invalid UTF-8 included); a key never written
/// reads as absent.
pub async fn round_trip_bytes(backend: &dyn CacheBackend, prefix: &str) {
    let scope = Scope::new(backend, prefix, "round_trip_bytes");
    scope
        .expect_absent(&scope.key("never-written"), "the key was never written")
        .await;

    let text = scope.key("text");
    scope.set(&text, bytes(b"hello, cache"), LONG).await;
    scope.expect_bytes(&text, b"hello, cache").await;

    let binary = scope.key("binary");
    let every_byte: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    scope.set(&binary, bytes(&every_byte), LONG).await;
    scope.expect_bytes(&binary, &every_byte).await;
    // Reading twice gives the same value: a get does not consume the entry.
    scope.expect_bytes(&binary, &every_byte).await;
    scope.expect_bytes(&text, b"hello, cache").await;
    scope.clean_up().await;
}

/// The value an object round trip stores.
#[derive(Debug, PartialEq)]
struct Probe {
    id: u64,
    name: String,
}

/// For backends whose [`payload_kind`](CacheBackend::payload_kind) is
/// [`PayloadKind::Object`]: an `Arc<T>` stored as an object comes back as the same allocation
/// (a hit is a pointer clone, never a copy), downcasts to its type and to no other, and keeps
/// its header and declared size. Does nothing on a bytes backend.
pub async fn round_trip_object(backend: &dyn CacheBackend, prefix: &str) {
    if backend.payload_kind() != PayloadKind::Object {
        return;
    }
    let scope = Scope::new(backend, prefix, "round_trip_object");
    let key = scope.key("probe");
    let probe = Arc::new(Probe {
        id: 7,
        name: "seven".into(),
    });
    let header = Envelope::new(
        (),
        Duration::from_secs(30),
        Duration::from_secs(5),
        Duration::from_millis(12),
    );
    let shared: Arc<dyn Any + Send + Sync> = probe.clone();
    let payload = Payload::Object(Arc::new(ObjectPayload::new(header.clone(), shared, 321)));
    scope.set(&key, payload, LONG).await;

    for _ in 0..2 {
        let Some(entry) = scope.get(&key).await else {
            scope.fail(format_args!(
                "get {key:?} found nothing after an object was written"
            ))
        };
        let Payload::Object(object) = entry.payload else {
            scope.fail(format_args!(
                "get {key:?} returned bytes for a value written as an object"
            ))
        };
        scope.check(object.size == 321, || {
            format!(
                "object size changed from 321 to {} on the round trip",
                object.size
            )
        });
        scope.check(object.header == header, || {
            format!("header changed on the round trip: {:?}", object.header)
        });
        scope.check(object.value.clone().downcast::<String>().is_err(), || {
            "an Arc<Probe> downcast to Arc<String>".to_string()
        });
        match object.value.clone().downcast::<Probe>() {
            Ok(back) => {
                scope.check(Arc::ptr_eq(&back, &probe), || {
                    "the object came back as a copy, not as the stored Arc".to_string()
                });
                scope.check(*back == *probe, || format!("object changed: {back:?}"));
            }
            Err(_) => scope.fail("the object no longer downcasts to Probe"),
        }
    }
    scope.clean_up().await;
}

/// A key written with a lifetime reports a remaining lifetime that is at most that lifetime,
/// close to it right after the write, and shrinking as time passes (measured on the backend's
/// clock, with generous margins).
pub async fn lifetime_and_remaining(backend: &dyn CacheBackend, prefix: &str) {
    let scope = Scope::new(backend, prefix, "lifetime_and_remaining");
    let key = scope.key("k");
    let lifetime = Duration::from_secs(30);

    let watch = Stopwatch::start();
    scope.set(&key, bytes(b"v"), lifetime).await;
    let entry = scope.expect_bytes(&key, b"v").await;
    let elapsed = watch.elapsed();
    let first = scope.remaining_of(&key, &entry);
    scope.check(first <= lifetime, || {
        format!("remaining {first:?} exceeds the lifetime {lifetime:?} it was written with")
    });
    let floor = lifetime.saturating_sub(elapsed + CLOCK_SLACK);
    scope.check(first >= floor, || {
        format!(
            "remaining {first:?} right after a write with lifetime {lifetime:?} ({elapsed:?} \
             elapsed); expected at least {floor:?}"
        )
    });

    let pause = Duration::from_millis(120);
    tokio::time::sleep(pause).await;
    let entry = scope.expect_bytes(&key, b"v").await;
    let second = scope.remaining_of(&key, &entry);
    let ceiling = lifetime - (pause - Duration::from_millis(20));
    scope.check(second <= ceiling && second < first, || {
        format!(
            "remaining {second:?} after sleeping {pause:?} (it was {first:?}); expected it to \
             shrink below {ceiling:?}"
        )
    });
    scope.clean_up().await;
}

/// An entry is gone once its lifetime has elapsed: `get` finds nothing, `delete` reports it did
/// not exist, and pattern invalidation does not count it. Entries with longer lifetimes stay.
pub async fn expiry(backend: &dyn CacheBackend, prefix: &str) {
    let scope = Scope::new(backend, prefix, "expiry");
    let read = scope.key("short:read");
    let deleted = scope.key("short:delete");
    let scanned = scope.key("short:scan");
    let long = scope.key("long");

    let watch = Stopwatch::start();
    for key in [&read, &deleted, &scanned] {
        scope.set(key, bytes(b"brief"), SHORT).await;
    }
    scope.set(&long, bytes(b"lasting"), LONG).await;
    let early = scope.get(&read).await;
    // Only assert presence when the machine was quick enough for it to be guaranteed.
    if watch.elapsed() + CLOCK_SLACK < SHORT {
        scope.check(early.is_some(), || {
            format!("{read:?} vanished before its lifetime {SHORT:?}")
        });
    }

    tokio::time::sleep(SHORT + EXPIRY_MARGIN).await;
    scope.expect_absent(&read, "its lifetime has elapsed").await;
    scope.check(!scope.delete(&deleted).await, || {
        format!("delete {deleted:?} reported an expired entry as existing")
    });
    let removed = scope.invalidate(&scope.pattern("short:sc*")).await;
    scope.check(removed == 0, || {
        format!("invalidate_pattern counted {removed} entries; the only match had expired")
    });
    scope.expect_bytes(&long, b"lasting").await;
    scope.clean_up().await;
}

/// `delete` removes exactly one key and says whether it existed.
pub async fn delete(backend: &dyn CacheBackend, prefix: &str) {
    let scope = Scope::new(backend, prefix, "delete");
    let target = scope.key("target");
    let neighbour = scope.key("target2");
    scope.set(&target, bytes(b"a"), LONG).await;
    scope.set(&neighbour, bytes(b"b"), LONG).await;

    scope.check(scope.delete(&target).await, || {
        format!("delete {target:?} of a present key returned false")
    });
    scope.expect_absent(&target, "it was deleted").await;
    scope.check(!scope.delete(&target).await, || {
        format!("a second delete {target:?} returned true")
    });
    let never = scope.key("never-written");
    scope.check(!scope.delete(&never).await, || {
        format!("delete {never:?} of a missing key returned true")
    });
    scope.expect_bytes(&neighbour, b"b").await;

    // A deleted key can be written again.
    scope.set(&target, bytes(b"again"), LONG).await;
    scope.expect_bytes(&target, b"again").await;
    scope.clean_up().await;
}

/// A second `set` replaces the value and the lifetime, whether the new lifetime is longer or
/// shorter than the old one.
pub async fn overwrite_replaces_value_and_lifetime(backend: &dyn CacheBackend, prefix: &str) {
    let scope = Scope::new(backend, prefix, "overwrite");
    let extended = scope.key("extended");
    let shortened = scope.key("shortened");

    scope.set(&extended, bytes(b"old"), SHORT).await;
    scope.set(&extended, bytes(b"new"), LONG).await;
    scope.set(&shortened, bytes(b"old"), LONG).await;
    scope.set(&shortened, bytes(b"new"), SHORT).await;
    let entry = scope.expect_bytes(&extended, b"new").await;
    let remaining = scope.remaining_of(&extended, &entry);
    scope.check(remaining > SHORT * 4, || {
        format!("remaining {remaining:?} after overwriting a {SHORT:?} entry with a {LONG:?} one")
    });

    tokio::time::sleep(SHORT + EXPIRY_MARGIN).await;
    let entry = scope.expect_bytes(&extended, b"new").await;
    let remaining = scope.remaining_of(&extended, &entry);
    scope.check(remaining > LONG / 2, || {
        format!("the overwrite did not extend the lifetime: {remaining:?} remaining")
    });
    scope
        .expect_absent(
            &shortened,
            "it was overwritten with a short lifetime that elapsed",
        )
        .await;
    scope.clean_up().await;
}

/// The keys every pattern case is tried against (suffixes inside the case's namespace).
const GLOB_KEYS: &[&str] = &[
    "hello", "hallo", "hbllo", "hxllo", "hllo", "heeello", "h*llo", "user:1", "user:2", "user:10",
    "post:1", "u:e", "u:é",
];

/// Pattern → the keys of [`GLOB_KEYS`] it matches under Redis `MATCH` (written by hand from the
/// Redis documentation, independently of [`crate::glob`]).
const GLOB_CASES: &[(&str, &[&str])] = &[
    ("h?llo", &["hello", "hallo", "hbllo", "hxllo", "h*llo"]),
    (
        "h*llo",
        &[
            "hello", "hallo", "hbllo", "hxllo", "hllo", "heeello", "h*llo",
        ],
    ),
    ("h[ae]llo", &["hello", "hallo"]),
    ("h[^a]llo", &["hello", "hbllo", "hxllo", "h*llo"]),
    ("h[^e]llo", &["hallo", "hbllo", "hxllo", "h*llo"]),
    ("h[a-c]llo", &["hallo", "hbllo"]),
    ("h\\*llo", &["h*llo"]),
    ("\\h\\e\\l\\l\\o", &["hello"]),
    ("user:*", &["user:1", "user:2", "user:10"]),
    ("user:?", &["user:1", "user:2"]),
    ("*:1", &["user:1", "post:1"]),
    // `?` is one byte, as in Redis: `é` is two.
    ("u:?", &["u:e"]),
    ("u:??", &["u:é"]),
    ("hello", &["hello"]),
    (
        "*",
        &[
            "hello", "hallo", "hbllo", "hxllo", "hllo", "heeello", "h*llo", "user:1", "user:2",
            "user:10", "post:1", "u:e", "u:é",
        ],
    ),
    ("nomatch*", &[]),
];

/// `invalidate_pattern` removes exactly the keys a Redis `MATCH` glob selects (`*`, `?`,
/// `[abc]`, `[^a]`, `[a-c]`, `\` escapes), returns how many it removed, and leaves every other
/// key alone.
pub async fn pattern_invalidation(backend: &dyn CacheBackend, prefix: &str) {
    let scope = Scope::new(backend, prefix, "pattern_invalidation");
    let bystanders: Vec<String> = GLOB_KEYS
        .iter()
        .map(|k| scope.key(&format!("bystander:{k}")))
        .collect();
    for key in &bystanders {
        scope.set(key, bytes(key.as_bytes()), LONG).await;
    }

    for (case, (glob, expected)) in GLOB_CASES.iter().enumerate() {
        let key_of = |suffix: &str| scope.key(&format!("case{case}:{suffix}"));
        for suffix in GLOB_KEYS {
            let key = key_of(suffix);
            scope.set(&key, bytes(key.as_bytes()), LONG).await;
        }
        let pattern = scope.pattern(&format!("case{case}:{glob}"));
        let removed = scope.invalidate(&pattern).await;
        scope.check(removed == expected.len() as u64, || {
            format!(
                "pattern {glob:?} removed {removed} keys; expected {} ({expected:?})",
                expected.len()
            )
        });
        for suffix in GLOB_KEYS {
            let key = key_of(suffix);
            let present = scope.get(&key).await.is_some();
            let should_be_gone = expected.contains(suffix);
            scope.check(present != should_be_gone, || {
                if should_be_gone {
                    format!("pattern {glob:?} did not remove {suffix:?}")
                } else {
                    format!("pattern {glob:?} removed {suffix:?}, which it does not match")
                }
            });
            scope.delete(&key).await;
        }
    }
    for key in &bystanders {
        scope.expect_bytes(key, key.as_bytes()).await;
    }
    scope.clean_up().await;
}

/// Ids holding glob characters, escaped with [`escape`], select only themselves: the escaped
/// `4*` does not touch `42`, `4?` does not touch `4x`, `[4]` does not touch `4`.
pub async fn escaped_patterns(backend: &dyn CacheBackend, prefix: &str) {
    let scope = Scope::new(backend, prefix, "escaped_patterns");
    let literals = [
        "4*", "4?", "[4]", "4[2]", "4\\", "4]", "[4", "4[^2]", "4[1-3]",
    ];
    let decoys = ["42", "4x", "4", "4\\\\", "44", "4^", "2"];
    let all: Vec<&str> = literals.iter().chain(decoys.iter()).copied().collect();
    let key_of = |id: &str| scope.key(&format!("id:{id}:payload"));

    for literal in literals {
        for id in &all {
            let key = key_of(id);
            scope.set(&key, bytes(id.as_bytes()), LONG).await;
        }
        let pattern = scope.pattern(&format!("id:{}:*", escape(literal)));
        let removed = scope.invalidate(&pattern).await;
        scope.check(removed == 1, || {
            format!("escaped pattern for id {literal:?} ({pattern:?}) removed {removed} keys; expected 1")
        });
        for id in &all {
            let present = scope.get(&key_of(id)).await.is_some();
            scope.check(present != (*id == literal), || {
                format!("escaped pattern for id {literal:?}: key of id {id:?} present={present}")
            });
        }
        // The whole key, escaped, is a pattern matching only itself.
        let exact = escape(&key_of("42"));
        let removed = scope.invalidate(&exact).await;
        scope.check(removed == 1, || {
            format!("escaped key {exact:?} removed {removed} keys; expected 1")
        });
    }
    scope.clean_up().await;
}

/// A 1 MiB value and an empty value both round-trip; the empty value is present, not absent.
pub async fn large_and_empty_values(backend: &dyn CacheBackend, prefix: &str) {
    let scope = Scope::new(backend, prefix, "large_and_empty_values");
    let large_key = scope.key("large");
    let large = noise(1 << 20, 0x5EED);
    scope.set(&large_key, bytes(&large), LONG).await;
    scope.expect_bytes(&large_key, &large).await;

    let empty_key = scope.key("empty");
    scope.set(&empty_key, bytes(b""), LONG).await;
    scope.expect_bytes(&empty_key, b"").await;
    scope.check(scope.delete(&empty_key).await, || {
        "delete of an empty value returned false".to_string()
    });
    scope.clean_up().await;
}

/// Keys with unicode, spaces, braces (Redis cluster hash tags), quotes and control characters
/// round-trip independently, and an escaped key used as a pattern removes only that key.
pub async fn unusual_keys(backend: &dyn CacheBackend, prefix: &str) {
    let scope = Scope::new(backend, prefix, "unusual_keys");
    let suffixes = [
        "ключ:日本語",
        "with space",
        " leading and trailing ",
        "{tag}:x",
        "{}",
        "{{nested}}",
        "quote\"'`",
        "tab\tnew\nline",
        "emoji🦀",
        "colon::double",
        "percent%s%d",
    ];
    let keys: Vec<String> = suffixes.iter().map(|s| scope.key(s)).collect();
    for (i, key) in keys.iter().enumerate() {
        scope
            .set(key, bytes(format!("value {i}").as_bytes()), LONG)
            .await;
    }
    for (i, key) in keys.iter().enumerate() {
        scope
            .expect_bytes(key, format!("value {i}").as_bytes())
            .await;
    }
    for (i, key) in keys.iter().enumerate() {
        let removed = scope.invalidate(&escape(key)).await;
        scope.check(removed == 1, || {
            format!("escaped key {key:?} as a pattern removed {removed} keys")
        });
        scope
            .expect_absent(key, "it was invalidated by its escaped name")
            .await;
        for (j, other) in keys.iter().enumerate().skip(i + 1) {
            scope
                .expect_bytes(other, format!("value {j}").as_bytes())
                .await;
        }
    }
    scope.clean_up().await;
}

/// `set_many` then `get` agree, `set` then `get_many` agree, and `get_many` answers in the order
/// asked (duplicates and missing keys included); empty batches are fine.
pub async fn batch_consistency(backend: &dyn CacheBackend, prefix: &str) {
    let scope = Scope::new(backend, prefix, "batch_consistency");
    let (a, b, c) = (scope.key("a"), scope.key("b"), scope.key("c"));
    let missing = scope.key("missing");

    let batch = [
        (a.as_str(), bytes(b"A"), LONG),
        (b.as_str(), bytes(b"BB"), LONG),
        (c.as_str(), bytes(b""), LONG),
    ];
    if let Err(err) = backend.set_many(&batch).await {
        scope.fail(format_args!("set_many returned an error: {err}"))
    }
    scope.expect_bytes(&a, b"A").await;
    scope.expect_bytes(&b, b"BB").await;
    scope.expect_bytes(&c, b"").await;

    let single = scope.key("single");
    scope.set(&single, bytes(b"S"), LONG).await;
    let asked = [
        a.as_str(),
        missing.as_str(),
        b.as_str(),
        c.as_str(),
        a.as_str(),
        single.as_str(),
    ];
    let expected: [Option<&[u8]>; 6] = [
        Some(b"A"),
        None,
        Some(b"BB"),
        Some(b""),
        Some(b"A"),
        Some(b"S"),
    ];
    let found = backend
        .get_many(&asked)
        .await
        .unwrap_or_else(|err| scope.fail(format_args!("get_many returned an error: {err}")));
    scope.check(found.len() == asked.len(), || {
        format!(
            "get_many of {} keys returned {} answers",
            asked.len(),
            found.len()
        )
    });
    for ((key, want), got) in asked.iter().zip(expected).zip(&found) {
        match (want, got) {
            (None, None) => {}
            (Some(want), Some(entry)) => {
                let value = scope.bytes_of(key, entry);
                scope.check(value == want, || {
                    format!("get_many answered {value:?} for {key:?}; expected {want:?}")
                });
                let remaining = scope.remaining_of(key, entry);
                scope.check(remaining <= LONG, || {
                    format!("get_many reported {remaining:?} remaining for {key:?}")
                });
            }
            (want, got) => scope.fail(format_args!(
                "get_many answered {got:?} for {key:?}; expected {want:?}"
            )),
        }
    }

    match backend.get_many(&[]).await {
        Ok(none) => scope.check(none.is_empty(), || {
            format!("get_many of no keys returned {none:?}")
        }),
        Err(err) => scope.fail(format_args!("get_many of no keys returned an error: {err}")),
    }
    if let Err(err) = backend.set_many(&[]).await {
        scope.fail(format_args!(
            "set_many of no entries returned an error: {err}"
        ))
    }
    scope.clean_up().await;
}

/// A payload unique to `tag`, in the form the backend wants: bytes, or a fresh object (whose
/// identity is its write id and its allocation, so two objects with equal contents are
/// different entries).
fn entry_payload(backend: &dyn CacheBackend, tag: &str) -> Payload {
    match backend.payload_kind() {
        PayloadKind::Bytes => bytes(tag.as_bytes()),
        PayloadKind::Object => {
            let value: Arc<dyn Any + Send + Sync> = Arc::new(tag.to_owned());
            Payload::Object(Arc::new(ObjectPayload::new(
                object_header(),
                value,
                tag.len(),
            )))
        }
    }
}

/// The header of a test object: a fresh write id.
fn object_header() -> Envelope<()> {
    Envelope::new((), LONG, Duration::ZERO, Duration::ZERO)
}

/// For backends that offer [`ConditionalWrites`](crate::ConditionalWrites): compare-and-set and compare-and-delete act
/// only on the very entry the caller read ([`Payload::same_entry`]), atomically.
///
/// - CAS with the entry just read replaces it, with the new lifetime (a short one expires);
/// - CAS fails, and changes nothing, once the entry was overwritten by a newer write, deleted,
///   or expired, when the key was never written, and when the expected entry merely resembles
///   the stored one (a prefix or an extension of its bytes; an equal object in another
///   allocation) — a failed CAS never creates the key;
/// - CAD likewise removes only the entry read, and reports whether it did;
/// - of several concurrent CAS expecting the same entry, exactly one wins, and its value is the
///   one stored.
///
/// Does nothing on a backend whose [`conditional`](CacheBackend::conditional) is `None`.
pub async fn conditional_writes(backend: &dyn CacheBackend, prefix: &str) {
    let Some(cond) = backend.conditional() else {
        return;
    };
    let scope = Scope::new(backend, prefix, "conditional_writes");
    let new = |tag: &str| entry_payload(backend, &format!("{tag}:{}", scope.key("")));
    // Reads `key` and fails unless it holds `written`; returns the entry as read (what a cache
    // would pass as `expected`).
    let holds = |key: String, written: Payload, why: &'static str| {
        let scope = &scope;
        async move {
            match scope.get(&key).await {
                Some(entry) => {
                    scope.check(entry.payload.same_entry(&written), || {
                        format!(
                            "{key:?} holds {:?}; expected {written:?} ({why})",
                            entry.payload
                        )
                    });
                    entry.payload
                }
                None => scope.fail(format_args!(
                    "{key:?} is absent; expected {written:?} ({why})"
                )),
            }
        }
    };
    let cas = |key: String, expected: Payload, payload: Payload, lifetime: Duration| {
        let scope = &scope;
        async move {
            cond.compare_and_set(&key, &expected, payload, lifetime)
                .await
                .unwrap_or_else(|err| {
                    scope.fail(format_args!(
                        "compare_and_set {key:?} returned an error: {err}"
                    ))
                })
        }
    };
    let cad = |key: String, expected: Payload| {
        let scope = &scope;
        async move {
            cond.compare_and_delete(&key, &expected)
                .await
                .unwrap_or_else(|err| {
                    scope.fail(format_args!(
                        "compare_and_delete {key:?} returned an error: {err}"
                    ))
                })
        }
    };

    // The entry just read: CAS replaces it; the entry it replaced no longer matches.
    let key = scope.key("cas");
    let v1 = new("v1");
    scope.set(&key, v1.clone(), LONG).await;
    let read1 = holds(key.clone(), v1, "written").await;
    let v2 = new("v2");
    scope.check(
        cas(key.clone(), read1.clone(), v2.clone(), LONG).await,
        || format!("compare_and_set {key:?} with the entry just read returned false"),
    );
    let read2 = holds(key.clone(), v2.clone(), "compare_and_set replaced it").await;
    let entry = scope.get(&key).await;
    if let Some(entry) = entry {
        let remaining = scope.remaining_of(&key, &entry);
        scope.check(remaining <= LONG && remaining > LONG / 2, || {
            format!("remaining {remaining:?} after compare_and_set with lifetime {LONG:?}")
        });
    }
    scope.check(!cas(key.clone(), read1, new("v3"), LONG).await, || {
        format!("compare_and_set {key:?} matched the entry it had already replaced")
    });
    holds(
        key.clone(),
        v2,
        "a compare_and_set on a replaced entry failed",
    )
    .await;

    // A newer write wins over a CAS that read before it.
    let v4 = new("v4");
    scope.set(&key, v4.clone(), LONG).await;
    scope.check(!cas(key.clone(), read2, new("v5"), LONG).await, || {
        format!("compare_and_set {key:?} overwrote a newer write")
    });
    let read4 = holds(key.clone(), v4, "it was written after the entry expected").await;

    // Near misses: an expected entry that only resembles the stored one.
    for (what, resembling) in resemblances(&read4) {
        scope.check(
            !cas(key.clone(), resembling.clone(), new("v6"), LONG).await,
            || format!("compare_and_set {key:?} matched {what}"),
        );
        scope.check(!cad(key.clone(), resembling).await, || {
            format!("compare_and_delete {key:?} matched {what}")
        });
    }

    // A deleted key: CAS fails and does not create it; nor does a CAS on a key never written.
    scope.delete(&key).await;
    scope.check(
        !cas(key.clone(), read4.clone(), new("v7"), LONG).await,
        || format!("compare_and_set {key:?} matched a deleted entry"),
    );
    scope
        .expect_absent(&key, "a compare_and_set on a deleted key failed")
        .await;
    let never = scope.key("never-written");
    scope.check(
        !cas(never.clone(), read4.clone(), new("v8"), LONG).await,
        || format!("compare_and_set {never:?} matched a key never written"),
    );
    scope
        .expect_absent(&never, "a compare_and_set on it failed")
        .await;

    // CAD: only the entry read, once; never a newer write.
    let del = scope.key("cad");
    let d1 = new("d1");
    scope.set(&del, d1.clone(), LONG).await;
    let read_d1 = holds(del.clone(), d1, "written").await;
    scope.check(!cad(del.clone(), read4).await, || {
        format!("compare_and_delete {del:?} matched another key's entry")
    });
    scope.check(cad(del.clone(), read_d1.clone()).await, || {
        format!("compare_and_delete {del:?} with the entry just read returned false")
    });
    scope
        .expect_absent(&del, "compare_and_delete removed it")
        .await;
    scope.check(!cad(del.clone(), read_d1).await, || {
        format!("a second compare_and_delete {del:?} returned true")
    });
    let d2 = new("d2");
    scope.set(&del, d2.clone(), LONG).await;
    let read_d2 = holds(del.clone(), d2, "written").await;
    let d3 = new("d3");
    scope.set(&del, d3.clone(), LONG).await;
    scope.check(!cad(del.clone(), read_d2).await, || {
        format!("compare_and_delete {del:?} removed a newer write")
    });
    holds(del.clone(), d3, "it was written after the entry expected").await;

    // Expiry: an expired entry matches nothing; a CAS gives its entry the new lifetime.
    let expired_set = scope.key("expired:cas");
    let expired_del = scope.key("expired:cad");
    let shortened = scope.key("shortened");
    let e1 = new("e1");
    let e2 = new("e2");
    scope.set(&expired_set, e1.clone(), SHORT).await;
    scope.set(&expired_del, e2.clone(), SHORT).await;
    let watch = Stopwatch::start();
    let read_e1 = scope.get(&expired_set).await;
    let read_e2 = scope.get(&expired_del).await;
    let s1 = new("s1");
    scope.set(&shortened, s1.clone(), LONG).await;
    let read_s1 = holds(shortened.clone(), s1, "written").await;
    scope.check(
        cas(shortened.clone(), read_s1, new("s2"), SHORT).await,
        || format!("compare_and_set {shortened:?} with the entry just read returned false"),
    );
    // Only usable when the machine was quick enough for the short entries to be read live.
    let quick = watch.elapsed() + CLOCK_SLACK < SHORT;
    tokio::time::sleep(SHORT + EXPIRY_MARGIN).await;
    scope
        .expect_absent(
            &shortened,
            "compare_and_set gave it a lifetime that elapsed",
        )
        .await;
    if let (true, Some(read_e1), Some(read_e2)) = (quick, read_e1, read_e2) {
        scope.check(
            !cas(expired_set.clone(), read_e1.payload, new("e3"), LONG).await,
            || format!("compare_and_set {expired_set:?} matched an expired entry"),
        );
        scope
            .expect_absent(&expired_set, "a compare_and_set on an expired entry failed")
            .await;
        scope.check(!cad(expired_del.clone(), read_e2.payload).await, || {
            format!("compare_and_delete {expired_del:?} matched an expired entry")
        });
    }

    // Concurrent CAS expecting the same entry: exactly one wins, and its value is stored.
    let raced = scope.key("raced");
    let r0 = new("r0");
    scope.set(&raced, r0.clone(), LONG).await;
    let read_r0 = holds(raced.clone(), r0, "written").await;
    let contenders: Vec<Payload> = (0..8).map(|i| new(&format!("r{}", i + 1))).collect();
    let outcomes = futures_util::future::join_all(
        contenders
            .iter()
            .map(|payload| cas(raced.clone(), read_r0.clone(), payload.clone(), LONG)),
    )
    .await;
    let winners: Vec<usize> = (0..outcomes.len()).filter(|&i| outcomes[i]).collect();
    scope.check(winners.len() == 1, || {
        format!(
            "{} of {} concurrent compare_and_set expecting the same entry succeeded; expected 1",
            winners.len(),
            outcomes.len()
        )
    });
    if let Some(&winner) = winners.first() {
        holds(
            raced.clone(),
            contenders[winner].clone(),
            "its compare_and_set was the one that succeeded",
        )
        .await;
    }
    scope.clean_up().await;
}

/// Payloads that resemble `read` without being that entry.
fn resemblances(read: &Payload) -> Vec<(&'static str, Payload)> {
    match read {
        Payload::Bytes(b) => {
            let mut longer = b.to_vec();
            longer.push(b'x');
            let mut changed = b.to_vec();
            if let Some(last) = changed.last_mut() {
                *last ^= 1;
            }
            vec![
                (
                    "a prefix of the stored bytes",
                    bytes(&b[..b.len().saturating_sub(1)]),
                ),
                ("the stored bytes with one more byte", bytes(&longer)),
                (
                    "the stored bytes with the last one changed",
                    bytes(&changed),
                ),
            ]
        }
        Payload::Object(o) => {
            let copy = o
                .value
                .clone()
                .downcast::<String>()
                .map(|s| (*s).clone())
                .unwrap_or_default();
            let value: Arc<dyn Any + Send + Sync> = Arc::new(copy);
            vec![
                (
                    "an equal object in another allocation",
                    Payload::Object(Arc::new(ObjectPayload::new(
                        o.header.clone(),
                        value,
                        o.size,
                    ))),
                ),
                (
                    "the same allocation under another write id",
                    Payload::Object(Arc::new(ObjectPayload::new(
                        object_header(),
                        o.value.clone(),
                        o.size,
                    ))),
                ),
            ]
        }
    }
}
