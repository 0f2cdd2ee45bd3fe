//! The read path's concurrency contracts, one test per way it once broke: two `SmartCache`
//! instances sharing one fake store, paused time, replies that arrive late.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use async_trait::async_trait;
use cache_core::{
    CacheBackend, CacheConfig, CacheError, EntryOptions, Payload, Result, Source, StoredEntry,
};
use cache_fake::{FakeBackend, OpKind};
use common::*;
use tokio::time::Instant;

/// Stores `value` under `key` through `cache`, then moves time to `at` after the write.
async fn stored_then_advance(cache: &cache_core::SmartCache, key: &str, value: u64, at: Duration) {
    let runs = Arc::new(AtomicUsize::new(0));
    cache
        .get_or_compute(key, &opts(), counted(&runs, value))
        .await
        .unwrap();
    settle().await;
    tokio::time::advance(at).await;
}

const STALE: Duration = Duration::from_secs(11); // TTL + 1 s: inside the grace period

/// A cache whose operation timeout outlasts the late replies these tests stage.
fn patient(fake: &FakeBackend) -> cache_core::SmartCache {
    builder(fake).op_timeout(Duration::from_secs(30)).build()
}

/// Defect 1: an invalidated compute undoes only its own write.
#[tokio::test(start_paused = true)]
async fn a_set_during_an_invalidated_computes_write_survives_the_undo() {
    let fake = FakeBackend::new();
    let cache = patient(&fake);
    let runs = Arc::new(AtomicUsize::new(0));
    // The compute's write applies at once; its reply takes a second to come back.
    fake.delay_next_reply(OpKind::Set, Duration::from_secs(1));
    let miss = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move { cache.get_or_compute("k", &opts(), counted(&runs, 1)).await })
    };
    settle().await;
    tokio::time::advance(DELTA + Duration::from_millis(100)).await;
    settle().await;
    assert_eq!(
        stored::<u64>(&fake, "k").unwrap().value,
        1,
        "compute's write applied"
    );
    // The application sets the key while the compute's write reply is in flight.
    cache.set("k", 99u64, &opts()).await.unwrap();
    assert_eq!(*miss.await.unwrap().unwrap(), 1);
    settle().await;
    assert_eq!(
        stored::<u64>(&fake, "k").map(|e| e.value),
        Some(99),
        "the value `set` returned Ok for was erased"
    );
}

/// Defect 2: an oversized grace is clamped; the TTL is kept.
#[tokio::test(start_paused = true)]
async fn an_unbounded_grace_keeps_the_whole_ttl_fresh() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let forever = EntryOptions::new().grace(Duration::MAX);
    let runs = Arc::new(AtomicUsize::new(0));
    cache
        .get_or_compute("k", &forever, counted(&runs, 1))
        .await
        .unwrap();
    tokio::time::advance(TTL / 2).await;
    let got = cache
        .get_or_compute_detailed("k", &forever, counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!(
        (*got.value, got.source),
        (1, Source::Hit),
        "fresh inside its TTL"
    );
    settle().await;
    assert_eq!(count(&runs), 1, "no refresh of a fresh entry");
    // Past the TTL it is stale, and served while one refresh runs: "stale forever" works.
    tokio::time::advance(TTL).await;
    let got = cache
        .get_or_compute_detailed("k", &forever, counted(&runs, 3))
        .await
        .unwrap();
    assert_eq!((*got.value, got.source), (1, Source::Stale));
    let entry = stored::<u64>(&fake, "k").unwrap();
    assert_eq!(entry.ttl_ms, TTL.as_millis() as u64);
    assert!(cache.get::<u64>("k").await.unwrap().is_some());
}

