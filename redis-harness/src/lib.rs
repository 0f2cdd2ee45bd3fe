//! Test support: real `redis-server` processes on free loopback ports, stopped when the test
//! ends — also when it panics.
//!
//! ```
//! use redis_harness::{RedisCluster, RedisServer, Reply};
//!
//! let server = RedisServer::start()?;               // redis://127.0.0.1:PORT
//! server.command_ok(&["SET", "greeting", "hello"])?;
//! assert_eq!(server.command(&["GET", "greeting"])?, Reply::Bulk(Some(b"hello".to_vec())));
//! server.kill();                                      // an outage...
//! server.restart()?;                                  // ...and the same port again
//! assert!(server.url().starts_with("redis://127.0.0.1:"));
//! # Ok::<(), redis_harness::HarnessError>(())
//! ```
//!
//! - [`RedisServer::start`]: a standalone server, persistence off, own temp dir.
//! - [`RedisServer::builder`]: TLS (certificates made at start with the `openssl` CLI), ACL
//!   users, `requirepass`.
//! - [`RedisCluster::start`]: `n` primaries with every slot assigned, up before it returns;
//!   [`RedisCluster::url`] is `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,...`.
//!   [`RedisCluster::start_with_replicas`] adds replicas (3 + 3 is `start_with_replicas(3, 1)`),
//!   and [`RedisCluster::promote`] fails a replica over, its primary dead or alive;
//!   [`RedisCluster::builder`] adds TLS (clients, bus and replication; one CA) and ACL users.
//! - [`RedisSentinel::start`]: a primary watched by one sentinel;
//!   [`RedisSentinel::url`] is `redis-sentinel://127.0.0.1:PORT/SERVICE`.
//! - [`dev::run`]: what `cargo xtask redis [--cluster]` runs.
//!
//! Without `redis-server` on `PATH`, starting fails with an error that says how to install it
//! (`apt-get install redis-server`): the tests fail, they are never skipped.
#![warn(missing_docs)]

mod cluster;
pub mod dev;
mod error;
mod process;
mod resp;
mod sentinel;
mod server;
mod tls;

pub use cluster::{RedisCluster, RedisClusterBuilder, node_id};
pub use error::HarnessError;
pub use resp::Reply;
pub use sentinel::RedisSentinel;
pub use server::{RedisServer, RedisServerBuilder};
pub use tls::TlsFiles;
