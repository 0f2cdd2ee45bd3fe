//! The decorator on the fake backend: what it stores, under which key, and what it does when the
//! store or the engine fails.

use std::sync::Arc;

use cache_core::{CacheConfig, EntryOptions, SmartCache};
use cache_fake::FakeBackend;
use cache_keys::KeyFactory;

use super::*;
use crate::domain::{
    Fixture, InMemoryMatchStore, MatchStore, NewResult, SyntheticLeagueConfig, synthetic_league,
};
use crate::engine::{DixonColesEngine, FitError, ModelKind};

struct Setup {
    fake: FakeBackend,
    store: Arc<dyn MatchStore>,
    direct: Arc<EngineRepository>,
    cached: CachedPredictionRepository,
}

fn setup(fake: FakeBackend, with_results: bool) -> Setup {
    let league = synthetic_league(&SyntheticLeagueConfig {
        teams: 6,
        seasons: 1,
        ..Default::default()
    })
    .unwrap();
    let mut fixtures: Vec<Fixture> = league.fixtures;
    fixtures[0].id = "1*".into();
    let results = if with_results {
        league.results
    } else {
        Vec::new()
    };
    let store: Arc<dyn MatchStore> = Arc::new(InMemoryMatchStore::new(&results, fixtures).unwrap());
    let direct = Arc::new(EngineRepository::new(
        store.clone(),
        Arc::new(DixonColesEngine::default()),
    ));
    let config = CacheConfig {
        breaker_threshold: 1000,
        ..CacheConfig::default()
    };
    let cache = SmartCache::builder(fake.clone()).config(config).build();
    let keys = KeyFactory::new("brain", 1).unwrap();
    let cached = CachedPredictionRepository::new(
        direct.clone(),
        store.clone(),
        cache,
        keys,
        EntryOptions::new(),
    );
    Setup {
        fake,
        store,
        direct,
        cached,
    }
}

/// Lets the background write that follows a miss land.
async fn settle(fake: &FakeBackend, entries: usize) {
    for _ in 0..1000 {
        if fake.len() >= entries {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("{} entries stored, expected {entries}", fake.len());
}

#[tokio::test]
async fn keys_are_per_match_config_and_data_version() {
    let s = setup(FakeBackend::builder().encode_values(true).build(), true);
    let default = ModelConfig::default();
    let poisson = ModelConfig {
        model: ModelKind::Poisson,
        ..default
    };
    let miss = s.cached.calculate_predictions("2", &default).await.unwrap();
    assert_eq!(miss.source, Source::Miss);
    assert!(miss.compute_time.is_some());
    settle(&s.fake, 1).await;
    let hit = s.cached.calculate_predictions("2", &default).await.unwrap();
    assert_eq!((hit.source, hit.compute_time), (Source::Hit, None));
    assert_eq!(
        hit.prediction, miss.prediction,
        "encoded and decoded: the same prediction"
    );
    assert_eq!(
        s.cached
            .calculate_predictions("2", &poisson)
            .await
            .unwrap()
            .source,
        Source::Miss
    );
    settle(&s.fake, 2).await;

    let k1 = s.cached.key_for("2", &default).await.unwrap();
    let k2 = s.cached.key_for("2", &poisson).await.unwrap();
    assert_ne!(k1, k2);
    assert!(k1.starts_with("brain:v1:prediction:{2}:"), "{k1}");
    let mut stored = entries(&s.fake);
    stored.sort();
    let mut want = vec![k1.clone(), k2];
    want.sort();
    assert_eq!(stored, want);
    let glob = s.cached.key_for("1*", &default).await.unwrap();
    assert!(glob.starts_with("brain:v1:prediction:{1%2A}:"), "{glob}");

    // A new result changes the data version, hence every key.
    s.store
        .record_result(NewResult::Fixture {
            match_id: "3".into(),
            home_goals: 1,
            away_goals: 0,
        })
        .await
        .unwrap();
    assert_ne!(s.cached.key_for("2", &default).await.unwrap(), k1);
    assert_eq!(s.cached.invalidate_all().await.unwrap(), 2);
    assert!(entries(&s.fake).is_empty());
}

/// The keys of cached entries (not the cache's own tag and namespace versions).
fn entries(fake: &FakeBackend) -> Vec<String> {
    let own = cache_core::tag::RESERVED_PREFIX;
    fake.keys()
        .into_iter()
        .filter(|k| !k.starts_with(own))
        .collect()
}

#[tokio::test]
async fn invalidating_a_glob_id_takes_only_that_match() {
    let s = setup(FakeBackend::new(), true);
    let default = ModelConfig::default();
    for id in ["1*", "10", "11", "2"] {
        s.cached.calculate_predictions(id, &default).await.unwrap();
    }
    settle(&s.fake, 4).await;
    assert_eq!(s.cached.invalidate_match("1*").await.unwrap(), 1);
    for id in ["10", "11", "2"] {
        assert_eq!(
            s.cached
                .calculate_predictions(id, &default)
                .await
                .unwrap()
                .source,
            Source::Hit,
            "{id}"
        );
    }
}

#[tokio::test]
async fn unknown_ids_and_bad_configs_never_reach_the_store() {
    let s = setup(FakeBackend::new(), true);
    let err = s
        .cached
        .calculate_predictions("nope", &ModelConfig::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RepositoryError::UnknownMatch(ref id) if id == "nope"),
        "{err}"
    );
    let bad = ModelConfig {
        max_goals: 99,
        ..Default::default()
    };
    let err = s.cached.calculate_predictions("2", &bad).await.unwrap_err();
    assert!(
        matches!(err, RepositoryError::InvalidConfig(ref p) if p.parameter == "max_goals"),
        "{err}"
    );
    assert_eq!(s.fake.total_calls(), 0);
}

#[tokio::test]
async fn a_failing_store_still_answers_with_the_computed_prediction() {
    let s = setup(FakeBackend::new(), true);
    s.fake.fail_always(true);
    let config = ModelConfig::default();
    let outcome = s.cached.calculate_predictions("2", &config).await.unwrap();
    assert_eq!(outcome.source, Source::Bypass);
    let direct = s.direct.calculate_predictions("2", &config).await.unwrap();
    assert_eq!(outcome.prediction, direct.prediction);
    assert!(
        s.cached.invalidate_all().await.is_err(),
        "invalidation reports the failure"
    );
}

#[tokio::test]
async fn engine_errors_surface_typed_and_are_not_cached() {
    let s = setup(FakeBackend::new(), false);
    let err = s
        .cached
        .calculate_predictions("2", &ModelConfig::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RepositoryError::Engine(EngineError::Fit(FitError::NoData))
        ),
        "{err}"
    );
    assert!(entries(&s.fake).is_empty());
}

