//! Betting markets read off a normalised score matrix. Each market partitions the grid, so its
//! probabilities sum to 1 up to floating-point rounding.

use serde::{Deserialize, Serialize};

use super::scores::ScoreMatrix;

/// Home win / draw / away win.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatchResult {
    /// P(home goals > away goals).
    pub home: f64,
    /// P(draw).
    pub draw: f64,
    /// P(away goals > home goals).
    pub away: f64,
}

/// Total goals over / under a line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OverUnder {
    /// The line (2.5).
    pub line: f64,
    /// P(total > line).
    pub over: f64,
    /// P(total < line).
    pub under: f64,
}

/// Both teams to score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BothTeamsToScore {
    /// P(both score at least once).
    pub yes: f64,
    /// P(at least one side scores nothing).
    pub no: f64,
}

/// One exact score and its probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreProbability {
    /// Home goals.
    pub home: u8,
    /// Away goals.
    pub away: u8,
    /// Probability.
    pub probability: f64,
}

/// The most likely exact scores; `other` is the rest of the grid, so the market sums to 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrectScore {
    /// Most likely first (ties: fewer home goals, then fewer away goals).
    pub top: Vec<ScoreProbability>,
    /// Every other score.
    pub other: f64,
}

/// Every market of a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Markets {
    /// 1X2.
    pub match_result: MatchResult,
    /// Over / under 2.5 goals.
    pub total_goals: OverUnder,
    /// Both teams to score.
    pub both_teams_to_score: BothTeamsToScore,
    /// Most likely scores.
    pub correct_score: CorrectScore,
}

impl Markets {
    /// Reads every market off `matrix`, listing the `top` most likely scores.
    pub fn from_matrix(matrix: &ScoreMatrix, top: usize) -> Markets {
        let (mut home, mut draw, mut away) = (0.0, 0.0, 0.0);
        let (mut over, mut under, mut btts_yes, mut btts_no) = (0.0, 0.0, 0.0, 0.0);
        let mut scores = Vec::with_capacity((matrix.max_goals() + 1).pow(2));
        for (i, j, p) in matrix.cells() {
            match i.cmp(&j) {
                std::cmp::Ordering::Greater => home += p,
                std::cmp::Ordering::Equal => draw += p,
                std::cmp::Ordering::Less => away += p,
            }
            if i + j >= 3 {
                over += p
            } else {
                under += p
            }
            if i >= 1 && j >= 1 {
                btts_yes += p
            } else {
                btts_no += p
            }
            scores.push(ScoreProbability {
                home: i as u8,
                away: j as u8,
                probability: p,
            });
        }
        scores.sort_by(|a, b| {
            b.probability
                .total_cmp(&a.probability)
                .then(a.home.cmp(&b.home))
                .then(a.away.cmp(&b.away))
        });
        scores.truncate(top);
        // `other` is summed over the cells left out (not 1 − top), so it is a real partition.
        let listed: std::collections::HashSet<(u8, u8)> =
            scores.iter().map(|s| (s.home, s.away)).collect();
        let other = matrix
            .cells()
            .filter(|&(i, j, _)| !listed.contains(&(i as u8, j as u8)))
            .map(|c| c.2)
            .sum();
        Markets {
            match_result: MatchResult { home, draw, away },
            total_goals: OverUnder {
                line: 2.5,
                over,
                under,
            },
            both_teams_to_score: BothTeamsToScore {
                yes: btts_yes,
                no: btts_no,
            },
            correct_score: CorrectScore { top: scores, other },
        }
    }

    /// The sum of each market's probabilities: 1X2, over/under, BTTS, correct score.
    pub fn sums(&self) -> [f64; 4] {
        let r = &self.match_result;
        let cs = &self.correct_score;
        [
            r.home + r.draw + r.away,
            self.total_goals.over + self.total_goals.under,
            self.both_teams_to_score.yes + self.both_teams_to_score.no,
            cs.top.iter().map(|s| s.probability).sum::<f64>() + cs.other,
        ]
    }

    /// Every probability rounded to `decimals` places, so the JSON form reads back bit-exact
    /// from any store (at most 15 significant digits).
    pub fn rounded(&self, decimals: i32) -> Markets {
        let r = |x: f64| round_to(x, decimals);
        let mut m = self.clone();
        let mr = &mut m.match_result;
        (mr.home, mr.draw, mr.away) = (r(mr.home), r(mr.draw), r(mr.away));
        (m.total_goals.over, m.total_goals.under) = (r(m.total_goals.over), r(m.total_goals.under));
        let b = &mut m.both_teams_to_score;
        (b.yes, b.no) = (r(b.yes), r(b.no));
        m.correct_score
            .top
            .iter_mut()
            .for_each(|s| s.probability = r(s.probability));
        m.correct_score.other = r(m.correct_score.other);
        m
    }
}

/// `x` rounded to `decimals` decimal places.
pub(crate) fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_market_sums_to_one() {
        for (lambda, mu, rho, g, top) in [
            (1.5, 1.1, -0.1, 10, 5),
            (0.2, 4.5, 0.05, 3, 1),
            (3.8, 0.4, 0.0, 25, 20),
            (1.0, 1.0, -0.2, 6, 49),
        ] {
            let m = Markets::from_matrix(&ScoreMatrix::new(lambda, mu, rho, g), top);
            for sum in m.sums() {
                assert!((sum - 1.0).abs() < 1e-12, "{sum} for λ={lambda} μ={mu}");
            }
            for sum in m.rounded(12).sums() {
                assert!((sum - 1.0).abs() < 1e-9, "rounded: {sum}");
            }
            assert_eq!(m.correct_score.top.len(), top.min((g + 1) * (g + 1)));
            assert!(
                m.correct_score
                    .top
                    .windows(2)
                    .all(|w| w[0].probability >= w[1].probability)
            );
        }
    }

    #[test]
    fn markets_agree_with_independent_poisson_sums() {
        // With ρ = 0 and a wide grid, P(0-0) = e^{-(λ+μ)} and P(BTTS no) = e^-λ + e^-μ - e^{-(λ+μ)}.
        let (lambda, mu) = (1.3, 0.9);
        let m = Markets::from_matrix(&ScoreMatrix::new(lambda, mu, 0.0, 25), 3);
        let no = (-lambda).exp() + (-mu).exp() - (-(lambda + mu)).exp();
        assert!((m.both_teams_to_score.no - no).abs() < 1e-12);
        // Total goals ~ Poisson(λ+μ): P(under 2.5) = e^-s (1 + s + s²/2).
        let s: f64 = lambda + mu;
        let under = (-s).exp() * (1.0 + s + s * s / 2.0);
        assert!((m.total_goals.under - under).abs() < 1e-12);
        assert!(m.match_result.home > m.match_result.away);
        assert_eq!(
            (m.correct_score.top[0].home, m.correct_score.top[0].away),
            (1, 0)
        );
    }

    #[test]
    fn round_to_places() {
        assert_eq!(round_to(0.123456789012345, 12), 0.123456789012);
        assert_eq!(round_to(-2.5e-13, 12), -0.0);
    }
}
