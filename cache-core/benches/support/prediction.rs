//! The value every hit-path benchmark caches: a `Prediction` of five `String`s and a `Vec`, 621
//! bytes as JSON, held as `Arc<Prediction>` by every raw store (smartcache hands hits out as
//! [`cache_core::Value`], one shared allocation as well).

use serde::{Deserialize, Serialize};

/// Encoded size of [`sample`] as compact JSON.
pub const JSON_BYTES: usize = 621;

/// A football prediction, shaped like the one the prediction service caches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub match_id: String,
    pub home: String,
    pub away: String,
    pub competition: String,
    pub model: String,
    /// Probabilities of an 8 × 8 score grid.
    pub scores: Vec<f64>,
}

/// The cached value: 621 bytes of JSON.
pub fn sample() -> Prediction {
    let prediction = Prediction {
        match_id: "epl-2026-27-mw14-ars-che".into(),
        home: "Arsenal".into(),
        away: "Chelsea".into(),
        competition: "Premier League".into(),
        model: "dixon-coles xi=0.0019 rho=-0.13 fitted on 15200 games".into(),
        // Four decimals each: JSON writes them as they are.
        scores: (0..64u32)
            .map(|i| f64::from(5 + (i * 7919) % 997) / 10_000.0)
            .collect(),
    };
    let encoded = serde_json::to_vec(&prediction).map(|json| json.len());
    assert_eq!(
        encoded.ok(),
        Some(JSON_BYTES),
        "the benchmark value changed size"
    );
    prediction
}

/// `n` distinct keys under `prefix`, formatted once so that no benchmark times a `format!`.
pub fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}
