//! Graceful degradation: backend errors and timeouts are misses, the breaker opens and recovers.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use cache_core::{BreakerState, CacheConfig, SmartCache, Source};
use cache_fake::FakeBackend;
use common::*;

fn config() -> CacheConfig {
    CacheConfig {
        default_ttl: TTL,
        grace: GRACE,
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_secs(5),
        op_timeout: Duration::from_millis(250),
        ..CacheConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn failing_backend_opens_the_breaker_then_recovers() {
    let fake = FakeBackend::new();
    let cache = SmartCache::builder(fake.clone())
        .config(config())
        .seed(1)
        .build();
    let runs = Arc::new(AtomicUsize::new(0));
    fake.fail_always(true);

    // Every call still answers with a computed value.
    for i in 0..5 {
        let got = cache
            .get_or_compute_detailed("k", &opts(), counted(&runs, i))
            .await
            .unwrap();
        assert_eq!((*got.value, got.source), (i, Source::Bypass));
        settle().await;
    }
    assert_eq!(cache.stats().breaker, BreakerState::Open);
    assert!(cache.stats().backend_errors >= 3);

    // During the cooldown the backend is not called at all (instant computes: no time passes).
    fake.clear_ops();
    for i in 0..10u64 {
        let got = cache
            .get_or_compute(
                "k",
                &opts(),
                move || async move { Ok::<_, std::io::Error>(i) },
            )
            .await;
        assert_eq!(*got.unwrap(), i);
        settle().await;
    }
    assert!(
        fake.ops().is_empty(),
        "open breaker: no backend calls, got {:?}",
        fake.ops()
    );
    assert!(cache.stats().breaker_rejections >= 10);

    // After the cooldown one probe goes through; it fails, the breaker reopens.
    tokio::time::advance(Duration::from_secs(5)).await;
    cache
        .get_or_compute("k", &opts(), counted(&runs, 0))
        .await
        .unwrap();
    settle().await;
    assert_eq!(fake.total_calls(), 1, "exactly one probe");
    assert_eq!(cache.stats().breaker, BreakerState::Open);

    // The backend recovers: the next probe closes the breaker and the cache works again.
    fake.heal();
    tokio::time::advance(Duration::from_secs(5)).await;
    let got = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 42))
        .await
        .unwrap();
    assert_eq!((*got.value, got.source), (42, Source::Miss));
    settle().await;
    assert_eq!(cache.stats().breaker, BreakerState::Closed);
    let got = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 43))
        .await
        .unwrap();
    assert_eq!((*got.value, got.source), (42, Source::Hit));
}

#[tokio::test(start_paused = true)]
async fn slow_backend_times_out_and_the_value_is_still_returned() {
    let fake = FakeBackend::new();
    let cache = SmartCache::builder(fake.clone()).config(config()).build();
    fake.set_latency(Duration::from_secs(2));
    let runs = Arc::new(AtomicUsize::new(0));
    let before = tokio::time::Instant::now();
    let got = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 9))
        .await
        .unwrap();
    assert_eq!((*got.value, got.source), (9, Source::Bypass));
    assert_eq!(
        tokio::time::Instant::now() - before,
        Duration::from_millis(250) + DELTA,
        "one op timeout, then the compute"
    );
    let health = cache.health().await;
    assert!(!health.reachable);
    assert!(health.error.unwrap().contains("timed out"));
}

#[tokio::test(start_paused = true)]
async fn health_reports_breaker_and_reachability() {
    let fake = FakeBackend::new();
    let cache = SmartCache::builder(fake.clone()).config(config()).build();
    let h = cache.health().await;
    assert!(h.reachable && h.enabled && h.error.is_none());
    assert_eq!((h.backend, h.breaker), ("fake", BreakerState::Closed));
    fake.fail_always(true);
    for _ in 0..3 {
        assert!(!cache.health().await.reachable);
    }
    assert_eq!(cache.health().await.breaker, BreakerState::Open);
}
