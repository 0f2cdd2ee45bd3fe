//! Counters of what the cache did, cheap to bump on the hot path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::breaker::BreakerState;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        #[derive(Debug, Default)]
        pub(crate) struct Stats {
            $(pub(crate) $name: AtomicU64,)*
        }

        /// A point-in-time copy of the cache's counters.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct StatsSnapshot {
            $($(#[$doc])* pub $name: u64,)*
            /// Circuit breaker state when the snapshot was taken.
            pub breaker: BreakerState,
        }

        impl Stats {
            pub(crate) fn snapshot(&self, breaker: BreakerState) -> StatsSnapshot {
                StatsSnapshot { $($name: self.$name.load(Relaxed),)* breaker }
            }
        }

        impl StatsSnapshot {
            /// `(name, value)` for every counter, for exporters such as Prometheus.
            pub fn counters(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }
    };
}

counters! {
    /// Fresh entries served (including those that also started an early refresh).
    hits,
    /// Lookups that found no usable entry.
    misses,
    /// Stale entries served (stale-while-revalidate or soft timeout).
    stale_served,
    /// Fresh entries the policy marked for an early refresh (the refresh starts unless one
    /// already runs for the key: see `background_refreshes`).
    early_refreshes,
    /// Background refreshes started (early or stale).
    background_refreshes,
    /// Compute functions run by this process.
    computes,
    /// Computes that failed, panicked or hit the hard timeout.
    compute_errors,
    /// Callers that waited on another caller's compute in this process (single-flight).
    coalesced_waits,
    /// Misses that found the fleet lock held and waited for another process's value.
    lock_waits,
    /// Fleet-lock waits that ended without a value (the process then computed).
    lock_wait_timeouts,
    /// Stale values served because a compute failed or timed out.
    fail_safe_serves,
    /// Backend operations that failed or timed out.
    backend_errors,
    /// Backend operations skipped because the circuit breaker was open.
    breaker_rejections,
    /// Entries that could not be decoded (corrupt, unknown version, wrong type): counted misses.
    corrupt_entries,
    /// Values returned but not stored: too large, or not encodable.
    store_skipped,
    /// Computed values not stored because their key was invalidated during the compute.
    invalidated_during_compute,
    /// Calls answered without the store (cache disabled, or backend unavailable).
    bypasses,
}

impl Stats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}
