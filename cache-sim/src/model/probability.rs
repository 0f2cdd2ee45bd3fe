//! P(early refresh) against remaining time, measured by calling the real policy.

use std::time::Duration;

use cache_core::{EntryTiming, RefreshPolicy, XFetch};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

/// Points per curve (evenly spaced in remaining time).
pub const CURVE_POINTS: usize = 41;

/// One sampled point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProbabilityPoint {
    /// Remaining time before expiry, in seconds.
    pub remaining: f64,
    /// Fraction of draws in which the policy asked for an early refresh.
    pub sampled: f64,
    /// X-Fetch's closed form `min(1, e^(−r/(βΔ)))`, for comparison.
    pub theory: f64,
}

/// P(early refresh) of X-Fetch(β) for an entry whose measured Δ is `delta` seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbabilityCurve {
    /// β.
    pub beta: f64,
    /// Δ in seconds.
    pub delta: f64,
    /// Draws per point.
    pub samples: u32,
    /// The points, by increasing remaining time.
    pub points: Vec<ProbabilityPoint>,
}

/// Samples `XFetch { beta }.refresh_early` `samples` times at each of [`CURVE_POINTS`] remaining
/// times from 0 to `max_remaining` seconds. The TTL is irrelevant to X-Fetch; it is set far above.
pub fn sample_refresh_probability(
    beta: f64,
    delta: f64,
    max_remaining: f64,
    samples: u32,
    seed: u64,
) -> ProbabilityCurve {
    let policy = XFetch { beta };
    let delta_d = Duration::try_from_secs_f64(delta.max(0.0)).unwrap_or(Duration::MAX);
    let timing = EntryTiming {
        ttl: Duration::from_secs(86_400),
        grace: Duration::ZERO,
        delta: delta_d,
    };
    let mut rng = StdRng::seed_from_u64(seed ^ beta.to_bits());
    let span = if max_remaining.is_finite() {
        max_remaining.max(0.0)
    } else {
        0.0
    };
    let points = (0..CURVE_POINTS)
        .map(|i| {
            let remaining = span * i as f64 / (CURVE_POINTS - 1) as f64;
            let r = Duration::try_from_secs_f64(remaining).unwrap_or(Duration::MAX);
            let hits = (0..samples)
                .filter(|_| policy.refresh_early(&timing, r, &mut rng))
                .count();
            ProbabilityPoint {
                remaining,
                sampled: hits as f64 / f64::from(samples.max(1)),
                theory: policy.probability(delta_d, r),
            }
        })
        .collect();
    ProbabilityCurve {
        beta,
        delta,
        samples,
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampled_curve_follows_the_closed_form() {
        let n = 4_000u32;
        let curve = sample_refresh_probability(1.0, 0.1, 0.8, n, 5);
        assert_eq!(curve.points.len(), CURVE_POINTS);
        for p in &curve.points {
            // Binomial bound: 4.5 standard deviations of a proportion over n draws.
            let sd = (p.theory * (1.0 - p.theory) / f64::from(n)).sqrt();
            assert!((p.sampled - p.theory).abs() <= 4.5 * sd + 1e-12, "{p:?}");
        }
        assert_eq!(
            curve.points[0].sampled, 1.0,
            "at r = 0 X-Fetch always refreshes"
        );
    }
}
