//! The redis-rs adapter: conformance on a standalone server and a cluster (from a connection
//! the service already has, and from a URL), the fleet lock, bad input, and secrets.

#[path = "redis_rs_support/mod.rs"]
mod support;

use std::time::Duration;

use cache_core::glob::escape;
use cache_core::testing::{run_all, unique_prefix};
use cache_core::{CacheBackend, CacheError, LockOutcome, Payload};
use cache_redis::{RedisConfig, RedisRsBackend, RedisRsOptions};
use redis_harness::{RedisServer, Reply};
use support::{bytes, lock, payload_bytes};

const LONG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_standalone_from_a_connection_manager() {
    let backend = support::from_manager(&support::server().url()).await;
    run_all(&backend, &unique_prefix("rr:conformance:standalone")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_cluster_from_a_cluster_connection() {
    let backend = support::from_cluster_connection(support::cluster()).await;
    run_all(&backend, &unique_prefix("rr:conformance:cluster")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_from_urls() {
    let standalone = support::from_url(&support::server().url()).await;
    run_all(&standalone, &unique_prefix("rr:conformance:url")).await;
    let cluster = support::from_url(&support::cluster().url()).await;
    run_all(&cluster, &unique_prefix("rr:conformance:cluster-url")).await;
}

/// The stored value is the shared format; its remaining lifetime agrees with `PTTL` even
/// before the clock is measured (first read) and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_format_and_remaining_time_match_the_server() {
    let server = support::server();
    let backend = support::from_manager(&server.url()).await;
    let key = unique_prefix("rr:format");
    backend.set(&key, bytes(b"{\"v\":1}"), LONG).await.unwrap();
    let Reply::Bulk(Some(stored)) = server.command_ok(&["GET", &key]).unwrap() else {
        panic!("GET")
    };
    let (header, body) = cache_redis::frame::decode(&stored).expect("a framed value");
    assert_eq!(header.lifetime_ms, 60_000);
    assert_eq!(body, b"{\"v\":1}");
    for _ in 0..2 {
        let entry = backend.get(&key).await.unwrap().unwrap();
        let remaining = entry.remaining.unwrap().as_millis() as i64;
        let pttl = support::pttl(server, &key);
        assert!(
            (remaining - pttl).abs() < 1_000,
            "{remaining} vs PTTL {pttl}"
        );
        assert!(remaining <= 60_000);
    }
    assert!(backend.clock_uncertainty() > Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_invalidation_reaches_every_primary_and_nothing_else() {
    let cluster = support::cluster();
    let backend = support::from_cluster_connection(cluster).await;
    let prefix = unique_prefix("rr:inval");
    let escaped = escape(&prefix);
    let matching: Vec<String> = (0..90).map(|i| format!("{prefix}:match:{i}")).collect();
    let keeping: Vec<String> = (0..90).map(|i| format!("{prefix}:keep:{i}")).collect();
    let entries: Vec<(&str, Payload, Duration)> = matching
        .iter()
        .chain(&keeping)
        .map(|k| (k.as_str(), bytes(k.as_bytes()), LONG))
        .collect();
    backend.set_many(&entries).await.unwrap();
    let count = |glob: &str| -> Vec<i64> {
        cluster
            .nodes()
            .iter()
            .map(|n| {
                let script = "return #redis.call('KEYS', ARGV[1])";
                match n.command_ok(&["EVAL", script, "0", glob]).unwrap() {
                    Reply::Integer(c) => c,
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    };
    let glob = format!("{escaped}:match:*");
    let per_node = count(&glob);
    assert_eq!(per_node.iter().sum::<i64>(), 90);
    assert!(per_node.iter().all(|&n| n > 0), "{per_node:?}");
    assert_eq!(backend.invalidate_pattern(&glob).await.unwrap(), 90);
    assert_eq!(count(&glob), vec![0, 0, 0]);
    assert_eq!(count(&format!("{escaped}:keep:*")).iter().sum::<i64>(), 90);
    let found = backend
        .get_many(&keeping.iter().map(String::as_str).collect::<Vec<_>>())
        .await
        .unwrap();
    for (key, entry) in keeping.iter().zip(found) {
        assert_eq!(payload_bytes(&entry.unwrap()), key.as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_domains_follow_the_primaries_of_a_cluster() {
    let backend = support::from_cluster_connection(support::cluster()).await;
    backend.sync_clock().await.unwrap();
    let domains: std::collections::BTreeSet<u64> = (0..200)
        .map(|i| backend.failure_domain(&format!("key:{i}")))
        .collect();
    assert_eq!(domains.len(), 3, "{domains:?}");
    assert_eq!(
        backend.failure_domain("{tag}a"),
        backend.failure_domain("{tag}b")
    );
}

// The lock contract both adapters keep (`shared/lock.rs`), here on redis-rs, from a
// connection manager and from a URL.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holder_blocks_nobody_past_its_lock_lifetime() {
    let url = support::server().url();
    let holder = support::from_manager(&url).await;
    let other = support::from_url(&url).await;
    let key = unique_prefix("rr:lock:dead");
    lock::a_dead_holder_blocks_nobody_past_its_lock_lifetime(&holder, &other, &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_is_only_released_by_its_owner() {
    let url = support::server().url();
    let a = support::from_manager(&url).await;
    let b = support::from_manager(&url).await;
    lock::a_lock_is_only_released_by_its_owner(&a, &b, &unique_prefix("rr:lock:owner")).await;
}

/// A waiter with a notification client, and one without (polling), both get the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_get_the_holders_value_with_and_without_notifications() {
    let url = support::server().url();
    let holder = support::from_manager(&url).await;
    let listening = support::from_manager(&url)
        .await
        .with_options(RedisRsOptions {
            notifications: Some(redis::Client::open(url.as_str()).unwrap()),
            ..RedisRsOptions::default()
        });
    let polling = support::from_manager(&url).await;
    for (label, waiter) in [("notified", listening), ("polling", polling)] {
        let key = unique_prefix("rr:lock:value");
        lock::a_waiter_gets_the_holders_value(&holder, &waiter, &key, label).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lock_without_value_ends_the_wait() {
    let url = support::server().url();
    let holder = support::from_url(&url).await;
    let waiter = support::from_url(&url).await;
    let key = unique_prefix("rr:lock:failed");
    lock::a_released_lock_without_value_ends_the_wait(&holder, &waiter, &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_locks_live_in_the_slot_of_keys_with_braces() {
    let backend = support::from_url(&support::cluster().url()).await;
    let waiter = support::from_cluster_connection(support::cluster()).await;
    let prefix = unique_prefix("rr:clusterlock");
    for suffix in ["plain", "{tag}x", "a}b", "{}x", "x{", "}{", "{{nested}}"] {
        let key = format!("{suffix}:{prefix}");
        assert_eq!(
            backend.try_lock(&key, "t1", LONG).await.unwrap(),
            LockOutcome::Acquired,
            "{key}"
        );
        assert_eq!(
            waiter.try_lock(&key, "t2", LONG).await.unwrap(),
            LockOutcome::Held,
            "{key}"
        );
        backend.set(&key, bytes(b"v"), LONG).await.unwrap();
        let entry = waiter
            .wait_for_value(&key, Duration::from_secs(5))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(payload_bytes(&entry), b"v");
        assert!(backend.unlock(&key, "t1").await.unwrap(), "{key}");
        assert!(backend.delete(&key).await.unwrap());
    }
}

/// Whatever sits at a key, and whatever a caller passes, ends in a value, a miss or an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_errors_or_misses_never_panics() {
    let server = support::server();
    let backend = support::from_manager(&server.url()).await;
    let key = unique_prefix("rr:bad");

    // A list where a string is expected.
    server.command_ok(&["RPUSH", &key, "x"]).unwrap();
    match backend.get(&key).await {
        Err(CacheError::Corrupt(message)) => assert!(message.contains("non-string"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(backend.delete(&key).await.unwrap());

    // A damaged header is no header: the value is read whole, its lifetime from PTTL.
    for raw in [
        "@sc exp=12",
        "@sc exp=x px=1\nbody",
        "@sc exp=99999999999999999999 px=1\n",
    ] {
        server
            .command_ok(&["SET", &key, raw, "PX", "5000"])
            .unwrap();
        let entry = backend.get(&key).await.unwrap().unwrap();
        assert_eq!(payload_bytes(&entry), raw.as_bytes());
        assert!(entry.remaining.unwrap() <= Duration::from_secs(5));
    }
    // A header whose deadline is long past: nothing left (the cache treats it as expired).
    server
        .command_ok(&["SET", &key, "@sc exp=1 px=1000\nold", "PX", "5000"])
        .unwrap();
    backend.sync_clock().await.unwrap();
    let entry = backend.get(&key).await.unwrap().unwrap();
    assert_eq!(entry.remaining, Some(Duration::ZERO));

    // Extreme lifetimes and odd keys.
    backend
        .set(&key, bytes(b"forever"), Duration::MAX)
        .await
        .unwrap();
    assert!(backend.get(&key).await.unwrap().unwrap().remaining.unwrap() > LONG);
    backend
        .set("", bytes(b"empty key"), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        backend.try_lock(&key, "t", Duration::ZERO).await.unwrap(),
        LockOutcome::Acquired
    );
    assert!(matches!(
        backend
            .set(
                &key,
                Payload::Object(std::sync::Arc::new(cache_core::ObjectPayload::new(
                    cache_core::Envelope::new((), LONG, Duration::ZERO, Duration::ZERO),
                    std::sync::Arc::new(1u8),
                    1
                ))),
                LONG
            )
            .await,
        Err(CacheError::Unsupported(_))
    ));
    assert_eq!(backend.invalidate_pattern("[").await.unwrap(), 0);

    // Bad URLs are configuration errors.
    for url in ["localhost", "redis://h:99999", "redis-sentinel://h:1/svc"] {
        assert!(RedisRsBackend::from_url(url).await.is_err(), "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_stay_out_of_errors_and_debug() {
    let password = "s3cret:p@ss/word";
    let server = RedisServer::builder()
        .requirepass("default-secret-pw")
        .acl_user("alice", password)
        .start()
        .unwrap();
    let backend = support::from_url(&server.url_with_auth("alice", password)).await;
    let key = unique_prefix("rr:acl");
    backend.set(&key, bytes(b"v"), LONG).await.unwrap();
    assert_eq!(
        payload_bytes(&backend.get(&key).await.unwrap().unwrap()),
        b"v"
    );
    let debug = format!("{backend:?} {:?}", backend.options());
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(debug.contains("alice:***@127.0.0.1"), "{debug}");

    let wrong = "wrong-Pa55:word";
    let url = server.url_with_auth("alice", wrong);
    let err = RedisRsBackend::from_url(&url).await.unwrap_err();
    let text = format!("{err} {err:?}");
    println!("wrong password: {err}");
    assert!(
        !text.contains("wrong-Pa55") && !text.contains(&url),
        "{text}"
    );
    assert!(text.contains("alice:***@127.0.0.1"), "{text}");
    assert!(
        text.contains("WRONGPASS") || text.to_lowercase().contains("auth"),
        "{text}"
    );
    let mut config = RedisConfig::from_url(&server.url()).unwrap();
    config.connect_timeout = Duration::from_millis(500);
    let err = RedisRsBackend::connect(config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("NOAUTH") || err.to_lowercase().contains("auth"),
        "{err}"
    );
}

#[cfg(feature = "redis-rs-tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_round_trip_with_the_test_ca() {
    let server = RedisServer::builder().tls().start().unwrap();
    let mut config = RedisConfig::from_url(&server.url()).unwrap();
    assert!(config.tls);
    config.tls_ca_file = Some(server.ca_cert().unwrap().to_owned());
    let backend = RedisRsBackend::connect(config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let key = unique_prefix("rr:tls");
    backend.set(&key, bytes(b"over tls"), LONG).await.unwrap();
    assert_eq!(
        payload_bytes(&backend.get(&key).await.unwrap().unwrap()),
        b"over tls"
    );
    // Without trusting the test CA the handshake fails, and says where.
    let err = RedisRsBackend::from_url(&server.url())
        .await
        .unwrap_err()
        .to_string();
    println!("untrusted certificate: {err}");
    assert!(
        err.contains("cannot connect to rediss://127.0.0.1:"),
        "{err}"
    );
}

#[cfg(not(feature = "redis-rs-tls"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_without_the_tls_feature_is_a_clear_error() {
    let err = RedisRsBackend::from_url("rediss://u:hunter2@127.0.0.1:1")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("redis-rs-tls"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = RedisRsBackend::from_url("rediss-cluster://127.0.0.1:1")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("redis-rs-tls"), "{err}");
}
