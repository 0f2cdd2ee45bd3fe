//! The objective the fit maximises and its exact derivatives: the weighted Dixon–Coles
//! log-likelihood in the parameters `[c, h, a_0..a_n, d_0..d_n, (ρ)]`, plus the priors and the
//! sum-to-zero penalty (see [`super::fit`]).

use super::dixon_coles_tau;
use super::linalg::Matrix;
use crate::domain::IndexedResult;

/// Precision of the weak prior on each strength (1/σ², σ = 10).
pub(super) const PRIOR_PRECISION: f64 = 0.01;
/// Weight of the sum-to-zero penalty (only conditions the flat direction).
pub(super) const SUM_PENALTY: f64 = 1.0;
/// Precision of the weak prior on ρ (σ = 1, against a data precision in the thousands): keeps ρ
/// finite when the data cannot pin it (e.g. a league of goalless draws).
pub(super) const RHO_PRIOR_PRECISION: f64 = 1.0;

/// Parameter layout: `[c, h, a_0..a_n, d_0..d_n, (ρ)]`.
pub(super) struct Layout {
    pub(super) teams: usize,
    pub(super) dixon_coles: bool,
}

impl Layout {
    pub(super) const C: usize = 0;
    pub(super) const H: usize = 1;
    pub(super) fn a(&self, i: usize) -> usize {
        2 + i
    }
    pub(super) fn d(&self, i: usize) -> usize {
        2 + self.teams + i
    }
    pub(super) fn rho(&self) -> usize {
        2 + 2 * self.teams
    }
    pub(super) fn len(&self) -> usize {
        2 + 2 * self.teams + usize::from(self.dixon_coles)
    }
}

/// One weighted result, ready for the inner loop.
pub(super) struct Obs {
    pub(super) home: usize,
    pub(super) away: usize,
    pub(super) x: f64,
    pub(super) y: f64,
    /// The score when τ applies to it (Dixon–Coles, both sides at most one goal).
    pub(super) low: Option<(u32, u32)>,
    pub(super) w: f64,
}

impl Obs {
    /// `result` with weight `w`; `dixon_coles` says whether τ applies.
    pub(super) fn new(result: &IndexedResult, w: f64, dixon_coles: bool) -> Obs {
        let (x, y) = (result.home_goals, result.away_goals);
        Obs {
            home: result.home as usize,
            away: result.away as usize,
            x: f64::from(x),
            y: f64::from(y),
            low: (dixon_coles && x <= 1 && y <= 1).then_some((u32::from(x), u32::from(y))),
            w,
        }
    }
}

pub(super) struct Evaluation {
    pub(super) value: f64,
    pub(super) gradient: Vec<f64>,
    /// Negative Hessian of the objective.
    pub(super) information: Matrix,
}

