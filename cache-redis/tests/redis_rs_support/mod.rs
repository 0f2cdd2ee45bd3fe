//! Servers and connections for the redis-rs adapter's tests (no fred involved).
#![allow(dead_code)]

use std::sync::OnceLock;

use cache_redis::RedisRsBackend;
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

/// A `ConnectionManager` as a service would make it, wrapped by the adapter.
pub async fn from_manager(url: &str) -> RedisRsBackend {
    let client = redis::Client::open(url).unwrap();
    let manager = client.get_connection_manager().await.unwrap();
    RedisRsBackend::new(manager)
}

/// A `ClusterConnection` as a service would make it, wrapped by the adapter.
pub async fn from_cluster_connection(cluster: &RedisCluster) -> RedisRsBackend {
    let nodes: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| format!("redis://127.0.0.1:{}", n.port()))
        .collect();
    let connection = redis::cluster::ClusterClient::new(nodes)
        .unwrap()
        .get_async_connection()
        .await
        .unwrap();
    RedisRsBackend::cluster(connection)
}

pub async fn from_url(url: &str) -> RedisRsBackend {
    RedisRsBackend::from_url(url)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
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

/// `PTTL key` over the harness's own connection.
pub fn pttl(server: &RedisServer, key: &str) -> i64 {
    match server.command_ok(&["PTTL", key]).unwrap() {
        redis_harness::Reply::Integer(ms) => ms,
        other => panic!("PTTL {other:?}"),
    }
}
