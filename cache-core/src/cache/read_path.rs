//! `get_or_compute`: the read path of DESIGN.md.

use crate::decoded::Decoded;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::fresh_hit::{Hit, Prefetched};
use super::gateway::{Read, into_value};
use super::leader::{Compute, Job, Trigger, run_compute};
use super::{SmartCache, validate_key};
use crate::codec::Codec;
use crate::envelope::Envelope;
use crate::error::{BoxError, CacheError, Result};
use crate::flight::{Join, Origin, Waited, Waiter};
use crate::options::{EntryOptions, Lookup, Resolved, Source, Tier};
use crate::value::Value;

/// What the read path answers, for the internal value type (`Arc<T>` for the public API).
pub(crate) struct Answer<V> {
    pub value: V,
    pub source: Source,
    pub tier: Option<Tier>,
    pub compute_time: Option<std::time::Duration>,
}

impl<T: 'static> Answer<Arc<T>> {
    /// The answer as the public API gives it.
    pub(crate) fn lookup(self) -> Lookup<T> {
        Lookup {
            value: Value::from(self.value),
            source: self.source,
            tier: self.tier,
            compute_time: self.compute_time,
        }
    }
}

/// What a read calls for.
pub(super) enum Decision<V> {
    /// Served from the read.
    Serve(Answer<V>),
    /// Served from the read; a background refresh is due.
    ServeAndRefresh(Answer<V>, Trigger<V>),
    /// No usable value: compute it, or wait for the flight computing it.
    Miss(Trigger<V>),
}
use crate::policy::Freshness;
use crate::stats::Stats;

