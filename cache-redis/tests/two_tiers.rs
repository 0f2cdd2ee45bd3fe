//! An L1 in front of real Redis (standalone and a 3-primary cluster), kept coherent by client
//! tracking: the cache contracts on two tiers, writes by anything (`redis-cli`-style commands
//! from the harness's own connection) dropping keys from the L1, and the staleness checker
//! (`cache_core::testing::staleness`) — four instances writing, deleting and reading at random
//! while their connections are killed, every read checked against the history of acknowledged
//! writes.

mod common;

use std::time::Duration;

use cache_core::testing::staleness::{Plan, Role, StalenessChecker, StalenessReport};
use cache_core::{EntryOptions, FeedState, SmartCache, Tier};
use cache_memory::MemoryBackend;
use redis_harness::{RedisServer, Reply};
use tokio::time::Instant;

/// Short, so the tests see the L1 close and reopen quickly.
const HEARTBEAT: Duration = Duration::from_millis(100);

async fn tiered(url: &str) -> SmartCache {
    let cache = SmartCache::builder(common::connect(url).await)
        .default_ttl(Duration::from_secs(60))
        .l1(MemoryBackend::new(10_000))
        .l1_heartbeat(HEARTBEAT)
        .build();
    wait_live(&cache).await;
    cache
}

