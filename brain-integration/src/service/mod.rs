//! The HTTP service (axum): routes, shared state, request metrics, graceful shutdown.
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/matches` | fixtures that can be predicted |
//! | `GET /v1/matches/{id}/predictions?model=&max_goals=&xi=&top_scores=&cache=bypass` | a prediction; headers `x-cache` (`hit`, `stale`, `miss`, `early-refresh`, `coalesced`, `fail-safe`, `bypass`) and `x-compute-time-ms` when computed |
//! | `GET /v1/predictions?match_ids=1,2,3&model=…&cache=bypass` | several matches' predictions in request order, from one batched cache read (`get_many_or_compute`): `{"count", "predictions": [{"match_id", "source", "tier", "compute_time_ms", "prediction"}…]}`; an unknown id is an entry `{"match_id", "error": {"status", "code", "message"}}` (the request still answers 200); at most 100 ids |
//! | `POST /v1/results` | records a played match, invalidates every prediction |
//! | `DELETE /v1/matches/{id}/predictions` | invalidates one match's predictions |
//! | `GET /healthz` | backend reachability and breaker state |
//! | `GET /metrics` | Prometheus text: the service's metrics and the cache's (`smartcache_*`, label `cache="predictions"`) |

mod errors;
mod handlers;
mod metrics;
mod results;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use cache_core::{EntryOptions, SmartCache};
use cache_keys::KeyFactory;
use tokio::net::TcpListener;

pub use errors::ApiError;
pub use handlers::{X_CACHE, X_COMPUTE_TIME_MS};
pub use metrics::Telemetry;

/// The name of the prediction cache: its `cache` label in the metrics.
pub const PREDICTION_CACHE: &str = "predictions";

use crate::domain::MatchStore;
use crate::engine::{ModelConfig, PredictionEngine};
use crate::repository::{
    CachedPredictionRepository, EngineRepository, PredictionRepository, RepositoryError,
};

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    store: Arc<dyn MatchStore>,
    cached: Arc<CachedPredictionRepository>,
    direct: Arc<dyn PredictionRepository>,
    cache: SmartCache,
    telemetry: Telemetry,
}

impl AppState {
    /// Wires the application: the engine-backed repository, decorated with the cache. Build
    /// the cache inside [`Telemetry::scope`] (named [`PREDICTION_CACHE`]) for its counters to
    /// show in `/metrics`.
    pub fn new(
        store: Arc<dyn MatchStore>,
        engine: Arc<dyn PredictionEngine>,
        cache: SmartCache,
        keys: KeyFactory,
        options: EntryOptions,
        telemetry: Telemetry,
    ) -> Self {
        let direct: Arc<dyn PredictionRepository> =
            Arc::new(EngineRepository::new(store.clone(), engine));
        let cached = Arc::new(CachedPredictionRepository::new(
            direct.clone(),
            store.clone(),
            cache.clone(),
            keys,
            options,
        ));
        AppState {
            store,
            cached,
            direct,
            cache,
            telemetry,
        }
    }

    /// The cache in front of the engine.
    pub fn cache(&self) -> &SmartCache {
        &self.cache
    }

    /// The service's metrics recorder.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The cache key a prediction is stored under for the current data (for diagnostics and
    /// tests: the store's write completes just after a miss is answered).
    pub async fn prediction_key(
        &self,
        match_id: &str,
        config: &ModelConfig,
    ) -> Result<String, RepositoryError> {
        self.cached.key_for(match_id, config).await
    }
}

/// Largest request body accepted, in bytes (a result is ~100 bytes of JSON); a larger one
/// answers 413.
pub const REQUEST_BODY_LIMIT: usize = 64 * 1024;

/// The router with every route and the request metrics layer.
pub fn router(state: AppState) -> Router {
    let telemetry = state.telemetry.clone();
    Router::new()
        .route("/v1/matches", get(handlers::list_matches))
        .route(
            "/v1/matches/{id}/predictions",
            get(handlers::predictions).delete(handlers::delete_predictions),
        )
        .route("/v1/predictions", get(handlers::batch_predictions))
        .route("/v1/results", post(results::post_result))
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(REQUEST_BODY_LIMIT))
        .layer(middleware::from_fn_with_state(telemetry, track))
}

/// Records each request's latency under its route template (never the raw path: ids would make
/// the label set unbounded).
async fn track(State(telemetry): State<Telemetry>, request: Request, next: Next) -> Response {
    // `MatchedPath` is a shared string: cloning it does not allocate.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    telemetry.record_request(route, response.status().as_u16(), started.elapsed());
    response
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