/// Defect 3: a reader whose (late) read saw the old generation starts no second refresh.
#[tokio::test(start_paused = true)]
async fn one_stale_entry_is_refreshed_once_even_by_a_late_reader() {
    for swr in [true, false] {
        let fake = FakeBackend::new();
        let cache = patient(&fake);
        stored_then_advance(&cache, "k", 1, STALE).await;
        let runs = Arc::new(AtomicUsize::new(0));
        let o = opts().stale_while_revalidate(swr);
        // The late reader's GET applies now (sees the stale entry); its reply comes 2 s later,
        // after the other reader's refresh stored and left the flight map.
        fake.delay_next_reply(OpKind::Get, Duration::from_secs(2));
        let late = {
            let (cache, runs, o) = (cache.clone(), runs.clone(), o.clone());
            tokio::spawn(async move {
                cache
                    .get_or_compute_detailed("k", &o, counted(&runs, 3))
                    .await
            })
        };
        settle().await;
        let first = cache
            .get_or_compute_detailed("k", &o, counted(&runs, 2))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        settle().await;
        let late = late.await.unwrap().unwrap();
        assert_eq!(
            count(&runs),
            1,
            "swr={swr}: a second refresh of the same generation"
        );
        assert_eq!(stored::<u64>(&fake, "k").unwrap().value, 2, "swr={swr}");
        if swr {
            assert_eq!((first.source, late.source), (Source::Stale, Source::Stale));
        } else {
            assert_eq!((*first.value, first.source), (2, Source::Miss));
            assert_eq!((*late.value, late.source), (2, Source::Coalesced));
        }
    }
}

/// Defect 3, early refresh: a late reader of the replaced generation does not refresh again.
#[tokio::test(start_paused = true)]
async fn one_early_refresh_per_generation() {
    let fake = FakeBackend::new();
    let cache = builder(&fake)
        .op_timeout(Duration::from_secs(30))
        .policy(cache_core::RefreshAhead { fraction: 0.5 })
        .build();
    stored_then_advance(&cache, "k", 1, TTL.mul_f64(0.6)).await;
    let runs = Arc::new(AtomicUsize::new(0));
    fake.delay_next_reply(OpKind::Get, Duration::from_secs(2));
    let late = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move {
            cache
                .get_or_compute_detailed("k", &opts(), counted(&runs, 3))
                .await
        })
    };
    settle().await;
    let first = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!(first.source, Source::EarlyRefresh);
    tokio::time::sleep(Duration::from_secs(3)).await;
    settle().await;
    assert_eq!(late.await.unwrap().unwrap().source, Source::EarlyRefresh);
    settle().await;
    assert_eq!(count(&runs), 1);
}

/// A backend that keeps the port's default `wait_for_value` (the fake overrides it).
#[derive(Debug)]
struct DefaultWait(FakeBackend);

#[async_trait]
impl CacheBackend for DefaultWait {
    fn name(&self) -> &'static str {
        "default-wait"
    }
    async fn get(&self, key: &str) -> Result<Option<StoredEntry>> {
        self.0.get(key).await
    }
    async fn set(&self, key: &str, payload: Payload, lifetime: Duration) -> Result<()> {
        self.0.set(key, payload, lifetime).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.0.delete(key).await
    }
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        self.0.invalidate_pattern(pattern).await
    }
    async fn ping(&self) -> Result<()> {
        self.0.ping().await
    }
    async fn try_lock(
        &self,
        key: &str,
        token: &str,
        lifetime: Duration,
    ) -> Result<cache_core::LockOutcome> {
        self.0.try_lock(key, token, lifetime).await
    }
}

