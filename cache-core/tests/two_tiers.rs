//! The L1 in front of a backend, kept coherent by the backend's change feed: deterministic
//! tests on the fake (paused time) as L2 — playing Redis, with encoded values, a change feed the
//! test can delay, reorder and cut — and a second fake as the L1 store.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use cache_core::{EntryOptions, FeedState, SmartCache, Source, Tier};
use cache_fake::{FakeBackend, OpKind};
use common::{GRACE, TTL, count, counted, failing, settle};

const HEARTBEAT: Duration = Duration::from_millis(100);

/// A fake playing Redis: encoded values, as the cache stores them on a network store.
fn l2() -> FakeBackend {
    FakeBackend::builder().encode_values(true).build()
}

/// A cache with an L1 (a fake holding objects, on tokio's clock) over `l2`.
fn tiered(l2: &FakeBackend) -> SmartCache {
    SmartCache::builder(l2.clone())
        .default_ttl(TTL)
        .grace(GRACE)
        .seed(7)
        .l1(FakeBackend::new())
        .l1_heartbeat(HEARTBEAT)
        .build()
}

/// Reads `key` through `cache` with a compute that must not run (the value is there).
async fn read(cache: &SmartCache, key: &str) -> (u64, Option<Tier>) {
    let lookup = cache
        .get_or_compute_detailed(key, &EntryOptions::new(), || async {
            Err::<u64, _>(std::io::Error::other("no compute expected"))
        })
        .await
        .expect("a stored value");
    assert_eq!(lookup.source, Source::Hit, "{key}");
    (*lookup.value, lookup.tier)
}

