//! The contracts of a [`SmartCache`] as its users see them, for any composition: one tier, or an
//! L1 in front of a backend. Each takes two caches over the *same* store (two instances of a
//! fleet) and a key prefix unique to the run; a change made through one must be seen through
//! the other within the L1's staleness bound (at once on one tier).
//!
//! ```
//! # use cache_core::SmartCache;
//! # async fn example(a: SmartCache, b: SmartCache) {
//! let prefix = cache_core::testing::unique_prefix("contracts:my-composition");
//! cache_core::testing::cache_contracts::run_all(&a, &b, &prefix).await;
//! # }
//! ```

use std::time::Duration;

use crate::options::{EntryOptions, Source};
use crate::{SmartCache, glob};

/// How long a change may take to show through another instance before a contract fails: far
/// above any staleness bound a test configures, so only a broken composition reaches it.
const SETTLE: Duration = Duration::from_secs(10);

/// Runs every contract, one after the other.
pub async fn run_all(a: &SmartCache, b: &SmartCache, prefix: &str) {
    read_your_writes(a, prefix).await;
    computes_once_then_hits(a, prefix).await;
    writes_elsewhere_are_seen(a, b, prefix).await;
    deletes_elsewhere_are_seen(a, b, prefix).await;
    pattern_invalidation_elsewhere_is_seen(a, b, prefix).await;
}

fn options() -> EntryOptions {
    EntryOptions::new()
        .ttl(Duration::from_secs(60))
        .grace(Duration::from_secs(10))
}

/// Reads `key` through `cache` until it answers `expected` (a hit, or `None` for absent), or
/// panics after [`SETTLE`].
async fn eventually(cache: &SmartCache, key: &str, expected: Option<u64>, contract: &str) {
    let started = tokio::time::Instant::now();
    loop {
        let seen = cache
            .get::<u64>(key)
            .await
            .unwrap_or_else(|e| panic!("{contract}: get {key}: {e}"))
            .map(|cached| *cached.value);
        if seen == expected {
            return;
        }
        assert!(
            started.elapsed() < SETTLE,
            "{contract}: {key} still reads {seen:?} after {SETTLE:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Reads `key` a few times: on two tiers, the first read fills the L1 and the next are L1 hits.
async fn warm(cache: &SmartCache, key: &str, expected: u64, contract: &str) {
    for _ in 0..3 {
        eventually(cache, key, Some(expected), contract).await;
    }
}

/// What `set` stored, `get` returns; an overwrite replaces it; a delete removes it.
pub async fn read_your_writes(cache: &SmartCache, prefix: &str) {
    let contract = "read_your_writes";
    let key = format!("{prefix}:{contract}:k");
    cache.set(&key, 1u64, &options()).await.unwrap();
    warm(cache, &key, 1, contract).await;
    cache.set(&key, 2u64, &options()).await.unwrap();
    let read = cache.get::<u64>(&key).await.unwrap().map(|c| *c.value);
    assert_eq!(read, Some(2), "{contract}: own overwrite not read at once");
    assert!(cache.delete(&key).await.unwrap(), "{contract}: delete");
    let read = cache.get::<u64>(&key).await.unwrap();
    assert!(read.is_none(), "{contract}: own delete not read at once");
}

/// A miss computes once; the next reads are hits of the same value, computing nothing.
pub async fn computes_once_then_hits(cache: &SmartCache, prefix: &str) {
    let contract = "computes_once_then_hits";
    let key = format!("{prefix}:{contract}:k");
    let first = cache
        .get_or_compute_detailed(&key, &options(), || async { Ok::<_, std::io::Error>(7u64) })
        .await
        .unwrap();
    assert_eq!(
        (first.source, *first.value),
        (Source::Miss, 7),
        "{contract}"
    );
    for _ in 0..3 {
        let again = cache
            .get_or_compute_detailed(&key, &options(), || async {
                Err::<u64, _>(std::io::Error::other("computed twice"))
            })
            .await
            .unwrap_or_else(|e| panic!("{contract}: {e}"));
        assert_eq!((again.source, *again.value), (Source::Hit, 7), "{contract}");
    }
    cache.delete(&key).await.unwrap();
}

/// A value written through one instance replaces, in the other, what it read before.
pub async fn writes_elsewhere_are_seen(a: &SmartCache, b: &SmartCache, prefix: &str) {
    let contract = "writes_elsewhere_are_seen";
    let key = format!("{prefix}:{contract}:k");
    a.set(&key, 1u64, &options()).await.unwrap();
    warm(a, &key, 1, contract).await;
    b.set(&key, 2u64, &options()).await.unwrap();
    eventually(a, &key, Some(2), contract).await;
    warm(a, &key, 2, contract).await;
    a.delete(&key).await.unwrap();
}

/// A key deleted through one instance is gone from the other.
pub async fn deletes_elsewhere_are_seen(a: &SmartCache, b: &SmartCache, prefix: &str) {
    let contract = "deletes_elsewhere_are_seen";
    let key = format!("{prefix}:{contract}:k");
    a.set(&key, 1u64, &options()).await.unwrap();
    warm(a, &key, 1, contract).await;
    b.delete(&key).await.unwrap();
    eventually(a, &key, None, contract).await;
}

/// Keys removed by a pattern invalidation through one instance are gone from the other; keys
/// outside the pattern stay.
pub async fn pattern_invalidation_elsewhere_is_seen(a: &SmartCache, b: &SmartCache, prefix: &str) {
    let contract = "pattern_invalidation_elsewhere_is_seen";
    let base = format!("{prefix}:{contract}");
    let (inside, outside) = (format!("{base}:in:1"), format!("{base}:out:1"));
    for key in [&inside, &outside] {
        a.set(key, 1u64, &options()).await.unwrap();
        warm(a, key, 1, contract).await;
    }
    let pattern = format!("{}:in:*", glob::escape(&base));
    assert_eq!(
        b.invalidate_pattern(&pattern).await.unwrap(),
        1,
        "{contract}"
    );
    eventually(a, &inside, None, contract).await;
    warm(a, &outside, 1, contract).await;
    a.delete(&outside).await.unwrap();
}
