//! Refresh policies: when is a stored entry fresh, due for an early refresh, stale, or gone.

use std::fmt::Debug;
use std::time::Duration;

use rand::{Rng, RngCore};

use crate::time_model::{EntryTiming, Phase};

/// What to do with an entry found in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it.
    Fresh,
    /// Serve it, and refresh it in the background now (before it expires).
    RefreshEarly,
    /// Past its TTL but inside its grace period: servable while one refresh runs.
    Stale,
    /// Gone: compute.
    Expired,
}

/// Decides how fresh an entry is. Small and object-safe, like `tower`'s policies.
///
/// Implementors write [`refresh_early`](Self::refresh_early); [`decide`](Self::decide) applies the
/// time model shared by every policy ([`crate::time_model`]): logical remaining time
/// `r = physical_remaining - grace`, read from the backend's clock.
pub trait RefreshPolicy: Send + Sync + Debug + 'static {
    /// Whether an entry that is still fresh, with logical remaining time `remaining` (> 0),
    /// should be refreshed now.
    fn refresh_early(
        &self,
        timing: &EntryTiming,
        remaining: Duration,
        rng: &mut dyn RngCore,
    ) -> bool;

    /// Whether [`decide`](Self::decide) would certainly say [`Freshness::Fresh`], known
    /// without drawing: the hit path's shortcut, so a common hit pays for no randomness and no
    /// decision. Default `false` (always decide); a policy answers `true` only when no draw
    /// could make the entry anything but fresh. It must not answer `true` for a shorter
    /// remaining lifetime and `false` for a longer one: a hit asks with a lifetime measured on a
    /// clock that may read a little ahead (never behind), and trusts a `true`.
    fn surely_fresh(&self, _timing: &EntryTiming, _physical_remaining: Option<Duration>) -> bool {
        false
    }

    /// [`surely_fresh`](Self::surely_fresh) as one number, where one says it: a physical
    /// remaining lifetime above which an entry with `timing` is surely fresh. In-process stores
    /// keep it beside the entry, so a hit compares one duration instead of deriving the rule
    /// from the entry's metadata. It must never claim more: `remaining > bound` implies
    /// `surely_fresh(timing, Some(remaining))`, and an entry without expiry (`None`) is surely
    /// fresh. The bound is kept as long as the entry, so it must hold for the policy's whole
    /// life (a policy whose rule changes at run time returns `None`). Default `None`: hits ask
    /// `surely_fresh`.
    fn surely_fresh_above(&self, _timing: &EntryTiming) -> Option<Duration> {
        None
    }

    /// Classifies an entry from its metadata and its remaining physical lifetime (`None`: the
    /// store keeps it forever).
    fn decide(
        &self,
        timing: &EntryTiming,
        physical_remaining: Option<Duration>,
        rng: &mut dyn RngCore,
    ) -> Freshness {
        match timing.phase(physical_remaining) {
            Phase::Fresh(Some(remaining)) if self.refresh_early(timing, remaining, rng) => {
                Freshness::RefreshEarly
            }
            Phase::Fresh(_) => Freshness::Fresh,
            Phase::Stale => Freshness::Stale,
            Phase::Expired => Freshness::Expired,
        }
    }
}

/// The largest `-ln(u)` a draw can give: `u = 1 - x` with `x < 1` a multiple of 2⁻⁵³.
const MAX_NEG_LN_U: f64 = 36.8;

/// X-Fetch (Vattani, Chierichetti, Lowenstein, VLDB 2015): refresh early when
/// `-Δ·β·ln(u) >= r`, with `Δ` the measured recompute time, `r` the remaining time and `u`
/// uniform in (0, 1]. So `P(refresh) = min(1, exp(-r / (βΔ)))`, and under Poisson reads the
/// expected number of recomputations per expiry is `e^(1/β)`, whatever the read rate.
///
/// `beta = 1` is the paper's optimum; larger refreshes earlier; `0` never refreshes early.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct XFetch {
    /// β ≥ 0.
    pub beta: f64,
}

impl Default for XFetch {
    fn default() -> Self {
        XFetch { beta: 1.0 }
    }
}

impl XFetch {
    /// The probability of an early refresh at logical remaining time `remaining`.
    pub fn probability(&self, delta: Duration, remaining: Duration) -> f64 {
        let scale = self.beta * delta.as_secs_f64();
        if scale <= 0.0 || !scale.is_finite() {
            return if remaining.is_zero() { 1.0 } else { 0.0 };
        }
        (-remaining.as_secs_f64() / scale).exp().min(1.0)
    }
}

