//! `SmartCache`: the use cases (get, set, delete, invalidate, ping, get_or_compute).

mod batch;
mod builder;
mod fresh_hit;
mod gateway;
mod l1;
mod leader;
mod read_path;
mod tags;

use std::sync::{Arc, Mutex};

use rand::RngCore;
use rand::rngs::StdRng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{CacheBackend, PayloadKind};
use crate::breaker::{BreakerState, Breakers};
use crate::codec::{Codec, JsonCodec};
use crate::coherence::FeedState;
use crate::config::CacheConfig;
use crate::envelope::Envelope;
use crate::error::{CacheError, Result};
use crate::flight::Flights;
use crate::options::{Cached, EntryOptions};
use crate::policy::{Freshness, RefreshPolicy};
use crate::stats::{Stats, StatsSnapshot};
use crate::time_model::Phase;
use crate::value::Value;

pub use batch::BatchItem;
pub use builder::SmartCacheBuilder;
pub(crate) use fresh_hit::FreshBound;
use gateway::Read;
pub(crate) use l1::L1Fill;

/// Keys longer than this are rejected (Redis allows 512 MB; nobody means it).
const MAX_KEY_BYTES: usize = 64 * 1024;

/// A stampede-safe cache over any [`CacheBackend`]. Cheap to clone: clones share everything.
///
/// See the [crate documentation](crate) for an example.
pub struct SmartCache<C: Codec = JsonCodec> {
    inner: Arc<Inner<C>>,
}

impl<C: Codec> Clone for SmartCache<C> {
    fn clone(&self) -> Self {
        SmartCache {
            inner: self.inner.clone(),
        }
    }
}

impl<C: Codec> std::fmt::Debug for SmartCache<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartCache")
            .field("backend", &self.inner.backend)
            .field("policy", &self.inner.policy)
            .field("config", &self.inner.config)
            .field("breaker", &self.inner.breakers.state())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner<C> {
    backend: Arc<dyn CacheBackend>,
    payload_kind: PayloadKind,
    /// The backend enforces its own operation timeout: no timer of ours.
    bounds_own_latency: bool,
    /// The backend weighs objects by their encoded size (see `CacheBackend::weighs_objects`).
    weighs_objects: bool,
    /// The backend's longest lifetime (see [`crate::time_model`]).
    max_lifetime: std::time::Duration,
    policy: Arc<dyn RefreshPolicy>,
    /// Names `policy` in the freshness bounds this cache keeps with its objects: unique per
    /// built cache (an address could be reused by a later cache with another policy).
    policy_id: u64,
    codec: C,
    config: CacheConfig,
    stats: Arc<Stats>,
    breakers: Breakers,
    /// The in-process tier in front of `backend`, when configured and coherent.
    l1: Option<l1::L1>,
    flights: Arc<Flights>,
    rng: RngSource,
    /// Set by [`SmartCache::shutdown`]: the store is no longer used.
    closed: std::sync::atomic::AtomicBool,
    /// The namespace version of [`SmartCache::clear`], as this process last read it.
    namespace: tags::Namespace,
}

