//! The library-level staleness checker of every scenario (`smartcache::testing::staleness`):
//! `SmartCache` instances with an L1 on the scenario's Redis, built as the service builds its
//! cache, two writing and deleting, one only reading, every read checked against the history
//! of acknowledged writes. It runs beside the service load and takes the same fault: its
//! instances reach Redis the way the services do (through the scenario's proxy where they go
//! through it; in the partition, the reader is black-holed with instance `a` while the writers
//! keep writing).
//!
//! The service's load cannot show stale reads: each instance keys its entries by its own data,
//! so no write of one instance changes what another reads. The checker's instances share keys.

use std::time::Duration;

use smartcache::redis::{RedisBackend, RedisConfig};
use smartcache::testing::staleness::{Plan, StalenessChecker};
use smartcache::{CacheConfig, FeedState, SmartCache, l1_store};
use tokio::time::Instant;

use crate::error::ChaosError;
use crate::service::COMMAND_TIMEOUT;

pub use smartcache::testing::staleness::{Role, StalenessReport};

/// How long a checker instance may take to have its change feed live (tracking on, a
/// heartbeat confirmed) before the scenario cannot run.
const LIVE_TIMEOUT: Duration = Duration::from_secs(15);
/// The L1's size, as the service's default on Redis.
const L1_ENTRIES: &str = "10000";

/// One instance of the checker: how it reaches Redis and what it does.
#[derive(Debug, Clone)]
pub struct CheckerInstance {
    /// Its name in errors.
    pub name: String,
    /// Writer or reader.
    pub role: Role,
    /// `REDIS_*` variables (URL, TLS CA), as a service instance of the scenario gets them.
    pub env: Vec<(String, String)>,
}

/// The checker's load: 40 keys, 2 workers per instance each pausing 10 ms between operations
/// (a few hundred operations per second in all, so that it does not take the CPU from the
/// service load it runs beside), writers 10 % sets and 3 % deletes.
pub fn plan(seed: u64) -> Plan {
    Plan {
        keys: 40,
        workers: 2,
        set_percent: 10,
        delete_percent: 3,
        pause: Duration::from_millis(10),
        seed,
    }
}

/// Connects every instance, waits until each one's L1 is live, and starts the checker on a
/// key prefix of its own.
pub async fn start(
    instances: &[CheckerInstance],
    seed: u64,
) -> Result<StalenessChecker, ChaosError> {
    let mut caches = Vec::new();
    for instance in instances {
        caches.push((connect(instance).await?, instance.role));
    }
    let prefix = smartcache::testing::unique_prefix("chaos-staleness");
    Ok(StalenessChecker::start(caches, &prefix, plan(seed)))
}

/// A cache as the service builds it on Redis: lazy connection, the suite's command and
/// operation timeouts, an L1 of the service's default size.
async fn connect(instance: &CheckerInstance) -> Result<SmartCache, ChaosError> {
    let setup = |what: &str, e: &dyn std::fmt::Display| {
        ChaosError::Setup(format!("staleness checker {}: {what}: {e}", instance.name))
    };
    let timeout = format!("{}ms", COMMAND_TIMEOUT.as_millis());
    let vars = instance
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([("REDIS_COMMAND_TIMEOUT", timeout.as_str())]);
    let mut redis = RedisConfig::from_vars(vars).map_err(|e| setup("redis settings", &e))?;
    redis.lazy_connect = true;
    let backend = RedisBackend::connect(redis)
        .await
        .map_err(|e| setup("redis", &e))?;
    let config = CacheConfig::from_vars([
        ("CACHE_OP_TIMEOUT", timeout.as_str()),
        ("CACHE_L1_MAX_ENTRIES", L1_ENTRIES),
    ])
    .map_err(|e| setup("cache settings", &e))?;
    let l1 = l1_store(&config).ok_or_else(|| setup("L1", &"not configured"))?;
    let cache = SmartCache::builder(backend).config(config).l1(l1).build();
    let started = Instant::now();
    loop {
        match cache.l1_status().map(|s| s.feed) {
            Some(FeedState::Live) => return Ok(cache),
            None => return Err(setup("L1", &"the backend offers no change feed")),
            Some(state) if started.elapsed() > LIVE_TIMEOUT => {
                return Err(setup(
                    "L1",
                    &format!("change feed not live after {LIVE_TIMEOUT:?}: {state:?}"),
                ));
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
