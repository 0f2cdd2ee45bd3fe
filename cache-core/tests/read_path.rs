//! The read path of `get_or_compute` on the fake backend under paused tokio time.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use cache_core::{CacheError, EntryOptions, RefreshAhead, Source, XFetch};
use cache_fake::{FakeBackend, OpKind};
use common::*;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn miss_stores_with_measured_delta_then_hits() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let runs = Arc::new(AtomicUsize::new(0));
    let first = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 7))
        .await
        .unwrap();
    assert_eq!(
        (*first.value, first.source, first.compute_time),
        (7, Source::Miss, Some(DELTA))
    );
    let env = stored::<u64>(&fake, "k").expect("stored before the miss returns");
    assert_eq!(
        env.delta_us,
        DELTA.as_micros() as u64,
        "Δ is the compute time, not the TTL"
    );
    assert_eq!(env.ttl_ms, TTL.as_millis() as u64);
    assert_eq!(
        fake.peek("k").unwrap().remaining,
        Some(TTL + GRACE),
        "physical lifetime is ttl + grace"
    );

    let second = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 8))
        .await
        .unwrap();
    assert_eq!((*second.value, second.source), (7, Source::Hit));
    assert_eq!(count(&runs), 1);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.computes), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn thousand_concurrent_cold_calls_compute_once() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (cache, runs) = (cache.clone(), runs.clone());
            tokio::spawn(async move {
                cache
                    .get_or_compute("cold", &opts(), counted(&runs, 99))
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(*t.await.unwrap().unwrap(), 99);
    }
    assert_eq!(
        count(&runs),
        1,
        "single-flight: one compute for 1000 callers"
    );
    assert_eq!(cache.stats().coalesced_waits, 999);
}

#[tokio::test(start_paused = true)]
async fn dropped_leader_does_not_cancel_the_compute() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let runs = Arc::new(AtomicUsize::new(0));
    let leader = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move { cache.get_or_compute("k", &opts(), counted(&runs, 5)).await })
    };
    settle().await;
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let (cache, runs) = (cache.clone(), runs.clone());
            tokio::spawn(async move { cache.get_or_compute("k", &opts(), counted(&runs, 6)).await })
        })
        .collect();
    settle().await;
    tokio::time::advance(DELTA / 2).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    for w in waiters {
        assert_eq!(*w.await.unwrap().unwrap(), 5);
    }
    assert_eq!(count(&runs), 1);
    settle().await;
    assert_eq!(
        stored::<u64>(&fake, "k").unwrap().value,
        5,
        "the orphaned compute still stores"
    );
}

#[tokio::test(start_paused = true)]
async fn panicking_compute_fails_waiters_without_poisoning_the_key() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_compute("k", &opts(), || async {
                        tokio::time::sleep(DELTA).await;
                        if true {
                            panic!("compute bug");
                        }
                        Ok::<u64, std::io::Error>(1)
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Err(CacheError::ComputePanicked)));
    }
    let runs = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        cache
            .get_or_compute("k", &opts(), counted(&runs, 3))
            .await
            .unwrap()
            .as_ref(),
        &3
    );
    assert_eq!(count(&runs), 1, "the next call computes again");
}

/// Stores `value` under `key`, then moves time to `at` after the write.
async fn stored_then_advance(cache: &cache_core::SmartCache, key: &str, value: u64, at: Duration) {
    let runs = Arc::new(AtomicUsize::new(0));
    cache
        .get_or_compute(key, &opts(), counted(&runs, value))
        .await
        .unwrap();
    settle().await;
    tokio::time::advance(at).await;
}