impl RefreshPolicy for XFetch {
    /// Fresh, and so far from expiry that even the largest draw (`-ln(u) ≤ 36.74`) cannot
    /// refresh: the same test [`refresh_early`](Self::refresh_early) starts with.
    fn surely_fresh(&self, timing: &EntryTiming, physical_remaining: Option<Duration>) -> bool {
        match timing.phase(physical_remaining) {
            Phase::Fresh(None) => true,
            Phase::Fresh(Some(remaining)) => self.beyond_any_draw(timing, remaining),
            _ => false,
        }
    }

    /// The grace period plus the window in which a draw can refresh (`36.8·β·Δ`), widened by
    /// a billionth and a microsecond, so that float rounding near the edge (relative, for
    /// windows of years) leaves the decision to the test itself.
    fn surely_fresh_above(&self, timing: &EntryTiming) -> Option<Duration> {
        let scale = self.beta * nanos_f64(timing.delta);
        if scale <= 0.0 || !scale.is_finite() {
            return Some(timing.grace);
        }
        let window = MAX_NEG_LN_U * scale * (1.0 + 1e-9) / 1e9;
        let window = Duration::try_from_secs_f64(window).ok()?;
        timing
            .grace
            .checked_add(window)?
            .checked_add(Duration::from_micros(1))
    }

    fn refresh_early(
        &self,
        timing: &EntryTiming,
        remaining: Duration,
        rng: &mut dyn RngCore,
    ) -> bool {
        if self.beyond_any_draw(timing, remaining) {
            return false;
        }
        // `random::<f64>()` is in [0, 1); `1 - x` is in (0, 1], so ln(u) is finite.
        let u = 1.0 - rng.random::<f64>();
        -self.beta * timing.delta.as_secs_f64() * u.ln() >= remaining.as_secs_f64()
    }
}

impl XFetch {
    /// Whether no draw can refresh at logical remaining time `remaining`: β·Δ is zero (or not
    /// a number), or u ≥ 2⁻⁵³ gives -ln(u) ≤ 36.74 and so -β·Δ·ln(u) < `remaining`. Skipping
    /// the draw there changes no decision and keeps the common fresh hit cheap.
    /// In nanoseconds, so that no division sits on the hit path (`as_secs_f64` divides).
    fn beyond_any_draw(&self, timing: &EntryTiming, remaining: Duration) -> bool {
        let scale = self.beta * nanos_f64(timing.delta);
        scale <= 0.0 || !scale.is_finite() || nanos_f64(remaining) > MAX_NEG_LN_U * scale
    }
}

/// `d` in nanoseconds, as a float, without a division.
fn nanos_f64(d: Duration) -> f64 {
    d.as_secs() as f64 * 1e9 + f64::from(d.subsec_nanos())
}

/// Plain TTL: never refreshes early (the baseline every stampede comparison starts from).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlainTtl;

impl RefreshPolicy for PlainTtl {
    fn surely_fresh(&self, timing: &EntryTiming, physical_remaining: Option<Duration>) -> bool {
        timing.is_fresh(physical_remaining)
    }

    fn surely_fresh_above(&self, timing: &EntryTiming) -> Option<Duration> {
        Some(timing.grace)
    }

    fn refresh_early(&self, _: &EntryTiming, _: Duration, _: &mut dyn RngCore) -> bool {
        false
    }
}

/// Fixed-fraction refresh-ahead (as in Caffeine and FusionCache): refresh once an entry is past
/// `fraction` of its TTL. Deterministic, so every reader past the mark refreshes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefreshAhead {
    /// Fraction of the TTL after which reads trigger a refresh, in (0, 1].
    pub fraction: f64,
}

impl RefreshPolicy for RefreshAhead {
    /// Deterministic: the decision itself, without randomness.
    fn surely_fresh(&self, timing: &EntryTiming, physical_remaining: Option<Duration>) -> bool {
        match timing.phase(physical_remaining) {
            Phase::Fresh(None) => true,
            Phase::Fresh(Some(remaining)) => !self.due(timing, remaining),
            _ => false,
        }
    }

