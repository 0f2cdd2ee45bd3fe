//! Building a [`SmartCache`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::l1::L1;
use super::{Inner, RngSource, SmartCache};
use crate::backend::CacheBackend;
use crate::breaker::Breakers;
use crate::codec::Codec;
use crate::config::CacheConfig;
use crate::policy::{RefreshPolicy, XFetch};
use crate::stats::Stats;

/// The name of a cache built without [`SmartCacheBuilder::name`].
pub const DEFAULT_NAME: &str = "default";

/// Builds a [`SmartCache`]; start with [`SmartCache::builder`].
#[must_use]
pub struct SmartCacheBuilder<C> {
    backend: Arc<dyn CacheBackend>,
    policy: Option<Arc<dyn RefreshPolicy>>,
    config: CacheConfig,
    codec: C,
    seed: Option<u64>,
    name: Option<String>,
    l1: Option<Arc<dyn CacheBackend>>,
}

impl<C: Codec> SmartCacheBuilder<C> {
    pub(super) fn new(backend: Arc<dyn CacheBackend>) -> Self {
        SmartCacheBuilder {
            backend,
            policy: None,
            config: CacheConfig::default(),
            codec: C::default(),
            seed: None,
            name: None,
            l1: None,
        }
    }

    /// Puts an in-process tier (L1) in front of the backend: an in-process store such as
    /// `MemoryBackend`, bounded as you build it. An L1 hit does no I/O; the backend's change feed
    /// ([`CacheBackend::watch_changes`]) keeps it coherent, and it never serves a value the
    /// backend replaced more than the feed's staleness bound ago (heartbeat
    /// [`CacheConfig::l1_heartbeat`] plus one round trip). A backend without a change feed gets
    /// no L1 (one warning at build), never an incoherent one. The store must answer
    /// [`CacheBackend::get_now`] (in-process stores do); its entries are the cache's own.
    pub fn l1(mut self, store: impl CacheBackend) -> Self {
        self.l1 = Some(Arc::new(store));
        self
    }

    /// How often the change feed proves itself alive (see [`CacheConfig::l1_heartbeat`]).
    pub fn l1_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.config.l1_heartbeat = heartbeat;
        self
    }

    /// The refresh policy (default: [`XFetch`] with the configuration's β).
    pub fn policy(mut self, policy: impl RefreshPolicy) -> Self {
        self.policy = Some(Arc::new(policy));
        self
    }

    /// The whole configuration (e.g. from [`CacheConfig::from_env`]).
    pub fn config(mut self, config: CacheConfig) -> Self {
        self.config = config;
        self
    }

    /// Turns the cache on or off (off: every call computes, the backend is never called).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.config.enabled = enabled;
        self
    }

    /// Default logical lifetime.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.config.default_ttl = ttl;
        self
    }

    /// Default grace period.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// Timeout of each backend operation.
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.config.op_timeout = timeout;
        self
    }

    /// Use the backend's fleet-wide refresh lock on misses.
    pub fn fleet_lock(mut self, on: bool) -> Self {
        self.config.fleet_lock = on;
        self
    }

    /// How long a namespace version read is trusted (see
    /// [`CacheConfig::clear_check_interval`]).
    pub fn clear_check_interval(mut self, interval: Duration) -> Self {
        self.config.clear_check_interval = interval;
        self
    }

    /// Seeds the policy's random draws, for reproducible tests and simulations.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The cache's name, for telling caches apart in metrics (the `cache` label; default
    /// `"default"`). With the `metrics` feature, the cache's counters register with the `metrics`
    /// recorder installed when [`build`](Self::build) runs.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Another envelope codec.
    pub fn codec<C2: Codec>(self, codec: C2) -> SmartCacheBuilder<C2> {
        SmartCacheBuilder {
            backend: self.backend,
            policy: self.policy,
            config: self.config,
            codec,
            seed: self.seed,
            name: self.name,
            l1: self.l1,
        }
    }

    /// Builds the cache. With an L1, call it inside a Tokio runtime (the change feed runs in
    /// tasks).
    pub fn build(self) -> SmartCache<C> {
        // Built on a paused Tokio clock, its hits read that clock from the first.
        crate::hit_clock::look();
        let config = self.config;
        let policy = self.policy.unwrap_or_else(|| {
            Arc::new(XFetch {
                beta: config.xfetch_beta,
            })
        });
        let rng = match self.seed {
            Some(seed) => RngSource::Seeded(Box::new(Mutex::new(StdRng::seed_from_u64(seed)))),
            None => RngSource::Thread,
        };
        let stats = Arc::new(Stats::new(self.name.as_deref().unwrap_or(DEFAULT_NAME)));
        let l1 = self
            .l1
            .and_then(|store| L1::start(store, &*self.backend, config.l1_heartbeat, stats.clone()));
        SmartCache {
            inner: Arc::new(Inner {
                l1,
                payload_kind: self.backend.payload_kind(),
                bounds_own_latency: self.backend.bounds_own_latency(),
                max_lifetime: self.backend.max_lifetime(),
                weighs_objects: self.backend.weighs_objects(),
                backend: self.backend,
                policy,
                policy_id: next_policy_id(),
                codec: self.codec,
                breakers: Breakers::new(config.breaker_threshold, config.breaker_cooldown),
                namespace: super::tags::Namespace::new(config.clear_check_interval),
                config,
                stats,
                flights: Default::default(),
                rng,
                closed: Default::default(),
            }),
        }
    }
}

/// A fresh [`Inner::policy_id`](super::Inner): process-wide, never reused (2⁶⁴ builds).
fn next_policy_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
