//! Cache-aside as a decorator: the same port, answered through [`SmartCache`].
//!
//! Key: `KeyFactory::key_with_params("prediction", match_id, {data, config})` — the match id is
//! the (escaped) hash tag, and the digest covers the whole configuration and the
//! [fingerprint of the match's competition](crate::domain::Dataset::competition_fingerprint)
//! (its teams, results and fixtures: all its model is fitted on), so two configurations never
//! share an entry, and a computation that started before a result was recorded can only write
//! under the old data's key, which nobody reads again. The fingerprint is of the content, not a
//! counter of this process: a restart or another instance with other data (a shared Redis
//! outlives both) uses other keys, while a fleet with the same data shares its entries.
//!
//! Each prediction is tagged with its competition ([`competition_tag`]). Recording a result
//! invalidates that tag ([`PredictionRepository::invalidate_competition`]): one write, fleet-wide,
//! whatever the number of cached predictions — no SCAN — and the predictions of every other
//! competition stay cached (their fingerprints did not move either). The invalidated entries are
//! not deleted: they are refused on read and expire with their TTL. One match's predictions go
//! with the id pattern, escaped, so an id such as `1*` reaches only the match `1*`.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cache_core::{BatchItem, CacheError, EntryOptions, SmartCache};
use cache_keys::KeyFactory;
use futures_util::future::join_all;
use serde::Serialize;

use super::{PredictionOutcome, PredictionRepository, RepositoryError, SharedPrediction};
use crate::domain::MatchStore;
use crate::engine::ModelConfig;

/// The entity name of prediction keys.
pub const PREDICTION_ENTITY: &str = "prediction";

/// The cache tag of every prediction of `competition`: `competition:<name>`.
pub fn competition_tag(competition: &str) -> String {
    format!("competition:{competition}")
}

#[derive(Serialize)]
struct KeyParams<'a> {
    data: u64,
    config: &'a ModelConfig,
}

/// A [`PredictionRepository`] that answers from a [`SmartCache`] and asks `inner` on a miss.
///
/// Cache trouble never fails a request: a store that is down makes the cache compute
/// ([`Source::Bypass`](super::Source::Bypass)), and any other cache error falls back to `inner`.
#[derive(Debug, Clone)]
pub struct CachedPredictionRepository {
    inner: Arc<dyn PredictionRepository>,
    store: Arc<dyn MatchStore>,
    cache: SmartCache,
    keys: KeyFactory,
    options: EntryOptions,
}

impl CachedPredictionRepository {
    /// Decorates `inner`; `store` gives the data fingerprint and the fixture check, `keys` the key
    /// namespace, `options` the per-entry settings (TTL, grace, ...).
    pub fn new(
        inner: Arc<dyn PredictionRepository>,
        store: Arc<dyn MatchStore>,
        cache: SmartCache,
        keys: KeyFactory,
        options: EntryOptions,
    ) -> Self {
        CachedPredictionRepository {
            inner,
            store,
            cache,
            keys,
            options,
        }
    }

    /// The cache in front of the engine.
    pub fn cache(&self) -> &SmartCache {
        &self.cache
    }

    /// The key a prediction is stored under for the current data.
    pub async fn key_for(
        &self,
        match_id: &str,
        config: &ModelConfig,
    ) -> Result<String, RepositoryError> {
        let competition = self.store.fixture(match_id).await?.map(|f| f.competition);
        self.key_in(match_id, competition.as_deref(), config).await
    }

    /// The key of `match_id`'s prediction, the match being played in `competition` (`None`:
    /// unknown, keyed by the whole data's fingerprint).
    async fn key_in(
        &self,
        match_id: &str,
        competition: Option<&str>,
        config: &ModelConfig,
    ) -> Result<String, RepositoryError> {
        let dataset = self.store.dataset().await?;
        let data = match competition {
            Some(competition) => dataset.competition_fingerprint(competition),
            None => dataset.fingerprint(),
        };
        self.keys
            .key_with_params(PREDICTION_ENTITY, match_id, &KeyParams { data, config })
            .map_err(|e| RepositoryError::Cache(CacheError::InvalidKey(e.to_string())))
    }