    fn refresh_early(
        &self,
        timing: &EntryTiming,
        remaining: Duration,
        _: &mut dyn RngCore,
    ) -> bool {
        self.due(timing, remaining)
    }
}

impl RefreshAhead {
    /// Past the mark: at most `(1 - fraction)·ttl` left.
    fn due(&self, timing: &EntryTiming, remaining: Duration) -> bool {
        let ahead = timing.ttl.as_secs_f64() * (1.0 - self.fraction.clamp(0.0, 1.0));
        remaining.as_secs_f64() <= ahead
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const N: u64 = 1_000_000;

    /// The hit path's shortcut never says fresh where a decision could say otherwise, and says
    /// it for entries far from expiry (so the shortcut is taken).
    #[test]
    fn surely_fresh_implies_every_draw_decides_fresh() {
        let policies: [&dyn RefreshPolicy; 3] = [
            &XFetch::default(),
            &PlainTtl,
            &RefreshAhead { fraction: 0.8 },
        ];
        let ms = Duration::from_millis;
        let mut rng = StdRng::seed_from_u64(7);
        for policy in policies {
            let mut taken = 0;
            for delta in [ms(0), ms(1), ms(50), ms(1_000)] {
                let t = timing(Duration::from_secs(60), delta);
                for remaining in [0, 1, 5_000, 10_001, 10_050, 12_000, 46_800, 70_000] {
                    let remaining = Some(ms(remaining));
                    if !policy.surely_fresh(&t, remaining) {
                        continue;
                    }
                    taken += 1;
                    for _ in 0..1_000 {
                        assert_eq!(
                            policy.decide(&t, remaining, &mut rng),
                            Freshness::Fresh,
                            "{policy:?} Δ={delta:?} remaining={remaining:?}"
                        );
                    }
                }
                assert!(policy.surely_fresh(&t, None), "no expiry: fresh");
            }
            assert!(taken > 4, "{policy:?} takes the shortcut far from expiry");
        }
    }

    /// The hit path's kept bound never claims more than `surely_fresh`, right above it and far
    /// beyond, for seeded random timings (β, Δ, grace) over their whole ranges.
    #[test]
    fn the_kept_bound_implies_surely_fresh() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut checked = 0;
        for _ in 0..20_000 {
            let beta = [0.0, 0.5, 1.0, 3.0, f64::INFINITY][rng.random_range(0..5)];
            let shift: u32 = rng.random_range(1..60);
            let t = EntryTiming {
                ttl: Duration::from_millis(rng.random_range(1..10_000_000)),
                grace: Duration::from_millis(rng.random_range(0..10_000_000)),
                delta: Duration::from_nanos(rng.random_range(0..1u64 << shift)),
            };
            let policies: [&dyn RefreshPolicy; 2] = [&XFetch { beta }, &PlainTtl];
            for policy in policies {
                let Some(bound) = policy.surely_fresh_above(&t) else {
                    continue;
                };
                checked += 1;
                for above in [1, 2, 1_000, rng.random_range(1..u64::MAX >> 2)] {
                    let remaining = bound.saturating_add(Duration::from_nanos(above));
                    assert!(
                        policy.surely_fresh(&t, Some(remaining)),
                        "{policy:?} {t:?}: bound {bound:?}, remaining {remaining:?}"
                    );
                }
            }
        }
        assert!(checked > 30_000, "bounds were computed ({checked})");
    }

    fn timing(ttl: Duration, delta: Duration) -> EntryTiming {
        EntryTiming {
            ttl,
            grace: Duration::from_secs(10),
            delta,
        }
    }

