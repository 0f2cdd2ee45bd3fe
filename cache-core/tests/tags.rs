//! Tags and `clear()` on the fake backend under paused tokio time.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use cache_core::tag::{CLEAR_KEY, MAX_TAG_BYTES, TagVersion, version_key};
use cache_core::{CacheBackend, CacheError, EntryOptions, Payload, SmartCache, Source};
use cache_fake::FakeBackend;
use common::*;

fn tagged(tags: &[&str]) -> EntryOptions {
    opts().tags(tags.iter().copied())
}

/// One `get_or_compute` of `key` with `tags` whose compute returns `value`: where the answer
/// came from, and its value.
async fn lookup(cache: &SmartCache, key: &str, tags: &[&str], value: u64) -> (Source, u64) {
    let runs = Arc::new(AtomicUsize::new(0));
    let answer = cache
        .get_or_compute_detailed(key, &tagged(tags), counted(&runs, value))
        .await
        .unwrap();
    (answer.source, *answer.value)
}

#[tokio::test(start_paused = true)]
async fn invalidate_tag_drops_the_tagged_entries_and_keeps_the_others() {
    for fake in [
        FakeBackend::new(),
        FakeBackend::builder().encode_values(true).build(),
    ] {
        let cache = cache(&fake);
        lookup(&cache, "pl:1", &["competition:pl"], 1).await;
        lookup(&cache, "pl:2", &["competition:pl"], 2).await;
        lookup(&cache, "liga:1", &["competition:liga"], 3).await;
        lookup(&cache, "untagged", &[], 4).await;

        cache.invalidate_tag("competition:pl").await.unwrap();

        assert_eq!(
            lookup(&cache, "pl:1", &["competition:pl"], 10).await,
            (Source::Miss, 10)
        );
        assert_eq!(
            lookup(&cache, "pl:2", &["competition:pl"], 20).await,
            (Source::Miss, 20)
        );
        assert_eq!(
            lookup(&cache, "liga:1", &["competition:liga"], 30).await,
            (Source::Hit, 3)
        );
        assert_eq!(lookup(&cache, "untagged", &[], 40).await, (Source::Hit, 4));
        assert_eq!(cache.stats().tag_invalidated, 2);
        // The recomputed entries are valid under the new version.
        assert_eq!(
            lookup(&cache, "pl:1", &["competition:pl"], 11).await,
            (Source::Hit, 10)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn invalidation_during_a_compute_makes_its_result_invalid_on_arrival() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let runs = Arc::new(AtomicUsize::new(0));
    let computing = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move {
            cache
                .get_or_compute_detailed("k", &tagged(&["t"]), counted(&runs, 1))
                .await
        })
    };
    // The compute takes DELTA; the tag is invalidated half-way through.
    tokio::time::sleep(DELTA / 2).await;
    assert_eq!(count(&runs), 1, "the compute is running");
    cache.invalidate_tag("t").await.unwrap();
    let first = computing.await.unwrap().unwrap();
    assert_eq!((first.source, *first.value), (Source::Miss, 1));
    assert!(
        fake.peek("k").is_some(),
        "stored, with the versions read before the compute"
    );

    assert_eq!(lookup(&cache, "k", &["t"], 2).await, (Source::Miss, 2));
    assert_eq!(cache.stats().tag_invalidated, 1);
    assert_eq!(lookup(&cache, "k", &["t"], 3).await, (Source::Hit, 2));
}

#[tokio::test(start_paused = true)]
async fn a_missing_version_key_invalidates_and_the_entry_is_not_a_fail_safe_value() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    lookup(&cache, "k", &["t"], 1).await;
    assert!(
        fake.delete(&version_key("t")).await.unwrap(),
        "the version key existed"
    );

    // Not served, not even as the last good value of a failing compute.
    let failed = cache.get_or_compute("k", &tagged(&["t"]), failing()).await;
    assert!(matches!(failed, Err(CacheError::Compute(_))), "{failed:?}");
    assert_eq!(cache.stats().fail_safe_serves, 0);
    assert_eq!(cache.stats().tag_invalidated, 1);

    // The next write creates the version key again, and its entry is valid.
    assert_eq!(lookup(&cache, "k", &["t"], 2).await, (Source::Miss, 2));
    assert!(fake.peek(&version_key("t")).is_some());
    assert_eq!(lookup(&cache, "k", &["t"], 3).await, (Source::Hit, 2));
}

