//! What the model simulates: the read load, the recompute time, the TTL and the strategies.

use std::fmt;
use std::str::FromStr;

use cache_core::{PlainTtl, RefreshAhead, RefreshPolicy, XFetch};
use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use serde::Serialize;

use crate::error::SimError;

/// Largest TTL or recompute time the model accepts, in seconds (about 30 years).
const MAX_SECONDS: f64 = 1e9;
/// Largest log-normal shape: beyond it samples overflow any useful range.
const MAX_SIGMA: f64 = 5.0;

/// The recompute time Δ: how long one computation of the value takes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecomputeTime {
    /// Always `seconds`.
    Fixed {
        /// Δ in seconds.
        seconds: f64,
    },
    /// Exponentially distributed.
    Exponential {
        /// Mean Δ in seconds.
        mean: f64,
    },
    /// Log-normal: `median · e^(σ·Z)`, Z standard normal.
    LogNormal {
        /// Median Δ in seconds.
        median: f64,
        /// Shape σ of the underlying normal, in [0, 5].
        sigma: f64,
    },
}

impl RecomputeTime {
    /// Mean recompute time in seconds.
    pub fn mean(&self) -> f64 {
        match *self {
            RecomputeTime::Fixed { seconds } => seconds,
            RecomputeTime::Exponential { mean } => mean,
            RecomputeTime::LogNormal { median, sigma } => median * (sigma * sigma / 2.0).exp(),
        }
    }

    /// Whether every recomputation takes the same time.
    pub fn is_fixed(&self) -> bool {
        matches!(self, RecomputeTime::Fixed { .. })
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), SimError> {
        let (value, positive) = match *self {
            RecomputeTime::Fixed { seconds } => (seconds, seconds),
            RecomputeTime::Exponential { mean } => (mean, mean),
            RecomputeTime::LogNormal { median, sigma } => {
                if !(0.0..=MAX_SIGMA).contains(&sigma) {
                    return Err(SimError::invalid(
                        "--delta sigma",
                        sigma,
                        "a shape in [0, 5]",
                    ));
                }
                (median, median)
            }
        };
        if !(positive > 0.0 && positive <= MAX_SECONDS) {
            return Err(SimError::invalid(
                "--delta",
                value,
                "a recompute time in (0, 1e9] seconds",
            ));
        }
        Ok(())
    }

    pub(crate) fn sampler(&self) -> Result<DeltaSampler, SimError> {
        self.validate()?;
        let bad = |e: &dyn fmt::Display| SimError::invalid("--delta", e, "a valid distribution");
        Ok(match *self {
            RecomputeTime::Fixed { seconds } => DeltaSampler::Fixed(seconds),
            RecomputeTime::Exponential { mean } => {
                DeltaSampler::Exp(Exp::new(1.0 / mean).map_err(|e| bad(&e))?)
            }
            RecomputeTime::LogNormal { median, sigma } => {
                DeltaSampler::LogNormal(LogNormal::new(median.ln(), sigma).map_err(|e| bad(&e))?)
            }
        })
    }
}

impl fmt::Display for RecomputeTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RecomputeTime::Fixed { seconds } => write!(f, "{seconds} s"),
            RecomputeTime::Exponential { mean } => write!(f, "exponential, mean {mean} s"),
            RecomputeTime::LogNormal { median, sigma } => {
                write!(f, "log-normal, median {median} s, σ {sigma}")
            }
        }
    }
}