#[tokio::test(start_paused = true)]
async fn stale_entry_is_served_at_once_with_exactly_one_background_refresh() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    stored_then_advance(&cache, "k", 1, TTL + Duration::from_secs(5)).await;

    let runs = Arc::new(AtomicUsize::new(0));
    let before = Instant::now();
    for _ in 0..50 {
        let got = cache
            .get_or_compute_detailed("k", &opts(), counted(&runs, 2))
            .await
            .unwrap();
        assert_eq!((*got.value, got.source), (1, Source::Stale));
    }
    assert_eq!(Instant::now(), before, "stale serves take no time");
    settle().await; // let the refresh task start its compute
    tokio::time::advance(DELTA).await;
    settle().await;
    assert_eq!(count(&runs), 1, "exactly one background refresh");
    let next = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 3))
        .await
        .unwrap();
    assert_eq!((*next.value, next.source), (2, Source::Hit));
    assert_eq!(cache.stats().background_refreshes, 1);
}

#[tokio::test(start_paused = true)]
async fn early_refresh_serves_the_fresh_value_and_refreshes_once() {
    let fake = FakeBackend::new();
    // Deterministic policy: refresh once 80 % of the TTL has passed.
    let cache = builder(&fake)
        .policy(RefreshAhead { fraction: 0.8 })
        .build();
    stored_then_advance(&cache, "k", 1, TTL.mul_f64(0.9)).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let before = Instant::now();
    for _ in 0..20 {
        let got = cache
            .get_or_compute_detailed("k", &opts(), counted(&runs, 2))
            .await
            .unwrap();
        assert_eq!((*got.value, got.source), (1, Source::EarlyRefresh));
    }
    assert_eq!(Instant::now(), before);
    settle().await;
    tokio::time::advance(DELTA).await;
    settle().await;
    assert_eq!(count(&runs), 1);
    let next = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 3))
        .await
        .unwrap();
    assert_eq!((*next.value, next.source), (2, Source::Hit));
}

/// An in-process store keeps, with each entry, the writing cache's bound for "surely fresh";
/// a cache with another policy reading the same store decides by its own policy.
#[tokio::test(start_paused = true)]
async fn a_shared_store_entry_is_judged_by_the_readers_policy() {
    let store = cache_memory::MemoryBackend::new(100);
    // Both trust the `clear()` namespace version they read for the whole test, so that their
    // hits take the hit path.
    let hour = Duration::from_secs(3600);
    let writer = cache_core::SmartCache::builder(store.clone())
        .policy(cache_core::PlainTtl)
        .clear_check_interval(hour)
        .build();
    let reader = cache_core::SmartCache::builder(store)
        .policy(RefreshAhead { fraction: 0.5 })
        .clear_check_interval(hour)
        .build();
    let options = EntryOptions::new().ttl(Duration::from_secs(100));
    let runs = Arc::new(AtomicUsize::new(0));
    for cache in [&writer, &reader] {
        let first = cache
            .get_or_compute_detailed("k", &options, counted(&runs, 1))
            .await
            .unwrap();
        assert_eq!(*first.value, 1);
    }
    tokio::time::advance(Duration::from_secs(60)).await;
    let by_writer = writer
        .get_or_compute_detailed("k", &options, counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!((*by_writer.value, by_writer.source), (1, Source::Hit));
    let by_reader = reader
        .get_or_compute_detailed("k", &options, counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!(
        (*by_reader.value, by_reader.source),
        (1, Source::EarlyRefresh)
    );
}

#[tokio::test(start_paused = true)]
async fn xfetch_refreshes_early_near_expiry_but_not_long_before() {
    let fake = FakeBackend::new();
    let cache = builder(&fake).policy(XFetch { beta: 1.0 }).build();
    // Δ = 0.5 s. At r = 9 s, P = e^-18 ≈ 1.5e-8: a hit.
    stored_then_advance(&cache, "k", 1, Duration::from_secs(1)).await;
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let got = cache
            .get_or_compute_detailed("k", &opts(), counted(&runs, 2))
            .await
            .unwrap();
        assert_eq!(got.source, Source::Hit);
    }
    // At r = 1 ms, P = e^-0.002 ≈ 0.998: the first read refreshes (seeded draw).
    tokio::time::advance(TTL - Duration::from_secs(1) - Duration::from_millis(1)).await;
    let got = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!((*got.value, got.source), (1, Source::EarlyRefresh));
}

#[tokio::test(start_paused = true)]
async fn fail_safe_serves_the_last_good_value_and_keeps_it_a_little_longer() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    stored_then_advance(&cache, "k", 1, TTL + Duration::from_secs(1)).await;
    let no_swr = EntryOptions::new().stale_while_revalidate(false);
    let got = cache
        .get_or_compute_detailed("k", &no_swr, failing())
        .await
        .unwrap();
    assert_eq!((*got.value, got.source), (1, Source::FailSafe));
    settle().await;
    // Kept as fresh for the fail-safe period: the next call does not hit the failing compute.
    let runs = Arc::new(AtomicUsize::new(0));
    let next = cache
        .get_or_compute_detailed("k", &no_swr, counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!((*next.value, next.source), (1, Source::Hit));
    assert_eq!(count(&runs), 0);
    assert_eq!(cache.stats().fail_safe_serves, 1);
}

#[tokio::test(start_paused = true)]
async fn failing_compute_without_stale_value_returns_the_error() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let err = cache
        .get_or_compute("k", &opts(), failing())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CacheError::Compute(e) if e.to_string() == "model server down"),
        "{err}"
    );
    assert!(fake.peek("k").is_none(), "errors are not cached");
}

