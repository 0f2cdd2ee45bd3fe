//! Two tiers: an in-process L1 in front of Redis, kept coherent by Redis itself.
//!
//! Two instances of a service share one Redis. Each keeps hot values in its own L1 (a hit does no
//! I/O); when one instance — or anything else, `redis-cli` included — writes a key, Redis's client
//! tracking tells every instance to drop it, and their next read fetches the new value.
//!
//! `cargo run -p smartcache --features redis --example two_tiers` (uses `REDIS_URL` when set;
//! otherwise starts a throwaway `redis-server` on a free port).

use std::time::Duration;

use smartcache::redis::{RedisBackend, RedisConfig};
use smartcache::{EntryOptions, FeedState, MemoryBackend, SmartCache, Tier};

/// One instance of the service: its own Redis connections, its own L1.
async fn instance(url: &str) -> Result<SmartCache, Box<dyn std::error::Error>> {
    let backend = RedisBackend::connect(RedisConfig::from_url(url)?).await?;
    Ok(SmartCache::builder(backend)
        .default_ttl(Duration::from_secs(60))
        .l1(MemoryBackend::new(10_000)) // in production: `smartcache::l1_store(&config)`
        .build())
}

/// Waits until the instance's L1 may serve: tracking enabled, first heartbeat confirmed.
async fn until_live(cache: &SmartCache) -> Result<(), String> {
    let started = std::time::Instant::now();
    loop {
        match cache.l1_status().map(|s| s.feed) {
            None => return Err("the backend offers no change feed: no L1".into()),
            Some(FeedState::Live) => return Ok(()),
            Some(state) if started.elapsed() > Duration::from_secs(10) => {
                return Err(format!("the L1's change feed is still {state:?}"));
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Reads the price of `sku` through `cache` (the compute is the expensive part).
async fn price(
    cache: &SmartCache,
    sku: &str,
) -> Result<(u64, Option<Tier>), smartcache::CacheError> {
    let lookup = cache
        .get_or_compute_detailed(&format!("price:{sku}"), &EntryOptions::new(), || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, std::io::Error>(100u64)
        })
        .await?;
    Ok((*lookup.value, lookup.tier))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A throwaway server unless REDIS_URL names one (kept alive until the end of main).
    let (_server, url) = match std::env::var("REDIS_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let server = redis_harness::RedisServer::start()?;
            let url = server.url();
            (Some(server), url)
        }
    };
    let (a, b) = (instance(&url).await?, instance(&url).await?);
    until_live(&a).await?;
    until_live(&b).await?;
    let bound = a.l1_status().map(|s| s.staleness_bound).unwrap_or_default();
    println!("L1 live on both instances; an L1 hit lags Redis by at most {bound:?}");

    // A's first read computes and stores in Redis; its next read fills its L1; then L1 hits.
    // Redis reports A's own write back to A too: when that report arrives after A's next read
    // was sent, the fill from that read is dropped (it might predate the change) and one more
    // read goes to Redis.
    assert_eq!(price(&a, "sku-1").await?, (100, None));
    let mut l2_reads = 0;
    loop {
        match price(&a, "sku-1").await? {
            (100, Some(Tier::L2)) if l2_reads < 5 => l2_reads += 1,
            (100, Some(Tier::L1)) if l2_reads >= 1 => break,
            other => {
                return Err(format!("unexpected read {other:?} after {l2_reads} L2 reads").into());
            }
        }
    }
    println!("instance A: miss, then {l2_reads} L2 hit(s) filling its L1, then an L1 hit (no I/O)");

    // B changes the price. Redis tells A to drop its copy: A never serves 100 again once the
    // invalidation arrived (within the bound; on loopback, well under a millisecond).
    b.set("price:sku-1", 120u64, &EntryOptions::new()).await?;
    let started = std::time::Instant::now();
    loop {
        let read_started = started.elapsed();
        let (value, tier) = price(&a, "sku-1").await?;
        if value == 120 {
            println!("instance A reads B's new price from {tier:?} after {read_started:?}");
            break;
        }
        // The guarantee: no read that starts later than the bound after the write serves 100.
        assert!(
            read_started <= bound,
            "A served a value replaced {read_started:?} earlier"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let stats = a.stats();
    println!(
        "instance A: {} L1 hits, {} invalidations received, {} L1 flushes",
        stats.l1_hits, stats.l1_invalidations, stats.l1_flushes
    );
    assert!(stats.l1_invalidations >= 1);
    Ok(())
}