/// Parses `0.1` (fixed), `exp:0.1` (exponential with mean 0.1 s) or `lognormal:0.1:0.5`
/// (median 0.1 s, σ 0.5).
impl FromStr for RecomputeTime {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        let expected = "SECONDS, exp:MEAN or lognormal:MEDIAN:SIGMA";
        let number = |x: &str| {
            x.trim()
                .parse::<f64>()
                .map_err(|_| SimError::invalid("--delta", s, expected))
        };
        let parts: Vec<&str> = s.split(':').collect();
        let parsed = match parts.as_slice() {
            [seconds] => RecomputeTime::Fixed {
                seconds: number(seconds)?,
            },
            ["exp", mean] => RecomputeTime::Exponential {
                mean: number(mean)?,
            },
            ["lognormal", median, sigma] => RecomputeTime::LogNormal {
                median: number(median)?,
                sigma: number(sigma)?,
            },
            _ => return Err(SimError::invalid("--delta", s, expected)),
        };
        parsed.validate()?;
        Ok(parsed)
    }
}

/// Draws recompute times.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DeltaSampler {
    Fixed(f64),
    Exp(Exp<f64>),
    LogNormal(LogNormal<f64>),
}

impl DeltaSampler {
    pub(crate) fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let drawn = match self {
            DeltaSampler::Fixed(s) => *s,
            DeltaSampler::Exp(d) => d.sample(rng),
            DeltaSampler::LogNormal(d) => d.sample(rng),
        };
        // Keep the event clock moving and finite whatever the distribution's tail does.
        drawn.clamp(f64::MIN_POSITIVE, MAX_SECONDS)
    }
}

/// How the simulated clients decide to recompute.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Strategy {
    /// Recompute only when the value is gone ([`PlainTtl`]).
    PlainTtl,
    /// Probabilistic early refresh ([`XFetch`]), clients uncoordinated.
    XFetch {
        /// β ≥ 0.
        beta: f64,
    },
    /// Refresh once the value is past `fraction` of its TTL ([`RefreshAhead`]), clients uncoordinated.
    RefreshAhead {
        /// In (0, 1].
        fraction: f64,
    },
    /// X-Fetch in one client process with single-flight: at most one recomputation in flight.
    XFetchSingleFlight {
        /// β ≥ 0.
        beta: f64,
    },
}

impl Strategy {
    /// A short human-readable name, e.g. `X-Fetch β=1`.
    pub fn label(&self) -> String {
        match *self {
            Strategy::PlainTtl => "plain TTL".to_string(),
            Strategy::XFetch { beta } => format!("X-Fetch β={beta}"),
            Strategy::RefreshAhead { fraction } => format!("refresh-ahead {}%", fraction * 100.0),
            Strategy::XFetchSingleFlight { beta } => format!("X-Fetch β={beta} + single-flight"),
        }
    }

    /// The project's policy this strategy runs.
    pub fn policy(&self) -> Box<dyn RefreshPolicy> {
        match *self {
            Strategy::PlainTtl => Box::new(PlainTtl),
            Strategy::XFetch { beta } | Strategy::XFetchSingleFlight { beta } => {
                Box::new(XFetch { beta })
            }
            Strategy::RefreshAhead { fraction } => Box::new(RefreshAhead { fraction }),
        }
    }

    /// Whether at most one recomputation may be in flight.
    pub fn single_flight(&self) -> bool {
        matches!(self, Strategy::XFetchSingleFlight { .. })
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), SimError> {
        match *self {
            Strategy::PlainTtl => Ok(()),
            Strategy::XFetch { beta } | Strategy::XFetchSingleFlight { beta } => {
                if beta.is_finite() && beta >= 0.0 {
                    Ok(())
                } else {
                    Err(SimError::invalid("--beta", beta, "a finite β ≥ 0"))
                }
            }
            Strategy::RefreshAhead { fraction } => {
                if fraction > 0.0 && fraction <= 1.0 {
                    Ok(())
                } else {
                    Err(SimError::invalid(
                        "--ahead",
                        fraction,
                        "a fraction of the TTL in (0, 1]",
                    ))
                }
            }
        }
    }
}

/// One model run: the load and the key's parameters, shared by every strategy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelConfig {
    /// λ: reads per second (Poisson).
    pub read_rate: f64,
    /// Δ: recompute time.
    pub recompute: RecomputeTime,
    /// T: logical lifetime of a stored value, in seconds.
    pub ttl: f64,
    /// C: how many expiry cycles to simulate.
    pub cycles: usize,
    /// Seed of the run's random streams.
    pub seed: u64,
}