/// The penalised weighted log-likelihood (without `ln x!`), and optionally its derivatives.
pub(super) fn evaluate(
    layout: &Layout,
    obs: &[Obs],
    theta: &[f64],
    derivatives: bool,
) -> Evaluation {
    let p = layout.len();
    let n = layout.teams;
    let rho = if layout.dixon_coles {
        theta[layout.rho()]
    } else {
        0.0
    };
    let mut value = 0.0;
    let mut gradient = vec![0.0; if derivatives { p } else { 0 }];
    let mut info = Matrix::zeros(if derivatives { p } else { 0 });
    for o in obs {
        let eta_h =
            theta[Layout::C] + theta[Layout::H] + theta[layout.a(o.home)] - theta[layout.d(o.away)];
        let eta_a = theta[Layout::C] + theta[layout.a(o.away)] - theta[layout.d(o.home)];
        let (lambda, mu) = (eta_h.exp(), eta_a.exp());
        value += o.w * (o.x * eta_h - lambda + o.y * eta_a - mu);
        // Derivatives of this result's log-likelihood in (η_h, η_a, ρ); `m_*` are the negated
        // second derivatives.
        let (mut g_h, mut g_a, mut g_r) = (o.x - lambda, o.y - mu, 0.0);
        let (mut m_hh, mut m_aa) = (lambda, mu);
        let (mut m_ha, mut m_hr, mut m_ar, mut m_rr) = (0.0, 0.0, 0.0, 0.0);
        if let Some((x, y)) = o.low {
            let tau = dixon_coles_tau(x, y, lambda, mu, rho);
            if tau.is_nan() || tau <= 0.0 {
                value = f64::NEG_INFINITY;
                continue;
            }
            value += o.w * tau.ln();
            match (x, y) {
                (0, 0) => {
                    let q = lambda * mu;
                    let (t, t2) = (1.0 / tau, 1.0 / (tau * tau));
                    g_h -= rho * q * t;
                    g_a -= rho * q * t;
                    g_r -= q * t;
                    m_hh += rho * q * t2;
                    m_aa += rho * q * t2;
                    m_ha += rho * q * t2;
                    m_hr += q * t2;
                    m_ar += q * t2;
                    m_rr += q * q * t2;
                }
                (0, 1) => {
                    let t2 = 1.0 / (tau * tau);
                    g_h += rho * lambda / tau;
                    g_r += lambda / tau;
                    m_hh -= rho * lambda * t2;
                    m_hr -= lambda * t2;
                    m_rr += lambda * lambda * t2;
                }
                (1, 0) => {
                    let t2 = 1.0 / (tau * tau);
                    g_a += rho * mu / tau;
                    g_r += mu / tau;
                    m_aa -= rho * mu * t2;
                    m_ar -= mu * t2;
                    m_rr += mu * mu * t2;
                }
                _ => {
                    g_r -= 1.0 / tau;
                    m_rr += 1.0 / (tau * tau);
                }
            }
        }
        if !derivatives {
            continue;
        }
        let w = o.w;
        let home = [
            (Layout::C, 1.0),
            (Layout::H, 1.0),
            (layout.a(o.home), 1.0),
            (layout.d(o.away), -1.0),
        ];
        let away = [
            (Layout::C, 1.0),
            (layout.a(o.away), 1.0),
            (layout.d(o.home), -1.0),
        ];
        for &(i, ci) in &home {
            gradient[i] += w * g_h * ci;
            for &(j, cj) in &home {
                info.add(i, j, w * m_hh * ci * cj);
            }
        }
        for &(i, ci) in &away {
            gradient[i] += w * g_a * ci;
            for &(j, cj) in &away {
                info.add(i, j, w * m_aa * ci * cj);
            }
        }
        if m_ha != 0.0 {
            for &(i, ci) in &home {
                for &(j, cj) in &away {
                    info.add(i, j, w * m_ha * ci * cj);
                    info.add(j, i, w * m_ha * ci * cj);
                }
            }
        }
        if layout.dixon_coles {
            let r = layout.rho();
            gradient[r] += w * g_r;
            info.add(r, r, w * m_rr);
            for (list, m) in [(&home[..], m_hr), (&away[..], m_ar)] {
                if m != 0.0 {
                    for &(i, ci) in list {
                        info.add(i, r, w * m * ci);
                        info.add(r, i, w * m * ci);
                    }
                }
            }
        }
    }
    // Prior on strengths and the sum-to-zero penalty.
    let (mut sum_a, mut sum_d) = (0.0, 0.0);
    for i in 0..n {
        let (a, d) = (theta[layout.a(i)], theta[layout.d(i)]);
        value -= 0.5 * PRIOR_PRECISION * (a * a + d * d);
        sum_a += a;
        sum_d += d;
    }
    value -=
        0.5 * SUM_PENALTY * (sum_a * sum_a + sum_d * sum_d) + 0.5 * RHO_PRIOR_PRECISION * rho * rho;
    if derivatives && layout.dixon_coles {
        let r = layout.rho();
        gradient[r] -= RHO_PRIOR_PRECISION * rho;
        info.add(r, r, RHO_PRIOR_PRECISION);
    }
    if derivatives {
        for i in 0..n {
            let (ai, di) = (layout.a(i), layout.d(i));
            gradient[ai] -= PRIOR_PRECISION * theta[ai] + SUM_PENALTY * sum_a;
            gradient[di] -= PRIOR_PRECISION * theta[di] + SUM_PENALTY * sum_d;
            info.add(ai, ai, PRIOR_PRECISION);
            info.add(di, di, PRIOR_PRECISION);
            for j in 0..n {
                info.add(ai, layout.a(j), SUM_PENALTY);
                info.add(di, layout.d(j), SUM_PENALTY);
            }
        }
    }
    Evaluation {
        value,
        gradient,
        information: info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Dataset, PlayedMatch};

    /// Analytic gradient and Hessian against central finite differences, at a point with ρ ≠ 0.
    #[test]
    fn derivatives_match_finite_differences() {
        let day = jiff::civil::date(2024, 3, 1);
        let scores = [
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (2, 1),
            (3, 0),
            (0, 2),
            (1, 1),
            (2, 2),
        ];
        let teams = ["A", "B", "C", "D"];
        let results: Vec<PlayedMatch> = scores
            .iter()
            .enumerate()
            .map(|(k, &(x, y))| PlayedMatch {
                competition: crate::domain::DEFAULT_COMPETITION.to_owned(),
                date: crate::domain::add_days(day, -(k as i32) * 9),
                home: teams[k % 4].into(),
                away: teams[(k + 1 + k / 4) % 4].into(),
                home_goals: x,
                away_goals: y,
            })
            .collect();
        let data = Dataset::from_results(&results);
        let layout = Layout {
            teams: 4,
            dixon_coles: true,
        };
        let obs: Vec<Obs> = data
            .results()
            .iter()
            .map(|r| {
                Obs::new(
                    r,
                    (-0.01 * f64::from(crate::domain::days_between(r.date, day))).exp(),
                    true,
                )
            })
            .collect();
        let theta: Vec<f64> = (0..layout.len())
            .map(|i| 0.1 * ((i * 37 % 11) as f64 - 5.0) / 5.0)
            .collect();
        let mut theta = theta;
        theta[layout.rho()] = -0.12;
        let at = |t: &[f64]| evaluate(&layout, &obs, t, true);
        let e = at(&theta);
        let h = 1e-5;
        for i in 0..layout.len() {
            let (mut up, mut down) = (theta.clone(), theta.clone());
            up[i] += h;
            down[i] -= h;
            let (eu, ed) = (at(&up), at(&down));
            let numeric = (eu.value - ed.value) / (2.0 * h);
            assert!(
                (numeric - e.gradient[i]).abs() < 1e-6,
                "gradient[{i}]: {numeric} vs {}",
                e.gradient[i]
            );
            for j in 0..layout.len() {
                let numeric = -(eu.gradient[j] - ed.gradient[j]) / (2.0 * h);
                let analytic = e.information.get(j, i);
                assert!(
                    (numeric - analytic).abs() < 1e-5,
                    "info[{j}][{i}]: {numeric} vs {analytic}"
                );
            }
        }
    }
}
