//! What a prediction is asked for: the model and its knobs. Part of every cache key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which model is fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelKind {
    /// Independent Poisson goals (Maher 1982) with attack, defence and home advantage.
    #[serde(rename = "poisson")]
    Poisson,
    /// Poisson with the Dixon–Coles (1997) low-score correction τ(ρ).
    #[serde(rename = "dixon-coles")]
    DixonColes,
}

impl ModelKind {
    /// The name used in URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Poisson => "poisson",
            ModelKind::DixonColes => "dixon-coles",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelKind {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "poisson" => Ok(ModelKind::Poisson),
            "dixon-coles" | "dixon_coles" | "dixoncoles" | "dc" => Ok(ModelKind::DixonColes),
            _ => Err(ParamError::new("model", s, "one of poisson, dixon-coles")),
        }
    }
}

/// A request parameter that was rejected, naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parameter `{parameter}`={value:?}: expected {expected}")]
pub struct ParamError {
    /// The parameter's name.
    pub parameter: String,
    /// The value given.
    pub value: String,
    /// What would have been accepted.
    pub expected: String,
}

impl ParamError {
    /// A rejected `parameter=value`, with what is expected instead.
    pub fn new(parameter: &str, value: &str, expected: &str) -> Self {
        ParamError {
            parameter: parameter.to_owned(),
            value: value.to_owned(),
            expected: expected.to_owned(),
        }
    }
}

/// The prediction configuration: which model, how far the score grid goes, how fast old
/// results fade, how many correct scores to list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// The model fitted.
    pub model: ModelKind,
    /// The score grid covers `0..=max_goals` goals per side (3..=25).
    pub max_goals: u8,
    /// Time decay ξ per day: a result `t` days before the match weighs `e^(−ξ·t)` (0..=0.05;
    /// 0 weighs every result equally).
    pub xi: f64,
    /// How many most likely scores to list (1..=20).
    pub top_scores: u8,
}

impl Default for ModelConfig {
    /// Dixon–Coles, grid to 10 goals, ξ = 0.002 per day (a result a year old weighs ≈ 0.48),
    /// top 5 scores.
    fn default() -> Self {
        ModelConfig {
            model: ModelKind::DixonColes,
            max_goals: 10,
            xi: 0.002,
            top_scores: 5,
        }
    }
}

impl ModelConfig {
    /// The query parameters this configuration reads.
    pub const PARAMETERS: [&'static str; 4] = ["model", "max_goals", "xi", "top_scores"];

    /// Sets one parameter from its text form; the error names the parameter.
    ///
    /// ```
    /// use brain_integration::engine::{ModelConfig, ModelKind};
    /// let mut config = ModelConfig::default();
    /// config.set_param("model", "poisson").unwrap();
    /// config.set_param("max_goals", "8").unwrap();
    /// assert_eq!((config.model, config.max_goals), (ModelKind::Poisson, 8));
    /// let err = config.set_param("max_goals", "lots").unwrap_err();
    /// assert_eq!(err.parameter, "max_goals");
    /// ```
    pub fn set_param(&mut self, name: &str, value: &str) -> Result<(), ParamError> {
        match name {
            "model" => self.model = value.parse()?,
            "max_goals" => {
                self.max_goals = parse_in(value, 3..=25)
                    .ok_or_else(|| ParamError::new(name, value, "an integer from 3 to 25"))?
            }
            "xi" => {
                self.xi = value
                    .parse::<f64>()
                    .ok()
                    .filter(|x| (0.0..=0.05).contains(x))
                    .ok_or_else(|| ParamError::new(name, value, "a number from 0 to 0.05 (per day)"))?
                    // -0 and 0 are one configuration (and one cache key).
                    + 0.0
            }
            "top_scores" => {
                self.top_scores = parse_in(value, 1..=20)
                    .ok_or_else(|| ParamError::new(name, value, "an integer from 1 to 20"))?
            }
            _ => {
                return Err(ParamError::new(
                    name,
                    value,
                    "a known parameter (model, max_goals, xi, top_scores)",
                ));
            }
        }
        Ok(())
    }

    /// Checks every field's range (a configuration built in code rather than parsed).
    pub fn validate(&self) -> Result<(), ParamError> {
        let mut copy = *self;
        copy.set_param("max_goals", &self.max_goals.to_string())?;
        copy.set_param("xi", &self.xi.to_string())?;
        copy.set_param("top_scores", &self.top_scores.to_string())
    }
}

fn parse_in(value: &str, range: std::ops::RangeInclusive<u8>) -> Option<u8> {
    value.parse::<u8>().ok().filter(|v| range.contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_bad_parameters() {
        let mut c = ModelConfig::default();
        c.set_param("model", "DC").unwrap();
        assert_eq!(c.model, ModelKind::DixonColes);
        c.set_param("xi", "0").unwrap();
        assert_eq!(c.xi, 0.0);
        c.set_param("xi", "-0").unwrap();
        assert!(c.xi.is_sign_positive());
        for (name, value) in [
            ("model", "elo"),
            ("max_goals", "2"),
            ("max_goals", "26"),
            ("max_goals", "-1"),
            ("xi", "NaN"),
            ("xi", "0.5"),
            ("xi", "inf"),
            ("top_scores", "0"),
            ("colour", "red"),
        ] {
            let err = c.set_param(name, value).unwrap_err();
            assert_eq!(err.parameter, name);
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn validate_checks_ranges_and_serde_names() {
        assert!(ModelConfig::default().validate().is_ok());
        assert!(
            ModelConfig {
                max_goals: 1,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            ModelConfig {
                xi: f64::INFINITY,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        let json = serde_json::to_string(&ModelConfig::default()).unwrap();
        assert_eq!(
            json,
            r#"{"model":"dixon-coles","max_goals":10,"xi":0.002,"top_scores":5}"#
        );
    }
}
