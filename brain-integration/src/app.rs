//! Start-up: from [`Settings`] to a running service. This is the edge where adapters are
//! chosen: the match store, the cache backend (memory or Redis), the engine.

use std::sync::Arc;

use cache_core::{CacheBackend, EntryOptions, L1Bound, SmartCache};
use cache_keys::KeyFactory;
use cache_memory::MemoryBackend;
use cache_redis::{RedisBackend, RedisConfig};
use tokio::net::TcpListener;

use crate::domain::{InMemoryMatchStore, MatchStore, load_csv_file, synthetic_league};
use crate::engine::DixonColesEngine;
use crate::service::{self, AppState, PREDICTION_CACHE, Telemetry};
use crate::settings::{DataSource, Settings};

/// Namespace of every key the service writes.
pub const KEY_NAMESPACE: &str = "brain";
/// Schema version of the cached value; bump it when [`Prediction`](crate::engine::Prediction)
/// changes shape, and no old entry is read again.
pub const KEY_SCHEMA_VERSION: u32 = 1;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The match data could not be loaded.
    #[error("cannot load matches: {0}")]
    Data(String),
    /// The cache backend could not be set up.
    #[error("cannot set up the cache backend: {0}")]
    Backend(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// Loads the match store the settings name.
pub fn build_store(data: &DataSource) -> Result<Arc<dyn MatchStore>, StartupError> {
    let (results, fixtures) = match data {
        DataSource::Synthetic(config) => {
            let league = synthetic_league(config).map_err(|e| StartupError::Data(e.to_string()))?;
            (league.results, league.fixtures)
        }
        DataSource::Csv(path) => {
            let data = load_csv_file(path).map_err(|e| StartupError::Data(e.to_string()))?;
            (data.results, data.fixtures)
        }
    };
    let store = InMemoryMatchStore::new(&results, fixtures)
        .map_err(|e| StartupError::Data(e.to_string()))?;
    Ok(Arc::new(store))
}

/// The cache backend the settings name: Redis with `REDIS_URL`, otherwise in-process memory.
///
/// Redis is connected lazily unless `REDIS_LAZY_CONNECT=false`: a service deployed while Redis
/// restarts starts anyway and answers without the store (`x-cache: bypass`, `/healthz`
/// degraded) until Redis is back, then serves hits without a restart. Settings that a running
/// server rejects (password, TLS) still stop the start.
pub async fn build_backend(settings: &Settings) -> Result<Arc<dyn CacheBackend>, StartupError> {
    match &settings.redis_url {
        None => Ok(Arc::new(MemoryBackend::new(settings.memory_max_entries))),
        Some(url) => {
            // The REDIS_* tuning variables come along; the URL is the one of the settings.
            let vars = settings.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            let mut config = RedisConfig::from_vars(vars.chain([("REDIS_URL", url.expose())]))
                .map_err(|e| StartupError::Backend(e.to_string()))?;
            if !settings.vars.iter().any(|(k, _)| k == "REDIS_LAZY_CONNECT") {
                config.lazy_connect = true;
            }
            let backend = RedisBackend::connect(config)
                .await
                .map_err(|e| StartupError::Backend(format!("{e} (is Redis running at {url}?)")))?;
            Ok(Arc::new(backend))
        }
    }
}

/// The L1 in front of Redis: what `CACHE_L1_MAX_ENTRIES` / `CACHE_L1_MAX_BYTES` ask for, and on
/// Redis [`DEFAULT_L1_ENTRIES`] when they are unset (`CACHE_L1_MAX_ENTRIES=0` turns it off). The
/// memory backend needs none.
fn l1_store(settings: &Settings) -> Option<MemoryBackend> {
    settings.redis_url.as_ref()?;
    let mut config = settings.cache.clone();
    config.l1 = config.l1.or(Some(L1Bound::Entries(DEFAULT_L1_ENTRIES)));
    cache_memory::l1_store(&config)
}

/// The L1's bound on Redis when the settings name none.
pub const DEFAULT_L1_ENTRIES: u64 = 10_000;

/// The application state over `backend`, with the engine and the key factory.
pub fn build_state(
    store: Arc<dyn MatchStore>,
    backend: Arc<dyn CacheBackend>,
    settings: &Settings,
) -> Result<AppState, StartupError> {
    let telemetry = Telemetry::new();
    let cache = telemetry.scope(|| {
        let builder = SmartCache::builder(backend)
            .config(settings.cache.clone())
            .name(PREDICTION_CACHE);
        match l1_store(settings) {
            Some(l1) => builder.l1(l1).build(),
            None => builder.build(),
        }
    });
    let keys = KeyFactory::new(KEY_NAMESPACE, KEY_SCHEMA_VERSION)
        .map_err(|e| StartupError::Backend(e.to_string()))?;
    Ok(AppState::new(
        store,
        Arc::new(DixonColesEngine::default()),
        cache,
        keys,
        EntryOptions::new(),
        telemetry,
    ))
}

/// Runs the service until Ctrl-C or SIGTERM.
pub async fn run(settings: Settings) -> Result<(), StartupError> {
    let store = build_store(&settings.data)?;
    let backend = build_backend(&settings).await?;
    let fixtures = store.fixtures().await.map(|f| f.len()).unwrap_or(0);
    let state = build_state(store, backend, &settings)?;
    // Histogram samples wait in buffers until drained: drain them when nobody scrapes too.
    let telemetry = state.telemetry().clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            telemetry.run_upkeep();
        }
    });
    let listener = TcpListener::bind(settings.bind)
        .await
        .map_err(|source| StartupError::Bind {
            addr: settings.bind,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(settings.bind);
    let backend_name = match &settings.redis_url {
        Some(url) => format!("redis ({url})"),
        None => format!("memory (max {} entries)", settings.memory_max_entries),
    };
    tracing::info!(%addr, backend = %backend_name, fixtures, ttl = ?settings.cache.default_ttl, "brain-integration listening");
    println!(
        "brain-integration listening on http://{addr}  backend: {backend_name}  fixtures: {fixtures}"
    );
    println!("  try: curl http://{addr}/v1/matches/1/predictions");
    service::serve(listener, service::router(state), service::shutdown_signal())
        .await
        .map_err(StartupError::Serve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_constants_are_valid() {
        assert!(KeyFactory::new(KEY_NAMESPACE, KEY_SCHEMA_VERSION).is_ok());
    }

    #[tokio::test]
    async fn default_settings_build_a_memory_backed_store() {
        let settings = Settings::from_vars(Vec::<(String, String)>::new()).unwrap();
        let store = build_store(&settings.data).unwrap();
        let fixtures = store.fixtures().await.unwrap();
        assert_eq!(fixtures.len(), 2 * 552, "two competitions of 24 teams");
        let competitions: std::collections::BTreeSet<&str> =
            fixtures.iter().map(|f| f.competition.as_str()).collect();
        assert_eq!(competitions.len(), 2);
        let backend = build_backend(&settings).await.unwrap();
        assert_eq!(backend.name(), "memory");
    }

    #[tokio::test]
    async fn unreachable_redis_starts_lazily_by_default() {
        let settings = Settings::from_vars([
            ("REDIS_URL", "redis://:s3cret@127.0.0.1:1/0"),
            ("REDIS_CONNECT_TIMEOUT", "200ms"),
        ])
        .unwrap();
        let backend = build_backend(&settings).await.unwrap();
        assert_eq!(backend.name(), "redis");
        assert!(backend.ping().await.is_err(), "nothing listens on port 1");
    }

    #[tokio::test]
    async fn unreachable_redis_fails_with_a_redacted_message_when_eager() {
        let settings = Settings::from_vars([
            ("REDIS_URL", "redis://:s3cret@127.0.0.1:1/0"),
            ("REDIS_CONNECT_TIMEOUT", "200ms"),
            ("REDIS_LAZY_CONNECT", "false"),
        ])
        .unwrap();
        let err = build_backend(&settings).await.unwrap_err().to_string();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(err.contains("127.0.0.1"), "{err}");
    }
}
