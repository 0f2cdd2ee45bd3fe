//! Counters of what the cache did, cheap to bump on the hot path.
//!
//! With the `metrics` feature every counter is also reported through the [`metrics`] facade as
//! `smartcache_<counter>_total{cache="<name>"}`, and compute times as the histogram
//! `smartcache_compute_duration_seconds{cache="<name>"}`, to whatever recorder the application
//! installed when the cache was built (handles are registered once, in the builder: the hot path
//! pays one more atomic add, never a lookup).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::breaker::BreakerState;

/// Slots of each counter that one thread each owns: the first threads of the process to count
/// (a runtime's workers, typically). A slot's owner adds with a plain load and store — no
/// locked read-modify-write on the hit path, ~5 ns a count — and no other thread writes it.
const OWNED: usize = 16;

/// Slots that later threads share, adding atomically (striped, so they rarely meet on one).
const SHARED: usize = 4;

/// One counter slot, alone on its cache line.
#[derive(Debug, Default)]
struct Slot(CachePadded<AtomicU64>);

/// The current thread's number, assigned on its first count and never reused. A
/// `const`-initialized thread-local without a destructor: reading it is one load, and cannot
/// fail even while the thread's other thread-locals are torn down.
#[inline]
fn thread_number() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    NUMBER.with(|number| match number.get() {
        usize::MAX => {
            let assigned = NEXT.fetch_add(1, Relaxed);
            number.set(assigned);
            assigned
        }
        assigned => assigned,
    })
}

/// One counter: the cache's own value, and the exported one when the feature is on.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    /// `OWNED` slots, each written by its one thread, then `SHARED` slots for the others.
    slots: [Slot; OWNED + SHARED],
    #[cfg(feature = "metrics")]
    exported: Option<metrics::Counter>,
}

impl Counter {
    #[cfg(feature = "metrics")]
    fn exported(name: &'static str, help: &'static str, cache: &str) -> Self {
        metrics::describe_counter!(name, metrics::Unit::Count, help.trim());
        Counter {
            slots: Default::default(),
            exported: Some(metrics::counter!(name, "cache" => cache.to_owned())),
        }
    }

    fn load(&self) -> u64 {
        self.slots.iter().map(|slot| slot.0.load(Relaxed)).sum()
    }

    #[inline]
    fn add_one(&self) {
        let number = thread_number();
        if number < OWNED {
            // This thread's own slot: no other thread writes it.
            let own = &self.slots[number].0;
            own.store(own.load(Relaxed).wrapping_add(1), Relaxed);
        } else {
            self.slots[OWNED + number % SHARED].0.fetch_add(1, Relaxed);
        }
    }
}

/// Name of the compute-time histogram.
#[cfg(feature = "metrics")]
pub const COMPUTE_SECONDS: &str = "smartcache_compute_duration_seconds";

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        #[derive(Debug, Default)]
        pub(crate) struct Stats {
            $(pub(crate) $name: Counter,)*
            #[cfg(feature = "metrics")]
            compute_seconds: Option<metrics::Histogram>,
        }

        /// A point-in-time copy of the cache's counters.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct StatsSnapshot {
            $($(#[doc = $doc])* pub $name: u64,)*
            /// Circuit breaker state when the snapshot was taken.
            pub breaker: BreakerState,
        }

        impl Stats {
            /// Counters for the cache called `name`, registered with the current `metrics`
            /// recorder when the feature is on (the name is unused otherwise).
            #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
            pub(crate) fn new(name: &str) -> Self {
                #[cfg(feature = "metrics")]
                {
                    metrics::describe_histogram!(
                        COMPUTE_SECONDS,
                        metrics::Unit::Seconds,
                        "Time one compute function took (successful computes)."
                    );
                    Stats {
                        $($name: Counter::exported(
                            concat!("smartcache_", stringify!($name), "_total"),
                            concat!($($doc, " ",)*),
                            name,
                        ),)*
                        compute_seconds: Some(metrics::histogram!(COMPUTE_SECONDS, "cache" => name.to_owned())),
                    }
                }
                #[cfg(not(feature = "metrics"))]
                Stats::default()
            }

            pub(crate) fn snapshot(&self, breaker: BreakerState) -> StatsSnapshot {
                StatsSnapshot { $($name: self.$name.load(),)* breaker }
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
    /// Entries found but invalid: a tag of theirs was invalidated (or its version key is
    /// gone), or the cache was cleared, since they were computed. Counted misses.
    tag_invalidated,
    /// Calls answered without the store (cache disabled, or backend unavailable).
    bypasses,
    /// Reads answered by the in-process L1 (no I/O); also counted in `hits` or `stale_served`.
    l1_hits,
    /// Entries the L1 kept from backend reads.
    l1_fills,
    /// Key changes the backend's change feed reported (each drops that key from the L1).
    l1_invalidations,
    /// Times the whole L1 was dropped: the change feed reconnected, lagged or saw a flush.
    l1_flushes,
}

impl Stats {
    pub(crate) fn bump(counter: &Counter) {
        counter.add_one();
        #[cfg(feature = "metrics")]
        if let Some(exported) = &counter.exported {
            exported.increment(1);
        }
    }

    /// Records how long a successful compute took (the `_seconds` histogram; nothing without
    /// the `metrics` feature, so the read path calls it unconditionally).
    pub(crate) fn record_compute(&self, elapsed: Duration) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.compute_seconds {
            h.record(elapsed.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = elapsed;
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use super::*;

    #[test]
    fn compute_times_are_a_seconds_histogram_and_counters_count_twice_over() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&[0.001, 0.01, 0.1])
            .unwrap()
            .build_recorder();
        let stats = metrics::with_local_recorder(&recorder, || Stats::new("c"));
        stats.record_compute(Duration::from_millis(5));
        stats.record_compute(Duration::from_millis(50));
        Stats::bump(&stats.computes);
        let text = recorder.handle().render();
        for needle in [
            "# TYPE smartcache_compute_duration_seconds histogram",
            "smartcache_compute_duration_seconds_bucket{cache=\"c\",le=\"0.001\"} 0",
            "smartcache_compute_duration_seconds_bucket{cache=\"c\",le=\"0.01\"} 1",
            "smartcache_compute_duration_seconds_bucket{cache=\"c\",le=\"0.1\"} 2",
            "smartcache_compute_duration_seconds_count{cache=\"c\"} 2",
            "smartcache_computes_total{cache=\"c\"} 1",
        ] {
            assert!(text.contains(needle), "{needle} not in\n{text}");
        }
        assert_eq!(stats.snapshot(BreakerState::Closed).computes, 1);
    }
}

#[cfg(test)]
mod counting {
    use super::*;

    /// Threads beyond the owned slots share the others: none of the counts is lost either way.
    #[test]
    fn every_count_of_every_thread_is_kept() {
        const COUNTS: u64 = 200_000;
        let counter = Counter::default();
        let threads = OWNED + 3 * SHARED;
        let start = std::sync::Barrier::new(threads);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    start.wait();
                    for _ in 0..COUNTS {
                        counter.add_one();
                    }
                });
            }
        });
        assert_eq!(counter.load(), threads as u64 * COUNTS);
    }
}