/// Defect 4: no user-supplied duration can overflow an instant.
#[tokio::test(start_paused = true)]
async fn a_lock_wait_of_duration_max_does_not_panic() {
    let fake = FakeBackend::new();
    let config = CacheConfig {
        fleet_lock: true,
        lock_wait: Duration::MAX,
        lock_ttl: Duration::MAX,
        op_timeout: Duration::MAX,
        breaker_cooldown: Duration::MAX,
        ..CacheConfig::default()
    };
    let cache = cache_core::SmartCache::builder(DefaultWait(fake.clone()))
        .config(config)
        .build();
    // Another process holds the lock and writes the value a second later.
    assert_eq!(
        fake.try_lock("k", "other", Duration::from_secs(60))
            .await
            .unwrap(),
        cache_core::LockOutcome::Acquired
    );
    let waiter = {
        let cache = cache.clone();
        let runs = Arc::new(AtomicUsize::new(0));
        let o = opts()
            .hard_timeout(Duration::MAX)
            .soft_timeout(Duration::MAX);
        tokio::spawn(async move {
            cache
                .get_or_compute_detailed("k", &o, counted(&runs, 1))
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let other = cache_core::SmartCache::new(fake.clone());
    other
        .set("k", 7u64, &opts().ttl(Duration::MAX))
        .await
        .unwrap();
    let got = waiter.await.expect("no panic").unwrap();
    assert_eq!((*got.value, got.source), (7, Source::Coalesced));
}

/// Defect 5: fail-safe never overwrites another instance's newer value.
#[tokio::test(start_paused = true)]
async fn fail_safe_does_not_overwrite_another_instances_newer_value() {
    let fake = FakeBackend::new();
    let (a, b) = (cache(&fake), cache(&fake));
    stored_then_advance(&a, "k", 0, STALE).await;
    // A serves the stale V0 and refreshes; the refresh fails after DELTA.
    let got = a
        .get_or_compute_detailed("k", &opts(), failing())
        .await
        .unwrap();
    assert_eq!((*got.value, got.source), (0, Source::Stale));
    // Meanwhile B stores V1.
    tokio::time::sleep(DELTA / 2).await;
    b.set("k", 1u64, &opts()).await.unwrap();
    tokio::time::sleep(DELTA).await;
    settle().await;
    assert_eq!(a.stats().compute_errors, 1);
    assert_eq!(
        stored::<u64>(&fake, "k").map(|e| e.value),
        Some(1),
        "A's fail-safe put the old value back"
    );
}

/// Fail-safe still extends the entry it read when nothing replaced it — and only with
/// conditional writes: a backend without them does not extend.
#[tokio::test(start_paused = true)]
async fn fail_safe_extends_only_the_entry_it_read() {
    for conditional in [true, false] {
        let fake = FakeBackend::builder().conditional(conditional).build();
        let cache = cache(&fake);
        stored_then_advance(&cache, "k", 0, STALE).await;
        cache.get_or_compute("k", &opts(), failing()).await.unwrap();
        tokio::time::sleep(DELTA).await;
        settle().await;
        let ttl = stored::<u64>(&fake, "k").unwrap().ttl_ms;
        let extended = CacheConfig::default().fail_safe_ttl.as_millis() as u64;
        assert_eq!(
            ttl == extended,
            conditional,
            "conditional={conditional}: ttl {ttl}"
        );
    }
}

/// Invalidation is per key: deleting one key does not cancel another key's fail-safe.
#[tokio::test(start_paused = true)]
async fn invalidating_one_key_keeps_another_keys_fail_safe() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    stored_then_advance(&cache, "a", 0, STALE).await;
    cache.get_or_compute("a", &opts(), failing()).await.unwrap();
    cache.delete("b").await.unwrap();
    tokio::time::sleep(DELTA).await;
    settle().await;
    assert_eq!(
        stored::<u64>(&fake, "a").unwrap().ttl_ms,
        CacheConfig::default().fail_safe_ttl.as_millis() as u64
    );
}

/// Defect 6: a caller that holds the last good value gets it when the flight it joined fails.
#[tokio::test(start_paused = true)]
async fn a_joining_caller_with_a_last_good_value_gets_it_when_the_compute_fails() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    stored_then_advance(&cache, "k", 5, STALE).await;
    let o = opts().stale_while_revalidate(false);
    // The leader's read fails (a blip): it leads with no stale value.
    fake.fail_next(1);
    let leader = {
        let (cache, o) = (cache.clone(), o.clone());
        tokio::spawn(async move { cache.get_or_compute_detailed("k", &o, failing()).await })
    };
    settle().await;
    let joined = cache
        .get_or_compute_detailed("k", &o, failing())
        .await
        .unwrap();
    assert_eq!((*joined.value, joined.source), (5, Source::FailSafe));
    assert!(
        leader.await.unwrap().is_err(),
        "the leader had nothing to fall back on"
    );
}

/// Defect 7: every caller's own hard timeout bounds its wait; a compute that never ends does
/// not hold its key forever.
#[tokio::test(start_paused = true)]
async fn a_joining_callers_hard_timeout_bounds_its_own_wait() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let never = || std::future::pending::<std::result::Result<u64, std::io::Error>>();
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get_or_compute("k", &opts(), never).await })
    };
    settle().await;
    let started = Instant::now();
    let err = cache
        .get_or_compute("k", &opts().hard_timeout(Duration::from_secs(1)), never)
        .await
        .unwrap_err();
    assert!(matches!(err, CacheError::ComputeTimeout(d) if d == Duration::from_secs(1)));
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    // The default hard timeout ends the endless compute; the key is free again.
    let default_limit = CacheConfig::default()
        .hard_timeout
        .expect("a finite default");
    assert!(
        matches!(leader.await.unwrap(), Err(CacheError::ComputeTimeout(d)) if d == default_limit)
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let got = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 3))
        .await
        .unwrap();
    assert_eq!((*got.value, got.source), (3, Source::Miss));
}

