//! The discrete-event simulation of one key under one strategy, in virtual time.
//!
//! Events are reads (a Poisson process of rate λ) and completions of recomputations. A read at
//! time t sees the value written by the latest *completed* recomputation:
//! - present (t before its expiry): the project's [`RefreshPolicy`](cache_core::RefreshPolicy) decides with the value's
//!   measured Δ and the remaining time; "refresh early" starts a recomputation;
//! - gone: the read recomputes (plain TTL stampede).
//!
//! A recomputation that starts at t completes at t + Δ (Δ drawn per recomputation) and writes a
//! new value that lives T from then on (last writer wins, as in a real store).
//!
//! A *cycle* is one generation of the value: generation g+1 is written by recomputations that
//! were triggered by reads that saw a generation-g value, or its absence after it expired. So
//! every recomputation is counted in exactly one cycle, and the extra writes of a stampede (each
//! one replacing the previous value of the same generation) do not open new cycles.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

use cache_core::EntryTiming;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Exp};

use crate::error::SimError;
use crate::model::config::{ModelConfig, Strategy};

/// Largest expected number of reads one run may simulate (about a minute in a release build).
pub const MAX_EXPECTED_READS: f64 = 2e9;

/// What happened in one cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CycleTally {
    /// Recomputations started by reads of this generation.
    pub recomputes: u64,
    /// Reads that found no value (the generation had expired).
    pub missing_reads: u64,
    /// Reads that wanted to recompute but joined the one in flight (single-flight only).
    pub coalesced_reads: u64,
    /// Seconds between the start of the first recomputation and the expiry of the value its read
    /// saw (negative: it started after expiry).
    pub first_refresh_lead: Option<f64>,
    /// Fraction of the TTL the value still had when the first new value replaced it.
    pub ttl_given_up: Option<f64>,
}

/// The raw outcome of one simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationRun {
    /// One tally per complete cycle, in order.
    pub cycles: Vec<CycleTally>,
    /// Reads simulated.
    pub reads: u64,
    /// Largest number of recomputations in flight at once.
    pub peak_in_flight: usize,
    /// Virtual time simulated, in seconds.
    pub simulated_seconds: f64,
}

/// The value in the store.
struct Stored {
    generation: usize,
    expires_at: f64,
    timing: EntryTiming,
}

/// A recomputation in flight.
struct Completion {
    at: f64,
    generation: usize,
    delta: f64,
}

// Min-heap on completion time.
impl Ord for Completion {
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.total_cmp(&self.at)
    }
}
impl PartialOrd for Completion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Completion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Completion {}

fn seconds(x: f64) -> Duration {
    Duration::try_from_secs_f64(x.max(0.0)).unwrap_or(Duration::MAX)
}

/// Simulates `config.cycles` complete cycles of one key under `strategy`.
///
/// The run starts with a freshly written value (generation 0) and ends when the first value of
/// generation `cycles + 1` is written, so every reported cycle is closed.
pub fn simulate(config: &ModelConfig, strategy: &Strategy) -> Result<SimulationRun, SimError> {
    config.validate()?;
    strategy.validate()?;
    let expected_reads =
        config.read_rate * (config.ttl + config.recompute.mean()) * (config.cycles + 1) as f64;
    if expected_reads > MAX_EXPECTED_READS {
        return Err(SimError::TooLarge {
            expected_reads,
            limit: MAX_EXPECTED_READS,
        });
    }

    let policy = strategy.policy();
    let single_flight = strategy.single_flight();
    let gaps =
        Exp::new(config.read_rate).map_err(|e| SimError::invalid("--lambda", e, "a rate > 0"))?;
    let deltas = config.recompute.sampler()?;
    // Independent streams, so that a strategy's decisions do not shift the arrival times.
    let mut master = StdRng::seed_from_u64(config.seed);
    let mut arrival_rng = StdRng::from_rng(&mut master);
    let mut policy_rng = StdRng::from_rng(&mut master);
    let mut delta_rng = StdRng::from_rng(&mut master);

    let ttl = seconds(config.ttl);
    let timing = |delta: f64| EntryTiming {
        ttl,
        grace: Duration::ZERO,
        delta: seconds(delta),
    };
    let last = config.cycles; // generation whose cycle is open when the run stops
    let mut tallies = vec![CycleTally::default(); last + 1];
    let mut stored = Stored {
        generation: 0,
        expires_at: config.ttl,
        timing: timing(config.recompute.mean()),
    };
    let mut in_flight: BinaryHeap<Completion> = BinaryHeap::new();
    let mut peak_in_flight = 0;
    let mut reads = 0u64;
    let mut next_read = gaps.sample(&mut arrival_rng);

    loop {
        // A completion at the same instant as a read is visible to that read.
        if let Some(done) = pop_due(&mut in_flight, next_read) {
            let cycle = &mut tallies[done.generation - 1];
            if cycle.ttl_given_up.is_none() {
                cycle.ttl_given_up = Some((stored.expires_at - done.at).max(0.0) / config.ttl);
            }
            stored = Stored {
                generation: done.generation,
                expires_at: done.at + config.ttl,
                timing: timing(done.delta),
            };
            if done.generation > last {
                return Ok(SimulationRun {
                    cycles: tallies[..last].to_vec(),
                    reads,
                    peak_in_flight,
                    simulated_seconds: done.at,
                });
            }
            continue;
        }

        let now = next_read;
        next_read = now + gaps.sample(&mut arrival_rng);
        reads += 1;
        let remaining = stored.expires_at - now;
        let cycle = &mut tallies[stored.generation];
        let recompute = if remaining > 0.0 {
            policy.refresh_early(&stored.timing, seconds(remaining), &mut policy_rng)
        } else {
            cycle.missing_reads += 1;
            true
        };
        if !recompute {
            continue;
        }
        if single_flight && !in_flight.is_empty() {
            cycle.coalesced_reads += 1;
            continue;
        }
        cycle.recomputes += 1;
        cycle.first_refresh_lead.get_or_insert(remaining);
        let delta = deltas.sample(&mut delta_rng);
        in_flight.push(Completion {
            at: now + delta,
            generation: stored.generation + 1,
            delta,
        });
        peak_in_flight = peak_in_flight.max(in_flight.len());
    }
}

/// The next completion if it happens no later than `t`.
fn pop_due(in_flight: &mut BinaryHeap<Completion>, t: f64) -> Option<Completion> {
    if in_flight.peek()?.at <= t {
        in_flight.pop()
    } else {
        None
    }
}
