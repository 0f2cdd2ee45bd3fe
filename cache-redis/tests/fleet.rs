//! Eight processes' worth of `SmartCache` (each with its own pool), 100 concurrent requests
//! each for one cold key: the fleet lock makes one compute out of what would be eight.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::testing::unique_prefix;
use cache_core::{EntryOptions, SmartCache};
use tokio::sync::Barrier;

const INSTANCES: usize = 8;
const REQUESTS: usize = 100;

/// Runs the stampede and returns how many times the compute ran.
async fn stampede(fleet_lock: bool) -> usize {
    let key = unique_prefix(if fleet_lock {
        "fleet:locked"
    } else {
        "fleet:unlocked"
    });
    let mut caches = Vec::new();
    for _ in 0..INSTANCES {
        caches.push(
            SmartCache::builder(common::standalone().await)
                .fleet_lock(fleet_lock)
                .build(),
        );
    }
    let computes = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(INSTANCES * REQUESTS));
    let opts = EntryOptions::new().ttl(Duration::from_secs(60));
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
                        // Long enough that every instance misses before the first value lands.
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
    computes.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_lock_turns_a_fleet_stampede_into_one_compute() {
    let with_lock = stampede(true).await;
    let without_lock = stampede(false).await;
    println!(
        "{INSTANCES} instances x {REQUESTS} requests: {with_lock} compute(s) with the fleet lock, {without_lock} without"
    );
    // One holder computes; the others wait for its write. No lock expires here (it outlives
    // the compute), the holder writes before it unlocks, and whoever takes the lock next looks
    // at the store again first: exactly one compute.
    assert_eq!(with_lock, 1, "{with_lock} computes with the lock");
    // Without it, single-flight stops at each process: one compute per instance.
    assert!(
        without_lock >= INSTANCES / 2,
        "{without_lock} computes without the lock"
    );
    assert!(without_lock > with_lock);
}
