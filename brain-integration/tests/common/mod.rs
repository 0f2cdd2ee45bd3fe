//! Shared test support: a service on an ephemeral port over any backend.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use brain_integration::app::{KEY_NAMESPACE, KEY_SCHEMA_VERSION};
use brain_integration::domain::{
    Fixture, InMemoryMatchStore, MatchStore, SyntheticLeagueConfig, synthetic_league,
};
use brain_integration::engine::{DixonColesEngine, ModelConfig};
use brain_integration::load::{Connection, HttpResponse};
use brain_integration::service::{self, AppState};
use cache_core::{CacheBackend, CacheConfig, EntryOptions, SmartCache};
use cache_keys::KeyFactory;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A small league (fits take milliseconds in debug builds). Fixture ids are `1`..`N`, plus a
/// few with glob characters renamed from the last fixtures.
pub fn small_store(glob_ids: &[&str]) -> Arc<dyn MatchStore> {
    let league = synthetic_league(&SyntheticLeagueConfig {
        teams: 8,
        seasons: 2,
        ..Default::default()
    })
    .unwrap();
    let mut fixtures: Vec<Fixture> = league.fixtures;
    let n = fixtures.len();
    for (k, id) in glob_ids.iter().enumerate() {
        fixtures[n - 1 - k].id = (*id).to_owned();
    }
    Arc::new(InMemoryMatchStore::new(&league.results, fixtures).unwrap())
}

/// A small league of two competitions (fixture ids `1`..`N` over both).
pub fn two_competition_store() -> Arc<dyn MatchStore> {
    let league = synthetic_league(&SyntheticLeagueConfig {
        teams: 6,
        seasons: 2,
        competitions: 2,
        ..Default::default()
    })
    .unwrap();
    Arc::new(InMemoryMatchStore::new(&league.results, league.fixtures).unwrap())
}

/// The competition of fixture `id`, as `GET /v1/matches` lists it.
pub async fn competition_of(c: &mut Client, id: &str) -> String {
    let list = json(&c.get("/v1/matches").await);
    list["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .and_then(|m| m["competition"].as_str())
        .unwrap_or_else(|| panic!("no fixture {id}: {list}"))
        .to_owned()
}

/// A cache configuration for tests: long TTL (no early refresh during a test), quick breaker.
pub fn test_cache_config() -> CacheConfig {
    CacheConfig {
        default_ttl: Duration::from_secs(600),
        op_timeout: Duration::from_millis(300),
        breaker_threshold: 2,
        breaker_cooldown: Duration::from_millis(200),
        ..CacheConfig::default()
    }
}

pub struct TestService {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestService {
    pub async fn start(
        store: Arc<dyn MatchStore>,
        backend: Arc<dyn CacheBackend>,
        config: CacheConfig,
    ) -> TestService {
        let telemetry = service::Telemetry::new();
        let l1 = cache_memory::l1_store(&config);
        let cache = telemetry.scope(|| {
            let builder = SmartCache::builder(backend)
                .config(config)
                .name(service::PREDICTION_CACHE);
            match l1 {
                Some(l1) => builder.l1(l1).build(),
                None => builder.build(),
            }
        });
        let keys = KeyFactory::new(KEY_NAMESPACE, KEY_SCHEMA_VERSION).unwrap();
        let state = AppState::new(
            store,
            Arc::new(DixonColesEngine::default()),
            cache,
            keys,
            EntryOptions::new(),
            telemetry,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let router = service::router(state.clone());
        let handle = tokio::spawn(service::serve(listener, router, async move {
            let _ = rx.await;
        }));
        TestService {
            addr,
            state,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn client(&self) -> Client {
        Client {
            conn: Connection::new(self.addr),
        }
    }

    /// Asks for a graceful shutdown and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
    }
}

impl TestService {
    /// Asserts the prediction for `id` under `query` (e.g. `model=poisson`) is in the backend:
    /// a miss is answered only once its value is stored.
    pub async fn assert_stored(&self, id: &str, query: &str) {
        let mut config = ModelConfig::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap();
            config.set_param(k, v).unwrap();
        }
        let key = self.state.prediction_key(id, &config).await.unwrap();
        let stored = self.state.cache().backend().get(&key).await;
        assert!(
            matches!(stored, Ok(Some(_))),
            "{key} not stored when the miss was answered"
        );
    }

    /// `GET` a prediction that must be a miss, and checks it is stored.
    pub async fn miss(&self, c: &mut Client, id: &str, query: &str) -> HttpResponse {
        let path = if query.is_empty() {
            predictions(id)
        } else {
            format!("{}?{query}", predictions(id))
        };
        let r = c.get(&path).await;
        assert_eq!(
            (r.status, r.x_cache()),
            (200, Some("miss")),
            "{path}: {}",
            r.text()
        );
        let decoded = percent_decode(id);
        self.assert_stored(&decoded, query).await;
        r
    }
}

/// Decodes `%XX` escapes (test ids only).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

pub struct Client {
    conn: Connection,
}

impl Client {
    pub async fn get(&mut self, path: &str) -> HttpResponse {
        self.conn.get(path).await.unwrap()
    }

    pub async fn delete(&mut self, path: &str) -> HttpResponse {
        self.conn.send("DELETE", path, None).await.unwrap()
    }

    pub async fn post(&mut self, path: &str, body: &Value) -> HttpResponse {
        self.conn
            .send("POST", path, Some(body.to_string().as_bytes()))
            .await
            .unwrap()
    }
}

pub fn json(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

pub fn predictions(id: &str) -> String {
    format!("/v1/matches/{id}/predictions")
}
