//! The score matrix: `P(home = i, away = j)` for `0 ≤ i, j ≤ max_goals`.
//!
//! Truncation: the Poisson tails beyond `max_goals` hold some probability (`truncated_mass`,
//! about 1e-7 at 10 goals for λ = 2). The matrix is renormalised to sum to 1 — every market is
//! then a partition of one distribution and sums to 1 up to rounding — and the mass that was cut
//! is reported next to the markets, so a client can see how much the grid left out.

use super::dixon_coles_tau;

/// A normalised, truncated joint distribution of the score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreMatrix {
    size: usize,
    cells: Vec<f64>,
    truncated_mass: f64,
}

impl ScoreMatrix {
    /// The Dixon–Coles score distribution (ρ = 0: independent Poisson) on `0..=max_goals`.
    ///
    /// ```
    /// use brain_integration::engine::ScoreMatrix;
    /// let m = ScoreMatrix::new(1.5, 1.1, -0.05, 10);
    /// let total: f64 = (0..=10).flat_map(|i| (0..=10).map(move |j| (i, j))).map(|(i, j)| m.probability(i, j)).sum();
    /// assert!((total - 1.0).abs() < 1e-12);
    /// assert!(m.truncated_mass() < 1e-5);
    /// ```
    pub fn new(lambda: f64, mu: f64, rho: f64, max_goals: usize) -> ScoreMatrix {
        let size = max_goals + 1;
        let home = poisson_pmf(lambda, size);
        let away = poisson_pmf(mu, size);
        let mut cells = Vec::with_capacity(size * size);
        for (i, ph) in home.iter().enumerate() {
            for (j, pa) in away.iter().enumerate() {
                let tau = if i <= 1 && j <= 1 {
                    dixon_coles_tau(i as u32, j as u32, lambda, mu, rho)
                } else {
                    1.0
                };
                cells.push(ph * pa * tau.max(0.0));
            }
        }
        let total: f64 = cells.iter().sum();
        // τ only moves mass among the four low scores (their corrections cancel), so the raw
        // total is exactly the Poisson mass inside the grid.
        let truncated_mass = (1.0 - total).max(0.0);
        if total > 0.0 {
            cells.iter_mut().for_each(|c| *c /= total);
        }
        ScoreMatrix {
            size,
            cells,
            truncated_mass,
        }
    }

    /// The highest goal count on each axis.
    pub fn max_goals(&self) -> usize {
        self.size - 1
    }

    /// `P(home = i, away = j)` after normalisation (0 outside the grid).
    pub fn probability(&self, home: usize, away: usize) -> f64 {
        if home < self.size && away < self.size {
            self.cells[home * self.size + away]
        } else {
            0.0
        }
    }

    /// The probability the grid cut off before normalisation.
    pub fn truncated_mass(&self) -> f64 {
        self.truncated_mass
    }

    /// Every cell as `(home goals, away goals, probability)`.
    pub fn cells(&self) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
        self.cells
            .iter()
            .enumerate()
            .map(|(k, &p)| (k / self.size, k % self.size, p))
    }
}

/// `Pois(k; λ)` for `k < n`, by the recurrence `p_k = p_{k−1}·λ/k`.
fn poisson_pmf(lambda: f64, n: usize) -> Vec<f64> {
    let mut p = Vec::with_capacity(n);
    let mut current = (-lambda).exp();
    for k in 0..n {
        if k > 0 {
            current *= lambda / k as f64;
        }
        p.push(current);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_pmf_matches_closed_form() {
        let p = poisson_pmf(2.3, 8);
        for (k, pk) in p.iter().enumerate() {
            let fact: f64 = (1..=k).map(|i| i as f64).product();
            let want = (-2.3f64).exp() * 2.3f64.powi(k as i32) / fact;
            assert!((pk - want).abs() < 1e-15);
        }
    }

    #[test]
    fn truncated_mass_is_the_poisson_tail() {
        let (lambda, mu, g) = (2.0, 1.0, 5);
        let cdf = |l: f64| poisson_pmf(l, g + 1).iter().sum::<f64>();
        let want = 1.0 - cdf(lambda) * cdf(mu);
        for rho in [0.0, -0.1, 0.1] {
            let m = ScoreMatrix::new(lambda, mu, rho, g);
            assert!((m.truncated_mass() - want).abs() < 1e-12, "rho={rho}");
        }
    }

    #[test]
    fn rho_moves_mass_between_low_scores_only() {
        let base = ScoreMatrix::new(1.4, 1.2, 0.0, 12);
        let dc = ScoreMatrix::new(1.4, 1.2, -0.1, 12);
        // ρ < 0 makes 0-0 and 1-1 likelier, 1-0 and 0-1 less likely.
        assert!(dc.probability(0, 0) > base.probability(0, 0));
        assert!(dc.probability(1, 1) > base.probability(1, 1));
        assert!(dc.probability(1, 0) < base.probability(1, 0));
        assert!(dc.probability(0, 1) < base.probability(0, 1));
        assert!((dc.probability(2, 3) - base.probability(2, 3)).abs() < 1e-15);
        assert_eq!(dc.probability(13, 0), 0.0);
        assert_eq!(dc.cells().count(), 13 * 13);
    }
}
