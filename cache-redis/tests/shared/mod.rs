//! What the tests of both adapters share: the servers of one test binary, payload helpers, and
//! the fleet-lock contract (`lock`). Included by `common` (fred) and `redis_rs_support`.
#![allow(dead_code)]

pub mod lock;

use std::sync::OnceLock;

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

/// A bytes payload.
pub fn bytes(b: &[u8]) -> cache_core::Payload {
    cache_core::Payload::Bytes(cache_core::Bytes::copy_from_slice(b))
}

/// The bytes of an entry's payload.
pub fn payload_bytes(entry: &cache_core::StoredEntry) -> Vec<u8> {
    match &entry.payload {
        cache_core::Payload::Bytes(b) => b.to_vec(),
        other => panic!("expected bytes, got {other:?}"),
    }
}
