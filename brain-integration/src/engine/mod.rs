//! The prediction engine port and the real engine: fit (Poisson / Dixon–Coles), score matrix,
//! markets.
//!
//! ```
//! use brain_integration::domain::{SyntheticLeagueConfig, synthetic_league, Dataset};
//! use brain_integration::engine::{DixonColesEngine, ModelConfig, PredictionEngine};
//!
//! let league = synthetic_league(&SyntheticLeagueConfig { teams: 6, seasons: 2, ..Default::default() }).unwrap();
//! let data = Dataset::from_results(&league.results);
//! let prediction = DixonColesEngine::default().predict(&data, &league.fixtures[0], &ModelConfig::default()).unwrap();
//! let r = prediction.markets.match_result;
//! assert!((r.home + r.draw + r.away - 1.0).abs() < 1e-9);
//! ```

mod config;
mod fit;
mod likelihood;
mod linalg;
mod markets;
mod prediction;
mod scores;

use std::fmt::Debug;

pub use config::{ModelConfig, ModelKind, ParamError};
pub use fit::{FitError, FitOptions, FittedModel, StandardErrors, fit, fit_with_standard_errors};
pub use markets::{
    BothTeamsToScore, CorrectScore, Markets, MatchResult, OverUnder, ScoreProbability,
};
pub use prediction::{ExpectedGoals, ModelSummary, Prediction, TeamStrength};
pub use scores::ScoreMatrix;

use crate::domain::{Dataset, Fixture};
use markets::round_to;

/// Decimal places of probabilities and strengths in a [`Prediction`]: few enough (≤ 15
/// significant digits) that the JSON text parses back to the same `f64` in any store.
const DECIMALS: i32 = 12;

/// The Dixon–Coles low-score factor τ(x, y): `1 − λμρ` at 0-0, `1 + λρ` at 0-1, `1 + μρ` at
/// 1-0, `1 − ρ` at 1-1 and 1 elsewhere. Its corrections cancel over the four cells, so the
/// distribution still sums to 1.
pub fn dixon_coles_tau(x: u32, y: u32, lambda: f64, mu: f64, rho: f64) -> f64 {
    match (x, y) {
        (0, 0) => 1.0 - lambda * mu * rho,
        (0, 1) => 1.0 + lambda * rho,
        (1, 0) => 1.0 + mu * rho,
        (1, 1) => 1.0 - rho,
        _ => 1.0,
    }
}

/// Why a prediction could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The fixture names a team the results do not know.
    #[error("team {0:?} is not in the data set")]
    UnknownTeam(String),
    /// The configuration is out of range.
    #[error(transparent)]
    InvalidConfig(#[from] ParamError),
    /// The fit failed.
    #[error(transparent)]
    Fit(#[from] FitError),
}

/// The prediction engine port: from results and a fixture to a [`Prediction`]. CPU-bound and
/// synchronous; callers on an async runtime run it on a blocking thread.
pub trait PredictionEngine: Send + Sync + Debug + 'static {
    /// Predicts `fixture` from `data` under `config`.
    fn predict(
        &self,
        data: &Dataset,
        fixture: &Fixture,
        config: &ModelConfig,
    ) -> Result<Prediction, EngineError>;
}

/// The real engine: a full maximum-likelihood fit for every prediction (the time decay is
/// measured from the fixture's date, so each fixture has its own fit), then the score matrix and
/// the markets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DixonColesEngine {
    /// Newton iterations at most per fit.
    pub max_iterations: usize,
    /// Convergence tolerance on the Newton decrement.
    pub tolerance: f64,
}

impl Default for DixonColesEngine {
    fn default() -> Self {
        DixonColesEngine {
            max_iterations: 100,
            tolerance: 1e-10,
        }
    }
}

impl PredictionEngine for DixonColesEngine {
    fn predict(
        &self,
        data: &Dataset,
        fixture: &Fixture,
        config: &ModelConfig,
    ) -> Result<Prediction, EngineError> {
        config.validate()?;
        // One model per competition: another competition's results say nothing here.
        let data = &*data.competition(&fixture.competition);
        let index = |team: &str| {
            data.team_index(team)
                .map(|i| i as usize)
                .ok_or_else(|| EngineError::UnknownTeam(team.to_owned()))
        };
        let (home, away) = (index(&fixture.home)?, index(&fixture.away)?);
        let options = FitOptions {
            max_iterations: self.max_iterations,
            tolerance: self.tolerance,
            ..FitOptions::new(config.model, config.xi, fixture.date)
        };
        let model = fit(data, &options)?;
        let (lambda, mu) = model.expected_goals(home, away);
        let matrix = ScoreMatrix::new(lambda, mu, model.rho, usize::from(config.max_goals));
        let markets = Markets::from_matrix(&matrix, usize::from(config.top_scores));
        let r = |x: f64| round_to(x, DECIMALS);
        let strength = |i: usize| TeamStrength {
            attack: r(model.attack[i]),
            defence: r(model.defence[i]),
        };
        Ok(Prediction {
            match_id: fixture.id.clone(),
            date: fixture.date,
            home: fixture.home.clone(),
            away: fixture.away.clone(),
            config: *config,
            data_version: data.version(),
            expected_goals: ExpectedGoals {
                home: r(lambda),
                away: r(mu),
            },
            markets: markets.rounded(DECIMALS),
            truncated_mass: r(matrix.truncated_mass()),
            model: ModelSummary {
                home_advantage: r(model.home_advantage),
                rho: r(model.rho),
                home_team: strength(home),
                away_team: strength(away),
                log_likelihood: round_to(model.log_likelihood, 6),
                iterations: u32::try_from(model.iterations).unwrap_or(u32::MAX),
                converged: model.converged,
                matches_used: model.matches_used,
                effective_matches: round_to(model.effective_matches, 6),
            },
        })
    }
}

#[cfg(test)]
mod tests;
