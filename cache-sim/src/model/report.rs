//! Per-strategy figures of a model run, and the run over several strategies.

use serde::Serialize;

use crate::error::SimError;
use crate::model::config::{ModelConfig, Strategy};
use crate::model::engine::{SimulationRun, simulate};
use crate::model::probability::{ProbabilityCurve, sample_refresh_probability};
use crate::model::theory;
use crate::summary::{HistogramBin, Summary, histogram};

/// What one strategy did over the cycles of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyReport {
    /// Human-readable name.
    pub label: String,
    /// The strategy and its parameters.
    pub strategy: Strategy,
    /// Recomputations per cycle.
    pub recomputes_per_cycle: Summary,
    /// What the theory expects per cycle, where it gives a figure.
    pub expected_recomputes_per_cycle: Option<f64>,
    /// How many cycles had each number of recomputations.
    pub histogram: Vec<HistogramBin>,
    /// Reads simulated.
    pub reads: u64,
    /// Reads that found no value (the entry had expired and no recomputation had completed).
    pub missing_reads: u64,
    /// Reads that wanted a recomputation but joined the one in flight (single-flight only).
    pub coalesced_reads: u64,
    /// Largest number of recomputations in flight at once.
    pub peak_concurrent_recomputes: usize,
    /// Seconds before expiry at which the first recomputation of a cycle started (negative:
    /// after expiry).
    pub first_refresh_lead: Summary,
    /// What the theory expects for [`first_refresh_lead`](Self::first_refresh_lead).
    pub expected_first_refresh_lead: Option<f64>,
    /// Fraction of the TTL an old value still had when the first new value replaced it: the
    /// lifetime given up to refresh early.
    pub ttl_given_up: Summary,
    /// Virtual time simulated, in seconds.
    pub simulated_seconds: f64,
}

impl StrategyReport {
    /// Summarizes a simulation run.
    pub fn from_run(
        config: &ModelConfig,
        strategy: &Strategy,
        run: &SimulationRun,
    ) -> StrategyReport {
        let cycles = &run.cycles;
        StrategyReport {
            label: strategy.label(),
            strategy: *strategy,
            recomputes_per_cycle: Summary::of(cycles.iter().map(|c| c.recomputes as f64)),
            expected_recomputes_per_cycle: theory::expected_recomputes(config, strategy),
            histogram: histogram(cycles.iter().map(|c| c.recomputes)),
            reads: run.reads,
            missing_reads: cycles.iter().map(|c| c.missing_reads).sum(),
            coalesced_reads: cycles.iter().map(|c| c.coalesced_reads).sum(),
            peak_concurrent_recomputes: run.peak_in_flight,
            first_refresh_lead: Summary::of(cycles.iter().filter_map(|c| c.first_refresh_lead)),
            expected_first_refresh_lead: theory::expected_first_lead(config, strategy),
            ttl_given_up: Summary::of(cycles.iter().filter_map(|c| c.ttl_given_up)),
            simulated_seconds: run.simulated_seconds,
        }
    }
}

/// Simulates one strategy and summarizes it.
pub fn run_strategy(config: &ModelConfig, strategy: &Strategy) -> Result<StrategyReport, SimError> {
    let run = simulate(config, strategy)?;
    Ok(StrategyReport::from_run(config, strategy, &run))
}

/// A model run over several strategies, with the X-Fetch refresh-probability curves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelReport {
    /// The shared parameters.
    pub config: ModelConfig,
    /// One report per strategy, in the order given.
    pub strategies: Vec<StrategyReport>,
    /// P(early refresh) against remaining time, one curve per X-Fetch β, sampled from the policy.
    pub refresh_probability: Vec<ProbabilityCurve>,
}

/// Draws per point of the refresh-probability curves: binomial standard error ≤ 0.0035.
pub const PROBABILITY_SAMPLES: u32 = 20_000;
/// The curves span remaining times up to this many β·Δ (of the largest β): P ≈ 3·10⁻⁴ there.
pub const CURVE_SPAN: f64 = 8.0;

/// Simulates every strategy with the same seed (same arrival times) and samples the policy's
/// refresh probability for each X-Fetch β among them.
pub fn run_model(config: &ModelConfig, strategies: &[Strategy]) -> Result<ModelReport, SimError> {
    let reports = strategies
        .iter()
        .map(|s| run_strategy(config, s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut betas: Vec<f64> = strategies
        .iter()
        .filter_map(|s| match *s {
            Strategy::XFetch { beta } | Strategy::XFetchSingleFlight { beta } if beta > 0.0 => {
                Some(beta)
            }
            _ => None,
        })
        .collect();
    betas.sort_by(f64::total_cmp);
    betas.dedup();
    let delta = config.recompute.mean();
    let span = CURVE_SPAN * delta * betas.last().copied().unwrap_or(0.0);
    let curves = betas
        .iter()
        .map(|&beta| {
            sample_refresh_probability(beta, delta, span, PROBABILITY_SAMPLES, config.seed)
        })
        .collect();
    Ok(ModelReport {
        config: *config,
        strategies: reports,
        refresh_probability: curves,
    })
}
