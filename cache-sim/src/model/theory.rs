//! What the theory predicts, for the report's "theory" columns.
//!
//! Under Poisson reads at rate λ and a fixed recompute time Δ:
//! - plain TTL and refresh-ahead: every read between the first recomputation of a cycle and its
//!   completion recomputes too, so a cycle has `1 + Poisson(λΔ)` recomputations;
//! - X-Fetch(β): early refreshes form a Poisson process of intensity `λ·e^(−r/(βΔ))` in the
//!   remaining time r. Its cumulative intensity at the first refresh is `E ~ Exp(1)`, so the first
//!   refresh starts `βΔ·ln(λβΔ/E)` before expiry — `βΔ(ln(λβΔ) + γ)` on average — and the reads in
//!   the following Δ add `Poisson(E·(e^(1/β) − 1))`: `e^(1/β)` recomputations per cycle in
//!   expectation, whatever λ (Vattani, Chierichetti, Lowenstein, VLDB 2015). Asymptotic in λβΔ;
//!   the corrections are of order `exp(−λβΔ·e^(−1/β))`.
//! - single-flight: exactly one.

use crate::model::config::{ModelConfig, Strategy};

/// The Euler–Mascheroni constant γ: `E[−ln E]` for `E ~ Exp(1)`.
pub const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Expected lead (seconds before expiry) of the first X-Fetch refresh of a cycle:
/// `βΔ(ln(λβΔ) + γ)`. `None` when β = 0 (no early refresh).
pub fn xfetch_lead(read_rate: f64, delta: f64, beta: f64) -> Option<f64> {
    let scale = beta * delta;
    (scale > 0.0).then(|| scale * ((read_rate * scale).ln() + EULER_GAMMA))
}

/// Expected recomputations per cycle, when the theory gives one for this configuration.
pub fn expected_recomputes(config: &ModelConfig, strategy: &Strategy) -> Option<f64> {
    let fixed = config.recompute.is_fixed();
    let stampede = 1.0 + config.read_rate * config.recompute.mean();
    // With a random Δ the window closes at the *earliest* completion among the recomputations in
    // flight, and X-Fetch's stored Δ differs from the next one: no simple closed form.
    match *strategy {
        Strategy::XFetchSingleFlight { .. } => Some(1.0),
        _ if !fixed => None,
        Strategy::PlainTtl | Strategy::RefreshAhead { .. } => Some(stampede),
        Strategy::XFetch { beta: 0.0 } => Some(stampede),
        Strategy::XFetch { beta } => Some((1.0 / beta).exp()),
    }
}

/// Expected lead of the first recomputation of a cycle before expiry, in seconds (negative: after
/// expiry), when the theory gives one.
pub fn expected_first_lead(config: &ModelConfig, strategy: &Strategy) -> Option<f64> {
    // The first read after a given instant comes 1/λ later on average.
    let wait = 1.0 / config.read_rate;
    match *strategy {
        Strategy::PlainTtl => Some(-wait),
        Strategy::RefreshAhead { fraction } => Some(config.ttl * (1.0 - fraction) - wait),
        Strategy::XFetch { beta } | Strategy::XFetchSingleFlight { beta } => {
            if beta == 0.0 {
                Some(-wait)
            } else if config.recompute.is_fixed() {
                xfetch_lead(config.read_rate, config.recompute.mean(), beta)
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_matches_the_issue_figure() {
        // λ = 1000/s, Δ = 0.1 s, β = 1: 0.1·(ln 100 + γ) ≈ 0.518 s.
        let lead = xfetch_lead(1000.0, 0.1, 1.0).unwrap();
        assert!((lead - 0.1 * (100f64.ln() + EULER_GAMMA)).abs() < 1e-12);
        assert!((0.51..0.53).contains(&lead));
        assert_eq!(xfetch_lead(1000.0, 0.1, 0.0), None);
    }
}