/// The fleet lock is released on every path, even when storing the value panics.
#[tokio::test(start_paused = true)]
async fn the_fleet_lock_is_released_when_serialize_panics() {
    #[derive(Clone, serde::Deserialize)]
    struct Explosive;
    impl serde::Serialize for Explosive {
        fn serialize<S: serde::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
            panic!("serialize exploded")
        }
    }
    let fake = FakeBackend::builder().encode_values(true).build();
    let cache = builder(&fake).fleet_lock(true).build();
    let err = cache
        .get_or_compute("k", &opts(), || async {
            Ok::<_, std::io::Error>(Explosive)
        })
        .await
        .err()
        .expect("the flight died");
    assert!(matches!(err, CacheError::ComputePanicked));
    settle().await;
    assert_eq!(fake.lock_holder("k"), None, "lock left held until lock_ttl");
}

/// After a reconnect the breaker probes at once: hits resume without waiting the cooldown.
#[tokio::test(start_paused = true)]
async fn a_reconnect_closes_the_breaker_without_waiting_the_cooldown() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    stored_then_advance(&cache, "k", 1, Duration::ZERO).await;
    fake.fail_always(true);
    for _ in 0..CacheConfig::default().breaker_threshold {
        cache.get::<u64>("k").await.unwrap();
    }
    assert_eq!(cache.stats().breaker, cache_core::BreakerState::Open);
    fake.fail_always(false);
    assert!(cache.get::<u64>("k").await.unwrap().is_none(), "still open");
    fake.reconnect();
    let got = cache.get::<u64>("k").await.unwrap();
    assert_eq!(
        got.map(|c| *c.value),
        Some(1),
        "the reconnect let a probe through"
    );
    assert_eq!(cache.stats().breaker, cache_core::BreakerState::Closed);
}

/// A store that fails after the caller's read is not used again by that flight: the request
/// pays one operation timeout at most on top of its compute, and nothing is written.
#[tokio::test(start_paused = true)]
async fn a_store_that_fails_mid_flight_is_not_written() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    fake.set_reply_latency(Duration::from_millis(100));
    let runs = Arc::new(AtomicUsize::new(0));
    let miss = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move { cache.get_or_compute("k", &opts(), counted(&runs, 1)).await })
    };
    // The caller's GET has applied (absent); the store goes down before the leader's check.
    tokio::time::sleep(Duration::from_millis(50)).await;
    fake.fail_always(true);
    assert_eq!(*miss.await.unwrap().unwrap(), 1);
    assert_eq!(
        fake.count(OpKind::Set),
        0,
        "no write to a store that just failed"
    );
    assert_eq!(count(&runs), 1);
}