#[tokio::test(start_paused = true)]
async fn a_garbled_version_key_invalidates() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    lookup(&cache, "k", &["t"], 1).await;
    let garbled = Payload::Bytes(cache_core::Bytes::from_static(b"not a version"));
    fake.set(&version_key("t"), garbled, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(lookup(&cache, "k", &["t"], 2).await, (Source::Miss, 2));
    assert_eq!(lookup(&cache, "k", &["t"], 3).await, (Source::Hit, 2));
}

#[tokio::test(start_paused = true)]
async fn a_stale_entry_of_an_invalidated_tag_is_not_served_while_revalidating() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    lookup(&cache, "k", &["t"], 1).await;
    tokio::time::sleep(TTL + Duration::from_secs(1)).await; // stale, inside its grace period
    cache.invalidate_tag("t").await.unwrap();
    assert_eq!(lookup(&cache, "k", &["t"], 2).await, (Source::Miss, 2));
    assert_eq!(cache.stats().stale_served, 0);
}

#[tokio::test(start_paused = true)]
async fn an_entry_with_two_tags_goes_with_either() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let both = ["team:42", "competition:pl"];
    lookup(&cache, "k", &both, 1).await;
    cache.invalidate_tag("team:7").await.unwrap();
    assert_eq!(lookup(&cache, "k", &both, 2).await, (Source::Hit, 1));
    cache.invalidate_tag("team:42").await.unwrap();
    assert_eq!(lookup(&cache, "k", &both, 3).await, (Source::Miss, 3));
    cache
        .invalidate_tags(["competition:pl", "unused"])
        .await
        .unwrap();
    assert_eq!(lookup(&cache, "k", &both, 4).await, (Source::Miss, 4));
    assert_eq!(lookup(&cache, "k", &both, 5).await, (Source::Hit, 4));
    let env = stored::<u64>(&fake, "k").unwrap();
    let tags: Vec<&str> = env
        .tags
        .as_ref()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(tags, ["competition:pl", "team:42"]);
    assert_eq!(env.version, cache_core::TAGGED_ENVELOPE_VERSION);
}

#[tokio::test(start_paused = true)]
async fn set_with_tags_is_invalidated_by_them() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    cache.set("k", 5u64, &tagged(&["t"])).await.unwrap();
    cache.set("other", 6u64, &tagged(&["u"])).await.unwrap();
    assert_eq!(*cache.get::<u64>("k").await.unwrap().unwrap().value, 5);
    cache.invalidate_tag("t").await.unwrap();
    assert!(cache.get::<u64>("k").await.unwrap().is_none());
    assert_eq!(*cache.get::<u64>("other").await.unwrap().unwrap().value, 6);
    // A set after the invalidation records the new version.
    cache.set("k", 7u64, &tagged(&["t"])).await.unwrap();
    assert_eq!(*cache.get::<u64>("k").await.unwrap().unwrap().value, 7);
}

#[tokio::test(start_paused = true)]
async fn version_keys_outlive_their_entries() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    lookup(&cache, "k", &["t"], 1).await;
    let entry = fake.peek("k").unwrap().remaining.unwrap();
    let version = fake.peek(&version_key("t")).unwrap().remaining.unwrap();
    // Written with the longest lifetime the store allows (less the compute that followed).
    assert!(version > fake.max_lifetime() - Duration::from_secs(1));
    assert!(version > entry * 1000);
    assert!(fake.peek(CLEAR_KEY).unwrap().remaining.unwrap() > entry * 1000);
    let stored = fake.peek(&version_key("t")).unwrap().payload;
    let Payload::Bytes(bytes) = stored else {
        panic!("versions are stored as text")
    };
    let recorded = stored_version(&fake, "k", "t");
    assert_eq!(TagVersion::parse(&bytes), Some(recorded));
}

fn stored_version(fake: &FakeBackend, key: &str, tag: &str) -> TagVersion {
    stored::<u64>(fake, key).unwrap().tags.unwrap()[tag]
}

