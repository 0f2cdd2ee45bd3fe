//! `get_many_or_compute` on real Redis, standalone and cluster: overlapping batches from 64
//! tasks (no deadlock, each key computed once), keys spread over several slots, one `MGET`
//! per slot for a warm batch (and one more per slot of its tags' versions when tagged), a tag
//! invalidated during a batch compute, a batch that creates its tag's version key.
//! (Tags on single keys — invalidation during a compute, a missing version key, `clear()` —
//! are in `tags.rs`.)

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{EntryOptions, SmartCache, Source};
use cache_redis::RedisBackend;
use redis_harness::RedisServer;

/// The value every compute here gives `key`.
fn value_of(key: &str) -> u64 {
    key.bytes().map(u64::from).sum()
}

/// 64 tasks each ask for a window of 12 of `keys` (overlapping, in both orders) through
/// their own clone of `cache`; returns how many times each key was computed.
async fn overlapping_batches(cache: SmartCache, keys: Vec<String>) -> HashMap<String, usize> {
    let computed: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let tasks: Vec<_> = (0..64)
        .map(|task| {
            let (cache, computed) = (cache.clone(), computed.clone());
            let start = (task * 7) % (keys.len() - 11);
            let mut batch = keys[start..start + 12].to_vec();
            if task % 2 == 1 {
                batch.reverse();
            }
            tokio::spawn(async move {
                let compute = move |missing: Vec<String>| async move {
                    {
                        let mut counts = computed.lock().unwrap();
                        for key in &missing {
                            *counts.entry(key.clone()).or_default() += 1;
                        }
                    }
                    // Long enough that the batches overlap while one computes.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let values = missing.into_iter().map(|k| (k.clone(), value_of(&k)));
                    Ok::<_, std::io::Error>(values.collect::<HashMap<_, _>>())
                };
                let items = cache
                    .get_many_or_compute(&batch, &EntryOptions::new(), compute)
                    .await;
                for (item, key) in items.iter().zip(&batch) {
                    assert_eq!(&item.key, key, "request order");
                    let lookup = item
                        .result
                        .as_ref()
                        .unwrap_or_else(|e| panic!("{key}: {e}"));
                    assert_eq!(*lookup.value, value_of(key));
                }
            })
        })
        .collect();
    let all = futures_join(tasks);
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("no deadlock: every batch finishes");
    let counts = computed.lock().unwrap();
    counts.clone()
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        task.await.expect("a batch task panicked");
    }
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}

