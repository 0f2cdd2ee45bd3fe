//! Choosing β, TTL and the fleet lock with the stampede simulator: how many recomputations each
//! expiry costs one hot key under your read rate and compute time.
//!
//! `cargo run --release -p smartcache --example choose_settings` (see docs/TUNING.md)

use cache_sim::model::{ModelConfig, RecomputeTime, Strategy, run_strategy};

fn main() -> Result<(), cache_sim::SimError> {
    // Your numbers: reads per second of the hot key, and how long its computation takes.
    let (read_rate, compute_seconds) = (1_000.0, 0.1);
    let config = ModelConfig {
        read_rate,
        recompute: RecomputeTime::Fixed {
            seconds: compute_seconds,
        },
        ttl: 5.0,
        cycles: 50,
        seed: 7,
    };
    println!("λ = {read_rate}/s, Δ = {compute_seconds}s, TTL = 5s: recomputations per expiry");
    let strategies = [
        Strategy::PlainTtl,
        Strategy::XFetch { beta: 0.5 },
        Strategy::XFetch { beta: 1.0 },
        Strategy::XFetch { beta: 2.0 },
        Strategy::XFetchSingleFlight { beta: 1.0 },
    ];
    for strategy in &strategies {
        let report = run_strategy(&config, strategy)?;
        println!(
            "  {:<28} mean {:>7.2}  missing reads {}",
            strategy.label(),
            report.recomputes_per_cycle.mean,
            report.missing_reads
        );
    }
    Ok(())
}
