//! Tags and `clear()` on real Redis, standalone and a 3-primary cluster: an invalidation during
//! a compute, a version key deleted behind the cache's back, tags on several slots, another
//! instance's `clear()`.
//!
//! One scenario per topology, each on servers of its own (`clear()` invalidates everything the
//! store holds, so it must not run beside other tests' entries).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::tag::{TagVersion, version_key};
use cache_core::testing::unique_prefix;
use cache_core::{EntryOptions, SmartCache, Source};
use redis_harness::{RedisCluster, RedisServer, Reply};
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_and_clear_on_standalone() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let nodes = std::slice::from_ref(&server);
    scenario(&server.url(), nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_and_clear_on_cluster() {
    let cluster = RedisCluster::start(3).unwrap_or_else(|e| panic!("{e}"));
    scenario(&cluster.url(), cluster.nodes()).await;
}

async fn scenario(url: &str, nodes: &[RedisServer]) {
    let interval = Duration::from_millis(50);
    let a = SmartCache::builder(common::connect(url).await)
        .clear_check_interval(interval)
        .build();
    let b = SmartCache::builder(common::connect(url).await)
        .clear_check_interval(interval)
        .build();
    let prefix = unique_prefix("tags");
    invalidation_during_a_compute(&a, &prefix).await;
    missing_version_key(&a, &prefix, nodes).await;
    tags_on_several_slots(&a, &b, &prefix, nodes).await;
    another_instances_clear(&a, &b, &prefix, interval).await;
}

/// The lookup of `key` with `tags`, whose compute (if it runs) returns `value`.
async fn lookup(cache: &SmartCache, key: &str, tags: &[String], value: u64) -> (Source, u64) {
    let opts = EntryOptions::new().tags(tags.iter().cloned());
    let got = cache
        .get_or_compute_detailed(
            key,
            &opts,
            move || async move { Ok::<_, std::io::Error>(value) },
        )
        .await
        .unwrap();
    (got.source, *got.value)
}

async fn invalidation_during_a_compute(cache: &SmartCache, prefix: &str) {
    let key = format!("{prefix}:during");
    let tags = vec![format!("{prefix}:competition:pl")];
    let (started, has_started) = oneshot::channel();
    let (release, released) = oneshot::channel::<()>();
    let computing = {
        let (cache, key) = (cache.clone(), key.clone());
        let opts = EntryOptions::new().tags(tags.clone());
        tokio::spawn(async move {
            cache
                .get_or_compute_detailed(&key, &opts, move || async move {
                    let _ = started.send(());
                    let _ = released.await;
                    Ok::<_, std::io::Error>(1u64)
                })
                .await
        })
    };
    has_started.await.unwrap();
    cache.invalidate_tag(&tags[0]).await.unwrap();
    release.send(()).unwrap();
    let first = computing.await.unwrap().unwrap();
    assert_eq!((first.source, *first.value), (Source::Miss, 1));
    assert_eq!(
        lookup(cache, &key, &tags, 2).await,
        (Source::Miss, 2),
        "invalid on arrival"
    );
    assert_eq!(lookup(cache, &key, &tags, 3).await, (Source::Hit, 2));
}

/// `DEL` on whichever node holds `key` (the others answer `MOVED`); whether it existed.
fn delete_on_nodes(nodes: &[RedisServer], key: &str) -> bool {
    nodes
        .iter()
        .any(|node| matches!(node.command(&["DEL", key]), Ok(Reply::Integer(1))))
}

/// `GET` on whichever node holds `key`.
fn get_on_nodes(nodes: &[RedisServer], key: &str) -> Option<Vec<u8>> {
    nodes
        .iter()
        .find_map(|node| match node.command(&["GET", key]) {
            Ok(Reply::Bulk(Some(bytes))) => Some(bytes),
            _ => None,
        })
}

async fn missing_version_key(cache: &SmartCache, prefix: &str, nodes: &[RedisServer]) {
    let key = format!("{prefix}:missing");
    let tags = vec![format!("{prefix}:evicted")];
    assert_eq!(lookup(cache, &key, &tags, 1).await, (Source::Miss, 1));
    assert_eq!(lookup(cache, &key, &tags, 2).await, (Source::Hit, 1));
    let stored = get_on_nodes(nodes, &version_key(&tags[0])).expect("the version key");
    // The adapter's frame (expiry on the server's clock), then the version.
    let (_, version) = cache_redis::frame::decode(&stored).expect("framed");
    assert!(
        TagVersion::parse(version).is_some(),
        "16 hex digits, readable with redis-cli: {:?}",
        String::from_utf8_lossy(version)
    );
    assert!(delete_on_nodes(nodes, &version_key(&tags[0])));
    let before = cache.stats().tag_invalidated;
    assert_eq!(lookup(cache, &key, &tags, 3).await, (Source::Miss, 3));
    assert_eq!(cache.stats().tag_invalidated, before + 1);
    assert_eq!(lookup(cache, &key, &tags, 4).await, (Source::Hit, 3));
}

async fn tags_on_several_slots(
    a: &SmartCache,
    b: &SmartCache,
    prefix: &str,
    nodes: &[RedisServer],
) {
    let tags: Vec<String> = (0..12).map(|i| format!("{prefix}:team:{i}")).collect();
    // One entry per tag, and one entry carrying all of them (one MGET per slot to check it).
    for (i, tag) in tags.iter().enumerate() {
        let key = format!("{prefix}:team-entry:{i}");
        assert_eq!(
            lookup(a, &key, std::slice::from_ref(tag), i as u64).await.0,
            Source::Miss
        );
    }
    let holders: std::collections::BTreeSet<u16> = tags
        .iter()
        .filter_map(|tag| {
            let key = version_key(tag);
            nodes
                .iter()
                .find(|node| matches!(node.command(&["EXISTS", &key]), Ok(Reply::Integer(1))))
                .map(RedisServer::port)
        })
        .collect();
    assert_eq!(holders.len(), nodes.len(), "version keys on every node");
    let all = format!("{prefix}:all-teams");
    assert_eq!(lookup(a, &all, &tags, 100).await, (Source::Miss, 100));
    let stored = get_on_nodes(nodes, &all).expect("stored");
    // Past the frame's header: a tagged envelope (format 2) with every tag's version.
    let (_, payload) = cache_redis::frame::decode(&stored).expect("a framed value");
    let envelope: cache_core::Envelope<u64> =
        cache_core::Codec::decode(&cache_core::JsonCodec, payload).expect("decodes");
    assert_eq!(envelope.version, cache_core::TAGGED_ENVELOPE_VERSION);
    assert_eq!(envelope.tags.map(|t| t.len()), Some(tags.len()));
    assert_eq!(lookup(b, &all, &tags, 101).await, (Source::Hit, 100));

    b.invalidate_tag(&tags[7]).await.unwrap();
    for (i, tag) in tags.iter().enumerate() {
        let key = format!("{prefix}:team-entry:{i}");
        let expected = if i == 7 { Source::Miss } else { Source::Hit };
        assert_eq!(
            lookup(a, &key, std::slice::from_ref(tag), 50).await.0,
            expected,
            "{i}"
        );
    }
    assert_eq!(lookup(a, &all, &tags, 102).await, (Source::Miss, 102));
    assert_eq!(lookup(b, &all, &tags, 103).await, (Source::Hit, 102));
}

async fn another_instances_clear(a: &SmartCache, b: &SmartCache, prefix: &str, interval: Duration) {
    let keys: Vec<String> = (0..20).map(|i| format!("{prefix}:clear:{i}")).collect();
    let computes = Arc::new(AtomicUsize::new(0));
    for key in &keys {
        let computes = computes.clone();
        a.get_or_compute(key, &EntryOptions::new(), move || async move {
            computes.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(1u64)
        })
        .await
        .unwrap();
    }
    for key in &keys {
        assert_eq!(lookup(b, key, &[], 2).await, (Source::Hit, 1));
    }
    a.clear().await.unwrap();
    assert!(
        a.get::<u64>(&keys[0]).await.unwrap().is_none(),
        "at once on a"
    );
    // Past the interval, b re-reads the namespace version before trusting any entry.
    tokio::time::sleep(interval * 2).await;
    for key in &keys {
        assert!(
            b.get::<u64>(key).await.unwrap().is_none(),
            "{key} survived the clear"
        );
    }
    assert_eq!(lookup(b, &keys[0], &[], 3).await, (Source::Miss, 3));
    assert_eq!(lookup(a, &keys[0], &[], 4).await, (Source::Hit, 3));
    assert_eq!(computes.load(Ordering::SeqCst), keys.len());
}
