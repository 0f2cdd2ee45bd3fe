//! Servers shared by the tests of one test binary (started once, stopped by the harness's
//! watchdog when the binary exits), and helpers.
#![allow(dead_code)]

use std::sync::OnceLock;

use cache_redis::{RedisBackend, RedisConfig};
use redis_harness::{RedisCluster, RedisServer};

/// A standalone server shared by every test of this binary; tests use their own key prefixes.
pub fn server() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(|| RedisServer::start().unwrap_or_else(|e| panic!("{e}")))
}

/// A 3-primary cluster shared by every test of this binary.
pub fn cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| RedisCluster::start(3).unwrap_or_else(|e| panic!("{e}")))
}

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

/// A bytes payload.
pub fn bytes(b: &[u8]) -> cache_core::Payload {
    cache_core::Payload::Bytes(std::sync::Arc::from(b))
}

/// The bytes of an entry's payload.
pub fn payload_bytes(entry: &cache_core::StoredEntry) -> Vec<u8> {
    match &entry.payload {
        cache_core::Payload::Bytes(b) => b.to_vec(),
        other => panic!("expected bytes, got {other:?}"),
    }
}
