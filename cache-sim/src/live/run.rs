//! Running a fleet of real `SmartCache` instances under an open-loop Poisson read load.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cache_core::{CacheBackend, CacheConfig, EntryOptions, SmartCache, StatsSnapshot, XFetch};
use cache_memory::MemoryBackend;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp};
use tokio::task::JoinSet;

use crate::error::SimError;
use crate::live::config::{LiveBackend, LiveConfig};
use crate::live::lock::SharedLockBackend;
use crate::live::probe::{ComputeProbe, group_cycles};
use crate::live::report::{Latency, LiveReport};
use crate::summary::{Summary, histogram};

fn seconds(x: f64) -> Duration {
    Duration::try_from_secs_f64(x.max(0.0)).unwrap_or(Duration::MAX)
}

/// One backend handle per instance.
async fn connect(config: &LiveConfig) -> Result<Vec<Arc<dyn CacheBackend>>, SimError> {
    match &config.backend {
        LiveBackend::Memory => {
            // One store and one lock table, shared by every instance's handle.
            let shared = SharedLockBackend::new(MemoryBackend::new(1_000));
            Ok((0..config.instances)
                .map(|_| Arc::new(shared.clone()) as Arc<dyn CacheBackend>)
                .collect())
        }
        LiveBackend::Redis(url) => connect_redis(url, config.instances).await,
    }
}

#[cfg(feature = "redis")]
async fn connect_redis(
    url: &str,
    instances: usize,
) -> Result<Vec<Arc<dyn CacheBackend>>, SimError> {
    let mut out: Vec<Arc<dyn CacheBackend>> = Vec::with_capacity(instances);
    for _ in 0..instances {
        let backend = cache_redis::RedisBackend::from_url(url)
            .await
            .map_err(|e| SimError::Live(e.to_string()))?;
        out.push(Arc::new(backend));
    }
    Ok(out)
}

#[cfg(not(feature = "redis"))]
async fn connect_redis(
    _url: &str,
    _instances: usize,
) -> Result<Vec<Arc<dyn CacheBackend>>, SimError> {
    Err(SimError::Live(
        "this build has no Redis support: rebuild cache-sim with `--features redis`".to_string(),
    ))
}

fn cache_config(config: &LiveConfig) -> CacheConfig {
    let delta = seconds(config.recompute.mean());
    let defaults = CacheConfig::default();
    CacheConfig {
        default_ttl: seconds(config.ttl),
        grace: seconds(config.grace),
        xfetch_beta: config.beta,
        fleet_lock: config.fleet_lock,
        // The lock must outlive a slow compute, and losers must wait long enough for its write.
        lock_ttl: defaults.lock_ttl.max(delta * 20),
        lock_wait: defaults.lock_wait.max(delta * 10),
        ..defaults
    }
}

/// Sums the counters of every instance, minus what they had counted before the load.
fn counter_deltas(before: &[StatsSnapshot], after: &[StatsSnapshot]) -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for (b, a) in before.iter().zip(after) {
        for ((name, old), (_, new)) in b.counters().into_iter().zip(a.counters()) {
            *sums.entry(name.to_string()).or_insert(0) += new.saturating_sub(old);
        }
    }
    sums
}

/// A key no other run uses (Redis servers may be shared between runs).
fn run_key(seed: u64) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("cache-sim:hot:{seed}:{nanos}")
}

/// Runs K instances for `config.duration` seconds and reports what their counters saw.
///
/// The key is warmed by one computation first (not counted); then reads arrive at rate λ, each
/// on an instance drawn at random, without waiting for earlier reads (open loop).
pub async fn run_live(config: &LiveConfig) -> Result<LiveReport, SimError> {
    config.validate()?;
    let backends = connect(config).await?;
    let options = EntryOptions::new()
        .ttl(seconds(config.ttl))
        .grace(seconds(config.grace))
        .fleet_lock(config.fleet_lock);
    let caches: Vec<SmartCache> = backends
        .into_iter()
        .enumerate()
        .map(|(i, backend)| {
            SmartCache::builder(backend)
                .policy(XFetch { beta: config.beta })
                .config(cache_config(config))
                .seed(config.seed.wrapping_add(i as u64))
                .build()
        })
        .collect();
    let key: Arc<str> = run_key(config.seed).into();
    let probe = Arc::new(ComputeProbe::default());
    let deltas = config.recompute.sampler()?;
    let gaps =
        Exp::new(config.read_rate).map_err(|e| SimError::invalid("--lambda", e, "a rate > 0"))?;
    let mut rng = StdRng::seed_from_u64(config.seed);

    let warm = {
        let (probe, delta) = (probe.clone(), seconds(deltas.sample(&mut rng)));
        caches[0]
            .get_or_compute(
                &key,
                &options,
                move || async move { probe.compute(delta).await },
            )
            .await
    };
    warm.map_err(|e| SimError::Live(format!("warm-up read failed: {e}")))?;
    let before: Vec<StatsSnapshot> = caches.iter().map(SmartCache::stats).collect();

    let start = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let mut record = |outcome: Result<(Duration, bool), tokio::task::JoinError>| match outcome {
        Ok((latency, ok)) => {
            latencies.push(latency);
            errors += u64::from(!ok);
        }
        Err(_) => errors += 1,
    };
    let mut at = gaps.sample(&mut rng);
    while at < config.duration {
        tokio::time::sleep_until(start + seconds(at)).await;
        let cache = caches[rng.random_range(0..caches.len())].clone();
        let (probe, delta, key, options) = (
            probe.clone(),
            seconds(deltas.sample(&mut rng)),
            key.clone(),
            options.clone(),
        );
        tasks.spawn(async move {
            let began = Instant::now();
            let result = cache
                .get_or_compute(
                    &key,
                    &options,
                    move || async move { probe.compute(delta).await },
                )
                .await;
            (began.elapsed(), result.is_ok())
        });
        while let Some(done) = tasks.try_join_next() {
            record(done);
        }
        at += gaps.sample(&mut rng);
    }
    while let Some(done) = tasks.join_next().await {
        record(done);
    }
    let wall_seconds = start.elapsed().as_secs_f64();
    // Let background refreshes started by the last reads finish, so that every compute is seen.
    tokio::time::sleep(seconds(config.recompute.mean() * 3.0)).await;
    let after: Vec<StatsSnapshot> = caches.iter().map(SmartCache::stats).collect();
    let _ = caches[0].delete(&key).await;

    let cycles = group_cycles(&probe.spans(), seconds(config.ttl));
    // The first cycle is the warm-up computation.
    let per_cycle: Vec<u64> = cycles.computes.iter().skip(1).copied().collect();
    let counters = counter_deltas(&before, &after);
    let n = per_cycle.len().max(1) as f64;
    Ok(LiveReport {
        config: config.clone(),
        reads: latencies.len() as u64 + errors,
        read_errors: errors,
        cycles: per_cycle.len(),
        computes_per_cycle: Summary::of(per_cycle.iter().map(|&c| c as f64)),
        histogram: histogram(per_cycle.iter().copied()),
        peak_concurrent_computes: probe.peak(),
        first_refresh_lead: Summary::of(cycles.leads.iter().copied()),
        per_cycle: counters
            .iter()
            .map(|(k, &v)| (k.clone(), v as f64 / n))
            .collect(),
        counters,
        latency: Latency::of(&mut latencies),
        wall_seconds,
    })
}
