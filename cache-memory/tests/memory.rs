//! The memory backend: the shared conformance suite, its bounds, and moka's own expiry.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use cache_core::testing::{run_all, unique_prefix};
use cache_core::{CacheBackend, Envelope, ObjectPayload, Payload, PayloadKind};
use cache_memory::{Bound, MemoryBackend};

const MINUTE: Duration = Duration::from_secs(60);

fn bytes(len: usize) -> Payload {
    Payload::Bytes(vec![7u8; len].into())
}

fn object(size: usize) -> Payload {
    let header = Envelope::new((), MINUTE, Duration::ZERO, Duration::ZERO);
    let value: Arc<dyn Any + Send + Sync> = Arc::new(size);
    Payload::Object(Arc::new(ObjectPayload::new(header, value, size)))
}

#[tokio::test]
async fn conformance() {
    let backend = MemoryBackend::new(10_000);
    assert_eq!(backend.payload_kind(), PayloadKind::Object);
    // So that `run_all` checks the conditional-write contract too.
    assert!(backend.conditional().is_some());
    run_all(&backend, &unique_prefix("memory")).await;
}

#[tokio::test]
async fn conformance_when_byte_bounded() {
    // Room for the suite's 1 MiB value and everything else it writes.
    let backend = MemoryBackend::builder().max_bytes(8 << 20).build();
    run_all(&backend, &unique_prefix("memory:bytes")).await;
}

#[tokio::test]
async fn conformance_when_reclaiming_expired_entries() {
    let backend = MemoryBackend::builder().reclaim_expired(true).build();
    run_all(&backend, &unique_prefix("memory:eager")).await;
}

#[tokio::test]
async fn conformance_through_a_trait_object() {
    let backend: Arc<dyn CacheBackend> = Arc::new(MemoryBackend::new(10_000));
    run_all(&*backend, &unique_prefix("memory:dyn")).await;
}

#[tokio::test]
async fn entry_bound_evicts() {
    let backend = MemoryBackend::new(50);
    assert_eq!(backend.bound(), Bound::Entries(50));
    for i in 0..500 {
        backend
            .set(&format!("k{i}"), bytes(10), MINUTE)
            .await
            .unwrap();
    }
    backend.run_pending_tasks();
    let count = backend.entry_count();
    assert!(count <= 50, "{count} entries in a store bounded to 50");
    assert!(count > 0, "the store kept nothing");

    let mut readable = 0;
    for i in 0..500 {
        readable += usize::from(backend.get(&format!("k{i}")).await.unwrap().is_some());
    }
    assert!(
        readable <= 50,
        "{readable} keys readable from a store bounded to 50"
    );
}

#[tokio::test]
async fn byte_bound_evicts_by_weight() {
    let backend = MemoryBackend::builder()
        .max_entries(1)
        .max_bytes(10_000)
        .build();
    assert_eq!(
        backend.bound(),
        Bound::Bytes(10_000),
        "the last bound set wins"
    );
    for i in 0..100 {
        // Key "k00".."k99": 3 bytes + 997 payload bytes = 1,000 bytes per entry.
        backend
            .set(&format!("k{i:02}"), bytes(997), MINUTE)
            .await
            .unwrap();
    }
    backend.run_pending_tasks();
    let weight = backend.weighted_size();
    let count = backend.entry_count();
    assert!(
        weight <= 10_000,
        "weighted size {weight} over the 10,000-byte bound"
    );
    assert!(
        count <= 10,
        "{count} entries of 1,000 bytes in 10,000 bytes"
    );
    assert!(count > 1, "the byte bound was applied as an entry bound");
    assert_eq!(
        weight,
        count * 1_000,
        "an entry must weigh its key plus its payload"
    );
}

#[tokio::test]
async fn objects_weigh_their_declared_size() {
    let backend = MemoryBackend::builder().max_bytes(10_000).build();
    for i in 0..40 {
        backend
            .set(&format!("o{i:02}"), object(1_997), MINUTE)
            .await
            .unwrap();
    }
    backend.run_pending_tasks();
    let (weight, count) = (backend.weighted_size(), backend.entry_count());
    assert!(weight <= 10_000, "weighted size {weight}");
    assert!(
        (1..=5).contains(&count),
        "{count} entries of 2,000 bytes in 10,000 bytes"
    );
    assert_eq!(weight, count * 2_000);
}

