//! [`SharedPrediction`]: the value the repositories hand out and the cache keeps.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::engine::Prediction;

/// A prediction shared by every hit on one cache entry, with its JSON rendered at most once.
///
/// The in-process backend hands every hit the same `Arc`, so a hit costs a pointer copy and no
/// serialization at all; an entry read from Redis is decoded and rendered once per read. It
/// (de)serializes exactly as [`Prediction`].
#[derive(Clone)]
pub struct SharedPrediction(Arc<Shared>);

struct Shared {
    prediction: Prediction,
    json: OnceLock<Bytes>,
}

impl SharedPrediction {
    /// Wraps a prediction.
    pub fn new(prediction: Prediction) -> Self {
        SharedPrediction(Arc::new(Shared {
            prediction,
            json: OnceLock::new(),
        }))
    }

    /// The JSON text of the prediction (rendered on first use, then shared).
    pub fn json(&self) -> Result<Bytes, serde_json::Error> {
        if let Some(json) = self.0.json.get() {
            return Ok(json.clone());
        }
        let rendered = Bytes::from(serde_json::to_vec(&self.0.prediction)?);
        Ok(self.0.json.get_or_init(|| rendered).clone())
    }
}

impl Deref for SharedPrediction {
    type Target = Prediction;

    fn deref(&self) -> &Prediction {
        &self.0.prediction
    }
}

impl PartialEq for SharedPrediction {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.prediction == other.0.prediction
    }
}

impl fmt::Debug for SharedPrediction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.prediction.fmt(f)
    }
}

impl Serialize for SharedPrediction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.prediction.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedPrediction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Prediction::deserialize(deserializer).map(SharedPrediction::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Dataset, SyntheticLeagueConfig, synthetic_league};
    use crate::engine::{DixonColesEngine, ModelConfig, PredictionEngine};

    fn prediction() -> Prediction {
        let league = synthetic_league(&SyntheticLeagueConfig {
            teams: 4,
            seasons: 1,
            ..Default::default()
        })
        .unwrap();
        let data = Dataset::from_results(&league.results);
        DixonColesEngine::default()
            .predict(&data, &league.fixtures[0], &ModelConfig::default())
            .unwrap()
    }

    #[test]
    fn renders_once_and_serializes_as_the_prediction() {
        let p = prediction();
        let shared = SharedPrediction::new(p.clone());
        let copy = shared.clone();
        let (a, b) = (shared.json().unwrap(), copy.json().unwrap());
        assert_eq!(a.as_ptr(), b.as_ptr(), "clones share one rendering");
        assert_eq!(&a[..], serde_json::to_vec(&p).unwrap().as_slice());
        assert_eq!(
            serde_json::to_vec(&shared).unwrap(),
            serde_json::to_vec(&p).unwrap()
        );
        let back: SharedPrediction = serde_json::from_slice(&a).unwrap();
        assert_eq!(back, shared);
        assert_eq!(*back, p);
    }
}