impl<C> Inner<C> {
    /// Whether the store is in use: enabled, and not shut down.
    fn uses_store(&self) -> bool {
        self.config.enabled && !self.closed.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Thread-local randomness by default; one seeded generator when a test asks for determinism.
enum RngSource {
    Thread,
    Seeded(Box<Mutex<StdRng>>),
}

/// The thread's generator, fetched on first use: most hits draw nothing (X-Fetch draws only
/// close to expiry), and fetching it costs a sixth of an in-process hit.
struct LazyThreadRng(Option<rand::rngs::ThreadRng>);

impl LazyThreadRng {
    fn rng(&mut self) -> &mut rand::rngs::ThreadRng {
        self.0.get_or_insert_with(rand::rng)
    }
}

impl RngCore for LazyThreadRng {
    fn next_u32(&mut self) -> u32 {
        self.rng().next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.rng().next_u64()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.rng().fill_bytes(dst)
    }
}

impl RngSource {
    fn with<R>(&self, f: impl FnOnce(&mut dyn RngCore) -> R) -> R {
        match self {
            RngSource::Thread => f(&mut LazyThreadRng(None)),
            RngSource::Seeded(rng) => f(&mut *rng.lock().unwrap_or_else(|p| p.into_inner())),
        }
    }
}

/// What [`SmartCache::health`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Backend name.
    pub backend: &'static str,
    /// Whether the cache is enabled.
    pub enabled: bool,
    /// Whether the backend answered a ping (false while the breaker is open).
    pub reachable: bool,
    /// Circuit breaker state (the most severe of the backend's failure domains).
    pub breaker: BreakerState,
    /// The ping's error, when it failed.
    pub error: Option<String>,
    /// The L1's change feed, when the cache has an L1.
    pub l1: Option<L1Status>,
}

/// The state of a cache's L1 (see [`SmartCacheBuilder::l1`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L1Status {
    /// The change feed's state: the L1 serves only while it is [`FeedState::Live`].
    pub feed: FeedState,
    /// The most an L1 hit may lag the backend.
    pub staleness_bound: std::time::Duration,
}

impl SmartCache<JsonCodec> {
    /// Starts building a cache over `backend` (any backend, or an `Arc<dyn CacheBackend>`).
    pub fn builder(backend: impl CacheBackend) -> SmartCacheBuilder<JsonCodec> {
        SmartCacheBuilder::new(Arc::new(backend))
    }

    /// A cache over `backend` with the default configuration and X-Fetch (β = 1).
    pub fn new(backend: impl CacheBackend) -> Self {
        Self::builder(backend).build()
    }
}

impl<C: Codec> SmartCache<C> {
    /// The backend this cache stores into.
    pub fn backend(&self) -> &Arc<dyn CacheBackend> {
        &self.inner.backend
    }

    /// The configuration in force.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// The L1's state, when this cache has one (configured, and the backend offers a change
    /// feed).
    pub fn l1_status(&self) -> Option<L1Status> {
        self.inner.l1.as_ref().map(|l1| L1Status {
            feed: l1.feed_state(),
            staleness_bound: l1.staleness_bound(),
        })
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot(self.inner.breakers.state())
    }