#[tokio::test(start_paused = true)]
async fn concurrent_creators_of_a_version_key_agree_on_one_version() {
    let fake = FakeBackend::new();
    fake.set_latency(Duration::from_millis(10));
    let (a, b) = (cache(&fake), cache(&fake));
    let (x, y) = tokio::join!(lookup(&a, "x", &["new"], 1), lookup(&b, "y", &["new"], 2));
    assert_eq!((x.0, y.0), (Source::Miss, Source::Miss));
    assert_eq!(
        stored_version(&fake, "x", "new"),
        stored_version(&fake, "y", "new")
    );
    assert_eq!(lookup(&a, "y", &["new"], 3).await, (Source::Hit, 2));
    assert_eq!(lookup(&b, "x", &["new"], 4).await, (Source::Hit, 1));
}

#[tokio::test(start_paused = true)]
async fn clear_invalidates_everything_this_cache_wrote() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    lookup(&cache, "a", &[], 1).await;
    lookup(&cache, "b", &["t"], 2).await;
    cache.set("c", 3u64, &opts()).await.unwrap();
    cache.clear().await.unwrap();
    assert_eq!(lookup(&cache, "a", &[], 10).await, (Source::Miss, 10));
    assert_eq!(lookup(&cache, "b", &["t"], 20).await, (Source::Miss, 20));
    assert!(cache.get::<u64>("c").await.unwrap().is_none());
    assert_eq!(cache.stats().tag_invalidated, 3);
    assert_eq!(lookup(&cache, "a", &[], 11).await, (Source::Hit, 10));
}

#[tokio::test(start_paused = true)]
async fn a_flight_running_during_clear_is_not_joined_nor_stored() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let runs = Arc::new(AtomicUsize::new(0));
    let computing = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move { cache.get_or_compute("k", &opts(), counted(&runs, 1)).await })
    };
    tokio::time::sleep(DELTA / 2).await;
    cache.clear().await.unwrap();
    // A caller arriving after the clear does not get the old flight's value.
    let after = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!((after.source, *after.value), (Source::Miss, 2));
    assert_eq!(*computing.await.unwrap().unwrap(), 1);
    assert_eq!(count(&runs), 2);
    assert_eq!(lookup(&cache, "k", &[], 3).await, (Source::Hit, 2));
}

#[tokio::test(start_paused = true)]
async fn another_instances_clear_is_seen_within_the_check_interval() {
    let fake = FakeBackend::new();
    let interval = Duration::from_millis(100);
    let a = builder(&fake).clear_check_interval(interval).build();
    let b = builder(&fake).clear_check_interval(interval).build();
    a.set("k", 1u64, &opts()).await.unwrap();
    assert!(
        b.get::<u64>("k").await.unwrap().is_some(),
        "b read the namespace version"
    );

    a.clear().await.unwrap();
    assert!(
        a.get::<u64>("k").await.unwrap().is_none(),
        "at once where it was called"
    );
    tokio::time::sleep(interval).await;
    assert!(
        b.get::<u64>("k").await.unwrap().is_none(),
        "within the interval elsewhere"
    );
    // And b's own writes from now on are under the new version, valid for a.
    b.set("k", 2u64, &opts()).await.unwrap();
    assert_eq!(*a.get::<u64>("k").await.unwrap().unwrap().value, 2);
}

#[tokio::test(start_paused = true)]
async fn a_zero_interval_reads_the_namespace_version_on_every_hit() {
    let fake = FakeBackend::new();
    let a = builder(&fake).clear_check_interval(Duration::ZERO).build();
    let b = builder(&fake).clear_check_interval(Duration::ZERO).build();
    lookup(&a, "k", &[], 1).await;
    assert_eq!(lookup(&b, "k", &[], 2).await, (Source::Hit, 1));
    a.clear().await.unwrap();
    assert_eq!(lookup(&b, "k", &[], 3).await, (Source::Miss, 3));
}

