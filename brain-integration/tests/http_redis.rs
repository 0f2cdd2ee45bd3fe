//! End-to-end over HTTP with a real Redis (started by `redis-harness`), including an outage.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::CacheConfig;
use cache_redis::{RedisBackend, RedisConfig};
use common::{TestService, json, predictions, small_store, test_cache_config};
use redis_harness::{RedisServer, Reply};
use serde_json::json;

fn prediction_keys(server: &RedisServer) -> usize {
    match server.command(&["KEYS", "brain:v1:prediction:*"]).unwrap() {
        Reply::Array(Some(keys)) => keys.len(),
        other => panic!("KEYS answered {other:?}"),
    }
}

async fn start(server: &RedisServer) -> TestService {
    let mut config = RedisConfig::from_url(&server.url()).unwrap();
    config.command_timeout = Duration::from_millis(500);
    let backend = RedisBackend::connect(config).await.unwrap();
    let cache = CacheConfig {
        fleet_lock: true,
        ..test_cache_config()
    };
    TestService::start(small_store(&["1*"]), Arc::new(backend), cache).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_miss_hit_configs_invalidation_and_globs() {
    let server = RedisServer::start().unwrap();
    let svc = start(&server).await;
    let mut c = svc.client();

    let first = svc.miss(&mut c, "1", "").await;
    assert!(first.header("x-compute-time-ms").is_some());
    let second = c.get(&predictions("1")).await;
    assert_eq!(second.x_cache(), Some("hit"));
    assert_eq!(
        second.body, first.body,
        "JSON through Redis reads back to the same bytes"
    );
    assert_eq!(prediction_keys(&server), 1);

    let poisson = svc.miss(&mut c, "1", "model=poisson").await;
    assert_ne!(poisson.body, first.body);
    assert_eq!(
        prediction_keys(&server),
        2,
        "two configurations, two entries"
    );

    for id in ["10", "1%2A"] {
        svc.miss(&mut c, id, "").await;
    }
    assert_eq!(prediction_keys(&server), 4);
    let deleted = json(&c.delete(&predictions("1%2A")).await);
    assert_eq!(
        deleted["invalidated"], 1,
        "SCAN MATCH with the escaped id: only `1*` goes"
    );
    assert_eq!(c.get(&predictions("1")).await.x_cache(), Some("hit"));
    assert_eq!(c.get(&predictions("10")).await.x_cache(), Some("hit"));

    let before = json(&c.get(&predictions("10")).await);
    let posted = c
        .post(
            "/v1/results",
            &json!({"match_id": "1", "home_goals": 0, "away_goals": 5}),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.text());
    let competition = common::competition_of(&mut c, "10").await;
    assert_eq!(
        json(&posted)["invalidated_tag"].as_str(),
        Some(format!("competition:{competition}").as_str())
    );
    // Invalidated by one write to the tag's version, not deleted: they expire with their TTL.
    assert_eq!(prediction_keys(&server), 3);
    let after = json(&svc.miss(&mut c, "10", "").await);
    assert_eq!(
        (
            before["data_version"].as_u64(),
            after["data_version"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_ne!(after["expected_goals"], before["expected_goals"]);
    assert_eq!(c.get(&predictions("10")).await.x_cache(), Some("hit"));
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_keeps_answering_then_back_to_hits() {
    let server = RedisServer::start().unwrap();
    let svc = start(&server).await;
    let mut c = svc.client();
    let ids = ["2", "3", "4"];
    let mut good = Vec::new();
    for id in ids {
        good.push(svc.miss(&mut c, id, "").await.body);
    }
    for (id, body) in ids.iter().zip(&good) {
        assert_eq!(&c.get(&predictions(id)).await.body, body);
    }

    server.kill();
    // Every answer is a 200 with the same (deterministic) prediction, computed without the store.
    for round in 0..3 {
        for (id, body) in ids.iter().zip(&good) {
            let r = c.get(&predictions(id)).await;
            assert_eq!(r.status, 200, "round {round}, {id}: {}", r.text());
            assert_eq!(r.x_cache(), Some("bypass"), "round {round}, {id}");
            assert!(r.header("x-compute-time-ms").is_some());
            assert_eq!(
                &r.body, body,
                "round {round}, {id}: prediction changed during the outage"
            );
        }
    }
    let health = json(&c.get("/healthz").await);
    assert_eq!(
        (health["status"].as_str(), health["reachable"].as_bool()),
        (Some("degraded"), Some(false)),
        "{health}"
    );
    // Invalidation cannot be done without the store: a JSON 503, not a 500.
    let delete = c.delete(&predictions("2")).await;
    assert_eq!(delete.status, 503, "{}", delete.text());
    assert_eq!(json(&delete)["error"]["code"], "cache_unavailable");
    // Results can still be recorded; the cache could not be told, and the response says so.
    let posted = c
        .post(
            "/v1/results",
            &json!({"match_id": "9", "home_goals": 2, "away_goals": 2}),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.text());
    assert_eq!(json(&posted)["invalidated_tag"], serde_json::Value::Null);
    let fresh = c.get(&predictions("2")).await;
    assert_eq!((fresh.status, fresh.x_cache()), (200, Some("bypass")));
    assert_eq!(
        json(&fresh)["data_version"],
        1,
        "answers during the outage use the new data"
    );
    let fresh_body = fresh.body;

    server.restart().unwrap();
    // Back to the store: bypass while the breaker and the connection recover, then (usually)
    // one miss stores the entry, then hits — with the same prediction all along.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let r = c.get(&predictions("2")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, fresh_body);
        let source = r.x_cache().unwrap_or("none").to_owned();
        if seen.last() != Some(&source) {
            seen.push(source.clone());
        }
        if source == "hit" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no hit 20 s after the restart; sources seen: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The entry is stored under the current data's key. (A write of the old data issued
    // during the outage may land after the restart — the driver can replay it — which is why
    // the data fingerprint is part of the key: such an entry is never read.)
    let key = svc
        .state
        .prediction_key("2", &brain_integration::engine::ModelConfig::default())
        .await
        .unwrap();
    assert_eq!(
        server.command(&["EXISTS", &key]).unwrap(),
        Reply::Integer(1)
    );
    let health = json(&c.get("/healthz").await);
    assert_eq!(health["status"], "ok", "{health}");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_with_redis_down_answers_bypass_then_hits_once_it_is_up() {
    let server = RedisServer::start().unwrap();
    server.kill();
    // The application's own start-up path, as `main` runs it.
    let settings = brain_integration::settings::Settings::from_vars([
        ("REDIS_URL", server.url().as_str()),
        ("REDIS_CONNECT_TIMEOUT", "300ms"),
        ("REDIS_COMMAND_TIMEOUT", "500ms"),
    ])
    .unwrap();
    let backend = brain_integration::app::build_backend(&settings)
        .await
        .unwrap_or_else(|e| panic!("the service did not start with Redis down: {e}"));
    let cache = CacheConfig {
        fleet_lock: true,
        ..test_cache_config()
    };
    let svc = TestService::start(small_store(&[]), backend, cache).await;
    let mut c = svc.client();

    let mut body = None;
    for round in 0..3 {
        let r = c.get(&predictions("5")).await;
        assert_eq!(r.status, 200, "round {round}: {}", r.text());
        assert_eq!(r.x_cache(), Some("bypass"), "round {round}");
        if let Some(body) = &body {
            assert_eq!(&r.body, body, "round {round}: the prediction changed");
        }
        body = Some(r.body);
    }
    let health = json(&c.get("/healthz").await);
    assert_eq!(
        (
            health["status"].as_str(),
            health["reachable"].as_bool(),
            health["breaker"].as_str()
        ),
        (Some("degraded"), Some(false), Some("open")),
        "{health}"
    );

    server.restart().unwrap();
    // fred reconnects with its backoff (at most 500 ms between attempts), the breaker probes
    // after its cooldown: then a miss stores the prediction, and hits follow.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let r = c.get(&predictions("5")).await;
        assert_eq!(r.status, 200);
        assert_eq!(Some(&r.body), body.as_ref());
        let source = r.x_cache().unwrap_or("none").to_owned();
        if seen.last() != Some(&source) {
            seen.push(source.clone());
        }
        if source == "hit" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no hit 20 s after Redis came up; sources seen: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(prediction_keys(&server), 1);
    let health = json(&c.get("/healthz").await);
    assert_eq!(
        (health["status"].as_str(), health["breaker"].as_str()),
        (Some("ok"), Some("closed")),
        "{health}"
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_with_an_l1_hits_say_their_tier_and_metrics_count_the_l1() {
    let server = RedisServer::start().unwrap();
    let backend = RedisBackend::connect(RedisConfig::from_url(&server.url()).unwrap())
        .await
        .unwrap();
    let cache = CacheConfig {
        l1: Some(cache_core::L1Bound::Entries(1_000)),
        l1_heartbeat: Duration::from_millis(100),
        ..test_cache_config()
    };
    let svc = TestService::start(small_store(&[]), Arc::new(backend), cache).await;
    let mut c = svc.client();
    let first = svc.miss(&mut c, "1", "").await;
    assert_eq!(
        first.header("x-cache-tier"),
        None,
        "a computed value has no tier"
    );
    // The L1 serves once its change feed is live; until then hits come from Redis.
    let started = Instant::now();
    let mut tiers = Vec::new();
    loop {
        let hit = c.get(&predictions("1")).await;
        assert_eq!(hit.x_cache(), Some("hit"));
        assert_eq!(hit.body, first.body);
        let tier = hit.header("x-cache-tier").map(str::to_owned);
        let l1 = tier.as_deref() == Some("l1");
        tiers.push(tier);
        if l1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never l1: {tiers:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        tiers[0].as_deref(),
        Some("l2"),
        "the first hit fills the L1"
    );
    // A write by anything else — here, deleting the key in Redis — drops it from the L1.
    server.command_ok(&["FLUSHALL"]).unwrap();
    let started = Instant::now();
    while c.get(&predictions("1")).await.x_cache() == Some("hit") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "L1 kept a flushed entry"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The flush is seen by the feed's heartbeat, which then proves itself alive again.
    let live = "smartcache_l1_feed_state{cache=\"predictions\",state=\"live\"} 1";
    let started = Instant::now();
    let mut metrics = c.get("/metrics").await.text();
    while !metrics.contains(live) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "feed not live again:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        metrics = c.get("/metrics").await.text();
    }
    for needle in [
        "smartcache_l1_hits_total{cache=\"predictions\"}",
        "smartcache_l1_fills_total{cache=\"predictions\"}",
        "smartcache_l1_flushes_total{cache=\"predictions\"}",
        "smartcache_l1_invalidations_total{cache=\"predictions\"}",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} not in /metrics:\n{metrics}"
        );
    }
    svc.stop().await;
}
