//! An in-process [`CacheBackend`](cache_core::CacheBackend) on [`moka`].
//!
//! [`MemoryBackend`] is bounded by entries or by bytes, keeps a lifetime per entry, answers the
//! remaining lifetime from its own clock, and invalidates by Redis glob pattern. It stores
//! decoded values ([`PayloadKind::Object`](cache_core::PayloadKind::Object)): a hit is an `Arc`
//! clone, never a deserialization.
//!
//! ```
//! use std::any::Any;
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cache_core::{CacheBackend, Envelope, ObjectPayload, Payload};
//! use cache_memory::MemoryBackend;
//!
//! # #[tokio::main]
//! # async fn main() -> cache_core::Result<()> {
//! let backend = MemoryBackend::builder().max_bytes(64 * 1024 * 1024).build();
//!
//! // The metadata of an entry (the value goes beside it, in its own `Arc`).
//! let header = Envelope::new(
//!     (),
//!     Duration::from_secs(60),  // ttl
//!     Duration::from_secs(10),  // grace
//!     Duration::from_millis(3), // how long the value took to compute
//! );
//! let lifetime = header.lifetime();
//! let odds = Arc::new(vec![1.5_f64, 2.5]);
//! let value: Arc<dyn Any + Send + Sync> = odds.clone();
//! let payload = Payload::Object(Arc::new(ObjectPayload::new(header, value, 64)));
//! backend.set("prediction:42", payload, lifetime).await?;
//!
//! let hit = backend.get("prediction:42").await?.expect("just written");
//! assert!(hit.remaining.is_some_and(|left| left <= lifetime));
//! let Payload::Object(object) = hit.payload else { unreachable!("written as an object") };
//! let back = object.value.clone().downcast::<Vec<f64>>().expect("same type");
//! assert!(Arc::ptr_eq(&back, &odds)); // the same allocation: nothing was copied
//!
//! assert_eq!(backend.invalidate_pattern("prediction:*").await?, 1);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod backend;
mod entry;

pub use backend::{Bound, DEFAULT_MAX_ENTRIES, MAX_SEGMENTS, MemoryBackend, MemoryBackendBuilder};

use cache_core::{CacheConfig, L1Bound};

/// The L1 store [`CacheConfig::l1`](cache_core::CacheConfig::l1) asks for (`CACHE_L1_MAX_ENTRIES` / `CACHE_L1_MAX_BYTES`), for
/// [`SmartCacheBuilder::l1`](cache_core::SmartCacheBuilder::l1); `None` when it asks for none (or a bound of 0).
///
/// ```
/// use cache_core::{CacheConfig, SmartCache};
/// use cache_memory::{MemoryBackend, l1_store};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), cache_core::CacheError> {
/// let config = CacheConfig::from_vars([("CACHE_L1_MAX_ENTRIES", "50000")])?;
/// let mut builder = SmartCache::builder(MemoryBackend::new(1000)).config(config.clone());
/// if let Some(l1) = l1_store(&config) {
///     builder = builder.l1(l1); // over Redis: kept coherent by client tracking
/// }
/// let cache = builder.build();
/// // The memory backend offers no change feed, so here the cache runs on one tier.
/// assert!(cache.l1_status().is_none());
/// # Ok(()) }
/// ```
pub fn l1_store(config: &CacheConfig) -> Option<MemoryBackend> {
    match config.l1? {
        L1Bound::Entries(0) | L1Bound::Bytes(0) => None,
        L1Bound::Entries(n) => Some(MemoryBackend::new(n)),
        L1Bound::Bytes(n) => Some(MemoryBackend::builder().max_bytes(n).build()),
    }
}
