//! Servers and connections for the redis-rs adapter's tests (no fred involved).
#![allow(dead_code, unused_imports)]

#[path = "../shared/mod.rs"]
mod shared;

use cache_redis::RedisRsBackend;
use redis_harness::{RedisCluster, RedisServer};
pub use shared::{bytes, cluster, lock, payload_bytes, server};

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

/// `PTTL key` over the harness's own connection.
pub fn pttl(server: &RedisServer, key: &str) -> i64 {
    match server.command_ok(&["PTTL", key]).unwrap() {
        redis_harness::Reply::Integer(ms) => ms,
        other => panic!("PTTL {other:?}"),
    }
}