#[tokio::test(start_paused = true)]
async fn a_lost_namespace_version_clears() {
    let fake = FakeBackend::new();
    let cache = builder(&fake).clear_check_interval(Duration::ZERO).build();
    lookup(&cache, "k", &[], 1).await;
    fake.delete(CLEAR_KEY).await.unwrap(); // evicted, or flushed
    assert_eq!(lookup(&cache, "k", &[], 2).await, (Source::Miss, 2));
    assert_eq!(lookup(&cache, "k", &[], 3).await, (Source::Hit, 2));
}

#[tokio::test(start_paused = true)]
async fn bad_tags_are_errors_and_odd_ones_are_just_tags() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let huge = "x".repeat(MAX_TAG_BYTES + 1);
    for bad in ["", huge.as_str()] {
        let read = cache
            .get_or_compute("k", &tagged(&[bad]), || async { Ok::<_, CacheError>(1u64) })
            .await;
        assert!(matches!(read, Err(CacheError::InvalidTag(_))), "{read:?}");
        let set = cache.set("k", 1u64, &tagged(&[bad])).await;
        assert!(matches!(set, Err(CacheError::InvalidTag(_))), "{set:?}");
        let invalidate = cache.invalidate_tag(bad).await;
        assert!(matches!(invalidate, Err(CacheError::InvalidTag(_))));
    }
    let too_many: Vec<String> = (0..=cache_core::tag::MAX_TAGS)
        .map(|i| i.to_string())
        .collect();
    let read = cache
        .get_or_compute("k", &opts().tags(too_many), || async {
            Ok::<_, CacheError>(1u64)
        })
        .await;
    assert!(matches!(read, Err(CacheError::InvalidTag(_))));
    assert!(fake.peek("k").is_none(), "nothing was stored for bad tags");

    // Glob characters and braces are plain tags: `a*` is not a pattern over `ab`.
    let odd = ["a*", "{x}", "[set]", "back\\slash", "ab", "x"];
    for (i, tag) in odd.iter().enumerate() {
        lookup(&cache, &format!("odd:{i}"), &[tag], i as u64).await;
    }
    cache.invalidate_tag("a*").await.unwrap();
    cache.invalidate_tag("{x}").await.unwrap();
    let sources: Vec<Source> = {
        let mut out = Vec::new();
        for (i, tag) in odd.iter().enumerate() {
            out.push(lookup(&cache, &format!("odd:{i}"), &[tag], 100).await.0);
        }
        out
    };
    use Source::{Hit, Miss};
    assert_eq!(sources, [Miss, Miss, Hit, Hit, Hit, Hit]);
}