    /// A batch compute: predicts the missing matches side by side; a match that fails is left
    /// out of the map, its error kept in `failures`.
    fn batch_compute(
        &self,
        ids_by_key: HashMap<String, String>,
        config: ModelConfig,
        failures: Arc<Mutex<HashMap<String, RepositoryError>>>,
    ) -> impl FnOnce(
        Vec<String>,
    ) -> futures_util::future::BoxFuture<
        'static,
        Result<HashMap<String, SharedPrediction>, Infallible>,
    > + Send
    + 'static {
        let inner = self.inner.clone();
        move |missing: Vec<String>| {
            Box::pin(async move {
                let outcomes = join_all(missing.iter().map(|key| {
                    let inner = inner.clone();
                    let id = ids_by_key.get(key).cloned();
                    async move {
                        match id {
                            Some(id) => inner.calculate_predictions(&id, &config).await,
                            None => Err(RepositoryError::Task(format!("no match for key {key}"))),
                        }
                    }
                }))
                .await;
                let mut values = HashMap::with_capacity(missing.len());
                let mut failed = failures.lock().unwrap_or_else(|p| p.into_inner());
                for (key, outcome) in missing.into_iter().zip(outcomes) {
                    match outcome {
                        Ok(outcome) => {
                            values.insert(key, outcome.prediction);
                        }
                        Err(e) => {
                            failed.insert(key, e);
                        }
                    }
                }
                Ok(values)
            })
        }
    }

    async fn fallback(
        &self,
        match_id: &str,
        config: &ModelConfig,
        why: String,
    ) -> Result<PredictionOutcome, RepositoryError> {
        tracing::warn!(match_id, error = %why, "cache unusable for this request; computing directly");
        self.inner.calculate_predictions(match_id, config).await
    }
}

#[async_trait]
impl PredictionRepository for CachedPredictionRepository {
    async fn calculate_predictions(
        &self,
        match_id: &str,
        config: &ModelConfig,
    ) -> Result<PredictionOutcome, RepositoryError> {
        config.validate().map_err(RepositoryError::InvalidConfig)?;
        // Unknown ids are answered before the cache: nothing to store, nothing to stampede.
        let Some(fixture) = self.store.fixture(match_id).await? else {
            return Err(RepositoryError::UnknownMatch(match_id.to_owned()));
        };
        let competition = fixture.competition;
        let key = match self.key_in(match_id, Some(&competition), config).await {
            Ok(key) => key,
            Err(RepositoryError::Cache(e)) => {
                return self.fallback(match_id, config, e.to_string()).await;
            }
            Err(e) => return Err(e),
        };
        let options = self.options.clone().tags([competition_tag(&competition)]);
        let (inner, id, cfg) = (self.inner.clone(), match_id.to_owned(), *config);
        let compute = move || async move {
            inner
                .calculate_predictions(&id, &cfg)
                .await
                .map(|outcome| outcome.prediction)
        };
        match self
            .cache
            .get_or_compute_detailed::<SharedPrediction, _, _, _>(&key, &options, compute)
            .await
        {
            Ok(lookup) => Ok(PredictionOutcome {
                prediction: SharedPrediction::clone(&lookup.value),
                source: lookup.source,
                compute_time: lookup.compute_time,
                tier: lookup.tier,
            }),
            Err(CacheError::Compute(err)) => match err.downcast_ref::<RepositoryError>() {
                Some(e) => Err(e.clone()),
                None => Err(RepositoryError::Task(err.to_string())),
            },
            Err(CacheError::ComputeTimeout(limit)) => Err(RepositoryError::Timeout(limit)),
            Err(e @ CacheError::ComputePanicked) => Err(RepositoryError::Task(e.to_string())),
            Err(e) => self.fallback(match_id, config, e.to_string()).await,
        }
    }

