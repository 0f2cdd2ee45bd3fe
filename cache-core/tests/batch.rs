//! `get_many_or_compute`: deterministic tests on the fake backend under paused time.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{BatchItem, CacheError, EntryOptions, SmartCache, Source, Tier};
use cache_fake::{FakeBackend, OpKind};
use common::{DELTA, GRACE, TTL, cache, count, counted, settle};

type Values = HashMap<String, u64>;
type BatchFuture = Pin<Box<dyn Future<Output = Result<Values, std::io::Error>> + Send>>;

/// The value every compute here gives `key`: different per key, the same on every run.
fn value_of(key: &str) -> u64 {
    key.bytes().map(u64::from).sum()
}

/// What batch computes were asked: one list of keys per call, in call order.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Vec<String>>>>);

impl Calls {
    /// A batch compute that records its keys, takes `DELTA`, and returns every key's value
    /// except those in `omit`.
    fn compute(
        &self,
        omit: &'static [&'static str],
    ) -> impl FnOnce(Vec<String>) -> BatchFuture + Send + 'static {
        let calls = self.0.clone();
        move |keys| {
            calls.lock().unwrap().push(keys.clone());
            Box::pin(async move {
                tokio::time::sleep(DELTA).await;
                Ok(keys
                    .into_iter()
                    .filter(|k| !omit.contains(&k.as_str()))
                    .map(|k| (value_of(&k), k))
                    .map(|(v, k)| (k, v))
                    .collect())
            })
        }
    }

    fn all(&self) -> Vec<Vec<String>> {
        self.0.lock().unwrap().clone()
    }

    /// How many times each key was computed.
    fn per_key(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for key in self.all().into_iter().flatten() {
            *counts.entry(key).or_default() += 1;
        }
        counts
    }
}

/// A batch compute that fails after `DELTA`.
fn failing(keys: Vec<String>) -> BatchFuture {
    let _ = keys;
    Box::pin(async {
        tokio::time::sleep(DELTA).await;
        Err(std::io::Error::other("model server down"))
    })
}

fn strings(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

/// `(key, value, source)` of each item; panics on an error.
fn answered(items: &[BatchItem<u64>]) -> Vec<(&str, u64, Source)> {
    items
        .iter()
        .map(|item| match &item.result {
            Ok(lookup) => (item.key.as_str(), *lookup.value, lookup.source),
            Err(err) => panic!("{}: {err}", item.key),
        })
        .collect()
}

/// `get_many` calls for entries: all of them but the cache's own reads of its namespace
/// version (`clear()`), one single-key call each.
fn entry_reads(fake: &FakeBackend) -> u64 {
    let own = fake
        .ops()
        .iter()
        .filter(|op| op.kind == OpKind::GetMany)
        .filter(|op| op.key.starts_with(cache_core::tag::RESERVED_PREFIX))
        .count() as u64;
    fake.count(OpKind::GetMany) - own
}

async fn store(cache: &SmartCache, key: &str) {
    cache
        .set(key, value_of(key), &EntryOptions::new().compute_time(DELTA))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn hits_and_misses_read_once_and_compute_only_the_missing_keys_once() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    store(&cache, "a").await;
    store(&cache, "c").await;
    fake.clear_ops();
    let calls = Calls::default();
    let keys = ["a", "b", "c", "d"];
    let items = cache
        .get_many_or_compute(&keys, &EntryOptions::new(), calls.compute(&[]))
        .await;
    assert_eq!(
        answered(&items),
        vec![
            ("a", value_of("a"), Source::Hit),
            ("b", value_of("b"), Source::Miss),
            ("c", value_of("c"), Source::Hit),
            ("d", value_of("d"), Source::Miss),
        ]
    );
    assert_eq!(entry_reads(&fake), 1, "one read for the batch");
    assert_eq!(calls.all(), vec![strings(&["b", "d"])]);
    let computed = items[1].result.as_ref().unwrap();
    assert_eq!(computed.compute_time, Some(DELTA));
    assert_eq!(items[0].result.as_ref().unwrap().tier, Some(Tier::L2));
    // Stored with Δ = the batch's compute time: the next batch is all hits, without compute.
    assert_eq!(common::stored::<u64>(&fake, "b").unwrap().delta_us, 500_000);
    let again = cache
        .get_many_or_compute(&keys, &EntryOptions::new(), calls.compute(&[]))
        .await;
    assert!(answered(&again).iter().all(|(_, _, s)| *s == Source::Hit));
    assert_eq!(calls.all().len(), 1);
    assert_eq!(entry_reads(&fake), 2);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.computes), (6, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn a_key_computed_by_a_concurrent_get_or_compute_is_awaited_not_recomputed() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let runs = Arc::new(AtomicUsize::new(0));
    let single = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move {
            cache
                .get_or_compute("k", &EntryOptions::new(), counted(&runs, 7))
                .await
        })
    };
    settle().await;
    let calls = Calls::default();
    let items = cache
        .get_many_or_compute(&["k", "x"], &EntryOptions::new(), calls.compute(&[]))
        .await;
    assert_eq!(
        answered(&items),
        vec![
            ("k", 7, Source::Coalesced),
            ("x", value_of("x"), Source::Miss)
        ]
    );
    assert_eq!(calls.all(), vec![strings(&["x"])], "k is not recomputed");
    assert_eq!(*single.await.unwrap().unwrap(), 7);
    assert_eq!(count(&runs), 1);
}