impl<C: Codec> SmartCache<C> {
    /// Returns the cached value for `key`, computing (and storing) it when needed.
    ///
    /// - fresh entry: returned;
    /// - due for an early refresh (X-Fetch) or stale: returned at once, and one background
    ///   refresh per key per process starts;
    /// - missing: computed once per process however many callers ask (single-flight) and, with
    ///   the fleet lock, once per fleet;
    /// - compute fails or hits the hard timeout: the last good value is served when there is one
    ///   (fail-safe), otherwise the error is returned;
    /// - backend down: the value is computed and returned (the breaker stops paying timeouts).
    ///
    /// The value comes back as a [`Value`] (it derefs to `T`): a hit on an in-process store
    /// moves one reference count and never copies the value, whatever `T` is. A compute that
    /// cannot fail is written with [`get_with`](Self::get_with).
    ///
    /// Needs a Tokio runtime (computes and refreshes are spawned as tasks). `compute` runs in
    /// its own task: dropping this future never cancels it, so other waiters still get the
    /// value, and it is stored.
    ///
    /// # Errors
    ///
    /// The compute's error (as [`CacheError::Compute`], the cause reachable through
    /// `Error::source`), [`CacheError::ComputeTimeout`] or [`CacheError::ComputePanicked`] when
    /// no last good value can be served; [`CacheError::InvalidKey`] for an empty or huge key.
    /// Store failures are never errors: the value is computed without the store.
    pub async fn get_or_compute<T, F, Fut, E>(
        &self,
        key: &str,
        options: &EntryOptions,
        compute: F,
    ) -> Result<Value<T>>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        // The fresh hit first, in this function: each layer of futures costs the hit path, and
        // a hit returns straight from the store's answer, not through a result of results (see
        // `Inner::fresh_hit`).
        let prefetched = if self.check_read(key, options)? {
            match self.inner.fresh_hit::<T, _>(key, |value, _| value) {
                Ok(value) => return Ok(value),
                Err(prefetched) => prefetched,
            }
        } else {
            Prefetched::NotAsked
        };
        let compute = move || async move { compute().await.map(Arc::new) };
        let answer = self.answer::<Arc<T>, _, _, E>(key, options, compute, prefetched);
        answer.await.map(|answer| Value::from(answer.value))
    }

    /// Like [`get_or_compute`](Self::get_or_compute), and says where the value came from.
    pub async fn get_or_compute_detailed<T, F, Fut, E>(
        &self,
        key: &str,
        options: &EntryOptions,
        compute: F,
    ) -> Result<Lookup<T>>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let prefetched = if self.check_read(key, options)? {
            let hit = |value, tier| Hit::<T> { value, tier };
            match self.inner.fresh_hit(key, hit) {
                Ok(hit) => return Ok(hit.lookup()),
                Err(prefetched) => prefetched,
            }
        } else {
            Prefetched::NotAsked
        };
        let compute = move || async move { compute().await.map(Arc::new) };
        let answer = self.answer::<Arc<T>, _, _, E>(key, options, compute, prefetched);
        Ok(answer.await?.lookup())
    }

    /// [`get_or_compute`](Self::get_or_compute) for a compute that cannot fail, written as
    /// plainly as moka's `get_with`:
    ///
    /// ```
    /// # use cache_core::{EntryOptions, SmartCache};
    /// # use cache_memory::MemoryBackend;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = SmartCache::new(MemoryBackend::new(100));
    /// let answer = cache.get_with("answer", &EntryOptions::new(), || async { 42u32 }).await?;
    /// assert_eq!(*answer, 42);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Only the cache's own: [`CacheError::ComputeTimeout`], [`CacheError::ComputePanicked`],
    /// [`CacheError::InvalidKey`].
    pub async fn get_with<T, F, Fut>(
        &self,
        key: &str,
        options: &EntryOptions,
        compute: F,
    ) -> Result<Value<T>>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let compute = move || async move { Ok::<T, Infallible>(compute().await) };
        self.get_or_compute(key, options, compute).await
    }

    /// The checks of every read (key, tags); then whether the read goes to the store at all
    /// (not when the cache is disabled).
    #[inline(always)]
    fn check_read(&self, key: &str, options: &EntryOptions) -> Result<bool> {
        validate_key(key)?;
        if !options.tags.is_empty() {
            crate::tag::validate_tags(&options.tags)?;
        }
        Ok(self.inner.uses_store())
    }

    /// The read path past the fresh hit (see `Inner::fresh_hit`), for any cheaply
    /// cloned value type `V` (the public methods use `Arc<T>`): bypass, the full read
    /// (`prefetched`: what the hit path already got from the store), and the decision.
    async fn answer<V, F, Fut, E>(
        &self,
        key: &str,
        options: &EntryOptions,
        compute: F,
        prefetched: Prefetched,
    ) -> Result<Answer<V>>
    where
        V: Serialize + Decoded + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let inner = &self.inner;
        // Boxed only when it is going to run: a hit allocates nothing for it.
        let compute = move || -> Compute<V> {
            Box::new(move || Box::pin(async move { compute().await.map_err(Into::into) }))
        };
        if !inner.uses_store() {
            Stats::bump(&inner.stats.bypasses);
            Stats::bump(&inner.stats.computes);
            let hard_timeout = options.resolve(&inner.config).hard_timeout;
            let (value, delta) = run_compute(compute(), hard_timeout).await?;
            return Ok(Answer {
                value,
                source: Source::Bypass,
                tier: None,
                compute_time: Some(delta),
            });
        }

        let read = inner.read::<V>(key, prefetched, &options.tags).await;
        let swr = options
            .stale_while_revalidate
            .unwrap_or(inner.config.stale_while_revalidate);
        match self.decide(read, swr) {
            Decision::Serve(answer) => Ok(answer),
            Decision::ServeAndRefresh(answer, trigger) => {
                let opts = options.resolve(&inner.config);
                self.refresh_in_background(key, opts, compute(), trigger);
                Ok(answer)
            }
            Decision::Miss(trigger) => {
                let opts = options.resolve(&inner.config);
                self.compute_on_miss(key, opts, compute(), trigger).await
            }
        }
    }

    /// What a read calls for, per DESIGN.md's read path (X-Fetch, stale-while-revalidate,
    /// misses): the one decision of `get_or_compute` and of batches, `swr` the entry options'
    /// stale-while-revalidate. Counts what it decides.
    pub(super) fn decide<V>(&self, read: Read<V>, swr: bool) -> Decision<V>
    where
        V: Clone + Send + Sync + 'static,
    {
        let inner = &self.inner;
        let trigger = match read {
            Read::Found(found) => {
                let timing = found.env.timing();
                // No draw where none could refresh (the common hit): the same outcome, cheaper.
                let freshness = if inner.policy.surely_fresh(&timing, found.remaining) {
                    Freshness::Fresh
                } else {
                    inner
                        .rng
                        .with(|rng| inner.policy.decide(&timing, found.remaining, rng))
                };
                match freshness {
                    Freshness::Fresh => {
                        Stats::bump(&inner.stats.hits);
                        return Decision::Serve(hit(found.env, found.tier, Source::Hit));
                    }
                    Freshness::RefreshEarly => {
                        Stats::bump(&inner.stats.early_refreshes);
                        Stats::bump(&inner.stats.hits); // still a fresh hit
                        let answer = hit(found.env.clone(), found.tier, Source::EarlyRefresh);
                        return Decision::ServeAndRefresh(answer, Trigger::EarlyRefresh(found));
                    }
                    Freshness::Stale if swr => {
                        Stats::bump(&inner.stats.stale_served);
                        let answer = hit(found.env.clone(), found.tier, Source::Stale);
                        return Decision::ServeAndRefresh(answer, Trigger::StaleRefresh(found));
                    }
                    Freshness::Stale => Trigger::Miss {
                        last_good: Some(found),
                    },
                    Freshness::Expired => Trigger::Miss { last_good: None },
                }
            }
            Read::Absent => Trigger::Miss { last_good: None },
            Read::Unavailable { last_good } => {
                Stats::bump(&inner.stats.bypasses);
                Trigger::StoreDown { last_good }
            }
        };
        Stats::bump(&inner.stats.misses);
        Decision::Miss(trigger)
    }

    /// Starts one background refresh for `key` unless one already runs in this process (and
    /// the flight itself skips the compute when the entry was refreshed since it was read).
    fn refresh_in_background<T>(
        &self,
        key: &str,
        opts: Resolved,
        compute: Compute<T>,
        trigger: Trigger<T>,
    ) where
        T: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        if let Join::Lead(leader) = self.inner.flights.join::<T>(key) {
            Stats::bump(&self.inner.stats.background_refreshes);
            let job = Job {
                leader,
                compute,
                opts,
                trigger,
            };
            tokio::spawn(self.inner.clone().drive(job));
        }
    }

    /// A caller that needs a value now: lead or join the key's flight, and wait for it within
    /// this caller's own limits. Whatever the flight's outcome, a caller that holds a last good
    /// value gets it rather than an error (fail-safe per caller).
    async fn compute_on_miss<T>(
        &self,
        key: &str,
        opts: Resolved,
        compute: Compute<T>,
        trigger: Trigger<T>,
    ) -> Result<Answer<T>>
    where
        T: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        let inner = &self.inner;
        let last_good = trigger
            .current()
            .map(|found| (found.env.clone(), found.tier));
        let stored = !matches!(trigger, Trigger::StoreDown { .. });
        let (waiter, led) = match inner.flights.join::<T>(key) {
            Join::Lead(leader) => {
                let waiter = leader.waiter();
                let job = Job {
                    leader,
                    compute,
                    opts: opts.clone(),
                    trigger,
                };
                tokio::spawn(inner.clone().drive(job));
                (waiter, true)
            }
            Join::Wait(waiter) => {
                Stats::bump(&inner.stats.coalesced_waits);
                (waiter, false)
            }
            Join::Alone => {
                // Another value type is being computed under this key: a caller bug. Compute
                // without coalescing or storing rather than hand out the wrong type.
                tracing::warn!(
                    key,
                    "key used with two value types; computing without the cache"
                );
                Stats::bump(&inner.stats.computes);
                let (value, delta) = run_compute(compute, opts.hard_timeout).await?;
                return Ok(Answer {
                    value,
                    source: Source::Bypass,
                    tier: None,
                    compute_time: Some(delta),
                });
            }
        };
        self.await_flight(waiter, led, last_good, stored, &opts)
            .await
    }

    /// Waits for a flight's value (`led`: this call started the flight) within this caller's
    /// limits, and says where it came from; the caller's `last_good` value (fail-safe) rather
    /// than an error. `stored`: whether the flight stores its value.
    pub(super) async fn await_flight<T>(
        &self,
        waiter: Waiter<T>,
        led: bool,
        last_good: Option<(Arc<Envelope<T>>, Tier)>,
        stored: bool,
        opts: &Resolved,
    ) -> Result<Answer<T>>
    where
        T: Clone,
    {
        let inner = &self.inner;
        // The soft timeout applies only with a stale value to serve instead. The hard timeout
        // is each joining caller's own; the leader's is the flight's, which the flight applies.
        let soft_timeout = last_good.as_ref().and(opts.soft_timeout);
        let hard_timeout = if led { None } else { opts.hard_timeout };
        let outcome = match waiter.wait_within(soft_timeout, hard_timeout).await {
            Waited::Done(Ok(published)) => published,
            // The compute goes on and stores its result.
            Waited::SoftTimeout => {
                return self.fall_back(last_good, Source::Stale, CacheError::ComputePanicked);
            }
            Waited::HardTimeout(limit) => {
                let last_good = last_good.filter(|_| opts.fail_safe);
                return self.fall_back(
                    last_good,
                    Source::FailSafe,
                    CacheError::ComputeTimeout(limit),
                );
            }
            Waited::Done(Err(err)) => {
                let last_good = last_good.filter(|_| opts.fail_safe);
                return self.fall_back(last_good, Source::FailSafe, err);
            }
        };
        let (value, origin) = outcome;
        let lookup = match origin {
            Origin::Computed(delta) if led => Answer {
                value,
                source: if stored { Source::Miss } else { Source::Bypass },
                tier: None,
                compute_time: Some(delta),
            },
            Origin::Computed(_) | Origin::Fleet => Answer {
                value,
                source: Source::Coalesced,
                tier: None,
                compute_time: None,
            },
            Origin::Stale => {
                Stats::bump(&inner.stats.stale_served);
                Answer {
                    value,
                    source: Source::Stale,
                    tier: None,
                    compute_time: None,
                }
            }
            // The flight served its leader's last good value; a caller with one of its own
            // gets its own (the entry its read found, on the tier it found it).
            Origin::FailSafe => match last_good {
                Some(own) => {
                    self.fall_back(Some(own), Source::FailSafe, CacheError::ComputePanicked)?
                }
                None => {
                    Stats::bump(&inner.stats.fail_safe_serves);
                    Answer {
                        value,
                        source: Source::FailSafe,
                        tier: None,
                        compute_time: None,
                    }
                }
            },
        };
        Ok(lookup)
    }

    /// The caller's own last good value, served as `source`, or `err` when it has none.
    fn fall_back<T: Clone>(
        &self,
        last_good: Option<(Arc<Envelope<T>>, Tier)>,
        source: Source,
        err: CacheError,
    ) -> Result<Answer<T>> {
        match last_good {
            Some(own) => Ok(self.serve_last_good(own, source)),
            None => Err(err),
        }
    }

    /// Serves a caller's own last good value as `source` (stale or fail-safe), counted.
    fn serve_last_good<T: Clone>(
        &self,
        (env, tier): (Arc<Envelope<T>>, Tier),
        source: Source,
    ) -> Answer<T> {
        let stats = &self.inner.stats;
        Stats::bump(if source == Source::Stale {
            &stats.stale_served
        } else {
            &stats.fail_safe_serves
        });
        hit(env, Some(tier), source)
    }
}

fn hit<T: Clone>(
    env: Arc<Envelope<T>>,
    tier: impl Into<Option<Tier>>,
    source: Source,
) -> Answer<T> {
    Answer {
        value: into_value(env),
        source,
        tier: tier.into(),
        compute_time: None,
    }
}
