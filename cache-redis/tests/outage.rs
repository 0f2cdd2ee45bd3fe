//! Redis killed while `SmartCache` serves: values are still computed, the breaker opens, and
//! once Redis is back the same cache serves hits again.

mod common;

use std::time::Duration;

use cache_core::{BreakerState, CacheConfig, EntryOptions, SmartCache, Source};
use cache_redis::{RedisBackend, RedisConfig};
use redis_harness::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_survives_an_outage_and_recovers_without_restart() {
    let server = RedisServer::start().unwrap();
    let backend = RedisBackend::connect(RedisConfig::from_url(&server.url()).unwrap())
        .await
        .unwrap();
    let config = CacheConfig {
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_millis(200),
        ..CacheConfig::default()
    };
    let cache = SmartCache::builder(backend).config(config).build();
    let opts = EntryOptions::new().ttl(Duration::from_secs(60));
    let get = |key: String, value: u32| {
        let cache = cache.clone();
        let opts = opts.clone();
        async move {
            cache
                .get_or_compute_detailed(&key, &opts, move || async move {
                    Ok::<_, std::io::Error>(value)
                })
                .await
        }
    };

    assert_eq!(get("warm".into(), 1).await.unwrap().source, Source::Miss);
    assert!(
        eventually_hit(&get, "warm").await,
        "no hit before the outage"
    );

    server.kill();
    let mut sources = Vec::new();
    let outage = std::time::Instant::now();
    for i in 0..20 {
        // A key per call: a repeated key could join the previous call's flight, still busy
        // trying to store.
        let lookup = get(format!("during:{i}"), i)
            .await
            .expect("a call failed while Redis was down");
        assert_eq!(
            *lookup.value, i,
            "the value is computed while the store is down"
        );
        sources.push(lookup.source);
    }
    let stats = cache.stats();
    println!(
        "during the outage: 20 calls in {:?}, sources {sources:?}, stats {stats:?}",
        outage.elapsed()
    );
    assert_eq!(
        stats.breaker,
        BreakerState::Open,
        "breaker after 20 failing calls"
    );
    assert!(stats.breaker_rejections > 0);
    assert!(sources.iter().all(|s| *s != Source::Hit));

    server.restart().unwrap();
    // The client reconnects on its own (backoff up to 500 ms) and the breaker probes after its
    // cooldown: the same cache serves hits again.
    assert!(
        eventually_hit(&get, "after").await,
        "no hit after Redis came back; stats {:?}",
        cache.stats()
    );
    assert_eq!(cache.stats().breaker, BreakerState::Closed);
}

/// Calls `get(key)` until it is answered from the store (bounded: a hang fails the test).
async fn eventually_hit<F, Fut>(get: &F, key: &str) -> bool
where
    F: Fn(String, u32) -> Fut,
    Fut: std::future::Future<Output = cache_core::Result<cache_core::Lookup<u32>>>,
{
    for attempt in 0..100 {
        if get(key.to_owned(), attempt).await.unwrap().source == Source::Hit {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