#[tokio::test(start_paused = true)]
async fn soft_timeout_serves_stale_and_the_compute_still_lands() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    stored_then_advance(&cache, "k", 1, TTL + Duration::from_secs(1)).await;
    let o = EntryOptions::new()
        .stale_while_revalidate(false)
        .soft_timeout(Duration::from_millis(100));
    let runs = Arc::new(AtomicUsize::new(0));
    let before = Instant::now();
    let got = cache
        .get_or_compute_detailed("k", &o, counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!((*got.value, got.source), (1, Source::Stale));
    assert_eq!(Instant::now() - before, Duration::from_millis(100));
    tokio::time::advance(DELTA).await;
    settle().await;
    let next = cache
        .get_or_compute_detailed("k", &o, counted(&runs, 3))
        .await
        .unwrap();
    assert_eq!((*next.value, next.source), (2, Source::Hit));
    assert_eq!(count(&runs), 1);
}

#[tokio::test(start_paused = true)]
async fn hard_timeout_aborts_the_compute() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let o = EntryOptions::new().hard_timeout(Duration::from_millis(100));
    let before = Instant::now();
    let runs = Arc::new(AtomicUsize::new(0));
    let err = cache
        .get_or_compute("k", &o, counted(&runs, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, CacheError::ComputeTimeout(d) if d == Duration::from_millis(100)));
    assert_eq!(Instant::now() - before, Duration::from_millis(100));
    // With a stale value, fail-safe covers a hard timeout too.
    stored_then_advance(&cache, "k", 4, TTL + Duration::from_secs(1)).await;
    let o = o.stale_while_revalidate(false);
    let got = cache
        .get_or_compute_detailed("k", &o, counted(&runs, 5))
        .await
        .unwrap();
    assert_eq!((*got.value, got.source), (4, Source::FailSafe));
}

#[tokio::test(start_paused = true)]
async fn invalidation_during_compute_returns_but_does_not_store() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let runs = Arc::new(AtomicUsize::new(0));
    let call = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move {
            cache
                .get_or_compute("user:1", &opts(), counted(&runs, 1))
                .await
        })
    };
    settle().await;
    tokio::time::advance(DELTA / 2).await;
    cache.invalidate_pattern("user:*").await.unwrap();
    assert_eq!(*call.await.unwrap().unwrap(), 1);
    settle().await;
    assert!(fake.peek("user:1").is_none());
    assert_eq!(cache.stats().invalidated_during_compute, 1);
    // `delete` of the exact key works the same way.
    let call = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move {
            cache
                .get_or_compute("user:2", &opts(), counted(&runs, 2))
                .await
        })
    };
    settle().await;
    cache.delete("user:2").await.unwrap();
    assert_eq!(*call.await.unwrap().unwrap(), 2);
    settle().await;
    assert!(fake.peek("user:2").is_none());
}

