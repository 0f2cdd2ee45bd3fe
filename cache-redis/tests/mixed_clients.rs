//! A migration: fred-based and redis-rs-based instances on one Redis (standalone and cluster).
//! Each reads what the other wrote as a hit with the right remaining lifetime, and each honours
//! the other's fleet lock.

#[path = "redis_rs_support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::testing::unique_prefix;
use cache_core::{CacheBackend, EntryOptions, LockOutcome, SmartCache, Source};
use cache_redis::{RedisBackend, RedisRsBackend};
use support::{bytes, payload_bytes};
use tokio::sync::Barrier;

const LONG: Duration = Duration::from_secs(60);

async fn fred(url: &str) -> RedisBackend {
    RedisBackend::from_url(url)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The pair of adapters on the standalone server, then on the cluster.
async fn pairs() -> Vec<(&'static str, RedisBackend, RedisRsBackend)> {
    vec![
        (
            "standalone",
            fred(&support::server().url()).await,
            support::from_manager(&support::server().url()).await,
        ),
        (
            "cluster",
            fred(&support::cluster().url()).await,
            support::from_cluster_connection(support::cluster()).await,
        ),
    ]
}

/// The remaining lifetime of `key` as each adapter reads it.
async fn remaining(a: &dyn CacheBackend, b: &dyn CacheBackend, key: &str) -> (Duration, Duration) {
    let left = |e: Option<cache_core::StoredEntry>| {
        e.unwrap_or_else(|| panic!("{key} missing"))
            .remaining
            .unwrap_or_else(|| panic!("{key} without expiry"))
    };
    (
        left(a.get(key).await.unwrap()),
        left(b.get(key).await.unwrap()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_reads_the_others_entries_as_hits_with_the_right_remaining_time() {
    let ttl = Duration::from_secs(60);
    let grace = Duration::from_secs(10);
    let opts = EntryOptions::new().ttl(ttl).grace(grace);
    for (topology, fred, redis_rs) in pairs().await {
        let fred_cache = SmartCache::builder(fred.clone()).build();
        let rr_cache = SmartCache::builder(redis_rs.clone()).build();
        let directions: [(&str, &SmartCache, &SmartCache); 2] = [
            ("fred→redis-rs", &fred_cache, &rr_cache),
            ("redis-rs→fred", &rr_cache, &fred_cache),
        ];
        for (direction, writer, reader) in directions {
            let label = format!("{topology} {direction}");
            let key = unique_prefix(&format!("mixed:{topology}:hit"));
            writer
                .set(&key, format!("written {direction}"), &opts)
                .await
                .unwrap();
            // Before the reader's clock is measured (PTTL) and after (its own estimate).
            for _ in 0..2 {
                let lookup = reader
                    .get_or_compute_detailed(&key, &opts, || async {
                        Ok::<_, std::io::Error>("computed".to_string())
                    })
                    .await
                    .unwrap();
                assert_eq!(
                    (lookup.value.as_str(), lookup.source),
                    (format!("written {direction}").as_str(), Source::Hit),
                    "{label}"
                );
                let (by_fred, by_rr) = remaining(&fred, &redis_rs, &key).await;
                for left in [by_fred, by_rr] {
                    assert!(left <= ttl + grace, "{label}: {left:?}");
                    assert!(
                        left > ttl + grace - Duration::from_secs(2),
                        "{label}: {left:?}"
                    );
                }
                let gap = by_fred.abs_diff(by_rr);
                assert!(
                    gap < Duration::from_millis(500),
                    "{label}: {by_fred:?} vs {by_rr:?}"
                );
            }
            // A short entry: both see the same, shorter lifetime.
            let short = unique_prefix(&format!("mixed:{topology}:short"));
            let short_lifetime = Duration::from_secs(5);
            let writer_backend: &dyn CacheBackend = if direction.starts_with("fred") {
                &fred
            } else {
                &redis_rs
            };
            writer_backend
                .set(&short, bytes(b"brief"), short_lifetime)
                .await
                .unwrap();
            let (by_fred, by_rr) = remaining(&fred, &redis_rs, &short).await;
            for left in [by_fred, by_rr] {
                assert!(
                    left <= short_lifetime && left > Duration::from_secs(3),
                    "{label}: {left:?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_honours_the_others_lock_and_hears_its_release() {
    for (topology, fred, redis_rs) in pairs().await {
        let adapters: [(&str, &dyn CacheBackend, &dyn CacheBackend); 2] = [
            ("fred holds, redis-rs waits", &fred, &redis_rs),
            ("redis-rs holds, fred waits", &redis_rs, &fred),
        ];
        for (label, holder, waiter) in adapters {
            let label = format!("{topology}: {label}");
            let key = unique_prefix(&format!("mixed:{topology}:lock"));
            assert_eq!(
                holder.try_lock(&key, "holder", LONG).await.unwrap(),
                LockOutcome::Acquired,
                "{label}"
            );
            assert_eq!(
                waiter.try_lock(&key, "waiter", LONG).await.unwrap(),
                LockOutcome::Held,
                "{label}"
            );
            assert!(
                !waiter.unlock(&key, "waiter").await.unwrap(),
                "{label}: released another's lock"
            );
            let (value, nothing) = tokio::join!(
                async {
                    tokio::time::timeout(
                        Duration::from_secs(20),
                        waiter.wait_for_value(&key, Duration::from_secs(15)),
                    )
                    .await
                },
                async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    holder.set(&key, bytes(b"computed"), LONG).await.unwrap();
                    assert!(holder.unlock(&key, "holder").await.unwrap(), "{label}");
                }
            );
            let () = nothing;
            let entry = value
                .unwrap_or_else(|_| panic!("{label}: waiter hung"))
                .unwrap()
                .unwrap_or_else(|| panic!("{label}: the waiter saw no value"));
            assert_eq!(payload_bytes(&entry), b"computed", "{label}");
            assert_eq!(
                waiter.try_lock(&key, "waiter", LONG).await.unwrap(),
                LockOutcome::Acquired,
                "{label}: the lock was released"
            );
            assert!(waiter.unlock(&key, "waiter").await.unwrap());
        }
    }
}

/// Four fred instances and four redis-rs instances, 50 concurrent requests each for one cold
/// key: the shared fleet lock makes one compute of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_computes_a_cold_key_once() {
    const PER_KIND: usize = 4;
    const REQUESTS: usize = 50;
    let url = support::server().url();
    let key = unique_prefix("mixed:fleet");
    let mut caches = Vec::new();
    for _ in 0..PER_KIND {
        caches.push(
            SmartCache::builder(fred(&url).await)
                .fleet_lock(true)
                .build(),
        );
        caches.push(
            SmartCache::builder(support::from_url(&url).await)
                .fleet_lock(true)
                .build(),
        );
    }
    let computes = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(caches.len() * REQUESTS));
    let opts = EntryOptions::new().ttl(LONG);
    let mut tasks = Vec::new();
    for cache in &caches {
        for _ in 0..REQUESTS {
            let (cache, key, opts, computes, start) = (
                cache.clone(),
                key.clone(),
                opts.clone(),
                computes.clone(),
                start.clone(),
            );
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                cache
                    .get_or_compute(&key, &opts, move || async move {
                        computes.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(400)).await;
                        Ok::<_, std::io::Error>(42u64)
                    })
                    .await
            }));
        }
    }
    for task in tasks {
        assert_eq!(*task.await.unwrap().unwrap(), 42);
    }
    assert_eq!(computes.load(Ordering::SeqCst), 1);
}

/// Conditional writes compare what each adapter read, whoever wrote it: a compare-and-set by
/// one adapter succeeds on the other's entry it read, and fails once that entry was replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_work_across_adapters() {
    for (topology, fred, redis_rs) in pairs().await {
        let adapters: [(&str, &dyn CacheBackend, &dyn CacheBackend); 2] = [
            ("fred writes, redis-rs swaps", &fred, &redis_rs),
            ("redis-rs writes, fred swaps", &redis_rs, &fred),
        ];
        for (label, writer, swapper) in adapters {
            let label = format!("{topology}: {label}");
            let key = unique_prefix(&format!("mixed:{topology}:cas"));
            writer.set(&key, bytes(b"first"), LONG).await.unwrap();
            let read = swapper.get(&key).await.unwrap().unwrap();
            let conditional = swapper
                .conditional()
                .unwrap_or_else(|| panic!("{label}: no conditional writes"));
            assert!(
                conditional
                    .compare_and_set(&key, &read.payload, bytes(b"second"), LONG)
                    .await
                    .unwrap(),
                "{label}: the entry it read did not match"
            );
            let now = writer.get(&key).await.unwrap().unwrap();
            assert_eq!(payload_bytes(&now), b"second", "{label}");
            // The first entry is gone: neither write may apply on its strength any more.
            assert!(
                !conditional
                    .compare_and_set(&key, &read.payload, bytes(b"third"), LONG)
                    .await
                    .unwrap(),
                "{label}"
            );
            let writer_conditional = writer.conditional().unwrap();
            assert!(
                !writer_conditional
                    .compare_and_delete(&key, &read.payload)
                    .await
                    .unwrap(),
                "{label}"
            );
            assert!(
                writer_conditional
                    .compare_and_delete(&key, &now.payload)
                    .await
                    .unwrap(),
                "{label}"
            );
            assert!(writer.get(&key).await.unwrap().is_none(), "{label}");
        }
    }
}
