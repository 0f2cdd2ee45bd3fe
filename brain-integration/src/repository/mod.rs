//! The prediction repository port, the engine-backed implementation and the cache-aside
//! decorator.

mod cached;
mod engine_backed;
mod shared;

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

pub use cache_core::Source;
pub use cached::{CachedPredictionRepository, PREDICTION_ENTITY, competition_tag};
pub use engine_backed::EngineRepository;
pub use shared::SharedPrediction;

use crate::domain::StoreError;
use crate::engine::{EngineError, ModelConfig};

/// A prediction and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionOutcome {
    /// The prediction (shared: an in-process cache hit is a pointer copy).
    pub prediction: SharedPrediction,
    /// Where it came from; [`Source::Bypass`] when computed without any cache.
    pub source: Source,
    /// How long the computation took, when this call computed it.
    pub compute_time: Option<Duration>,
    /// The cache tier that served it (`None` when computed).
    pub tier: Option<cache_core::Tier>,
}

/// What can go wrong when asking for a prediction.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RepositoryError {
    /// No fixture has this id.
    #[error("unknown match {0:?}")]
    UnknownMatch(String),
    /// The configuration is out of range.
    #[error("{0}")]
    InvalidConfig(crate::engine::ParamError),
    /// The match store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The engine could not predict.
    #[error(transparent)]
    Engine(EngineError),
    /// The computation task died (it panicked or the runtime is shutting down).
    #[error("prediction task failed: {0}")]
    Task(String),
    /// The computation ran past the cache's hard timeout (`CACHE_HARD_TIMEOUT`).
    #[error("prediction took longer than the limit of {0:?}")]
    Timeout(Duration),
    /// The cache failed in a way that left no value (the decorator normally falls back to
    /// computing, so callers rarely see this).
    #[error("cache: {0}")]
    Cache(cache_core::CacheError),
}

impl From<StoreError> for RepositoryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownMatch(id) => RepositoryError::UnknownMatch(id),
            other => RepositoryError::Store(other),
        }
    }
}

impl From<EngineError> for RepositoryError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::InvalidConfig(p) => RepositoryError::InvalidConfig(p),
            other => RepositoryError::Engine(other),
        }
    }
}

/// The prediction repository port: predictions for a match under a configuration, and the
/// invalidation hooks a data change needs.
#[async_trait]
pub trait PredictionRepository: Send + Sync + Debug + 'static {
    /// The prediction for `match_id` under `config`.
    async fn calculate_predictions(
        &self,
        match_id: &str,
        config: &ModelConfig,
    ) -> Result<PredictionOutcome, RepositoryError>;

    /// The predictions of several matches under one configuration: one result per requested
    /// id, in order (an unknown id is [`RepositoryError::UnknownMatch`] for that id alone). The
    /// outer error is for the whole request (a configuration out of range, the store failing).
    /// The default asks for each id in turn.
    async fn calculate_many(
        &self,
        match_ids: &[String],
        config: &ModelConfig,
    ) -> Result<Vec<Result<PredictionOutcome, RepositoryError>>, RepositoryError> {
        config.validate().map_err(RepositoryError::InvalidConfig)?;
        let mut outcomes = Vec::with_capacity(match_ids.len());
        for id in match_ids {
            outcomes.push(self.calculate_predictions(id, config).await);
        }
        Ok(outcomes)
    }

    /// Forgets every stored prediction of one match (all configurations); returns how many
    /// entries went. A repository that stores nothing returns 0.
    async fn invalidate_match(&self, _match_id: &str) -> Result<u64, RepositoryError> {
        Ok(0)
    }

    /// Invalidates every stored prediction of one competition (a result there changed its
    /// fit, and no other competition's). A repository that stores nothing does nothing.
    async fn invalidate_competition(&self, _competition: &str) -> Result<(), RepositoryError> {
        Ok(())
    }

    /// Forgets every stored prediction (the results changed, so every fit did); returns how many
    /// entries went.
    async fn invalidate_all(&self) -> Result<u64, RepositoryError> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests;
