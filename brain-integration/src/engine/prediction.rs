//! What the service answers for one match: the value that gets cached.

use serde::{Deserialize, Serialize};

use super::config::ModelConfig;
use super::markets::Markets;
use crate::domain::Date;

/// Expected goals of each side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExpectedGoals {
    /// λ, home side.
    pub home: f64,
    /// μ, away side.
    pub away: f64,
}

/// A team's fitted strengths (log scale, centred on the league).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TeamStrength {
    /// Attack.
    pub attack: f64,
    /// Defence (higher concedes fewer).
    pub defence: f64,
}

/// The fit behind a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Log-scale home advantage.
    pub home_advantage: f64,
    /// Low-score dependence ρ (0 for Poisson).
    pub rho: f64,
    /// Home side's strengths.
    pub home_team: TeamStrength,
    /// Away side's strengths.
    pub away_team: TeamStrength,
    /// Weighted log-likelihood at the optimum.
    pub log_likelihood: f64,
    /// Newton iterations.
    pub iterations: u32,
    /// Whether the fit reached its tolerance.
    pub converged: bool,
    /// Results used.
    pub matches_used: usize,
    /// Sum of the time-decay weights.
    pub effective_matches: f64,
}

/// A prediction for one fixture under one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The fixture's id.
    pub match_id: String,
    /// Match day.
    pub date: Date,
    /// Home team.
    pub home: String,
    /// Away team.
    pub away: String,
    /// The configuration it was computed with.
    pub config: ModelConfig,
    /// Version of the results it was fitted on.
    pub data_version: u64,
    /// Expected goals.
    pub expected_goals: ExpectedGoals,
    /// The markets.
    pub markets: Markets,
    /// Probability beyond the score grid, removed by renormalisation (see [`super::ScoreMatrix`]).
    pub truncated_mass: f64,
    /// The fit.
    pub model: ModelSummary,
}
