//! Servers shared by the tests of one test binary (started once, stopped by the harness's
//! watchdog when the binary exits), and helpers.
#![allow(dead_code, unused_imports)]

#[path = "../shared/mod.rs"]
mod shared;

use cache_redis::{RedisBackend, RedisConfig};
use redis_harness::RedisServer;
pub use shared::{bytes, cluster, lock, payload_bytes, server};

pub async fn connect(url: &str) -> RedisBackend {
    RedisBackend::connect(RedisConfig::from_url(url).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

pub async fn standalone() -> RedisBackend {
    connect(&server().url()).await
}

pub async fn clustered() -> RedisBackend {
    connect(&cluster().url()).await
}

/// Counts keys matching `pattern` on one node, by SCAN over the harness's own connection
/// (independent of the backend under test).
pub fn count_on_node(node: &RedisServer, pattern: &str) -> usize {
    use redis_harness::Reply;
    let mut cursor = "0".to_string();
    let mut count = 0;
    loop {
        let reply = node
            .command_ok(&["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"])
            .unwrap();
        let Reply::Array(Some(parts)) = reply else {
            panic!("SCAN reply {reply:?}")
        };
        let [next, Reply::Array(Some(keys))] = <[Reply; 2]>::try_from(parts).unwrap() else {
            panic!("SCAN page")
        };
        count += keys.len();
        cursor = next.as_text().unwrap();
        if cursor == "0" {
            return count;
        }
    }
}
