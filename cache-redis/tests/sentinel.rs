//! Finding the primary through a sentinel.

mod common;

use std::time::Duration;

use cache_core::CacheBackend;
use cache_redis::RedisBackend;
use common::{bytes, payload_bytes};
use redis_harness::{RedisSentinel, Reply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_to_the_primary_a_sentinel_names() {
    let setup = RedisSentinel::start("cache-primary").unwrap();
    let url = format!("{}/3", setup.url());
    let backend = RedisBackend::from_url(&url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    backend
        .set("via-sentinel", bytes(b"v"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        payload_bytes(&backend.get("via-sentinel").await.unwrap().unwrap()),
        b"v"
    );
    // The value is on the primary, in database 3.
    let primary = setup.primary();
    assert_eq!(
        primary.command_ok(&["EXISTS", "via-sentinel"]).unwrap(),
        Reply::Integer(0)
    );
    // `command` opens a connection per call, so SELECT and EXISTS run together in a script.
    let script = "redis.call('SELECT', ARGV[1]); return redis.call('EXISTS', KEYS[1])";
    let admin_reply = primary
        .command_ok(&["EVAL", script, "1", "via-sentinel", "3"])
        .unwrap();
    assert_eq!(admin_reply, Reply::Integer(1));
}