#[tokio::test(start_paused = true)]
async fn the_cache_refuses_its_own_keys() {
    let fake = FakeBackend::new();
    let cache = cache(&fake);
    let key = version_key("t");
    assert!(matches!(
        cache.set(&key, 1u64, &opts()).await,
        Err(CacheError::InvalidKey(_))
    ));
    assert!(matches!(
        cache.get::<u64>(CLEAR_KEY).await,
        Err(CacheError::InvalidKey(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn an_untagged_hit_reads_nothing_but_its_key_within_the_interval() {
    let fake = FakeBackend::new();
    let cache = builder(&fake)
        .clear_check_interval(Duration::from_secs(1))
        .build();
    lookup(&cache, "k", &[], 1).await;
    fake.clear_ops();
    for _ in 0..10 {
        assert_eq!(lookup(&cache, "k", &[], 2).await.0, Source::Hit);
    }
    assert_eq!(fake.total_calls(), 10, "one GET per hit: {:?}", fake.ops());
    tokio::time::sleep(Duration::from_secs(1)).await;
    fake.clear_ops();
    lookup(&cache, "k", &[], 2).await;
    assert_eq!(
        fake.total_calls(),
        2,
        "the namespace version is re-read once per interval"
    );
}

/// A cache with an L1 (a fake holding objects) over `l2`, a fake playing Redis.
fn tiered(l2: &FakeBackend) -> SmartCache {
    builder(l2)
        .l1(FakeBackend::new())
        .l1_heartbeat(Duration::from_millis(100))
        .clear_check_interval(Duration::from_millis(100))
        .build()
}

#[tokio::test(start_paused = true)]
async fn an_l1_copy_is_checked_like_the_entry_it_came_from() {
    let store = FakeBackend::builder().encode_values(true).build();
    let (a, b) = (tiered(&store), tiered(&store));
    lookup(&a, "tagged", &["t"], 1).await;
    lookup(&a, "plain", &[], 2).await;
    for key in ["tagged", "plain"] {
        b.get::<u64>(key)
            .await
            .unwrap()
            .expect("filled into b's L1");
        let second = b
            .get_or_compute_detailed(key, &opts(), failing())
            .await
            .unwrap();
        assert_eq!(second.tier, Some(cache_core::Tier::L1), "{key}");
    }

    a.invalidate_tag("t").await.unwrap();
    assert_eq!(lookup(&b, "tagged", &["t"], 10).await, (Source::Miss, 10));
    assert_eq!(b.stats().tag_invalidated, 1);

    a.clear().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(lookup(&b, "plain", &[], 20).await, (Source::Miss, 20));
    assert_eq!(lookup(&a, "tagged", &["t"], 30).await, (Source::Miss, 30));
}

#[tokio::test(start_paused = true)]
async fn a_tagged_l1_hit_reads_its_tag_versions_from_the_l1_too() {
    let store = FakeBackend::builder().encode_values(true).build();
    let (a, b) = (tiered(&store), tiered(&store));
    lookup(&a, "tagged", &["t"], 1).await;
    // Warm: the entry and its tag's version come into the L1.
    for _ in 0..2 {
        a.get::<u64>("tagged").await.unwrap().expect("a hit");
    }
    store.clear_ops();
    for _ in 0..3 {
        let hit = a
            .get_or_compute_detailed("tagged", &opts(), failing())
            .await
            .unwrap();
        assert_eq!(
            (hit.source, hit.tier),
            (Source::Hit, Some(cache_core::Tier::L1))
        );
    }
    assert_eq!(
        store.total_calls(),
        0,
        "a tagged L1 hit does no I/O: {:?}",
        store.ops()
    );
    // Another instance invalidates the tag: the version key's change reaches A's L1.
    b.invalidate_tag("t").await.unwrap();
    assert_eq!(lookup(&a, "tagged", &["t"], 2).await, (Source::Miss, 2));
}

/// Without an L1, a tagged read over a store that must be awaited reads the versions of the
/// tags its options name beside the entry: one round trip, not the entry's and then its tags'.
/// What it decides is what reading them after the entry decided.
#[tokio::test(start_paused = true)]
async fn a_tagged_read_takes_its_versions_beside_the_entry() {
    let fake = FakeBackend::new();
    let cache = builder(&fake)
        .clear_check_interval(Duration::from_secs(3600))
        .build();
    lookup(&cache, "k", &["t"], 1).await;
    lookup(&cache, "other", &["u"], 5).await;
    let latency = Duration::from_millis(10);
    fake.set_latency(latency);

    let started = tokio::time::Instant::now();
    assert_eq!(lookup(&cache, "k", &["t"], 2).await, (Source::Hit, 1));
    assert_eq!(started.elapsed(), latency, "one round trip");

    cache.invalidate_tag("t").await.unwrap();
    assert_eq!(lookup(&cache, "k", &["t"], 3).await, (Source::Miss, 3));
    assert_eq!(cache.stats().tag_invalidated, 1);

    // An entry carrying a tag its reader did not name is checked all the same: a second read
    // for that tag's version.
    let started = tokio::time::Instant::now();
    assert_eq!(lookup(&cache, "other", &["t"], 6).await, (Source::Hit, 5));
    assert_eq!(started.elapsed(), latency * 2);
    cache.invalidate_tag("u").await.unwrap();
    assert_eq!(lookup(&cache, "other", &["t"], 7).await, (Source::Miss, 7));

    // A version key gone: invalidated, as when it is read after the entry.
    fake.set_latency(Duration::ZERO);
    assert!(fake.delete(&version_key("t")).await.unwrap());
    fake.set_latency(latency);
    let failed = cache.get_or_compute("k", &tagged(&["t"]), failing()).await;
    assert!(matches!(failed, Err(CacheError::Compute(_))), "{failed:?}");
    assert_eq!(cache.stats().fail_safe_serves, 0);
}