#[tokio::test(start_paused = true)]
async fn a_get_or_compute_of_a_key_a_batch_computes_waits_for_the_batch() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let calls = Calls::default();
    let batch = {
        let (cache, compute) = (cache.clone(), calls.compute(&[]));
        tokio::spawn(async move {
            cache
                .get_many_or_compute(&["a", "b"], &EntryOptions::new(), compute)
                .await
        })
    };
    settle().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let lookup = cache
        .get_or_compute_detailed("b", &EntryOptions::new(), counted(&runs, 99))
        .await
        .unwrap();
    assert_eq!(
        (*lookup.value, lookup.source),
        (value_of("b"), Source::Coalesced)
    );
    assert_eq!(count(&runs), 0);
    assert_eq!(batch.await.unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn overlapping_batches_from_64_tasks_finish_and_compute_each_key_once() {
    let fake = FakeBackend::new();
    // Every backend call takes a little time, so the batches interleave at each step.
    fake.set_latency(Duration::from_millis(1));
    let cache = cache(&fake);
    let calls = Calls::default();
    let keys: Vec<String> = (0..24).map(|i| format!("key:{i}")).collect();
    let tasks: Vec<_> = (0..64)
        .map(|task| {
            let cache = cache.clone();
            let compute = calls.compute(&[]);
            // Windows of 8 keys, overlapping, in both orders.
            let start = (task * 5) % 17;
            let mut batch: Vec<String> = keys[start..start + 8].to_vec();
            if task % 2 == 1 {
                batch.reverse();
            }
            tokio::spawn(async move {
                let items = cache
                    .get_many_or_compute(&batch, &EntryOptions::new(), compute)
                    .await;
                (batch, items)
            })
        })
        .collect();
    let all = tokio::time::timeout(Duration::from_secs(60), join_all(tasks))
        .await
        .expect("no deadlock: every batch finishes");
    for joined in all {
        let (batch, items) = joined.unwrap();
        let got: Vec<(String, u64)> = items
            .iter()
            .map(|item| (item.key.clone(), *item.result.as_ref().unwrap().value))
            .collect();
        let expected: Vec<(String, u64)> = batch.iter().map(|k| (k.clone(), value_of(k))).collect();
        assert_eq!(got, expected, "answers in request order");
    }
    let per_key = calls.per_key();
    assert_eq!(per_key.len(), 24);
    assert!(
        per_key.values().all(|&n| n == 1),
        "each key computed once: {per_key:?}"
    );
}

async fn join_all<T>(
    tasks: Vec<tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await);
    }
    out
}

#[tokio::test(start_paused = true)]
async fn a_key_missing_from_the_computed_map_fails_alone() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let calls = Calls::default();
    let items = cache
        .get_many_or_compute(
            &["a", "gone", "b"],
            &EntryOptions::new(),
            calls.compute(&["gone"]),
        )
        .await;
    assert!(matches!(
        &items[1].result,
        Err(CacheError::MissingFromBatch { key }) if key == "gone"
    ));
    for i in [0, 2] {
        assert_eq!(items[i].result.as_ref().unwrap().source, Source::Miss);
    }
    assert!(fake.peek("a").is_some() && fake.peek("b").is_some());
    assert!(fake.peek("gone").is_none(), "nothing stored for it");
    // Not poisoned: the next batch asks for it again, and only for it.
    let again = cache
        .get_many_or_compute(
            &["a", "gone", "b"],
            &EntryOptions::new(),
            calls.compute(&[]),
        )
        .await;
    assert_eq!(again[1].result.as_ref().unwrap().source, Source::Miss);
    assert_eq!(calls.all()[1], strings(&["gone"]));
}

