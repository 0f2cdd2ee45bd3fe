//! Live mode, briefly (a few seconds, memory backend): the fleet lock must cut the computations
//! of a stampede. Timings are reported by the run, never asserted.

use cache_core::testing::{run_all, unique_prefix};
use cache_memory::MemoryBackend;
use cache_sim::live::{LiveBackend, LiveConfig, SharedLockBackend, render_live, run_live};
use cache_sim::model::RecomputeTime;

fn fleet(fleet_lock: bool) -> LiveConfig {
    LiveConfig {
        instances: 4,
        backend: LiveBackend::Memory,
        read_rate: 400.0,
        recompute: RecomputeTime::Fixed { seconds: 0.05 },
        ttl: 0.5,
        grace: 0.0,
        // Plain TTL: at every expiry each instance that gets a read in the next Δ computes (about
        // 4 per cycle: 100 reads/s per instance, P(no read in 50 ms) = e^-5) unless the lock
        // makes it wait for the holder's value (1 per cycle).
        beta: 0.0,
        fleet_lock,
        duration: 2.5,
        seed: 11,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_lock_computes_fewer_times_than_no_lock() {
    let without = run_live(&fleet(false)).await.unwrap();
    let with = run_live(&fleet(true)).await.unwrap();
    // Reported for the reader of the test log.
    println!("{}", render_live(&[without.clone(), with.clone()]));
    for r in [&without, &with] {
        assert_eq!(r.read_errors, 0);
        assert!(
            r.reads > 0 && r.cycles > 0,
            "the run must have read and expired: {r:?}"
        );
    }
    assert!(
        with.counter("computes") < without.counter("computes"),
        "fleet lock: {} computations, without: {}",
        with.counter("computes"),
        without.counter("computes")
    );
    assert!(
        with.counter("lock_waits") > 0,
        "other instances waited for the holder's value"
    );
    assert_eq!(without.counter("lock_waits"), 0);
}

#[tokio::test]
async fn shared_lock_backend_passes_the_backend_conformance_suite() {
    let backend = SharedLockBackend::new(MemoryBackend::new(10_000));
    run_all(&backend, &unique_prefix("cache-sim:shared-lock")).await;
}
