//! The adapter on [redis-rs](redis) (feature `redis-rs`): [`RedisRsBackend`], for a service
//! that already talks to Redis through redis-rs' async `ConnectionManager` or cluster
//! connection.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use cache_core::SmartCache;
//! use cache_redis::RedisRsBackend;
//!
//! // The connection the service already has…
//! let client = redis::Client::open("redis://127.0.0.1:6379")?;
//! let manager = client.get_connection_manager().await?;
//! // …shared with the cache (a clone shares the same multiplexed connection).
//! let backend = RedisRsBackend::new(manager.clone());
//! let cache = SmartCache::builder(backend).fleet_lock(true).build();
//! # let _ = cache;
//! // Or from a URL, like the fred adapter:
//! let backend = RedisRsBackend::from_url("redis-cluster://10.0.0.1:7000,10.0.0.2:7000").await?;
//! # let _ = backend;
//! # Ok(())
//! # }
//! ```
//!
//! - [`RedisRsBackend::new`] takes a `redis::aio::ConnectionManager`,
//!   [`RedisRsBackend::cluster`] a `redis::cluster_async::ClusterConnection`; neither sends a
//!   command. [`RedisRsBackend::from_url`] and [`RedisRsBackend::connect`] open their own from
//!   a [`RedisConfig`] (the URL forms of [`crate::url`], except sentinel),
//!   with its connect and command timeouts and reconnection backoff.
//! - It stores values in the same format as the fred adapter (the binary frame header, then the
//!   envelope), judges their remaining lifetime on the same server-clock estimate, names locks
//!   the same way, and runs the same scripts ([`crate::scripts`]: lock release on the same
//!   channel, compare-and-set, compare-and-delete): a fred-based and a redis-rs-based fleet
//!   can share one Redis, each reading the other's entries as hits, waiting on the other's
//!   locks and swapping the other's entries (the `mixed_clients` test checks both directions).
//! - redis-rs 1.x: the connection types are redis-rs 1's (a service on redis 0.x upgrades, or
//!   uses the fred adapter).
//!
//! See the [crate docs](crate) for which features each adapter has.

mod backend;
mod conditional;
mod connect;
mod connection;
mod invalidate;
mod lock;
mod options;
mod topology;

pub use backend::RedisRsBackend;
pub use options::RedisRsOptions;

use cache_core::Result;

use crate::config::RedisConfig;

impl RedisRsBackend {
    /// Connects to `url` (see [`crate::url`]; `redis-sentinel://` is not supported here) with
    /// default settings, and measures the server clocks.
    ///
    /// A wrong password or an unreachable server fails here, with an error that names the
    /// server (password redacted).
    pub async fn from_url(url: &str) -> Result<Self> {
        Self::connect(RedisConfig::from_url(url)?).await
    }

    /// Connects with `config`: its topology, credentials, database, TLS (feature
    /// `redis-rs-tls`), connect and command timeouts, reconnection backoff, lock channel and
    /// `SCAN` page size. `pool_size` and `lazy_connect` are fred's and ignored: redis-rs
    /// multiplexes every command over one connection per server.
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        connect::connect(config).await
    }
}
