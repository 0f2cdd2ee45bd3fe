//! Building a [`SmartCache`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

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
        }
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
        }
    }

    /// Builds the cache.
    pub fn build(self) -> SmartCache<C> {
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
        SmartCache {
            inner: Arc::new(Inner {
                payload_kind: self.backend.payload_kind(),
                bounds_own_latency: self.backend.bounds_own_latency(),
                max_lifetime: self.backend.max_lifetime(),
                weighs_objects: self.backend.weighs_objects(),
                backend: self.backend,
                policy,
                codec: self.codec,
                breakers: Breakers::new(config.breaker_threshold, config.breaker_cooldown),
                config,
                stats: Stats::new(self.name.as_deref().unwrap_or(DEFAULT_NAME)),
                flights: Default::default(),
                rng,
                closed: Default::default(),
            }),
        }
    }
}
