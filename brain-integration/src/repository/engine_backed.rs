//! The repository that computes every answer: store lookup, then the engine on a blocking thread.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::{PredictionOutcome, PredictionRepository, RepositoryError, SharedPrediction, Source};
use crate::domain::MatchStore;
use crate::engine::{ModelConfig, PredictionEngine};

/// Computes predictions with a [`PredictionEngine`] over the results of a [`MatchStore`].
#[derive(Debug, Clone)]
pub struct EngineRepository {
    store: Arc<dyn MatchStore>,
    engine: Arc<dyn PredictionEngine>,
}

impl EngineRepository {
    /// A repository fitting `engine` to the results in `store`.
    pub fn new(store: Arc<dyn MatchStore>, engine: Arc<dyn PredictionEngine>) -> Self {
        EngineRepository { store, engine }
    }
}

#[async_trait]
impl PredictionRepository for EngineRepository {
    async fn calculate_predictions(
        &self,
        match_id: &str,
        config: &ModelConfig,
    ) -> Result<PredictionOutcome, RepositoryError> {
        config.validate().map_err(RepositoryError::InvalidConfig)?;
        let fixture = self
            .store
            .fixture(match_id)
            .await?
            .ok_or_else(|| RepositoryError::UnknownMatch(match_id.to_owned()))?;
        let data = self.store.dataset().await?;
        let (engine, config) = (self.engine.clone(), *config);
        let started = Instant::now();
        // The fit is CPU work: keep it off the async workers.
        let prediction =
            tokio::task::spawn_blocking(move || engine.predict(&data, &fixture, &config))
                .await
                .map_err(|e| RepositoryError::Task(e.to_string()))??;
        Ok(PredictionOutcome {
            prediction: SharedPrediction::new(prediction),
            source: Source::Bypass,
            compute_time: Some(started.elapsed()),
            tier: None,
        })
    }
}
