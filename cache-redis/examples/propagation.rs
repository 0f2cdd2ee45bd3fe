//! How fast a write reaches the L1 change feed: 4 feeds on one Redis (as 4 instances would
//! be), 10 000 `SET`s by another client, one at a time; for each write and feed, the time from
//! sending the write to the feed's `changed(key)`. Prints p50 / p99 / max, and how many never
//! arrived (there should be none).
//!
//! ```text
//! cargo run --release -p cache-redis --example propagation [-- --cluster]
//! ```
//!
//! Starts its own `redis-server` (from `PATH`) on a free port, or with `--cluster` a 3-primary
//! cluster (each feed then tracks every primary).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{CacheBackend, ChangeSink, FeedOptions, FeedState, Payload};
use cache_redis::{RedisBackend, RedisConfig};
use tokio::time::Instant;

const FEEDS: usize = 4;
const WRITES: usize = 10_000;
const PREFIX: &str = "propagation:";

/// Records when each write's key first reached this feed.
struct Arrivals {
    at: Mutex<Vec<Option<Instant>>>,
}

impl ChangeSink for Arrivals {
    fn changed(&self, key: &str) {
        let now = Instant::now();
        let Some(i) = key
            .strip_prefix(PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return;
        };
        let mut at = self.at.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = at.get_mut(i) {
            slot.get_or_insert(now);
        }
    }
    fn changed_all(&self) {}
    fn alive(&self, _as_of: Instant) {}
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = std::env::args().any(|a| a == "--cluster");
    // Kept alive until the end of main.
    let (_server, _cluster, url) = if cluster {
        let c = redis_harness::RedisCluster::start(3)?;
        let url = c.url();
        (None, Some(c), url)
    } else {
        let s = redis_harness::RedisServer::start()?;
        let url = s.url();
        (Some(s), None, url)
    };

    let mut feeds = Vec::new();
    for _ in 0..FEEDS {
        let backend = RedisBackend::connect(RedisConfig::from_url(&url)?).await?;
        let sink = Arc::new(Arrivals {
            at: Mutex::new(vec![None; WRITES]),
        });
        let handle = backend.watch_changes(sink.clone(), FeedOptions::default())?;
        feeds.push((backend, sink, handle));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while feeds.iter().any(|(_, _, h)| h.state() != FeedState::Live) {
        if Instant::now() > deadline {
            return Err("the feeds did not go live within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The writer: another client of the same Redis (its own connections, no feed), as another
    // instance or service would be.
    let writer = RedisBackend::connect(RedisConfig::from_url(&url)?).await?;
    let mut sent = Vec::with_capacity(WRITES);
    for i in 0..WRITES {
        let key = format!("{PREFIX}{i}");
        let payload = Payload::Bytes(i.to_string().into_bytes().into());
        sent.push(Instant::now());
        writer.set(&key, payload, Duration::from_secs(60)).await?;
    }
    // Let the last pushes arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut delays = Vec::with_capacity(WRITES * FEEDS);
    let mut missing = 0usize;
    for (_, sink, _) in &feeds {
        let at = sink.at.lock().unwrap_or_else(|p| p.into_inner());
        for (sent, arrived) in sent.iter().zip(at.iter()) {
            match arrived {
                Some(arrived) => delays.push(arrived.saturating_duration_since(*sent)),
                None => missing += 1,
            }
        }
    }
    delays.sort();
    if delays.is_empty() {
        return Err("no invalidation arrived".into());
    }
    println!(
        "invalidation propagation ({}), {FEEDS} feeds x {WRITES} writes: p50 {:?}, p99 {:?}, max {:?}, missing {missing}",
        if cluster {
            "3-primary cluster"
        } else {
            "standalone"
        },
        percentile(&delays, 0.50),
        percentile(&delays, 0.99),
        delays[delays.len() - 1],
    );
    writer.quit().await;
    for (backend, _, _) in &feeds {
        backend.quit().await;
    }
    Ok(())
}