    /// Reads a value without computing anything: "hit or not", for dashboards, benchmarks and
    /// read-only callers. Returns it with its freshness (fresh, or stale inside its grace
    /// period); starts no refresh. A backend error or an undecodable entry reads as `None` (and
    /// is counted), as everywhere in the read path. As cheap as a hit of
    /// [`get_or_compute`](Self::get_or_compute).
    pub async fn get<T>(&self, key: &str) -> Result<Option<Cached<T>>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        validate_key(key)?;
        if !self.inner.uses_store() {
            return Ok(None);
        }
        let read = match self.inner.fresh_hit::<T, _>(key, |value, _| value) {
            Ok(value) => {
                return Ok(Some(Cached {
                    value,
                    freshness: Freshness::Fresh,
                }));
            }
            Err(prefetched) => self.inner.read::<Arc<T>>(key, prefetched, &[]).await,
        };
        Ok(match read {
            Read::Found(found) => {
                let stale = !matches!(found.env.timing().phase(found.remaining), Phase::Fresh(_));
                let stats = &self.inner.stats;
                Stats::bump(if stale {
                    &stats.stale_served
                } else {
                    &stats.hits
                });
                let freshness = if stale {
                    Freshness::Stale
                } else {
                    Freshness::Fresh
                };
                Some(Cached {
                    value: Value::from(found.env.value.clone()),
                    freshness,
                })
            }
            Read::Absent | Read::Unavailable { .. } => {
                Stats::bump(&self.inner.stats.misses);
                None
            }
        })
    }

    /// Stores a value (last writer wins). A compute of this key running in this process will
    /// not overwrite it. With [`EntryOptions::tags`], the tags' versions are read before the
    /// write, so an invalidation of one of them that lands after that read invalidates this
    /// value too.
    ///
    /// X-Fetch refreshes an entry early in proportion to its recompute time Δ, which `set`
    /// cannot measure: give it with [`EntryOptions::compute_time`] (e.g. the time your own
    /// computation took). Without it Δ is 0 and the entry is never refreshed early — it simply
    /// expires, and the next `get_or_compute` after its TTL recomputes it (single-flight still
    /// applies).
    pub async fn set<T>(&self, key: &str, value: T, options: &EntryOptions) -> Result<()>
    where
        T: Serialize + Send + Sync + 'static,
    {
        validate_key(key)?;
        crate::tag::validate_tags(&options.tags)?;
        if !self.inner.uses_store() {
            return Ok(());
        }
        self.inner.flights.invalidate(|k| k == key);
        let o = options.resolve(&self.inner.config);
        let timing = self.inner.timing(o.ttl, o.grace, o.compute_time);
        let stamp = self.inner.stamp(&o.tags).await?;
        let env = stamp.apply(Envelope::with_timing(Arc::new(value), timing));
        let lifetime = env.lifetime();
        let payload = self.inner.payload(Arc::new(env))?;
        let set = self.inner.backend.set(key, payload, lifetime);
        let stored = self.inner.call("set", Some(key), set).await;
        self.inner.forget(key);
        stored
    }

    /// Deletes a key; returns whether it existed. A compute of this key running in this process
    /// returns its value to its callers but does not store it.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        if !self.inner.uses_store() {
            return Ok(false);
        }
        self.inner.flights.invalidate(|k| k == key);
        let delete = self.inner.backend.delete(key);
        let deleted = self.inner.call("delete", Some(key), delete).await;
        self.inner.forget(key);
        deleted
    }

    /// Deletes every key matching the Redis glob `pattern` (build patterns from user data with
    /// [`glob::escape`](crate::glob::escape)); returns how many went.
    pub async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        if !self.inner.uses_store() {
            return Ok(0);
        }
        self.inner
            .flights
            .invalidate(|k| crate::glob::matches(pattern, k));
        let invalidate = self.inner.backend.invalidate_pattern(pattern);
        let invalidated = self
            .inner
            .call("invalidate_pattern", None, invalidate)
            .await;
        self.inner.forget_all();
        invalidated
    }

    /// Shuts the cache down: no new background refresh starts, the running computes finish
    /// (each within its hard timeout, at most `wait`), then the backend closes its connections.
    /// Later calls compute without the store ([`Source::Bypass`](crate::Source::Bypass)), so a
    /// request racing the shutdown still gets its value. Clones share the shutdown.
    ///
    /// # Errors
    ///
    /// What the backend's [`close`](CacheBackend::close) returned.
    pub async fn shutdown(&self, wait: std::time::Duration) -> Result<()> {
        let inner = &self.inner;
        inner
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        let started = tokio::time::Instant::now();
        while inner.flights.running() > 0 && started.elapsed() < wait {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        inner.backend.close().await
    }

    /// Pings the backend (through the breaker and the operation timeout).
    pub async fn ping(&self) -> Result<()> {
        self.inner
            .call("ping", None, self.inner.backend.ping())
            .await
    }

    /// Backend reachability and breaker state, for health endpoints.
    pub async fn health(&self) -> Health {
        let inner = &self.inner;
        let ping = if inner.config.enabled {
            self.ping().await
        } else {
            Ok(())
        };
        Health {
            backend: inner.backend.name(),
            enabled: inner.config.enabled,
            reachable: inner.config.enabled && ping.is_ok(),
            breaker: inner.breakers.state(),
            error: ping.err().map(|e| e.to_string()),
            l1: self.l1_status(),
        }
    }
}

fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(CacheError::InvalidKey("the key is empty".into()));
    }
    if key.starts_with(crate::tag::RESERVED_PREFIX) {
        return Err(CacheError::InvalidKey(format!(
            "keys starting with `{}` are the cache's own (tag versions)",
            crate::tag::RESERVED_PREFIX
        )));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(CacheError::InvalidKey(format!(
            "the key is {} bytes long; the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}