    /// One `get_many_or_compute` per competition among the known ids (each tagged with its
    /// competition, as a single prediction is; usually one): the cache answers what it holds,
    /// and the predictions it misses are computed in one batch (side by side), each stored
    /// under its own key; a match another request is computing is awaited, not recomputed.
    async fn calculate_many(
        &self,
        match_ids: &[String],
        config: &ModelConfig,
    ) -> Result<Vec<Result<PredictionOutcome, RepositoryError>>, RepositoryError> {
        config.validate().map_err(RepositoryError::InvalidConfig)?;
        // Per requested id: its key and competition, or why it has none (unknown ids never
        // reach the cache).
        let mut keyed: Vec<Result<(String, String), RepositoryError>> =
            Vec::with_capacity(match_ids.len());
        for id in match_ids {
            keyed.push(match self.store.fixture(id).await? {
                Some(fixture) => {
                    let competition = fixture.competition;
                    self.key_in(id, Some(&competition), config)
                        .await
                        .map(|key| (key, competition))
                }
                None => Err(RepositoryError::UnknownMatch(id.clone())),
            });
        }
        let mut by_competition: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, entry) in keyed.iter().enumerate() {
            if let Ok((_, competition)) = entry {
                by_competition.entry(competition).or_default().push(i);
            }
        }
        // Why a key is missing from its batch's result, for its item's error.
        let failures: Arc<Mutex<HashMap<String, RepositoryError>>> = Arc::default();
        let batches = by_competition.into_iter().map(|(competition, slots)| {
            let keys: Vec<String> = slots
                .iter()
                .filter_map(|&i| keyed[i].as_ref().ok().map(|(key, _)| key.clone()))
                .collect();
            let ids_by_key: HashMap<String, String> = keys
                .iter()
                .zip(&slots)
                .map(|(key, &i)| (key.clone(), match_ids[i].clone()))
                .collect();
            let options = self.options.clone().tags([competition_tag(competition)]);
            let compute = self.batch_compute(ids_by_key, *config, failures.clone());
            async move {
                let items = self
                    .cache
                    .get_many_or_compute::<SharedPrediction, _, _, _, _>(&keys, &options, compute)
                    .await;
                (slots, items)
            }
        });
        let mut answered: Vec<Option<BatchItem<SharedPrediction>>> =
            match_ids.iter().map(|_| None).collect();
        for (slots, items) in join_all(batches).await {
            for (i, item) in slots.into_iter().zip(items) {
                answered[i] = Some(item);
            }
        }
        let mut outcomes = Vec::with_capacity(match_ids.len());
        for ((id, key), item) in match_ids.iter().zip(keyed).zip(answered) {
            if let Err(e) = key {
                outcomes.push(Err(e));
                continue;
            }
            let Some(item) = item else {
                outcomes.push(Err(RepositoryError::Task("batch answered too few".into())));
                continue;
            };
            outcomes.push(match item.result {
                Ok(lookup) => Ok(PredictionOutcome {
                    prediction: SharedPrediction::clone(&lookup.value),
                    source: lookup.source,
                    compute_time: lookup.compute_time,
                    tier: lookup.tier,
                }),
                Err(CacheError::MissingFromBatch { key }) => {
                    let failed = failures.lock().unwrap_or_else(|p| p.into_inner());
                    Err(failed.get(&key).cloned().unwrap_or_else(|| {
                        RepositoryError::Task(format!("no prediction for match {id:?}"))
                    }))
                }
                Err(CacheError::ComputeTimeout(limit)) => Err(RepositoryError::Timeout(limit)),
                Err(e @ CacheError::ComputePanicked) => Err(RepositoryError::Task(e.to_string())),
                Err(e) => self.fallback(id, config, e.to_string()).await,
            });
        }
        Ok(outcomes)
    }

    async fn invalidate_match(&self, match_id: &str) -> Result<u64, RepositoryError> {
        let pattern = self
            .keys
            .id_pattern(PREDICTION_ENTITY, match_id)
            .map_err(|e| RepositoryError::Cache(CacheError::InvalidKey(e.to_string())))?;
        self.cache
            .invalidate_pattern(&pattern)
            .await
            .map_err(RepositoryError::Cache)
    }

    async fn invalidate_competition(&self, competition: &str) -> Result<(), RepositoryError> {
        self.cache
            .invalidate_tag(&competition_tag(competition))
            .await
            .map_err(RepositoryError::Cache)
    }

    async fn invalidate_all(&self) -> Result<u64, RepositoryError> {
        let pattern = self
            .keys
            .entity_pattern(PREDICTION_ENTITY)
            .map_err(|e| RepositoryError::Cache(CacheError::InvalidKey(e.to_string())))?;
        self.cache
            .invalidate_pattern(&pattern)
            .await
            .map_err(RepositoryError::Cache)
    }
}
