//! The backend conformance suite (feature `testing`): one async function per contract of
//! [`CacheBackend`](crate::CacheBackend). Every backend's tests call [`run_all`].
//!
//! # How a backend's test runs it
//!
//! Enable the feature in the backend crate's dev-dependencies
//! (`cache-core = { workspace = true, features = ["testing"] }`) and call [`run_all`] with a
//! fresh backend and a prefix unique to this run:
//!
//! ```
//! # use std::sync::Arc;
//! # use cache_core::CacheBackend;
//! # async fn example(backend: Arc<dyn CacheBackend>) {
//! // In a `#[tokio::test]` of the backend crate:
//! let prefix = cache_core::testing::unique_prefix("conformance:my-backend");
//! cache_core::testing::run_all(&*backend, &prefix).await;
//! # }
//! ```
//!
//! Each contract is also a function of its own (see [`conformance`]), so a backend can run them
//! as separate tests and see which one fails.
//!
//! [`cache_contracts`] checks whole compositions the same way, through [`SmartCache`](crate::SmartCache):
//! one tier, or an L1 in front of a backend, with two instances over one store.
//!
//! [`staleness`] runs several instances over one store under whatever faults the caller
//! injects, and checks every read against the history of acknowledged writes.
//!
//! # Rules the suite keeps
//!
//! - Every key it writes starts with `prefix`, and every pattern it invalidates starts with the
//!   escaped prefix, so runs against a shared Redis server or cluster never touch other data.
//!   Each contract works under its own sub-namespace (`{prefix}:{contract}:…`), so contracts may
//!   also run concurrently. Keys are written with lifetimes of at most a minute and removed at the
//!   end of each contract.
//! - Lifetimes are real and short (about 100–300 ms) and every timing check has a wide margin: it
//!   only fails when a backend breaks the contract, not when the machine is slow.
//! - The suite sleeps with [`tokio::time::sleep`]. Run it on real time (no `tokio::time::pause`):
//!   backends on tokio's clock (the fake) work under real time too, while backends on another
//!   clock (moka, Redis) would never see paused time advance.
//! - Every backend must accept [`Payload::Bytes`](crate::Payload::Bytes); the object round trip
//!   only runs when [`payload_kind`](crate::CacheBackend::payload_kind) is
//!   [`PayloadKind::Object`](crate::PayloadKind::Object).
//!
//! # Panics
//!
//! The functions panic, with the backend's name, the contract and what went wrong, when the
//! backend breaks a contract or returns an error: that is how a test fails.

pub mod cache_contracts;
pub mod conformance;
pub mod redis_glob;
pub mod staleness;
mod support;

pub use conformance::{
    batch_consistency, conditional_writes, delete, escaped_patterns, expiry,
    large_and_empty_values, lifetime_and_remaining, overwrite_replaces_value_and_lifetime,
    pattern_invalidation, ping, round_trip_bytes, round_trip_object, run_all, unusual_keys,
};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A key prefix no other run shares: `{label}:{process id}:{wall-clock nanos}:{counter}`.
///
/// Pass it to [`run_all`] (or any contract) so that concurrent runs — other tests of the same
/// process, or other processes using the same Redis server — never collide.
pub fn unique_prefix(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{label}:{}:{nanos}:{n}", std::process::id())
}
