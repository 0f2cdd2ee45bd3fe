//! The open-loop load generator: requests leave at a fixed rate whatever the service does (a
//! slow answer does not delay the next request, so an outage cannot hide behind a quiet
//! client), each latency is measured from the moment the request was *due*, and every body is
//! compared byte for byte with the uncached answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brain_integration::load::{Connection, fetch_fixture_ids};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::error::ChaosError;

/// How long a request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The model configurations of the key space.
const CONFIGS: [&str; 2] = ["model=dixon-coles", "model=poisson"];

/// The request paths and, for each, the body the service must answer.
#[derive(Debug)]
pub struct Reference {
    paths: Vec<String>,
    bodies: HashMap<String, Vec<u8>>,
}

impl Reference {
    /// Reads the first `fixtures` fixtures × the configurations from `uncached`, an instance
    /// with `CACHE_ENABLED=false` (it computes every answer).
    pub async fn fetch(uncached: SocketAddr, fixtures: usize) -> Result<Reference, ChaosError> {
        let ids = fetch_fixture_ids(uncached)
            .await
            .map_err(|e| ChaosError::Setup(e.to_string()))?;
        let mut conn = Connection::new(uncached);
        let mut paths = Vec::new();
        let mut bodies = HashMap::new();
        for id in ids.iter().take(fixtures) {
            for config in CONFIGS {
                let path = format!("/v1/matches/{id}/predictions?{config}");
                let response = conn.get(&path).await?;
                if response.status != 200 || response.x_cache() != Some("bypass") {
                    return Err(ChaosError::Setup(format!(
                        "reference {path}: status {} x-cache {:?}",
                        response.status,
                        response.x_cache()
                    )));
                }
                bodies.insert(path.clone(), response.body);
                paths.push(path);
            }
        }
        Ok(Reference { paths, bodies })
    }

    /// Number of keys.
    pub fn keys(&self) -> usize {
        self.paths.len()
    }

    /// What a 200 answer to `path` is worth: the uncached answer byte for byte, or wrong.
    ///
    /// The service's data does not change under load, so there is one right answer per path;
    /// reads staler than the L1 bound are checked on shared keys by [`crate::staleness`].
    pub fn judge(&self, path: &str, body: &[u8], hit: bool) -> Outcome {
        if self
            .bodies
            .get(path)
            .is_some_and(|expected| expected == body)
        {
            Outcome::Correct { hit }
        } else {
            Outcome::Wrong
        }
    }
}

/// What one request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200 with the right body; `hit` when `x-cache: hit`.
    Correct {
        /// Served from the store.
        hit: bool,
    },
    /// 200 with a body that differs from the uncached answer.
    Wrong,
    /// Anything but 200, an I/O error, or no answer within [`REQUEST_TIMEOUT`].
    Failed(String),
}

/// One request.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The instance it went to (index into the targets).
    pub target: usize,
    /// The key it asked for (index into the reference's paths).
    pub path: usize,
    /// When it was due.
    pub due: Instant,
    /// From due to the end of the response.
    pub latency: Duration,
    /// What it got.
    pub outcome: Outcome,
}

/// A load run: `rate` requests per second spread round-robin over `targets`, paths drawn
/// uniformly (seeded) from the reference, until `stop` is set or `max_requests` were sent.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Requests per second.
    pub rate: u32,
    /// Service instances.
    pub targets: Vec<SocketAddr>,
    /// Upper bound on requests, whatever happens to `stop`.
    pub max_requests: u64,
    /// RNG seed of the key choice.
    pub seed: u64,
}

/// Runs the plan; returns every sample once the in-flight requests have finished.
pub async fn run(plan: LoadPlan, reference: Arc<Reference>, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let period = Duration::from_secs_f64(1.0 / f64::from(plan.rate.max(1)));
    let pools: Vec<Arc<Mutex<Vec<Connection>>>> = plan
        .targets
        .iter()
        .map(|_| Arc::new(Mutex::new(Vec::new())))
        .collect();
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    for i in 0..plan.max_requests {
        if stop.load(Ordering::Relaxed) || plan.targets.is_empty() || reference.keys() == 0 {
            break;
        }
        let due = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let target = (i % plan.targets.len() as u64) as usize;
        let addr = plan.targets[target];
        let pool = pools[target].clone();
        let path_index = rng.random_range(0..reference.keys());
        let reference = reference.clone();
        tasks.spawn(async move {
            let path = &reference.paths[path_index];
            let mut conn = take(&pool).unwrap_or_else(|| Connection::new(addr));
            let response = tokio::time::timeout(REQUEST_TIMEOUT, conn.get(path)).await;
            let latency = due.elapsed();
            let outcome = match response {
                Err(_) => Outcome::Failed("timeout".into()),
                Ok(Err(e)) => Outcome::Failed(format!("i/o: {}", e.kind())),
                Ok(Ok(r)) if r.status != 200 => Outcome::Failed(format!("status {}", r.status)),
                Ok(Ok(r)) => reference.judge(path, &r.body, r.x_cache() == Some("hit")),
            };
            if matches!(outcome, Outcome::Correct { .. } | Outcome::Wrong) {
                pool.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            }
            Sample {
                target,
                path: path_index,
                due,
                latency,
                outcome,
            }
        });
        // Finished samples stay in the set until the end: at most `max_requests` of them.
    }
    let mut samples = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(sample) = done {
            samples.push(sample);
        }
    }
    samples.sort_by_key(|s| s.due);
    samples
}

fn take(pool: &Mutex<Vec<Connection>>) -> Option<Connection> {
    pool.lock().unwrap_or_else(|p| p.into_inner()).pop()
}