#[tokio::test(start_paused = true)]
async fn a_failing_compute_serves_each_key_its_own_last_good_value() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    store(&cache, "a").await;
    store(&cache, "b").await;
    tokio::time::advance(TTL + Duration::from_secs(1)).await; // stale, inside the grace
    let opts = EntryOptions::new().stale_while_revalidate(false);
    let items = cache
        .get_many_or_compute(&["a", "new", "b"], &opts, failing)
        .await;
    for i in [0, 2] {
        let lookup = items[i].result.as_ref().unwrap();
        assert_eq!(
            (*lookup.value, lookup.source),
            (value_of(&items[i].key), Source::FailSafe)
        );
    }
    assert!(matches!(&items[1].result, Err(CacheError::Compute(_))));
    assert_eq!(cache.stats().fail_safe_serves, 2);
    assert_eq!(cache.stats().compute_errors, 1, "one compute call failed");
}

#[tokio::test(start_paused = true)]
async fn stale_and_early_entries_are_served_and_refreshed_in_one_background_compute() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    store(&cache, "a").await;
    store(&cache, "b").await;
    tokio::time::advance(TTL + Duration::from_secs(1)).await;
    let calls = Calls::default();
    let items = cache
        .get_many_or_compute(&["a", "b", "c"], &EntryOptions::new(), calls.compute(&[]))
        .await;
    assert_eq!(
        answered(&items)
            .iter()
            .map(|(_, _, s)| *s)
            .collect::<Vec<_>>(),
        vec![Source::Stale, Source::Stale, Source::Miss]
    );
    assert_eq!(calls.all(), vec![strings(&["a", "b", "c"])], "one call");
    settle().await;
    let refreshed = cache
        .get_many_or_compute(&["a", "b"], &EntryOptions::new(), calls.compute(&[]))
        .await;
    assert!(
        answered(&refreshed)
            .iter()
            .all(|(_, _, s)| *s == Source::Hit)
    );
    assert_eq!(cache.stats().background_refreshes, 2);
}

#[tokio::test(start_paused = true)]
async fn duplicate_keys_are_computed_once_and_answered_at_each_position() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let calls = Calls::default();
    let items = cache
        .get_many_or_compute(
            &["a", "a", "b", "a"],
            &EntryOptions::new(),
            calls.compute(&[]),
        )
        .await;
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["a", "a", "b", "a"]);
    assert!(cache_core::Value::ptr_eq(
        &items[0].result.as_ref().unwrap().value,
        &items[3].result.as_ref().unwrap().value
    ));
    assert_eq!(calls.all(), vec![strings(&["a", "b"])]);
    assert_eq!(cache.stats().misses, 2);
}

