//! brain-integration: a football prediction "brain" whose analysis is expensive — a full
//! Dixon–Coles maximum-likelihood fit per prediction — served over HTTP with smartcache in front
//! of it as a cache-aside decorator.
//!
//! Layers (ports and adapters):
//!
//! - [`domain`]: matches, the [`MatchStore`](domain::MatchStore) port and its in-memory adapter,
//!   the football-data CSV loader, a seeded synthetic league with known strengths;
//! - [`engine`]: the [`PredictionEngine`](engine::PredictionEngine) port and the real engine
//!   (Poisson / Dixon–Coles fit, score matrix, markets);
//! - [`repository`]: the [`PredictionRepository`](repository::PredictionRepository) port, the
//!   engine-backed implementation and [`CachedPredictionRepository`](repository::CachedPredictionRepository);
//! - [`service`]: the axum HTTP service; [`settings`] and [`app`]: start-up from the environment;
//! - [`load`]: the load generator behind the `brain-load` binary.
//!
//! ```
//! use std::sync::Arc;
//! use brain_integration::domain::{InMemoryMatchStore, SyntheticLeagueConfig, synthetic_league};
//! use brain_integration::engine::{DixonColesEngine, ModelConfig};
//! use brain_integration::repository::{CachedPredictionRepository, EngineRepository, PredictionRepository, Source};
//! use cache_core::{EntryOptions, SmartCache};
//! use cache_keys::KeyFactory;
//! use cache_memory::MemoryBackend;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let league = synthetic_league(&SyntheticLeagueConfig { teams: 6, seasons: 2, ..Default::default() })?;
//! let store = Arc::new(InMemoryMatchStore::new(&league.results, league.fixtures)?);
//! let engine = Arc::new(EngineRepository::new(store.clone(), Arc::new(DixonColesEngine::default())));
//! let cache = SmartCache::new(MemoryBackend::new(1_000));
//! let repo = CachedPredictionRepository::new(engine, store, cache, KeyFactory::new("brain", 1)?, EntryOptions::new());
//!
//! let first = repo.calculate_predictions("1", &ModelConfig::default()).await?;
//! let again = repo.calculate_predictions("1", &ModelConfig::default()).await?;
//! assert_eq!((first.source, again.source), (Source::Miss, Source::Hit));
//! assert_eq!(first.prediction, again.prediction);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod app;
pub mod domain;
pub mod engine;
pub mod load;
pub mod repository;
pub mod service;
pub mod settings;
