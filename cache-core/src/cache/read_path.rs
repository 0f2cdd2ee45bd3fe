//! `get_or_compute`: the read path of DESIGN.md.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::refresh::{Compute, Job, run_compute};
use super::store::{Read, into_value};
use super::{SmartCache, validate_key};
use crate::codec::Codec;
use crate::envelope::Envelope;
use crate::error::Result;
use crate::flight::{Join, Origin};
use crate::options::{EntryOptions, Lookup, Source};
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
    /// Needs a Tokio runtime (computes and refreshes are spawned as tasks).
    ///
    /// `compute` runs in its own task: dropping this future never cancels it, so other waiters
    /// still get the value, and it is stored.
    pub async fn get_or_compute<T, F, Fut, E>(
        &self,
        key: &str,
        options: &EntryOptions,
        compute: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        self.get_or_compute_detailed(key, options, compute)
            .await
            .map(|lookup| lookup.value)
    }

    /// Like [`get_or_compute`](Self::get_or_compute), and says where the value came from.
    pub async fn get_or_compute_detailed<T, F, Fut, E>(
        &self,
        key: &str,
        options: &EntryOptions,
        compute: F,
    ) -> Result<Lookup<T>>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        validate_key(key)?;
        let inner = &self.inner;
        let opts = options.resolve(&inner.config);
        // Boxed only when it is going to run: a hit allocates nothing for it.
        let compute = move || -> Compute<T> {
            Box::new(move || Box::pin(async move { compute().await.map_err(Into::into) }))
        };
        if !inner.config.enabled {
            Stats::bump(&inner.stats.bypasses);
            Stats::bump(&inner.stats.computes);
            let (value, delta) = run_compute(compute(), opts.hard_timeout).await?;
            return Ok(Lookup {
                value,
                source: Source::Bypass,
                compute_time: Some(delta),
            });
        }

        // Taken before the read: a fail-safe write must not bring back a value that an
        // invalidation removed after we read it (one relaxed-cost load on the hit path).
        let read_epoch = inner.flights.epoch();
        let (stale, store_up) = match inner.read::<T>(key).await {
            Read::Found(found) => {
                let timing = found.env.timing();
                let freshness = inner
                    .rng
                    .with(|rng| inner.policy.decide(&timing, found.remaining, rng));
                let serve_now = match freshness {
                    Freshness::Fresh => Some((&inner.stats.hits, Source::Hit)),
                    Freshness::RefreshEarly => {
                        Some((&inner.stats.early_refreshes, Source::EarlyRefresh))
                    }
                    Freshness::Stale if opts.stale_while_revalidate => {
                        Some((&inner.stats.stale_served, Source::Stale))
                    }
                    Freshness::Stale | Freshness::Expired => None,
                };
                match serve_now {
                    Some((counter, source)) => {
                        Stats::bump(counter);
                        if source == Source::EarlyRefresh {
                            Stats::bump(&inner.stats.hits); // still a fresh hit
                        }
                        if source != Source::Hit {
                            self.refresh_in_background(
                                key,
                                opts,
                                compute(),
                                found.env.clone(),
                                source == Source::EarlyRefresh,
                                read_epoch,
                            );
                        }
                        return Ok(hit(found.env, source));
                    }
                    None => ((freshness == Freshness::Stale).then_some(found.env), true),
                }
            }
            Read::Absent => (None, true),
            Read::Unavailable => (None, false),
        };
        Stats::bump(&inner.stats.misses);
        if !store_up {
            Stats::bump(&inner.stats.bypasses);
        }
        self.compute_on_miss(key, opts, compute(), stale, store_up, read_epoch)
            .await
    }

    /// Starts one background refresh for `key` unless one already runs in this process.
    fn refresh_in_background<T>(
        &self,
        key: &str,
        opts: crate::options::Resolved,
        compute: Compute<T>,
        current: Arc<Envelope<T>>,
        current_is_fresh: bool,
        read_epoch: u64,
    ) where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        if let Join::Lead(leader) = self.inner.flights.join::<T>(key) {
            Stats::bump(&self.inner.stats.background_refreshes);
            let job = Job {
                leader,
                compute,
                opts,
                // A failed early refresh leaves a still-fresh entry alone; a failed stale
                // refresh keeps the last good value a little longer.
                extend_last_good: !current_is_fresh,
                stale: Some(current),
                store_up: true,
                read_epoch,
            };
            tokio::spawn(self.inner.clone().drive(job));
        }
    }

    async fn compute_on_miss<T>(
        &self,
        key: &str,
        opts: crate::options::Resolved,
        compute: Compute<T>,
        stale: Option<Arc<Envelope<T>>>,
        store_up: bool,
        read_epoch: u64,
    ) -> Result<Lookup<T>>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let inner = &self.inner;
        let (waiter, led) = match inner.flights.join::<T>(key) {
            Join::Lead(leader) => {
                let waiter = leader.waiter();
                let job = Job {
                    leader,
                    compute,
                    opts,
                    extend_last_good: true,
                    stale: stale.clone(),
                    store_up,
                    read_epoch,
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
                return Ok(Lookup {
                    value,
                    source: Source::Bypass,
                    compute_time: Some(delta),
                });
            }
        };
        let soft_timeout = if stale.is_some() {
            opts.soft_timeout
        } else {
            None
        };
        let Some(result) = waiter.wait_at_most(soft_timeout).await else {
            // Soft timeout: serve the stale value; the compute goes on and stores its result.
            Stats::bump(&inner.stats.stale_served);
            let value = stale
                .map(into_value)
                .ok_or(crate::CacheError::ComputePanicked)?;
            return Ok(Lookup {
                value,
                source: Source::Stale,
                compute_time: None,
            });
        };
        let (value, origin) = result?;
        let lookup = match origin {
            Origin::Computed(delta) if led => {
                let source = if store_up {
                    Source::Miss
                } else {
                    Source::Bypass
                };
                Lookup {
                    value,
                    source,
                    compute_time: Some(delta),
                }
            }
            Origin::Computed(_) | Origin::Fleet => Lookup {
                value,
                source: Source::Coalesced,
                compute_time: None,
            },
            Origin::Stale => {
                Stats::bump(&inner.stats.stale_served);
                Lookup {
                    value,
                    source: Source::Stale,
                    compute_time: None,
                }
            }
            Origin::FailSafe => {
                Stats::bump(&inner.stats.fail_safe_serves);
                Lookup {
                    value,
                    source: Source::FailSafe,
                    compute_time: None,
                }
            }
        };
        Ok(lookup)
    }
}

fn hit<T: Clone>(env: Arc<Envelope<T>>, source: Source) -> Lookup<T> {
    Lookup {
        value: into_value(env),
        source,
        compute_time: None,
    }
}