#[tokio::test(start_paused = true)]
async fn an_empty_batch_does_nothing() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let calls = Calls::default();
    let none: [&str; 0] = [];
    let items = cache
        .get_many_or_compute(&none, &EntryOptions::new(), calls.compute(&[]))
        .await;
    assert!(items.is_empty());
    assert_eq!(fake.total_calls(), 0);
    assert!(calls.all().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_invalid_key_fails_alone() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let calls = Calls::default();
    let huge = "k".repeat(64 * 1024 + 1);
    let keys = ["", "ok", huge.as_str()];
    let items = cache
        .get_many_or_compute(&keys, &EntryOptions::new(), calls.compute(&[]))
        .await;
    assert!(matches!(items[0].result, Err(CacheError::InvalidKey(_))));
    assert_eq!(*items[1].result.as_ref().unwrap().value, value_of("ok"));
    assert!(matches!(items[2].result, Err(CacheError::InvalidKey(_))));
    assert_eq!(calls.all(), vec![strings(&["ok"])]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_backend_computes_without_the_store() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    fake.fail_always(true);
    let items = cache
        .get_many_with(
            &["a", "b"],
            &EntryOptions::new(),
            |keys: Vec<String>| async move {
                keys.into_iter()
                    .map(|k| (value_of(&k), k))
                    .map(|(v, k)| (k, v))
                    .collect::<Values>()
            },
        )
        .await;
    assert_eq!(
        answered(&items),
        vec![
            ("a", value_of("a"), Source::Bypass),
            ("b", value_of("b"), Source::Bypass)
        ]
    );
    fake.fail_always(false);
    assert!(fake.is_empty(), "nothing written after the read failed");
}

#[tokio::test(start_paused = true)]
async fn with_an_l1_its_hits_do_no_io() {
    let l2 = FakeBackend::builder().encode_values(true).build();
    let cache = SmartCache::builder(l2.clone())
        .default_ttl(TTL)
        .grace(GRACE)
        .seed(7)
        .l1(FakeBackend::new())
        .l1_heartbeat(Duration::from_millis(100))
        .build();
    store(&cache, "a").await;
    store(&cache, "b").await;
    let calls = Calls::default();
    let first = cache
        .get_many_or_compute(&["a", "b"], &EntryOptions::new(), calls.compute(&[]))
        .await;
    let tiers: Vec<_> = first
        .iter()
        .map(|i| i.result.as_ref().unwrap().tier)
        .collect();
    assert_eq!(tiers, [Some(Tier::L2), Some(Tier::L2)]);
    let io = l2.total_calls();
    // Filled from the batch read: the next batch is answered by the L1 alone.
    let second = cache
        .get_many_or_compute(&["b", "a"], &EntryOptions::new(), calls.compute(&[]))
        .await;
    for item in &second {
        let lookup = item.result.as_ref().unwrap();
        assert_eq!((lookup.source, lookup.tier), (Source::Hit, Some(Tier::L1)));
        assert_eq!(*lookup.value, value_of(&item.key));
    }
    assert_eq!(l2.total_calls(), io, "L1 hits do no backend I/O");
    assert_eq!(cache.stats().l1_hits, 2);
    // A mix: the L1 answers what it holds, one read for the rest.
    let mixed = cache
        .get_many_or_compute(&["a", "c"], &EntryOptions::new(), calls.compute(&[]))
        .await;
    assert_eq!(
        answered(&mixed),
        vec![
            ("a", value_of("a"), Source::Hit),
            ("c", value_of("c"), Source::Miss)
        ]
    );
    assert_eq!(mixed[0].result.as_ref().unwrap().tier, Some(Tier::L1));
    assert_eq!(calls.all(), vec![strings(&["c"])]);
}

#[tokio::test(start_paused = true)]
async fn a_disabled_cache_computes_every_valid_key_in_one_call() {
    let fake = FakeBackend::new();
    let cache = common::builder(&fake).enabled(false).build();
    let calls = Calls::default();
    let items = cache
        .get_many_or_compute(&["a", "", "b"], &EntryOptions::new(), calls.compute(&[]))
        .await;
    assert_eq!(items[0].result.as_ref().unwrap().source, Source::Bypass);
    assert!(items[1].result.is_err());
    assert_eq!(calls.all(), vec![strings(&["a", "b"])]);
    assert_eq!(fake.total_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn with_the_backend_down_the_l1_copy_backs_fail_safe_per_key() {
    let l2 = FakeBackend::builder().encode_values(true).build();
    let heartbeat = Duration::from_millis(100);
    let cache = SmartCache::builder(l2.clone())
        .default_ttl(TTL)
        .grace(GRACE)
        .seed(7)
        .l1(FakeBackend::new())
        .l1_heartbeat(heartbeat)
        .build();
    store(&cache, "a").await;
    let calls = Calls::default();
    cache
        .get_many_or_compute(&["a"], &EntryOptions::new(), calls.compute(&[]))
        .await; // fills the L1
    l2.fail_always(true); // the store down, its feed silent too
    l2.feed().stall_heartbeats(true);
    tokio::time::sleep(cache.l1_status().unwrap().staleness_bound + heartbeat).await;
    let items = cache
        .get_many_or_compute(&["a", "b"], &EntryOptions::new(), failing)
        .await;
    let a = items[0].result.as_ref().unwrap();
    assert_eq!(
        (*a.value, a.source, a.tier),
        (value_of("a"), Source::FailSafe, Some(Tier::L1))
    );
    assert!(matches!(items[1].result, Err(CacheError::Compute(_))));
}

#[tokio::test(start_paused = true)]
async fn with_the_fleet_lock_a_key_another_process_computes_is_awaited_not_computed() {
    use cache_core::CacheBackend;
    let fake = FakeBackend::builder().locks(true).build();
    let cache = common::builder(&fake).fleet_lock(true).build();
    let other = common::builder(&fake).fleet_lock(true).build(); // another process
    fake.try_lock("k", "other-process", Duration::from_secs(30))
        .await
        .unwrap();
    let calls = Calls::default();
    let batch = {
        let (cache, compute) = (cache.clone(), calls.compute(&[]));
        tokio::spawn(async move {
            cache
                .get_many_or_compute(&["k", "x"], &EntryOptions::new(), compute)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    other.set("k", 42u64, &EntryOptions::new()).await.unwrap();
    let items = batch.await.unwrap();
    assert_eq!(
        answered(&items),
        vec![
            ("k", 42, Source::Coalesced),
            ("x", value_of("x"), Source::Miss)
        ]
    );
    assert_eq!(
        calls.all(),
        vec![strings(&["x"])],
        "k is the other process's"
    );
    assert_eq!(cache.stats().lock_waits, 1);
    assert_eq!(fake.lock_holder("x"), None, "x's lock released");
}

#[tokio::test(start_paused = true)]
async fn with_the_fleet_lock_a_batch_stores_its_own_keys_and_frees_their_locks_while_it_waits() {
    use cache_core::CacheBackend;
    let fake = FakeBackend::builder().locks(true).build();
    let cache = common::builder(&fake).fleet_lock(true).build();
    // Another process's batch holds b, and would wait for a: it must get a before b is done.
    fake.try_lock("b", "other-process", Duration::from_secs(30))
        .await
        .unwrap();
    let calls = Calls::default();
    let batch = {
        let (cache, compute) = (cache.clone(), calls.compute(&[]));
        tokio::spawn(async move {
            cache
                .get_many_or_compute(&["a", "b"], &EntryOptions::new(), compute)
                .await
        })
    };
    tokio::time::sleep(DELTA + Duration::from_millis(100)).await;
    assert!(!batch.is_finished(), "b is still the other process's");
    assert!(
        fake.peek("a").is_some(),
        "a stored while the batch waits for b"
    );
    assert_eq!(
        fake.lock_holder("a"),
        None,
        "a's lock released while waiting"
    );
    let other = common::builder(&fake).build();
    other.set("b", 7u64, &EntryOptions::new()).await.unwrap();
    let items = batch.await.unwrap();
    assert_eq!(
        answered(&items),
        vec![
            ("a", value_of("a"), Source::Miss),
            ("b", 7, Source::Coalesced)
        ]
    );
    assert_eq!(calls.all(), vec![strings(&["a"])]);
}

#[tokio::test(start_paused = true)]
async fn with_the_fleet_lock_a_holder_that_never_writes_costs_lock_wait() {
    use cache_core::CacheBackend;
    let fake = FakeBackend::builder().locks(true).build();
    let cache = common::builder(&fake).fleet_lock(true).build();
    let lock_wait = cache.config().lock_wait;
    for key in ["b", "c"] {
        fake.try_lock(key, "dead-process", Duration::from_secs(600))
            .await
            .unwrap();
    }
    let calls = Calls::default();
    // a is this batch's: the compute call is spent on it, and b, whose holder never writes,
    // fails after lock_wait rather than waiting forever.
    let items = cache
        .get_many_or_compute(&["a", "b"], &EntryOptions::new(), calls.compute(&[]))
        .await;
    assert_eq!(items[0].result.as_ref().unwrap().source, Source::Miss);
    assert!(matches!(
        items[1].result,
        Err(CacheError::ComputeTimeout(limit)) if limit == lock_wait
    ));
    // Only keys held elsewhere: the compute call is theirs once the wait is over.
    let started = tokio::time::Instant::now();
    let items = cache
        .get_many_or_compute(&["c"], &EntryOptions::new(), calls.compute(&[]))
        .await;
    assert_eq!(items[0].result.as_ref().unwrap().source, Source::Miss);
    assert!(started.elapsed() >= lock_wait);
    assert_eq!(calls.all(), vec![strings(&["a"]), strings(&["c"])]);
}

/// The version keys `get_many` read (the namespace version's left out), in order.
fn version_keys_read(fake: &FakeBackend) -> Vec<String> {
    fake.ops()
        .into_iter()
        .filter(|op| op.kind == OpKind::GetMany)
        .filter(|op| op.key.starts_with(cache_core::tag::TAG_KEY_PREFIX))
        .map(|op| op.key)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_tagged_batch_reads_the_versions_of_all_its_tags_at_once() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    // 20 entries sharing 5 tags: each carries "league" and one of four teams.
    let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    let tags_of = |i: usize| ["league".to_owned(), format!("team:{}", i % 4)];
    for (i, key) in keys.iter().enumerate() {
        let opts = EntryOptions::new().tags(tags_of(i)).compute_time(DELTA);
        cache.set(key, value_of(key), &opts).await.unwrap();
    }
    fake.clear_ops();
    let calls = Calls::default();
    let items = cache
        .get_many_or_compute(&keys, &EntryOptions::new(), calls.compute(&[]))
        .await;
    assert!(answered(&items).iter().all(|(_, _, s)| *s == Source::Hit));
    let mut read = version_keys_read(&fake);
    read.sort();
    let mut expected: Vec<String> = ["league", "team:0", "team:1", "team:2", "team:3"]
        .iter()
        .map(|tag| cache_core::tag::version_key(tag))
        .collect();
    expected.sort();
    assert_eq!(read, expected, "each tag's version read once");
    assert_eq!(
        fake.count(OpKind::GetMany),
        2,
        "one read for the entries, one for the union of their tags: {:?}",
        fake.ops()
    );

    // Each entry is still judged on its own tags: a team's entries go, the others stay.
    cache.invalidate_tag("team:1").await.unwrap();
    let items = cache
        .get_many_or_compute(&keys, &EntryOptions::new(), calls.compute(&[]))
        .await;
    for (i, (key, _, source)) in answered(&items).into_iter().enumerate() {
        let expected = if i % 4 == 1 {
            Source::Miss
        } else {
            Source::Hit
        };
        assert_eq!(source, expected, "{key}");
    }
    assert_eq!(cache.stats().tag_invalidated, 5);
    let recomputed: Vec<String> = (0..20)
        .filter(|i| i % 4 == 1)
        .map(|i| format!("k{i}"))
        .collect();
    assert_eq!(calls.all(), vec![recomputed]);
}

#[tokio::test(start_paused = true)]
async fn a_batch_drops_the_entries_of_a_missing_version_key_and_of_an_older_namespace() {
    use cache_core::CacheBackend;
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let tagged = EntryOptions::new().tags(["gone"]).compute_time(DELTA);
    cache.set("tagged", 1u64, &tagged).await.unwrap();
    store(&cache, "plain").await;
    assert!(
        fake.delete(&cache_core::tag::version_key("gone"))
            .await
            .unwrap()
    );
    let calls = Calls::default();
    let items = cache
        .get_many_or_compute(
            &["tagged", "plain"],
            &EntryOptions::new(),
            calls.compute(&[]),
        )
        .await;
    assert_eq!(
        answered(&items)
            .iter()
            .map(|(_, _, s)| *s)
            .collect::<Vec<_>>(),
        vec![Source::Miss, Source::Hit],
        "a missing version key invalidates"
    );
    cache.clear().await.unwrap();
    let items = cache
        .get_many_or_compute(
            &["tagged", "plain"],
            &EntryOptions::new(),
            calls.compute(&[]),
        )
        .await;
    assert!(
        answered(&items).iter().all(|(_, _, s)| *s == Source::Miss),
        "clear() invalidates every entry of the batch"
    );
    assert_eq!(cache.stats().tag_invalidated, 3);
}

#[tokio::test(start_paused = true)]
async fn a_tagged_batch_compute_is_stamped_once_for_all_its_keys() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let ops_on = |kind: OpKind, key: &str| {
        fake.ops()
            .iter()
            .filter(|op| op.kind == kind && op.key == key)
            .count()
    };
    // A new tag: its version key is created once, not once per key.
    let new = cache_core::tag::version_key("new");
    let calls = Calls::default();
    let tagged = EntryOptions::new().tags(["new"]);
    let items = cache
        .get_many_or_compute(&keys, &tagged, calls.compute(&[]))
        .await;
    assert!(answered(&items).iter().all(|(_, _, s)| *s == Source::Miss));
    assert_eq!(ops_on(OpKind::SetMany, &new), 1, "{:?}", fake.ops());
    // A tag that exists: its version read once for the batch.
    fake.clear_ops();
    let more: Vec<String> = (10..20).map(|i| format!("k{i}")).collect();
    cache
        .get_many_or_compute(&more, &tagged, calls.compute(&[]))
        .await;
    assert_eq!(ops_on(OpKind::GetMany, &new), 1, "{:?}", fake.ops());
    // Stored valid: all hits.
    let all: Vec<String> = keys.iter().chain(&more).cloned().collect();
    let items = cache
        .get_many_or_compute(&all, &tagged, calls.compute(&[]))
        .await;
    assert!(answered(&items).iter().all(|(_, _, s)| *s == Source::Hit));
    assert_eq!(calls.all().len(), 2);
}