fn assert_each_once(computed: &HashMap<String, usize>, keys: &[String]) {
    assert_eq!(computed.len(), keys.len(), "{computed:?}");
    assert!(
        computed.values().all(|&n| n == 1),
        "each key computed once: {computed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_batches_from_64_tasks_compute_each_key_once_standalone() {
    let cache = SmartCache::new(common::standalone().await);
    let keys = keys("batch:overlap", 40);
    let computed = overlapping_batches(cache.clone(), keys.clone()).await;
    assert_each_once(&computed, &keys);
    // Stored: a second round computes nothing.
    let again = overlapping_batches(cache, keys).await;
    assert!(again.is_empty(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_batches_from_64_tasks_compute_each_key_once_on_a_cluster() {
    let cache = SmartCache::new(common::clustered().await);
    let keys = keys("batch:overlap", 40);
    let slots: BTreeSet<u16> = keys
        .iter()
        .map(|k| fred::util::redis_keyslot(k.as_bytes()))
        .collect();
    assert!(slots.len() >= 10, "keys on several slots: {slots:?}");
    let computed = overlapping_batches(cache.clone(), keys.clone()).await;
    assert_each_once(&computed, &keys);
    let again = overlapping_batches(cache, keys).await;
    assert!(again.is_empty(), "{again:?}");
}

/// A cache whose reads the tests count: the namespace version (`clear()`) is read once an
/// hour, so no re-read of it lands among the counted commands however slow the machine.
fn counting_cache(backend: RedisBackend) -> SmartCache {
    SmartCache::builder(backend)
        .clear_check_interval(Duration::from_secs(3600))
        .build()
}

/// `MGET`s served by `node` since its last `CONFIG RESETSTAT`.
fn mgets(node: &RedisServer) -> u64 {
    let reply = node.command_ok(&["INFO", "commandstats"]).unwrap();
    let text = reply.as_text().unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("cmdstat_mget:calls="))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

/// Warms `keys` with one batch, then reads them again: every key a hit, and the read costs
/// the `MGET`s counted on `nodes`.
async fn warm_batch_mgets(backend: RedisBackend, nodes: &[RedisServer], keys: &[String]) -> u64 {
    let cache = counting_cache(backend);
    let compute = |missing: Vec<String>| async move {
        let values = missing.into_iter().map(|k| (k.clone(), value_of(&k)));
        Ok::<_, std::io::Error>(values.collect::<HashMap<_, _>>())
    };
    cache
        .get_many_or_compute(keys, &EntryOptions::new(), compute)
        .await;
    hit_batch_mgets(&cache, nodes, keys).await
}

/// Resets the command counts, reads `keys` (all warm) in one batch, checks every one is a hit
/// and returns the `MGET`s the read cost on `nodes`.
async fn hit_batch_mgets(cache: &SmartCache, nodes: &[RedisServer], keys: &[String]) -> u64 {
    for node in nodes {
        node.command_ok(&["CONFIG", "RESETSTAT"]).unwrap();
    }
    let compute = |_: Vec<String>| async { Ok::<_, std::io::Error>(HashMap::<String, u64>::new()) };
    let items = cache
        .get_many_or_compute(keys, &EntryOptions::new(), compute)
        .await;
    for item in &items {
        let lookup = item.result.as_ref().unwrap();
        assert_eq!(
            (*lookup.value, lookup.source),
            (value_of(&item.key), Source::Hit)
        );
    }
    nodes.iter().map(mgets).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_batch_is_one_mget_standalone() {
    // A server of its own: its command counts are this test's alone.
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let backend = common::connect(&server.url()).await;
    let keys = keys("batch:warm", 50);
    let sent = warm_batch_mgets(backend, std::slice::from_ref(&server), &keys).await;
    assert_eq!(sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_batch_is_one_mget_per_slot_on_a_cluster() {
    let cluster = redis_harness::RedisCluster::start(3).unwrap_or_else(|e| panic!("{e}"));
    let backend = common::connect(&cluster.url()).await;
    // Hash tags put these 30 keys on 3 slots (one per tag).
    let keys: Vec<String> = (0..30)
        .map(|i| format!("batch:{{tag{}}}:{i}", i % 3))
        .collect();
    let slots: BTreeSet<u16> = keys
        .iter()
        .map(|k| fred::util::redis_keyslot(k.as_bytes()))
        .collect();
    let sent = warm_batch_mgets(backend, cluster.nodes(), &keys).await;
    assert_eq!(sent, slots.len() as u64, "one MGET per slot ({slots:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_l1_a_warm_batch_sends_no_mget() {
    use cache_core::{FeedState, Tier};
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let cache = SmartCache::builder(common::connect(&server.url()).await)
        .l1(cache_memory::MemoryBackend::new(1_000))
        .l1_heartbeat(Duration::from_millis(100))
        .build();
    let keys = keys("batch:l1", 20);
    let compute = |missing: Vec<String>| async move {
        let values = missing.into_iter().map(|k| (k.clone(), value_of(&k)));
        Ok::<_, std::io::Error>(values.collect::<HashMap<_, _>>())
    };
    // Until the feed is live and a batch read has filled the L1 (an invalidation of our own
    // writes may still be on its way and drop a fill).
    let started = std::time::Instant::now();
    loop {
        let live = cache.l1_status().map(|s| s.feed) == Some(FeedState::Live);
        let items = cache
            .get_many_or_compute(&keys, &EntryOptions::new(), compute)
            .await;
        let all_l1 = items
            .iter()
            .all(|i| i.result.as_ref().unwrap().tier == Some(Tier::L1));
        if live && all_l1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never all L1");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.command_ok(&["CONFIG", "RESETSTAT"]).unwrap();
    let items = cache
        .get_many_or_compute(&keys, &EntryOptions::new(), compute)
        .await;
    for item in &items {
        let lookup = item.result.as_ref().unwrap();
        assert_eq!(
            (*lookup.value, lookup.source, lookup.tier),
            (value_of(&item.key), Source::Hit, Some(Tier::L1))
        );
    }
    assert_eq!(mgets(&server), 0, "L1 hits do no I/O");
}

/// A batch of `n` new keys sharing a tag no entry carried yet (so each key's compute finds
/// its version key missing), then the same batch again: how many of the second are hits.
async fn hits_after_a_batch_with_a_new_tag(cache: &SmartCache, prefix: &str, n: usize) -> usize {
    let keys = keys(prefix, n);
    let opts = EntryOptions::new().tags([format!("{prefix}:new-tag")]);
    let compute = |missing: Vec<String>| async move {
        let values = missing.into_iter().map(|k| (k.clone(), value_of(&k)));
        Ok::<_, std::io::Error>(values.collect::<HashMap<_, _>>())
    };
    let first = cache.get_many_or_compute(&keys, &opts, compute).await;
    assert!(
        first
            .iter()
            .all(|i| i.result.as_ref().unwrap().source == Source::Miss)
    );
    let again = cache.get_many_or_compute(&keys, &opts, compute).await;
    again
        .iter()
        .filter(|i| i.result.as_ref().unwrap().source == Source::Hit)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_new_tag_stores_every_entry_valid_standalone() {
    let cache = SmartCache::new(common::standalone().await);
    let prefix = cache_core::testing::unique_prefix("batch:new-tag");
    assert_eq!(
        hits_after_a_batch_with_a_new_tag(&cache, &prefix, 100).await,
        100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_new_tag_stores_every_entry_valid_on_a_cluster() {
    let cache = SmartCache::new(common::clustered().await);
    let prefix = cache_core::testing::unique_prefix("batch:new-tag");
    assert_eq!(
        hits_after_a_batch_with_a_new_tag(&cache, &prefix, 100).await,
        100
    );
}

/// A tag invalidated while a batch computes: the batch's callers get the values, but the
/// entries are invalid on arrival (they recorded the versions from before the compute).
async fn invalidation_during_a_batch_compute(cache: &SmartCache, prefix: &str) {
    let keys = keys(&format!("{prefix}:during"), 20);
    let tag = format!("{prefix}:competition");
    let opts = EntryOptions::new().tags([tag.clone()]);
    let (started, has_started) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let computing = {
        let (cache, keys, opts) = (cache.clone(), keys.clone(), opts.clone());
        tokio::spawn(async move {
            let compute = move |missing: Vec<String>| async move {
                let _ = started.send(());
                let _ = released.await;
                let values = missing.into_iter().map(|k| (k.clone(), 1u64));
                Ok::<_, std::io::Error>(values.collect::<HashMap<_, _>>())
            };
            cache.get_many_or_compute(&keys, &opts, compute).await
        })
    };
    has_started.await.unwrap();
    cache.invalidate_tag(&tag).await.unwrap();
    release.send(()).unwrap();
    for item in computing.await.unwrap() {
        let lookup = item.result.unwrap();
        assert_eq!((*lookup.value, lookup.source), (1, Source::Miss));
    }
    let compute = |missing: Vec<String>| async move {
        let values = missing.into_iter().map(|k| (k.clone(), 2u64));
        Ok::<_, std::io::Error>(values.collect::<HashMap<_, _>>())
    };
    for round in [Source::Miss, Source::Hit] {
        let items = cache.get_many_or_compute(&keys, &opts, compute).await;
        for item in &items {
            let lookup = item.result.as_ref().unwrap();
            assert_eq!((*lookup.value, lookup.source), (2, round), "{}", item.key);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_invalidated_during_a_batch_compute_invalidates_its_entries_standalone() {
    let cache = SmartCache::new(common::standalone().await);
    let prefix = cache_core::testing::unique_prefix("batch:during");
    invalidation_during_a_batch_compute(&cache, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_invalidated_during_a_batch_compute_invalidates_its_entries_on_a_cluster() {
    let cache = SmartCache::new(common::clustered().await);
    let prefix = cache_core::testing::unique_prefix("batch:during");
    invalidation_during_a_batch_compute(&cache, &prefix).await;
}

/// Writes `keys` with 2 tags each (one shared by all, one of 6), resets the command counts,
/// reads them again in one batch (all hits) and returns the `MGET`s it cost on `nodes`.
async fn warm_tagged_batch_mgets(
    cache: &SmartCache,
    nodes: &[RedisServer],
    keys: &[String],
) -> u64 {
    for team in 0..6 {
        let group: Vec<String> = keys.iter().skip(team).step_by(6).cloned().collect();
        let opts = EntryOptions::new().tags(["league".to_owned(), format!("team:{team}")]);
        let compute = |missing: Vec<String>| async move {
            let values = missing.into_iter().map(|k| (k.clone(), value_of(&k)));
            Ok::<_, std::io::Error>(values.collect::<HashMap<_, _>>())
        };
        cache.get_many_or_compute(&group, &opts, compute).await;
    }
    hit_batch_mgets(cache, nodes, keys).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_tagged_batch_costs_one_more_mget_standalone() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let cache = counting_cache(common::connect(&server.url()).await);
    let keys = keys("batch:tagged", 60);
    let sent = warm_tagged_batch_mgets(&cache, std::slice::from_ref(&server), &keys).await;
    assert_eq!(
        sent, 2,
        "one MGET for the entries, one for the versions of their 7 tags"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_tagged_batch_costs_one_more_mget_per_slot_on_a_cluster() {
    let cluster = redis_harness::RedisCluster::start(3).unwrap_or_else(|e| panic!("{e}"));
    let cache = counting_cache(common::connect(&cluster.url()).await);
    // The entries on 3 slots (hash tags); the version keys wherever their tags hash.
    let keys: Vec<String> = (0..60)
        .map(|i| format!("batch:{{tag{}}}:{i}", i % 3))
        .collect();
    let mut tags = vec![cache_core::tag::version_key("league")];
    tags.extend((0..6).map(|team| cache_core::tag::version_key(&format!("team:{team}"))));
    let slots = |keys: &[String]| -> BTreeSet<u16> {
        keys.iter()
            .map(|k| fred::util::redis_keyslot(k.as_bytes()))
            .collect()
    };
    let expected = slots(&keys).len() + slots(&tags).len();
    let sent = warm_tagged_batch_mgets(&cache, cluster.nodes(), &keys).await;
    assert_eq!(
        sent, expected as u64,
        "one MGET per slot of the entries and of the versions"
    );
}