/// Waits until the cache's change feed is live (tracking enabled, a heartbeat confirmed).
async fn wait_live(cache: &SmartCache) {
    let started = Instant::now();
    loop {
        let status = cache
            .l1_status()
            .expect("the Redis backend offers a change feed");
        if status.feed == FeedState::Live {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "feed not live: {:?}",
            status.feed
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads `key` until it comes from the L1 (the first read fills it).
async fn until_l1(cache: &SmartCache, key: &str) -> u64 {
    let started = Instant::now();
    loop {
        let lookup = cache
            .get_or_compute_detailed(key, &EntryOptions::new(), || async {
                Err::<u64, _>(std::io::Error::other("no compute expected"))
            })
            .await
            .unwrap();
        if lookup.tier == Some(Tier::L1) {
            return *lookup.value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never an L1 hit"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads `key` (no compute) until it reads `expected`, within 10 s.
async fn until_reads(cache: &SmartCache, key: &str, expected: Option<u64>) {
    let started = Instant::now();
    loop {
        let seen = cache.get::<u64>(key).await.unwrap().map(|c| *c.value);
        if seen == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{key} reads {seen:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_contracts_hold_on_two_tiers_standalone() {
    let url = common::server().url();
    let prefix = cache_core::testing::unique_prefix("two-tiers:contracts");
    let (a, b) = (tiered(&url).await, tiered(&url).await);
    cache_core::testing::cache_contracts::run_all(&a, &b, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_contracts_hold_on_two_tiers_cluster() {
    let url = common::cluster().url();
    let prefix = cache_core::testing::unique_prefix("two-tiers:contracts");
    let (a, b) = (tiered(&url).await, tiered(&url).await);
    cache_core::testing::cache_contracts::run_all(&a, &b, &prefix).await;
}

/// `redis-cli`-style writes: from the harness's own connection, not through any cache.
async fn foreign_writes_drop_l1_entries(nodes: &[RedisServer], url: &str, label: &str) {
    let cache = tiered(url).await;
    let prefix = cache_core::testing::unique_prefix(label);
    let opts = EntryOptions::new();
    // One key per primary at least: 12 keys spread over the slots.
    let keys: Vec<String> = (0..12).map(|i| format!("{prefix}:k{i}")).collect();
    let node_of = |key: &str| {
        nodes
            .iter()
            .find(|n| n.command_ok(&["GET", key]).is_ok())
            .expect("one node answers for the key")
    };
    for (i, key) in keys.iter().enumerate() {
        cache.set(key, i as u64, &opts).await.unwrap();
        assert_eq!(until_l1(&cache, key).await, i as u64);
    }
    // DEL, EXPIRE to the past, and SET of another entry's bytes.
    node_of(&keys[0]).command_ok(&["DEL", &keys[0]]).unwrap();
    node_of(&keys[1])
        .command_ok(&["PEXPIRE", &keys[1], "1"])
        .unwrap();
    let Reply::Bulk(Some(donor)) = node_of(&keys[3]).command_ok(&["GET", &keys[3]]).unwrap() else {
        panic!("the donor's frame")
    };
    let set = node_of(&keys[2]).command_bytes(&[b"SET", keys[2].as_bytes(), &donor]);
    assert!(matches!(set, Ok(Reply::Status(_))), "{set:?}");
    until_reads(&cache, &keys[0], None).await;
    until_reads(&cache, &keys[1], None).await;
    until_reads(&cache, &keys[2], Some(3)).await;
    // Every other key is still an L1 hit on every primary.
    for (i, key) in keys.iter().enumerate().skip(3) {
        assert_eq!(until_l1(&cache, key).await, i as u64);
    }
    // FLUSHALL on every node: fred drops Redis's null invalidation; the heartbeat's canary sees
    // the flush and the whole L1 goes.
    for node in nodes {
        node.command_ok(&["FLUSHALL"]).unwrap();
    }
    for key in &keys {
        until_reads(&cache, key, None).await;
    }
    assert!(cache.stats().l1_invalidations >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_by_anything_drop_l1_entries_standalone() {
    let server = RedisServer::start().unwrap();
    foreign_writes_drop_l1_entries(std::slice::from_ref(&server), &server.url(), "foreign").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_by_anything_drop_l1_entries_cluster() {
    let cluster = redis_harness::RedisCluster::start(3).unwrap();
    foreign_writes_drop_l1_entries(cluster.nodes(), &cluster.url(), "foreign").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tracking_rights_there_is_no_l1_serving() {
    // An ACL user that may read and write keys but not run CLIENT: tracking cannot be enabled.
    let server = RedisServer::builder()
        .acl_user("app", "secret-pw")
        .start()
        .unwrap();
    server
        .command_ok(&[
            "ACL",
            "SETUSER",
            "app",
            "reset",
            "on",
            ">secret-pw",
            "~*",
            "&*",
            "+@all",
            "-client",
        ])
        .unwrap();
    let url = server.url_with_auth("app", "secret-pw");
    let cache = SmartCache::builder(common::connect(&url).await)
        .l1(MemoryBackend::new(100))
        .l1_heartbeat(HEARTBEAT)
        .build();
    let started = Instant::now();
    while !matches!(
        cache.l1_status().map(|s| s.feed),
        Some(FeedState::Unavailable(_)) | None
    ) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            cache.l1_status()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(status) = cache.l1_status() {
        let FeedState::Unavailable(reason) = status.feed else {
            unreachable!()
        };
        assert!(!reason.contains("secret-pw"), "{reason}");
    }
    cache.set("k", 1u64, &EntryOptions::new()).await.unwrap();
    for _ in 0..5 {
        let lookup = cache
            .get_or_compute_detailed("k", &EntryOptions::new(), || async {
                Ok::<_, std::io::Error>(0u64)
            })
            .await
            .unwrap();
        assert_eq!((*lookup.value, lookup.tier), (1, Some(Tier::L2)));
    }
}

// ---- the staleness checker (cache_core::testing::staleness) under connection kills ----

async fn check_staleness(url: &str, nodes: &[RedisServer], seconds: u64) -> (StalenessReport, u64) {
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push((tiered(url).await, Role::Writer));
    }
    let prefix = cache_core::testing::unique_prefix("staleness");
    let checker = StalenessChecker::start(instances, &prefix, Plan::default());
    // Connection kills: every client's connections, tracking connections included.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut kills = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(700)).await;
        for node in nodes {
            let _ = node.command(&["CLIENT", "KILL", "TYPE", "normal"]);
            let _ = node.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
        }
        kills += 1;
    }
    (checker.finish().await, kills)
}

/// `STALENESS_SECONDS` (default 5) sets the run's length; the figure is 60.
fn staleness_seconds() -> u64 {
    std::env::var("STALENESS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

async fn staleness_run(url: &str, nodes: &[RedisServer], label: &str) {
    let (report, kills) = check_staleness(url, nodes, staleness_seconds()).await;
    let bound = report.bound;
    println!(
        "staleness {label}: {} reads of a value ({} from L1), {} writes, {kills} connection kills, {} fail-safe answers, {} stale reads, worst {:?}, bound {bound:?}, violations {}",
        report.reads,
        report.l1_reads,
        report.writes,
        report.fail_safe,
        report.stale_reads,
        report.worst,
        report.violations.len()
    );
    assert!(
        report.violations.is_empty(),
        "{label}: {} reads beyond the bound of {bound:?}: {:?}",
        report.violations.len(),
        &report.violations[..report.violations.len().min(10)]
    );
    assert!(
        report.l1_reads > 0,
        "{label}: the L1 never served: {report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_read_is_staler_than_the_bound_standalone() {
    let server = RedisServer::start().unwrap();
    staleness_run(&server.url(), std::slice::from_ref(&server), "standalone").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_read_is_staler_than_the_bound_cluster() {
    let cluster = redis_harness::RedisCluster::start(3).unwrap();
    staleness_run(&cluster.url(), cluster.nodes(), "cluster").await;
}