#[tokio::test(start_paused = true)]
async fn disabled_cache_computes_every_time_without_backend_calls() {
    let fake = FakeBackend::new();
    let cache = builder(&fake).enabled(false).build();
    let runs = Arc::new(AtomicUsize::new(0));
    for i in 0..3 {
        let got = cache
            .get_or_compute_detailed("k", &opts(), counted(&runs, i))
            .await
            .unwrap();
        assert_eq!((*got.value, got.source), (i, Source::Bypass));
    }
    cache.set("k", 1u64, &opts()).await.unwrap();
    assert!(cache.get::<u64>("k").await.unwrap().is_none());
    assert_eq!(count(&runs), 3);
    assert_eq!(fake.total_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn get_set_delete_report_freshness() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    cache.set("k", "v".to_string(), &opts()).await.unwrap();
    let got = cache.get::<String>("k").await.unwrap().unwrap();
    assert_eq!((got.value.as_str(), got.is_stale()), ("v", false));
    tokio::time::advance(TTL + Duration::from_secs(1)).await;
    assert!(cache.get::<String>("k").await.unwrap().unwrap().is_stale());
    assert!(cache.delete("k").await.unwrap());
    assert!(cache.get::<String>("k").await.unwrap().is_none());
    assert!(matches!(
        cache.get::<String>("").await,
        Err(CacheError::InvalidKey(_))
    ));
    assert_eq!(fake.count(OpKind::Delete), 1);
}

#[tokio::test(start_paused = true)]
async fn fleet_lock_makes_two_caches_compute_once() {
    let fake = FakeBackend::new(); // shared store with a lock, like one Redis
    let a = builder(&fake).fleet_lock(true).build();
    let b = builder(&fake).fleet_lock(true).build();
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let cache = if i % 2 == 0 { a.clone() } else { b.clone() };
            let runs = runs.clone();
            tokio::spawn(async move {
                cache
                    .get_or_compute("cold", &opts(), counted(&runs, 11))
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(*t.await.unwrap().unwrap(), 11);
    }
    assert_eq!(count(&runs), 1);
    assert_eq!(
        a.stats().lock_waits + b.stats().lock_waits,
        1,
        "the losing process waited"
    );
    assert!(
        fake.lock_holder("cold").is_none(),
        "the winner released its lock"
    );
}

#[tokio::test(start_paused = true)]
async fn a_miss_that_raced_another_instances_write_does_not_compute_again() {
    // Every backend operation takes 100 ms. A: read 0–100 ms, double-check 100–200, compute
    // 200–700, write lands at 800. B: read 650–750 misses; its double-check (750–850) finds A's
    // value. (A's namespace version is known beforehand, so its compute starts at once.)
    let fake = FakeBackend::new();
    fake.set_latency(Duration::from_millis(100));
    let known_namespace = || {
        builder(&fake)
            .clear_check_interval(Duration::from_secs(3600))
            .build()
    };
    let (a, b) = (known_namespace(), known_namespace());
    a.clear().await.unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let first = {
        let runs = runs.clone();
        tokio::spawn(async move {
            a.get_or_compute_detailed("k", &opts(), counted(&runs, 1))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(650)).await;
    let second = b
        .get_or_compute_detailed("k", &opts(), counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!(first.await.unwrap().unwrap().source, Source::Miss);
    assert_eq!((*second.value, second.source), (1, Source::Coalesced));
    assert_eq!(count(&runs), 1);
}

#[tokio::test(start_paused = true)]
async fn callers_arriving_after_an_invalidation_do_not_join_the_invalidated_compute() {
    // A compute that started before `delete` may have read the old data: its callers get its
    // value, but a caller that arrives after the invalidation must not be handed that value.
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let runs = Arc::new(AtomicUsize::new(0));
    let before = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move { cache.get_or_compute("k", &opts(), counted(&runs, 1)).await })
    };
    settle().await;
    tokio::time::advance(DELTA / 2).await;
    cache.delete("k").await.unwrap();
    let after = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move {
            cache
                .get_or_compute_detailed("k", &opts(), counted(&runs, 2))
                .await
        })
    };
    assert_eq!(*before.await.unwrap().unwrap(), 1);
    let after = after.await.unwrap().unwrap();
    assert_eq!(
        (*after.value, after.source),
        (2, Source::Miss),
        "a caller arriving after the invalidation gets a new compute"
    );
    assert_eq!(count(&runs), 2);
    settle().await;
    assert_eq!(stored::<u64>(&fake, "k").unwrap().value, 2);
}

#[tokio::test(start_paused = true)]
async fn fail_safe_does_not_resurrect_a_value_deleted_before_the_refresh_started() {
    // Every backend operation takes 100 ms. The reader's GET sees the stale value at 100 ms;
    // `delete`, called at 50 ms, lands at 150 ms — after the read, before the refresh fails.
    // No flight existed when `delete` was called, so nothing marked the refresh invalidated.
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    stored_then_advance(&cache, "k", 1, TTL + Duration::from_secs(1)).await;
    fake.set_latency(Duration::from_millis(100));
    let reader = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get_or_compute_detailed("k", &opts(), failing()).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(cache.delete("k").await.unwrap());
    let got = reader.await.unwrap().unwrap();
    assert_eq!((*got.value, got.source), (1, Source::Stale));
    tokio::time::sleep(DELTA + Duration::from_secs(1)).await;
    settle().await;
    assert!(
        fake.peek("k").is_none(),
        "the deleted value came back: {:?}",
        stored::<u64>(&fake, "k")
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_early_refresh_leaves_the_fresh_entry_alone() {
    let fake = FakeBackend::new();
    let cache = builder(&fake)
        .policy(RefreshAhead { fraction: 0.5 })
        .build();
    stored_then_advance(&cache, "k", 1, TTL.mul_f64(0.6)).await;
    let before = fake.peek("k").unwrap().remaining;
    let got = cache
        .get_or_compute_detailed("k", &opts(), failing())
        .await
        .unwrap();
    assert_eq!((*got.value, got.source), (1, Source::EarlyRefresh));
    settle().await;
    tokio::time::advance(DELTA).await;
    settle().await;
    assert_eq!(cache.stats().compute_errors, 1);
    assert_eq!(
        stored::<u64>(&fake, "k").unwrap().ttl_ms,
        TTL.as_millis() as u64,
        "not rewritten"
    );
    assert_eq!(
        fake.peek("k").unwrap().remaining,
        before.map(|r| r - DELTA),
        "lifetime not shortened"
    );
}

#[tokio::test(start_paused = true)]
async fn set_with_a_compute_time_lets_xfetch_refresh_it_early() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let runs = Arc::new(AtomicUsize::new(0));
    let measured = opts().compute_time(Duration::from_secs(5));
    cache.set("measured", 1u64, &measured).await.unwrap();
    cache.set("unmeasured", 1u64, &opts()).await.unwrap();
    tokio::time::advance(TTL - Duration::from_millis(10)).await;
    // P(early) = exp(-r / Δ) = exp(-0.01 / 5) ≈ 0.998 with Δ given; 0 without.
    let with = cache
        .get_or_compute_detailed("measured", &opts(), counted(&runs, 2))
        .await
        .unwrap();
    let without = cache
        .get_or_compute_detailed("unmeasured", &opts(), counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!(
        (with.source, without.source),
        (Source::EarlyRefresh, Source::Hit)
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_running_refreshes_finish_then_bypasses_the_store() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    stored_then_advance(&cache, "k", 1, TTL + Duration::from_secs(1)).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let stale = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!(stale.source, Source::Stale);
    cache.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        stored::<u64>(&fake, "k").unwrap().value,
        2,
        "the refresh finished first"
    );
    let calls = fake.total_calls();
    let after = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 3))
        .await
        .unwrap();
    assert_eq!((*after.value, after.source), (3, Source::Bypass));
    assert_eq!(fake.total_calls(), calls, "no store call after shutdown");
}
