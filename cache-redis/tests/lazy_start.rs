//! `lazy_connect`: a backend started while Redis is down computes values (bypass), and serves
//! hits once Redis comes up, without a restart; settings a server rejects are still reported.

use std::time::Duration;

use cache_core::{
    BreakerState, CacheBackend, CacheConfig, CacheError, EntryOptions, SmartCache, Source,
};
use cache_redis::{Backoff, RedisBackend, RedisConfig};
use redis_harness::{RedisServer, Reply};

/// Lazy settings for `url`, with a short backoff so that recovery is quick in tests.
fn lazy(url: &str) -> RedisConfig {
    let mut config = RedisConfig::from_url(url).unwrap();
    config.lazy_connect = true;
    config.connect_timeout = Duration::from_millis(300);
    config.reconnect = Backoff {
        min: Duration::from_millis(20),
        max: Duration::from_millis(200),
    };
    config
}

/// The server's `PTTL` of `key`, in milliseconds.
fn pttl(server: &RedisServer, key: &str) -> i64 {
    match server.command_ok(&["PTTL", key]).unwrap() {
        Reply::Integer(ms) => ms,
        other => panic!("PTTL answered {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_while_redis_is_down_then_serves_hits_once_it_is_up() {
    let server = RedisServer::start().unwrap();
    server.kill();
    let backend = RedisBackend::connect(lazy(&server.url()))
        .await
        .unwrap_or_else(|e| panic!("a lazy connect to a stopped server failed: {e}"));
    assert!(!backend.is_connected());
    // Commands fail fast as unavailable, not as timeouts.
    match backend.get("lazy:probe").await {
        Err(CacheError::Unavailable { .. }) => {}
        other => panic!("get while down: {other:?}"),
    }

    let config = CacheConfig {
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_millis(100),
        ..CacheConfig::default()
    };
    let cache = SmartCache::builder(backend.clone()).config(config).build();
    let opts = EntryOptions::new().ttl(Duration::from_secs(60));
    let get = |key: String, value: u32| {
        let cache = cache.clone();
        let opts = opts.clone();
        async move {
            cache
                .get_or_compute_detailed(&key, &opts, move || async move {
                    Ok::<_, std::io::Error>(value)
                })
                .await
                .unwrap()
        }
    };
    for i in 0..10 {
        let lookup = get(format!("lazy:down:{i}"), i).await;
        assert_eq!(
            (*lookup.value, lookup.source),
            (i, Source::Bypass),
            "call {i}"
        );
    }
    assert_eq!(cache.stats().breaker, BreakerState::Open);
    let health = cache.health().await;
    assert!(!health.reachable, "{health:?}");

    server.restart().unwrap();
    let key = "lazy:after";
    let mut sources = Vec::new();
    for attempt in 0..100 {
        let lookup = get(key.to_owned(), attempt).await;
        sources.push(lookup.source);
        if lookup.source == Source::Hit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sources.last(),
        Some(&Source::Hit),
        "no hit after Redis came up: {sources:?}, stats {:?}",
        cache.stats()
    );
    // Hits resume with the first pooled connection back; the others follow on their own
    // backoff (bounded wait).
    for _ in 0..200 {
        if backend.is_connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(backend.is_connected());
    assert_eq!(backend.connection_error(), None);
    assert!(cache.health().await.reachable);

    assert!(
        backend.clock_uncertainty() > Duration::ZERO,
        "the server clock is measured once connected"
    );
    // The entry's remaining lifetime, judged on the server clock measured after the start,
    // never exceeds what the server will keep it (PTTL, ± whole-ms rounding and the clock's
    // error): that would be a wrong freshness decision. It may be shorter by the time the SET
    // took to reach the server after its deadline was computed, which a successful SET bounds
    // by the command timeout.
    let before = pttl(&server, key);
    let entry = backend.get(key).await.unwrap().expect("the stored entry");
    let after = pttl(&server, key);
    let remaining = entry.remaining.expect("a deadline").as_secs_f64() * 1000.0;
    let slack = 1.0 + backend.clock_uncertainty().as_secs_f64() * 1000.0;
    let write_delay = backend.config().command_timeout.as_secs_f64() * 1000.0;
    assert!(
        (after as f64 - slack - write_delay..=before as f64 + slack).contains(&remaining),
        "remaining {remaining} ms, PTTL {before} → {after} ms, slack {slack} ms"
    );
    assert!(
        before > 50_000,
        "stored with its full lifetime: {before} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_up_and_rejects_the_password_still_fails_the_connect() {
    let server = RedisServer::builder()
        .requirepass("right-password")
        .start()
        .unwrap();
    let url = server.url_with_auth("", "wrong-Pa55word");
    let err = RedisBackend::connect(lazy(&url)).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("wrong-Pa55word"), "{text}");
    assert!(
        text.contains("WRONGPASS") || text.to_lowercase().contains("auth"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_rejected_after_a_lazy_start_is_reported() {
    let server = RedisServer::builder()
        .requirepass("right-password")
        .start()
        .unwrap();
    server.kill();
    let url = server.url_with_auth("", "wrong-Pa55word");
    let backend = RedisBackend::connect(lazy(&url)).await.unwrap();
    server.restart().unwrap();
    let mut reported = None;
    for _ in 0..100 {
        reported = backend
            .connection_error()
            .filter(|e| e.contains("WRONGPASS") || e.to_lowercase().contains("auth"));
        if reported.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reported = reported.expect("the rejection is kept for health checks");
    assert!(!reported.contains("wrong-Pa55word"), "{reported}");
    assert!(!backend.is_connected());
    let ping = backend.ping().await.unwrap_err().to_string();
    assert!(ping.contains("last connection error"), "{ping}");
    assert!(!ping.contains("wrong-Pa55word"), "{ping}");
}
