//! smartcache: an application cache that does not stampede, does not go down with its store,
//! and does not serve wrong data.
//!
//! Put a [`SmartCache`] in front of something expensive (a model, a database, a remote API) and
//! ask it for values with [`get_or_compute`](SmartCache::get_or_compute):
//!
//! ```
//! use std::time::Duration;
//! use cache_core::{EntryOptions, SmartCache, Source, Value};
//! use cache_memory::MemoryBackend;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), cache_core::CacheError> {
//! // Any backend: in-process (moka), Redis, or a fake for tests.
//! let cache = SmartCache::builder(MemoryBackend::new(10_000))
//!     .default_ttl(Duration::from_secs(60))
//!     .build();
//!
//! let options = EntryOptions::new().ttl(Duration::from_secs(30));
//! // A compute that can fail returns a `Result`; its duration (Δ) is measured and stored.
//! let odds: Value<Vec<f64>> = cache
//!     .get_or_compute("prediction:42", &options, || async {
//!         Ok::<_, std::io::Error>(vec![0.51, 0.27, 0.22]) // the expensive part
//!     })
//!     .await?;
//!
//! // A hit hands out the same value (a `Value<T>` derefs to `T`): no copy, no decoding.
//! let again = cache
//!     .get_or_compute_detailed("prediction:42", &options, || async {
//!         Ok::<_, std::io::Error>(vec![])
//!     })
//!     .await?;
//! assert_eq!(again.source, Source::Hit);
//! assert!(Value::ptr_eq(&odds, &again.value));
//! assert_eq!(odds[0], 0.51);
//!
//! // A compute that cannot fail needs no `Result`.
//! let greeting = cache.get_with("greeting", &options, || async { "hello".to_owned() }).await?;
//! assert_eq!(greeting.as_str(), "hello");
//! assert_eq!(cache.stats().computes, 2);
//! # Ok(())
//! # }
//! ```
//!
//! What happens on each call (see `docs/ARCHITECTURE.md` in the repository):
//!
//! - **fresh** entry: returned. Shortly before it expires, [X-Fetch](XFetch) picks a reader with
//!   probability `exp(-r / (βΔ))` to refresh it in the background — `r` the remaining time on
//!   the *store's* clock, `Δ` the measured compute time — so expiry never causes a stampede;
//! - **stale** entry (past its TTL, inside its grace period): returned at once while one
//!   background refresh runs;
//! - **miss**: computed once however many callers ask (single-flight), once per fleet with the
//!   backend's refresh lock ([`CacheConfig::fleet_lock`]);
//! - **compute fails**: the last good value is served (fail-safe), soft and hard timeouts apply;
//! - **store down**: values are computed and returned; a circuit breaker stops paying timeouts and
//!   closes on its own when the store is back.
//!
//! # Invalidation
//!
//! By key ([`delete`](SmartCache::delete)), by glob pattern
//! ([`invalidate_pattern`](SmartCache::invalidate_pattern)), by tag
//! ([`EntryOptions::tags`], [`invalidate_tag`](SmartCache::invalidate_tag): one write whatever the
//! number of entries; a compute that was running meanwhile stores an invalid result) and all at
//! once ([`clear`](SmartCache::clear)). See [`tag`] for how tags and `clear` are kept. Every hit
//! is checked, on either tier: an untagged hit pays no I/O for it, a tagged one reads its tags'
//! versions (one `MGET` per slot on Redis, on an L1 hit too for now).
//!
//! # Two tiers
//!
//! [`SmartCacheBuilder::l1`] puts an in-process tier (L1) in front of a shared backend (L2): an L1
//! hit does no I/O. The backend keeps it coherent with a change feed
//! ([`CacheBackend::watch_changes`]: Redis client tracking), so a write by *anything* — another
//! instance, another service, `redis-cli` — drops the key from every instance's L1. **The
//! guarantee: an L1 hit never returns a value the backend replaced more than the feed's staleness
//! bound ago** ([`L1Status::staleness_bound`]: on Redis the heartbeat interval plus the command
//! timeout, 750 ms by default). While the feed cannot prove itself alive the L1 serves nothing,
//! and a backend without a feed gets no L1. See [`coherence`].
//!
//! The pieces are ports and adapters: [`CacheBackend`] (the store), [`RefreshPolicy`] (when to
//! refresh: [`XFetch`], [`PlainTtl`], [`RefreshAhead`]), [`Codec`] (the wire format: by default
//! a compact binary header and the value as JSON). Every backend runs the same conformance suite (`testing`, feature `testing`).
#![warn(missing_docs)]

pub mod backend;
mod breaker;
mod cache;
pub mod codec;
pub mod coherence;
pub mod config;
mod decoded;
pub mod envelope;
pub mod error;
mod flight;
pub mod glob;
mod hit_clock;
mod moment;
mod options;
pub mod policy;
mod stats;
pub mod tag;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time_model;
mod value;

pub use backend::{
    CacheBackend, ConditionalWrites, LockOutcome, ObjectPayload, Payload, PayloadKind, StoredEntry,
};
pub use breaker::BreakerState;
/// The byte buffer of [`Payload::Bytes`] (the `bytes` crate's, re-exported).
pub use bytes::Bytes;
pub use cache::{BatchItem, Health, L1Status, SmartCache, SmartCacheBuilder};
pub use codec::{Codec, JsonCodec};
pub use coherence::{ChangeFeed, ChangeSink, FeedHandle, FeedOptions, FeedState};
pub use config::{CacheConfig, L1Bound};
pub use envelope::{ENVELOPE_VERSION, EntryTiming, Envelope, TAGGED_ENVELOPE_VERSION};
pub use error::{BoxError, CacheError, Result, SharedError};
pub use moment::Moment;
pub use options::{Cached, EntryOptions, Lookup, Source, Tier};
pub use policy::{Freshness, PlainTtl, RefreshAhead, RefreshPolicy, XFetch};
pub use stats::StatsSnapshot;
pub use tag::TagVersion;
pub use time_model::Phase;
pub use value::Value;
