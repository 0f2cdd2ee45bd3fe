//! smartcache: an application cache that never stampedes, never goes down with its store, and
//! never serves wrong data. This is the one crate to add; backends are features.
//!
//! ```toml
//! [dependencies]
//! smartcache = { version = "0.1", features = ["redis"] }   # `memory` is on by default
//! ```
//!
//! ```
//! use std::time::Duration;
//! use smartcache::{EntryOptions, MemoryBackend, SmartCache, Source, Value};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), smartcache::CacheError> {
//! // In production: `SmartCache::builder(smartcache::redis::RedisBackend::from_env().await?)`.
//! let cache = SmartCache::builder(MemoryBackend::new(10_000))
//!     .default_ttl(Duration::from_secs(60))
//!     .build();
//!
//! let options = EntryOptions::new().ttl(Duration::from_secs(30));
//! let prediction = cache
//!     .get_or_compute("prediction:42", &options, || async {
//!         // The expensive part: a model, a database, a remote API.
//!         Ok::<_, std::io::Error>(vec![0.51, 0.27, 0.22])
//!     })
//!     .await?;
//! assert_eq!(prediction[0], 0.51); // a `Value<T>` derefs to `T`
//!
//! let again = cache
//!     .get_or_compute_detailed::<Vec<f64>, _, _, _>("prediction:42", &options, || async {
//!         Ok::<_, std::io::Error>(vec![])
//!     })
//!     .await?;
//! assert_eq!(again.source, Source::Hit);
//! assert!(Value::ptr_eq(&prediction, &again.value)); // the same value: no copy, no decoding
//! # Ok(())
//! # }
//! ```
//!
//! | feature | what it adds |
//! |---|---|
//! | `memory` (default) | [`MemoryBackend`]: in-process, on moka; a hit moves one reference count |
//! | `redis` | `smartcache::redis`: the Redis backend on fred (standalone, cluster, sentinel, ACL, fleet lock) |
//! | `redis-tls` | `rediss://` for the Redis backend on fred (rustls with ring; without it a TLS URL is refused at connect, naming this feature) |
//! | `redis-rs` | `smartcache::redis::RedisRsBackend`: the Redis backend on redis-rs, built from the service's own `ConnectionManager` or cluster connection (same stored format and fleet lock) |
//! | `keys` | `smartcache::keys`: the key factory (namespaces, versions, canonical hashing, hash tags, glob-safe patterns) |
//! | `testing` | `smartcache::fake`: a deterministic fake backend; `smartcache::testing`: the conformance suite every backend runs |
//!
//! Everything of `cache-core` is re-exported at the root: [`SmartCache`], [`EntryOptions`],
//! [`CacheConfig`], the [`CacheBackend`] port, the refresh policies ([`XFetch`], ...).
//! The examples in `smartcache/examples/` run with `cargo run -p smartcache --example NAME`.
#![warn(missing_docs)]

pub use cache_core::*;

#[cfg(feature = "memory")]
pub use cache_memory::{Bound, MAX_SEGMENTS, MemoryBackend, MemoryBackendBuilder, l1_store};

/// The Redis backends (features `redis` and `redis-rs`): see [`cache_redis`].
#[cfg(any(feature = "redis", feature = "redis-rs"))]
pub mod redis {
    pub use cache_redis::*;
}

/// The key factory (feature `keys`): see [`cache_keys`].
#[cfg(feature = "keys")]
pub mod keys {
    pub use cache_keys::*;
}

/// The fake backend for deterministic tests (feature `testing`): see [`cache_fake`].
#[cfg(feature = "testing")]
pub mod fake {
    pub use cache_fake::*;
}

/// The README's code, compiled and run as a doctest so that it stays true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