/// A cached repository over its own store of a synthetic league (no backend calls are needed to
/// compute a key).
fn repo_over(league: SyntheticLeagueConfig) -> (Arc<dyn MatchStore>, CachedPredictionRepository) {
    let league = synthetic_league(&league).unwrap();
    let store: Arc<dyn MatchStore> =
        Arc::new(InMemoryMatchStore::new(&league.results, league.fixtures).unwrap());
    let direct = Arc::new(EngineRepository::new(
        store.clone(),
        Arc::new(DixonColesEngine::default()),
    ));
    let cache = SmartCache::builder(FakeBackend::new()).build();
    let cached = CachedPredictionRepository::new(
        direct,
        store.clone(),
        cache,
        KeyFactory::new("brain", 1).unwrap(),
        EntryOptions::new(),
    );
    (store, cached)
}

#[tokio::test]
async fn keys_follow_the_data_content_not_a_process_counter() {
    let league = SyntheticLeagueConfig {
        teams: 6,
        seasons: 1,
        ..Default::default()
    };
    let config = ModelConfig::default();
    let key = |repo: &CachedPredictionRepository| {
        let repo = repo.clone();
        async move { repo.key_for("2", &config).await.unwrap() }
    };
    // Two instances (or a restart) with the same data share their entries...
    let (store_a, a) = repo_over(league.clone());
    let (store_b, b) = repo_over(league.clone());
    assert_eq!(key(&a).await, key(&b).await);
    // ...and other data never reads them, although every counter starts at 0.
    let (_, other_seed) = repo_over(SyntheticLeagueConfig {
        seed: league.seed + 1,
        ..league.clone()
    });
    let (_, other_league) = repo_over(SyntheticLeagueConfig {
        teams: 8,
        ..league.clone()
    });
    assert_ne!(key(&a).await, key(&other_seed).await);
    assert_ne!(key(&a).await, key(&other_league).await);

    // Both record one result: the same score keeps them together, another parts them.
    let settle = |store: Arc<dyn MatchStore>, home_goals: u16| async move {
        store
            .record_result(NewResult::Fixture {
                match_id: "3".into(),
                home_goals,
                away_goals: 0,
            })
            .await
            .unwrap()
            .data_version
    };
    let (store_c, c) = repo_over(league);
    assert_eq!(settle(store_a, 1).await, 1);
    assert_eq!(settle(store_b, 1).await, 1);
    assert_eq!(settle(store_c, 2).await, 1);
    assert_eq!(key(&a).await, key(&b).await);
    assert_ne!(key(&a).await, key(&c).await);
}

/// A repository whose computation never finishes.
#[derive(Debug)]
struct Stalled;

#[async_trait::async_trait]
impl PredictionRepository for Stalled {
    async fn calculate_predictions(
        &self,
        _match_id: &str,
        _config: &ModelConfig,
    ) -> Result<PredictionOutcome, RepositoryError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_hard_timeout_surfaces_as_a_timeout() {
    let s = setup(FakeBackend::new(), true);
    let limit = std::time::Duration::from_millis(20);
    let cached = CachedPredictionRepository::new(
        Arc::new(Stalled),
        s.store.clone(),
        s.cached.cache().clone(),
        KeyFactory::new("brain", 1).unwrap(),
        EntryOptions::new().hard_timeout(limit),
    );
    let err = cached
        .calculate_predictions("2", &ModelConfig::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RepositoryError::Timeout(l) if l == limit),
        "{err}"
    );
}