impl ModelConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), SimError> {
        if !(self.read_rate > 0.0 && self.read_rate.is_finite()) {
            return Err(SimError::invalid(
                "--lambda",
                self.read_rate,
                "a read rate > 0 per second",
            ));
        }
        if !(self.ttl > 0.0 && self.ttl <= MAX_SECONDS) {
            return Err(SimError::invalid(
                "--ttl",
                self.ttl,
                "a TTL in (0, 1e9] seconds",
            ));
        }
        if self.cycles == 0 {
            return Err(SimError::invalid(
                "--cycles",
                self.cycles,
                "at least one cycle",
            ));
        }
        self.recompute.validate()
    }

    /// A TTL long enough for every X-Fetch β given: ten times the expected lead of the first early
    /// refresh, `βΔ(ln(λβΔ) + γ)`, and at least ten recompute times.
    pub fn auto_ttl(read_rate: f64, recompute: &RecomputeTime, betas: &[f64]) -> f64 {
        let delta = recompute.mean();
        let lead = betas
            .iter()
            .map(|&beta| crate::model::theory::xfetch_lead(read_rate, delta, beta).unwrap_or(0.0))
            .fold(delta, f64::max);
        // One decimal is enough and keeps the printed figure readable.
        (10.0 * lead * 10.0).ceil() / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_recompute_times() {
        assert_eq!(
            "0.1".parse::<RecomputeTime>().unwrap(),
            RecomputeTime::Fixed { seconds: 0.1 }
        );
        assert_eq!(
            "exp:0.2".parse::<RecomputeTime>().unwrap(),
            RecomputeTime::Exponential { mean: 0.2 }
        );
        assert_eq!(
            "lognormal:0.1:0.5".parse::<RecomputeTime>().unwrap(),
            RecomputeTime::LogNormal {
                median: 0.1,
                sigma: 0.5
            }
        );
        for bad in [
            "",
            "x",
            "-1",
            "0",
            "exp:",
            "lognormal:0.1",
            "lognormal:0.1:-1",
            "nan",
            "inf",
            "gamma:1",
        ] {
            assert!(
                bad.parse::<RecomputeTime>().is_err(),
                "{bad:?} must be rejected"
            );
        }
    }

    #[test]
    fn validates_configs_and_strategies() {
        let ok = ModelConfig {
            read_rate: 10.0,
            recompute: RecomputeTime::Fixed { seconds: 0.1 },
            ttl: 1.0,
            cycles: 1,
            seed: 0,
        };
        assert!(ok.validate().is_ok());
        assert!(
            ModelConfig {
                read_rate: 0.0,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(
            ModelConfig {
                read_rate: f64::NAN,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(ModelConfig { ttl: -1.0, ..ok }.validate().is_err());
        assert!(ModelConfig { cycles: 0, ..ok }.validate().is_err());
        assert!(Strategy::XFetch { beta: -1.0 }.validate().is_err());
        assert!(
            Strategy::XFetch {
                beta: f64::INFINITY
            }
            .validate()
            .is_err()
        );
        assert!(Strategy::RefreshAhead { fraction: 0.0 }.validate().is_err());
        assert!(Strategy::RefreshAhead { fraction: 1.5 }.validate().is_err());
        assert!(Strategy::RefreshAhead { fraction: 1.0 }.validate().is_ok());
    }

    #[test]
    fn lognormal_mean_and_sampler_clamp() {
        let t = RecomputeTime::LogNormal {
            median: 1.0,
            sigma: 0.0,
        };
        assert_eq!(t.mean(), 1.0);
        let s = t.sampler().unwrap();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        assert_eq!(s.sample(&mut rng), 1.0);
    }
}