/// `get_now` answers every read at once, and answers what `get` does: a live entry with its
/// lifetime, nothing for an absent key or an expired entry.
#[tokio::test]
async fn get_now_answers_at_once_what_get_answers() {
    let backend = MemoryBackend::new(100);
    backend.set("live", bytes(3), MINUTE).await.unwrap();
    backend
        .set("short", bytes(3), Duration::from_millis(20))
        .await
        .unwrap();
    let now = backend
        .get_now("live", cache_core::Moment::now())
        .expect("answered")
        .unwrap()
        .expect("a hit");
    assert_eq!(now.payload.size(), 3);
    assert!(
        now.remaining
            .is_some_and(|left| left <= MINUTE && left > MINUTE / 2)
    );
    assert!(
        backend
            .get_now("absent", cache_core::Moment::now())
            .expect("answered")
            .unwrap()
            .is_none()
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        backend
            .get_now("short", cache_core::Moment::now())
            .expect("answered")
            .unwrap()
            .is_none()
    );
    assert!(backend.get("short").await.unwrap().is_none());
    // Through a trait object too (the cache holds one).
    let shared: Arc<dyn CacheBackend> = Arc::new(backend);
    assert!(
        shared
            .get_now("live", cache_core::Moment::now())
            .expect("answered")
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn an_entry_larger_than_the_byte_bound_is_not_kept() {
    let backend = MemoryBackend::builder().max_bytes(1_000).build();
    backend.set("huge", bytes(5_000), MINUTE).await.unwrap();
    backend.run_pending_tasks();
    assert!(backend.get("huge").await.unwrap().is_none());
    assert_eq!(backend.weighted_size(), 0);
}

/// With `reclaim_expired` moka itself drops an entry after its deadline, not only our read check
/// hides it, and an overwrite with a shorter lifetime moves moka's expiry too. Without it (the
/// default), expired entries stay in moka but are never served. Moka's timer wheel ticks every
/// 2^30 ns (about 1.07 s), so reclamation may lag the deadline by up to a tick.
#[tokio::test]
async fn expired_entries_are_hidden_and_reclaimed_when_asked() {
    let eager = MemoryBackend::builder()
        .max_entries(100)
        .reclaim_expired(true)
        .build();
    let lazy = MemoryBackend::new(100);
    for backend in [&eager, &lazy] {
        backend
            .set("short", bytes(1), Duration::from_millis(100))
            .await
            .unwrap();
        backend.set("shortened", bytes(1), MINUTE).await.unwrap();
        backend
            .set("shortened", bytes(1), Duration::from_millis(100))
            .await
            .unwrap();
        backend.set("long", bytes(1), MINUTE).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for backend in [&eager, &lazy] {
        assert!(backend.get("short").await.unwrap().is_none());
        assert!(backend.get("shortened").await.unwrap().is_none());
        assert!(!backend.delete("short").await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    eager.run_pending_tasks();
    lazy.run_pending_tasks();
    assert_eq!(eager.entry_count(), 1, "moka kept expired entries");
    assert_eq!(
        lazy.entry_count(),
        2,
        "without reclaim_expired, moka keeps them until evicted"
    );
    assert!(lazy.get("shortened").await.unwrap().is_none());
    assert!(eager.get("long").await.unwrap().is_some());
    assert!(lazy.get("long").await.unwrap().is_some());
}

#[tokio::test]
async fn an_unrepresentable_lifetime_means_no_expiry() {
    let backend = MemoryBackend::new(100);
    backend
        .set("forever", bytes(3), Duration::MAX)
        .await
        .unwrap();
    let entry = backend.get("forever").await.unwrap().expect("present");
    assert_eq!(entry.remaining, None);
}

#[tokio::test]
async fn clones_share_the_store_and_clear_empties_it() {
    let backend = MemoryBackend::new(100);
    let clone = backend.clone();
    clone.set("k", bytes(3), MINUTE).await.unwrap();
    assert!(backend.get("k").await.unwrap().is_some());
    backend.clear();
    assert!(clone.get("k").await.unwrap().is_none());
}

/// Without a byte bound, nothing on the write path encodes the value: a type whose
/// serialization would panic is stored and served.
#[tokio::test]
async fn an_unweighted_store_never_encodes_values() {
    #[derive(serde::Deserialize)]
    struct NeverEncoded(u32);
    impl serde::Serialize for NeverEncoded {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            panic!("encoded on the write path")
        }
    }
    let cache = cache_core::SmartCache::new(MemoryBackend::new(10));
    let opts = cache_core::EntryOptions::new();
    let first = cache
        .get_with("k", &opts, || async { NeverEncoded(7) })
        .await
        .unwrap();
    let again = cache
        .get_with("k", &opts, || async { NeverEncoded(8) })
        .await
        .unwrap();
    assert_eq!((first.0, again.0), (7, 7));
    assert!(cache_core::Value::ptr_eq(&first, &again));
}

#[tokio::test]
async fn a_segmented_store_keeps_its_bound_and_a_small_store_is_one_segment() {
    assert_eq!(
        MemoryBackend::new(100).segments(),
        1,
        "a small store is not split"
    );
    let backend = MemoryBackend::builder()
        .max_entries(1_024)
        .segments(3)
        .build();
    assert_eq!(backend.segments(), 4, "moka's count: a power of two");
    let huge = MemoryBackend::builder().segments(usize::MAX).build();
    assert_eq!(
        huge.segments(),
        cache_memory::MAX_SEGMENTS,
        "a huge count is capped"
    );
    for i in 0..8_192 {
        let key = format!("k{i}");
        backend
            .set(
                &key,
                Payload::Bytes(cache_core::Bytes::from_static(b"v")),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
    }
    backend.run_pending_tasks();
    let held = backend.entry_count();
    assert!(
        (1..=1_024).contains(&held),
        "{held} entries for a bound of 1,024"
    );
}
