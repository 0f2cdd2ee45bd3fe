//! Fail-safe on a real Redis shared by two instances: keeping the last good value a little
//! longer never overwrites another instance's newer value.

mod common;

use std::time::Duration;

use cache_core::{EntryOptions, SmartCache, Source};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_safe_does_not_overwrite_another_instances_newer_value() {
    let key = cache_core::testing::unique_prefix("fail-safe:newer");
    let a = SmartCache::new(common::standalone().await);
    let b = SmartCache::new(common::standalone().await);
    let opts = EntryOptions::new()
        .ttl(Duration::from_millis(200))
        .grace(Duration::from_secs(60));
    a.set(&key, 0u64, &opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // stale now
    // A serves the stale V0 and refreshes in the background; the refresh fails after 400 ms.
    let got = a
        .get_or_compute_detailed(&key, &opts, || async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Err::<u64, _>(std::io::Error::other("model down"))
        })
        .await
        .unwrap();
    assert_eq!((*got.value, got.source), (0, Source::Stale));
    // Meanwhile B stores V1, fresh for a minute.
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.set(&key, 1u64, &opts.clone().ttl(Duration::from_secs(60)))
        .await
        .unwrap();
    // A's refresh has failed by now; its fail-safe must have left V1 alone.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(a.stats().compute_errors, 1);
    let seen = b.get::<u64>(&key).await.unwrap().expect("present");
    assert_eq!(*seen.value, 1, "A's fail-safe put the old value back");
    assert!(!seen.is_stale());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_safe_extends_the_entry_it_read() {
    let key = cache_core::testing::unique_prefix("fail-safe:extend");
    let a = SmartCache::new(common::standalone().await);
    let opts = EntryOptions::new()
        .ttl(Duration::from_millis(200))
        .grace(Duration::from_secs(60));
    a.set(&key, 0u64, &opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.get_or_compute(&key, &opts, || async {
        Err::<u64, _>(std::io::Error::other("model down"))
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = a.get::<u64>(&key).await.unwrap().expect("present");
    assert_eq!(*seen.value, 0);
    assert!(!seen.is_stale(), "kept fresh for fail_safe_ttl");
}
