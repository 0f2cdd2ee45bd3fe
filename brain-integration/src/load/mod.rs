//! The load generator: N keep-alive clients for a duration against a running service, match ids
//! and configurations drawn from a Zipf distribution, then the same without the cache
//! (`?cache=bypass`), so the gain is a ratio measured in one session.
//!
//! The key space is `fixtures × configs`; popularity ranks are assigned to keys by a seeded
//! shuffle, so the hot keys are spread over fixtures and configurations.

mod http;
mod phase;
mod stats;
mod workload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use http::{Connection, HttpResponse};
pub use phase::{Phase, run_phase};
pub use stats::{Percentiles, PhaseReport, SERVED_FROM_CACHE};
pub use workload::Workload;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    /// The service.
    pub addr: SocketAddr,
    /// Concurrent clients (one connection each).
    pub concurrency: usize,
    /// Warm-up phase (cached, reported separately).
    pub warmup: Duration,
    /// Measured cached phase.
    pub duration: Duration,
    /// Measured uncached phase (`?cache=bypass`); zero skips it.
    pub uncached_duration: Duration,
    /// Zipf exponent `s` (0 is uniform).
    pub zipf_exponent: f64,
    /// Use the first this-many fixtures of `GET /v1/matches`.
    pub fixtures: usize,
    /// Query strings, one per configuration (e.g. `model=poisson`).
    pub configs: Vec<String>,
    /// RNG seed.
    pub seed: u64,
    /// Print a progress line every second (to stderr).
    pub progress: bool,
}

impl Default for LoadOptions {
    /// 64 clients, 10 s warm-up, 30 s cached, 10 s uncached, Zipf(1.0) over 500 fixtures × 3
    /// configurations, against 127.0.0.1:8080.
    fn default() -> Self {
        LoadOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            concurrency: 64,
            warmup: Duration::from_secs(10),
            duration: Duration::from_secs(30),
            uncached_duration: Duration::from_secs(10),
            zipf_exponent: 1.0,
            fixtures: 500,
            configs: vec![
                "model=dixon-coles".to_owned(),
                "model=poisson".to_owned(),
                "model=dixon-coles&max_goals=8&xi=0.001".to_owned(),
            ],
            seed: 42,
            progress: true,
        }
    }
}

/// Why a load run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The service could not be reached or answered nonsense.
    #[error("cannot read the fixtures from {addr}: {message}")]
    Fixtures {
        /// The service address.
        addr: SocketAddr,
        /// What went wrong.
        message: String,
    },
    /// The options are unusable.
    #[error("invalid load options: {0}")]
    Options(String),
}

/// Reads the fixture ids from `GET /v1/matches`.
pub async fn fetch_fixture_ids(addr: SocketAddr) -> Result<Vec<String>, LoadError> {
    let err = |message: String| LoadError::Fixtures { addr, message };
    let response = Connection::new(addr)
        .get("/v1/matches")
        .await
        .map_err(|e| err(e.to_string()))?;
    if response.status != 200 {
        return Err(err(format!("status {}", response.status)));
    }
    let body: serde_json::Value =
        serde_json::from_slice(&response.body).map_err(|e| err(e.to_string()))?;
    let ids: Vec<String> = body["matches"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(err("no fixtures".into()));
    }
    Ok(ids)
}

/// The reports of a whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Distinct keys in the workload.
    pub keys: usize,
    /// Warm-up (cached).
    pub warmup: Option<PhaseReport>,
    /// The measured cached phase.
    pub cached: PhaseReport,
    /// The uncached phase.
    pub uncached: Option<PhaseReport>,
}

impl LoadReport {
    /// Cached over uncached throughput.
    pub fn speedup(&self) -> Option<f64> {
        self.uncached
            .as_ref()
            .map(|u| self.cached.throughput() / u.throughput().max(1e-9))
    }
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "workload: {} keys", self.keys)?;
        if let Some(w) = &self.warmup {
            write!(f, "{w}")?;
        }
        write!(f, "{}", self.cached)?;
        if let Some(u) = &self.uncached {
            write!(f, "{u}")?;
        }
        if let Some(s) = self.speedup() {
            writeln!(f, "cached / uncached throughput: {s:.1}x")?;
        }
        Ok(())
    }
}

/// Runs warm-up, the cached phase and the uncached phase.
pub async fn run(options: &LoadOptions) -> Result<LoadReport, LoadError> {
    if options.concurrency == 0 {
        return Err(LoadError::Options("concurrency must be at least 1".into()));
    }
    let mut ids = fetch_fixture_ids(options.addr).await?;
    ids.truncate(options.fixtures.max(1));
    let workload = Arc::new(Workload::new(
        &ids,
        &options.configs,
        options.zipf_exponent,
        options.seed,
    )?);
    let phase = |name: &str, duration: Duration, bypass: bool, seed: u64| {
        let spec = Phase {
            name: name.to_owned(),
            addr: options.addr,
            concurrency: options.concurrency,
            duration,
            bypass,
            seed,
            progress: options.progress,
        };
        let workload = workload.clone();
        async move { run_phase(&spec, workload).await }
    };
    let warmup = if options.warmup.is_zero() {
        None
    } else {
        Some(
            phase(
                "warm-up",
                options.warmup,
                false,
                options.seed.wrapping_add(1),
            )
            .await,
        )
    };
    let cached = phase(
        "cached",
        options.duration,
        false,
        options.seed.wrapping_add(2),
    )
    .await;
    let uncached = if options.uncached_duration.is_zero() {
        None
    } else {
        Some(
            phase(
                "uncached",
                options.uncached_duration,
                true,
                options.seed.wrapping_add(3),
            )
            .await,
        )
    };
    Ok(LoadReport {
        keys: workload.keys(),
        warmup,
        cached,
        uncached,
    })
}