/// Stores `value` under `key` through `cache`.
async fn write(cache: &SmartCache, key: &str, value: u64) {
    cache.set(key, value, &EntryOptions::new()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_second_read_is_an_l1_hit_without_io() {
    let store = l2();
    let cache = tiered(&store);
    write(&cache, "k", 1).await;
    assert_eq!(read(&cache, "k").await, (1, Some(Tier::L2)));
    let gets = store.count(OpKind::Get);
    for _ in 0..3 {
        assert_eq!(read(&cache, "k").await, (1, Some(Tier::L1)));
    }
    assert_eq!(store.count(OpKind::Get), gets, "L1 hits do no backend I/O");
    let stats = cache.stats();
    assert_eq!(stats.l1_hits, 3);
    assert_eq!(stats.hits, 4);
    assert_eq!(cache.l1_status().unwrap().feed, FeedState::Live);
}

#[tokio::test(start_paused = true)]
async fn a_write_by_another_instance_drops_the_key_from_the_l1() {
    let store = l2();
    let (a, b) = (tiered(&store), tiered(&store));
    write(&a, "k", 1).await;
    read(&a, "k").await;
    assert_eq!(read(&a, "k").await.1, Some(Tier::L1));
    write(&b, "k", 2).await;
    assert_eq!(read(&a, "k").await, (2, Some(Tier::L2)));
    b.delete("k").await.unwrap();
    let after_delete = a
        .get_or_compute("k", &EntryOptions::new(), || async {
            Ok::<_, std::io::Error>(3u64)
        })
        .await
        .unwrap();
    assert_eq!(*after_delete, 3, "a delete elsewhere is a miss here");
    assert!(a.stats().l1_invalidations >= 2);
}

#[tokio::test(start_paused = true)]
async fn an_invalidation_that_arrives_before_the_fill_wins() {
    let store = l2();
    let (a, b) = (tiered(&store), tiered(&store));
    write(&a, "k", 1).await;
    // A's read is served (value 1), but its reply is in flight for 10 ms; meanwhile B writes 2,
    // and the change reaches A before A's reply does.
    store.delay_next_reply(OpKind::Get, Duration::from_millis(10));
    let reader = {
        let a = a.clone();
        tokio::spawn(async move { read(&a, "k").await })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    write(&b, "k", 2).await;
    assert_eq!(reader.await.unwrap(), (1, Some(Tier::L2)));
    // The fill of the old value lost to the invalidation: the next read is not an L1 hit of 1.
    assert_eq!(read(&a, "k").await, (2, Some(Tier::L2)));
    assert_eq!(read(&a, "k").await, (2, Some(Tier::L1)));
}

#[tokio::test(start_paused = true)]
async fn a_delayed_invalidation_stops_l1_hits_within_the_staleness_bound() {
    let store = l2();
    let (a, b) = (tiered(&store), tiered(&store));
    let bound = a.l1_status().unwrap().staleness_bound;
    write(&a, "k", 1).await;
    read(&a, "k").await;
    store.feed().hold();
    write(&b, "k", 2).await;
    let written = tokio::time::Instant::now();
    // While the change is held, A may serve 1 from L1 — but never once the bound has passed.
    loop {
        let (value, tier) = read(&a, "k").await;
        if value == 2 {
            assert_eq!(tier, Some(Tier::L2));
            break;
        }
        assert!(
            written.elapsed() <= bound,
            "served a value replaced {:?} ago; the bound is {bound:?}",
            written.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Once delivered, the L1 serves again.
    store.feed().release();
    tokio::time::sleep(HEARTBEAT).await;
    read(&a, "k").await;
    assert_eq!(read(&a, "k").await, (2, Some(Tier::L1)));
}

#[tokio::test(start_paused = true)]
async fn reordered_invalidations_drop_every_key() {
    let store = l2();
    let (a, b) = (tiered(&store), tiered(&store));
    for key in ["x", "y"] {
        write(&a, key, 1).await;
        read(&a, key).await;
    }
    store.feed().hold();
    write(&b, "x", 2).await;
    write(&b, "y", 2).await;
    store.feed().release_reversed();
    assert_eq!(read(&a, "x").await, (2, Some(Tier::L2)));
    assert_eq!(read(&a, "y").await, (2, Some(Tier::L2)));
}

#[tokio::test(start_paused = true)]
async fn a_cut_feed_stops_the_l1_and_its_reconnection_drops_everything() {
    let store = l2();
    let (a, b) = (tiered(&store), tiered(&store));
    write(&a, "k", 1).await;
    read(&a, "k").await;
    store.feed().disconnect();
    write(&b, "k", 2).await; // this change is lost
    tokio::time::sleep(a.l1_status().unwrap().staleness_bound + HEARTBEAT).await;
    assert_eq!(a.l1_status().unwrap().feed, FeedState::Down);
    // Not proven alive: the L1 serves nothing, reads go to the backend.
    assert_eq!(read(&a, "k").await, (2, Some(Tier::L2)));
    // Meanwhile A filled its L1 from the backend while the feed was down: fills of that time
    // cannot be trusted either, and the reconnection drops everything.
    write(&b, "k", 3).await; // lost as well
    store.feed().reconnect();
    tokio::time::sleep(HEARTBEAT).await;
    assert_eq!(read(&a, "k").await, (3, Some(Tier::L2)));
    assert_eq!(read(&a, "k").await, (3, Some(Tier::L1)));
    assert!(a.stats().l1_flushes >= 1);
}

#[tokio::test(start_paused = true)]
async fn stalled_heartbeats_stop_l1_hits_and_their_return_resumes_them() {
    let store = l2();
    let a = tiered(&store);
    write(&a, "k", 1).await;
    read(&a, "k").await;
    assert_eq!(read(&a, "k").await.1, Some(Tier::L1));
    store.feed().stall_heartbeats(true);
    tokio::time::sleep(a.l1_status().unwrap().staleness_bound + HEARTBEAT).await;
    assert_eq!(read(&a, "k").await.1, Some(Tier::L2));
    store.feed().stall_heartbeats(false);
    tokio::time::sleep(HEARTBEAT).await;
    assert_eq!(read(&a, "k").await.1, Some(Tier::L1));
}

#[tokio::test(start_paused = true)]
async fn the_l1_keeps_an_entry_no_longer_than_the_backend_and_decides_on_the_same_time() {
    let store = l2();
    let cache = tiered(&store);
    let runs = Arc::new(AtomicUsize::new(0));
    let opts = EntryOptions::new().ttl(TTL).grace(GRACE);
    cache
        .get_or_compute("k", &opts, counted(&runs, 1))
        .await
        .unwrap();
    tokio::time::sleep(TTL / 2).await;
    read(&cache, "k").await; // fills the L1 with the remaining lifetime
    // Past the TTL the L1 entry is stale, as the backend's is (`get` starts no refresh).
    tokio::time::sleep(TTL / 2 + Duration::from_millis(1)).await;
    let l1_hits = cache.stats().l1_hits;
    let stale = cache.get::<u64>("k").await.unwrap().unwrap();
    assert_eq!(stale.freshness, cache_core::Freshness::Stale);
    assert_eq!(cache.stats().l1_hits, l1_hits + 1);
    // Past TTL + grace neither tier has it.
    tokio::time::sleep(GRACE).await;
    let gets = store.count(OpKind::Get);
    assert!(cache.get::<u64>("k").await.unwrap().is_none());
    assert_eq!(
        store.count(OpKind::Get),
        gets + 1,
        "the L1 entry expired with the backend's"
    );
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_backend_without_a_change_feed_gets_no_l1() {
    // The L1 store itself offers no feed when playing L2 here: a backend that cannot say what
    // changed gets no L1, and the cache works on one tier.
    let plain = FakeBackend::new();
    let cache = SmartCache::builder(NoFeed(plain.clone()))
        .l1(FakeBackend::new())
        .build();
    assert!(cache.l1_status().is_none());
    cache.set("k", 1u64, &EntryOptions::new()).await.unwrap();
    assert_eq!(read(&cache, "k").await, (1, Some(Tier::L2)));
}

/// A backend that offers no change feed (the port's default).
#[derive(Debug)]
struct NoFeed(FakeBackend);

#[async_trait::async_trait]
impl cache_core::CacheBackend for NoFeed {
    fn name(&self) -> &'static str {
        "no-feed"
    }
    fn payload_kind(&self) -> cache_core::PayloadKind {
        self.0.payload_kind()
    }
    async fn get(&self, key: &str) -> cache_core::Result<Option<cache_core::StoredEntry>> {
        self.0.get(key).await
    }
    async fn set(
        &self,
        key: &str,
        payload: cache_core::Payload,
        lifetime: Duration,
    ) -> cache_core::Result<()> {
        self.0.set(key, payload, lifetime).await
    }
    async fn delete(&self, key: &str) -> cache_core::Result<bool> {
        self.0.delete(key).await
    }
    async fn invalidate_pattern(&self, pattern: &str) -> cache_core::Result<u64> {
        self.0.invalidate_pattern(pattern).await
    }
    async fn ping(&self) -> cache_core::Result<()> {
        self.0.ping().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_pattern_invalidation_drops_the_l1() {
    let store = l2();
    let a = tiered(&store);
    write(&a, "user:1", 1).await;
    read(&a, "user:1").await;
    store.feed().hold(); // not even the feed's own changes: the cache drops its L1 itself
    a.invalidate_pattern("user:*").await.unwrap();
    assert!(a.get::<u64>("user:1").await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn the_cache_contracts_hold_on_two_tiers_and_on_one() {
    let store = l2();
    let prefix = cache_core::testing::unique_prefix("contracts:fake-two-tiers");
    cache_core::testing::cache_contracts::run_all(&tiered(&store), &tiered(&store), &prefix).await;
    let store = l2();
    let one_tier = || SmartCache::new(store.clone());
    let prefix = cache_core::testing::unique_prefix("contracts:fake-one-tier");
    cache_core::testing::cache_contracts::run_all(&one_tier(), &one_tier(), &prefix).await;
}

#[tokio::test(start_paused = true)]
async fn with_the_backend_down_the_l1_copy_backs_fail_safe_but_is_not_served_as_fresh() {
    let store = l2();
    let a = tiered(&store);
    write(&a, "k", 1).await;
    read(&a, "k").await;
    store.fail_always(true); // Redis down: its feed is silent too
    store.feed().stall_heartbeats(true);
    tokio::time::sleep(a.l1_status().unwrap().staleness_bound + HEARTBEAT).await;
    // A compute that succeeds wins over the L1 copy: it is not known to be current.
    let computed = a
        .get_or_compute_detailed("k", &EntryOptions::new(), || async {
            Ok::<_, std::io::Error>(2u64)
        })
        .await
        .unwrap();
    assert_eq!((*computed.value, computed.source), (2, Source::Bypass));
    // A compute that fails: the L1's last good value is served, as fail-safe.
    let failed = a
        .get_or_compute_detailed("k", &EntryOptions::new(), || async {
            Err::<u64, _>(std::io::Error::other("model down"))
        })
        .await
        .unwrap();
    assert_eq!(
        (*failed.value, failed.source, failed.tier),
        (1, Source::FailSafe, Some(Tier::L1))
    );
}

/// A tagged L1 hit costs what an untagged one does once its tags were checked: no lookup of
/// their versions while none changed; an invalidation of one of them by another instance (a
/// version key change the feed reports) is seen at once.
#[tokio::test(start_paused = true)]
async fn tagged_l1_hits_look_versions_up_only_after_a_version_changed() {
    let store = l2();
    let l1 = FakeBackend::new();
    let cache = |l1: FakeBackend| {
        SmartCache::builder(store.clone())
            .default_ttl(TTL)
            .grace(GRACE)
            .l1(l1)
            .l1_heartbeat(HEARTBEAT)
            .build()
    };
    let (a, b) = (cache(l1.clone()), cache(FakeBackend::new()));
    let tagged = EntryOptions::new().tags(["team:1", "league:9"]);
    let get = |value: u64| {
        let (a, tagged) = (a.clone(), tagged.clone());
        async move {
            let lookup = a
                .get_or_compute_detailed("k", &tagged, move || async move {
                    Ok::<_, std::io::Error>(value)
                })
                .await
                .unwrap();
            (*lookup.value, lookup.source, lookup.tier)
        }
    };
    assert_eq!(get(1).await, (1, Source::Miss, None));
    assert_eq!(get(2).await, (1, Source::Hit, Some(Tier::L2)));
    assert_eq!(
        get(2).await,
        (1, Source::Hit, Some(Tier::L1)),
        "checks the tags"
    );
    let l1_gets = l1.count(OpKind::Get);
    for _ in 0..5 {
        assert_eq!(get(2).await, (1, Source::Hit, Some(Tier::L1)));
    }
    assert_eq!(
        l1.count(OpKind::Get) - l1_gets,
        5,
        "one L1 read per hit, none for the tags' versions"
    );
    b.invalidate_tag("league:9").await.unwrap();
    assert_eq!(
        get(3).await,
        (3, Source::Miss, None),
        "the tag's change is seen"
    );
}

/// Behind an L1 copy, a failed compute serves the last good value and keeps it on `store` a
/// little longer, as on one tier: this instance's next call does not compute, and another
/// instance finds it on the store.
async fn fail_safe_behind_the_l1_keeps_the_last_good_value_on(store: &FakeBackend) {
    let cache = tiered(store);
    write(&cache, "k", 1).await;
    assert_eq!(read(&cache, "k").await, (1, Some(Tier::L2)));
    assert_eq!(read(&cache, "k").await, (1, Some(Tier::L1)));
    tokio::time::advance(TTL + Duration::from_secs(1)).await;
    // The feed's heartbeats catch up with the clock: the L1 may serve again.
    tokio::time::sleep(HEARTBEAT * 2).await;
    let no_swr = EntryOptions::new().stale_while_revalidate(false);
    let failed = cache
        .get_or_compute_detailed("k", &no_swr, failing())
        .await
        .unwrap();
    assert_eq!(
        (*failed.value, failed.source, failed.tier),
        (1, Source::FailSafe, Some(Tier::L1))
    );
    settle().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let next = cache
        .get_or_compute_detailed("k", &no_swr, counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!((*next.value, next.source), (1, Source::Hit));
    assert_eq!(count(&runs), 0);
    assert_eq!(read(&tiered(store), "k").await, (1, Some(Tier::L2)));
}

/// Over a store that keeps objects (the fake's default), an entry the L1 holds names the very
/// object the store holds, so the conditional write that keeps it matches.
#[tokio::test(start_paused = true)]
async fn over_an_object_store_fail_safe_keeps_the_last_good_value_read_from_the_l1() {
    fail_safe_behind_the_l1_keeps_the_last_good_value_on(&FakeBackend::new()).await;
}

/// Over a store that keeps bytes, the L1 keeps the decoded value only: the fail-safe extension
/// reads the stored entry again and, as it is still that write, keeps it.
#[tokio::test(start_paused = true)]
async fn over_a_bytes_store_fail_safe_keeps_the_last_good_value_read_from_the_l1() {
    fail_safe_behind_the_l1_keeps_the_last_good_value_on(&l2()).await;
}

/// A stale L1 copy whose key another instance rewrote (the change not delivered yet): the
/// refresh's double-check finds the newer write on the store by its write id, and serves it
/// instead of computing.
#[tokio::test(start_paused = true)]
async fn a_stale_l1_copy_gives_way_to_a_newer_write_found_by_the_refresh() {
    let store = l2();
    let (a, b) = (tiered(&store), tiered(&store));
    write(&a, "k", 1).await;
    read(&a, "k").await;
    assert_eq!(read(&a, "k").await, (1, Some(Tier::L1)));
    tokio::time::advance(TTL + Duration::from_secs(1)).await;
    tokio::time::sleep(HEARTBEAT * 2).await;
    store.feed().hold();
    write(&b, "k", 2).await;
    let no_swr = EntryOptions::new().stale_while_revalidate(false);
    let runs = Arc::new(AtomicUsize::new(0));
    let refreshed = a
        .get_or_compute_detailed("k", &no_swr, counted(&runs, 3))
        .await
        .unwrap();
    assert_eq!(*refreshed.value, 2);
    assert_eq!(count(&runs), 0, "the newer write was found, not recomputed");
}

/// A fill is stored before it is checked against the changes reported since its L2 read: in
/// between, it must not be served. Here the change arrives while the L2 reply is in flight (so
/// it finds no L1 entry to invalidate), and a read comes while the fill is stored but its store
/// call has not returned.
#[tokio::test(start_paused = true)]
async fn a_fill_stored_but_not_yet_checked_is_not_served() {
    let store = l2();
    let l1 = FakeBackend::new();
    let a = SmartCache::builder(store.clone())
        .default_ttl(TTL)
        .grace(GRACE)
        .seed(7)
        .l1(l1.clone())
        .l1_heartbeat(HEARTBEAT)
        .build();
    let b = tiered(&store);
    write(&a, "k", 1).await;
    store.delay_next_reply(OpKind::Get, Duration::from_millis(10));
    l1.delay_next_reply(OpKind::Set, Duration::from_millis(10));
    let reader = {
        let a = a.clone();
        tokio::spawn(async move { read(&a, "k").await })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    write(&b, "k", 2).await;
    // At 10 ms the old value's fill is in the L1 store; its check ends at 20 ms.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(read(&a, "k").await, (2, Some(Tier::L2)));
    assert_eq!(reader.await.unwrap(), (1, Some(Tier::L2)));
    assert_eq!(read(&a, "k").await, (2, Some(Tier::L1)));
}