    /// Count of early refreshes in N seeded draws.
    fn count(policy: &XFetch, t: &EntryTiming, remaining: Duration, seed: u64) -> u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..N)
            .filter(|_| policy.refresh_early(t, remaining, &mut rng))
            .count() as u64
    }

    /// Asserts `k` successes in N draws lie within 4.5 standard deviations of N·p.
    fn assert_binomial(k: u64, p: f64, what: &str) {
        let n = N as f64;
        let mean = n * p;
        let sd = (n * p * (1.0 - p)).sqrt();
        let bound = 4.5 * sd;
        assert!(
            (k as f64 - mean).abs() <= bound,
            "{what}: {k} early refreshes, expected {mean:.1} ± {bound:.1} (p = {p:.6})"
        );
    }

    #[test]
    fn xfetch_probability_matches_exp_minus_rho() {
        let delta = Duration::from_millis(100);
        let policy = XFetch { beta: 1.0 };
        let t = timing(Duration::from_secs(60), delta);
        for (i, rho) in [0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0]
            .into_iter()
            .enumerate()
        {
            let r = delta.mul_f64(rho);
            let k = count(&policy, &t, r, 1000 + i as u64);
            let p = (-rho).exp();
            assert_binomial(k, p, &format!("rho={rho}"));
            if rho == 30.0 {
                assert_eq!(k, 0, "at rho = 30 p = 9e-14: no draw may refresh");
            }
            assert!((policy.probability(delta, r) - p).abs() < 1e-9);
        }
    }

    #[test]
    fn probability_ignores_ttl_and_age_at_same_remaining() {
        let delta = Duration::from_millis(100);
        let r = Duration::from_millis(150);
        let p = (-1.5f64).exp();
        for ttl in [
            Duration::from_secs(1),
            Duration::from_secs(60),
            Duration::from_secs(86_400),
        ] {
            let k = count(&XFetch { beta: 1.0 }, &timing(ttl, delta), r, 7);
            assert_binomial(k, p, &format!("ttl={ttl:?}"));
        }
    }

    #[test]
    fn beta_delta_scale_invariance_and_delta_sensitivity() {
        let r = Duration::from_millis(200);
        let ttl = Duration::from_secs(60);
        // (β, Δ) → (2β, Δ/2): same βΔ, same probability e^-2.
        let a = count(
            &XFetch { beta: 1.0 },
            &timing(ttl, Duration::from_millis(100)),
            r,
            11,
        );
        let b = count(
            &XFetch { beta: 2.0 },
            &timing(ttl, Duration::from_millis(50)),
            r,
            12,
        );
        assert_binomial(a, (-2.0f64).exp(), "beta=1 delta=100ms");
        assert_binomial(b, (-2.0f64).exp(), "beta=2 delta=50ms");
        // Doubling Δ changes it as predicted: e^-1.
        let c = count(
            &XFetch { beta: 1.0 },
            &timing(ttl, Duration::from_millis(200)),
            r,
            13,
        );
        assert_binomial(c, (-1.0f64).exp(), "beta=1 delta=200ms");
    }

    #[test]
    fn beta_zero_and_zero_delta_never_refresh_early() {
        let mut rng = StdRng::seed_from_u64(3);
        let t = timing(Duration::from_secs(1), Duration::from_millis(100));
        let zero = XFetch { beta: 0.0 };
        assert!((0..10_000).all(|_| !zero.refresh_early(&t, Duration::from_micros(1), &mut rng)));
        let t0 = timing(Duration::from_secs(1), Duration::ZERO);
        let one = XFetch::default();
        assert!((0..10_000).all(|_| !one.refresh_early(&t0, Duration::from_micros(1), &mut rng)));
    }

    #[test]
    fn decide_follows_the_time_model() {
        let mut rng = StdRng::seed_from_u64(1);
        let t = EntryTiming {
            ttl: Duration::from_secs(60),
            grace: Duration::from_secs(10),
            delta: Duration::from_millis(1),
        };
        let p = XFetch::default();
        assert_eq!(
            p.decide(&t, Some(Duration::from_secs(40)), &mut rng),
            Freshness::Fresh
        );
        assert_eq!(
            p.decide(&t, Some(Duration::from_secs(10)), &mut rng),
            Freshness::Stale
        );
        assert_eq!(
            p.decide(&t, Some(Duration::from_secs(1)), &mut rng),
            Freshness::Stale
        );
        assert_eq!(
            p.decide(&t, Some(Duration::ZERO), &mut rng),
            Freshness::Expired
        );
        assert_eq!(p.decide(&t, None, &mut rng), Freshness::Fresh);
        let ahead = RefreshAhead { fraction: 0.8 };
        assert_eq!(
            ahead.decide(&t, Some(Duration::from_secs(20)), &mut rng),
            Freshness::RefreshEarly
        );
        assert_eq!(
            ahead.decide(&t, Some(Duration::from_secs(40)), &mut rng),
            Freshness::Fresh
        );
        assert_eq!(
            PlainTtl.decide(
                &t,
                Some(Duration::from_secs(10) + Duration::from_nanos(1)),
                &mut rng
            ),
            Freshness::Fresh
        );
    }
}
