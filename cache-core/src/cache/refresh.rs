//! The computation task: fleet lock, compute with Δ measured, publish, store, unlock.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::Inner;
use super::store::into_value;
use crate::backend::LockOutcome;
use crate::codec::Codec;
use crate::envelope::Envelope;
use crate::error::{BoxError, CacheError, Result};
use crate::flight::{Leader, Origin};
use crate::options::Resolved;
use crate::stats::Stats;

/// A type-erased compute function: one boxed closure per call keeps the generic surface small.
pub(crate) type Compute<T> =
    Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>> + Send>;

/// Everything a computation task needs.
pub(crate) struct Job<T: Send + Sync + 'static> {
    pub leader: Leader<T>,
    pub compute: Compute<T>,
    pub opts: Resolved,
    /// The last good value, for fail-safe (and to serve when another process holds the lock).
    pub stale: Option<Arc<Envelope<T>>>,
    /// Whether fail-safe rewrites `stale` with `fail_safe_ttl` (false while it is still fresh:
    /// rewriting would shorten it).
    pub extend_last_good: bool,
    /// False when the read failed: skip the fleet lock, the store is probably down.
    pub store_up: bool,
    /// [`Flights::epoch`](crate::flight::Flights::epoch) before the read that found `stale`.
    pub read_epoch: u64,
}

/// Runs a compute with panic capture and the hard timeout; returns the value and Δ.
pub(crate) async fn run_compute<T>(
    compute: Compute<T>,
    hard_timeout: Option<Duration>,
) -> Result<(T, Duration)> {
    let started = Instant::now();
    // Calling `compute` inside the guarded future means a panic while building it is caught too.
    let guarded = AssertUnwindSafe(async move { compute().await }).catch_unwind();
    let outcome = match hard_timeout {
        Some(limit) => tokio::time::timeout(limit, guarded)
            .await
            .map_err(|_| CacheError::ComputeTimeout(limit))?,
        None => guarded.await,
    };
    match outcome {
        Ok(Ok(value)) => Ok((value, started.elapsed())),
        Ok(Err(err)) => Err(CacheError::Compute(Arc::from(err))),
        Err(_panic) => Err(CacheError::ComputePanicked),
    }
}

impl<C: Codec> Inner<C> {
    /// The task behind every flight. It owns the [`Leader`], so however it ends — value, error,
    /// panic, abort — the flight is published or closed and leaves the map.
    pub(crate) async fn drive<T>(self: Arc<Self>, job: Job<T>)
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let Job {
            leader,
            compute,
            opts,
            stale,
            extend_last_good,
            store_up,
            read_epoch,
        } = job;
        let key = leader.key().to_owned();
        let mut lock_token = None;
        if opts.fleet_lock && store_up {
            let token = format!("{:032x}", rand::rng().random::<u128>());
            match self
                .call(
                    "try_lock",
                    self.backend.try_lock(&key, &token, self.config.lock_ttl),
                )
                .await
            {
                Ok(LockOutcome::Acquired) => lock_token = Some(token),
                Ok(LockOutcome::Held) => {
                    if let Some(result) = self.await_fleet_value(&key, stale.as_ref()).await {
                        leader.publish(Ok(result));
                        return;
                    }
                }
                Ok(LockOutcome::Unsupported) | Err(_) => {}
            }
        }

        // Double-check before a foreground compute: a read that missed just before another
        // flight (here or, holding the lock, elsewhere in the fleet) stored its value would
        // otherwise compute it a second time.
        if stale.is_none() && store_up {
            if let Some(value) = self.fresh_value::<T>(&key).await {
                leader.publish(Ok((value, Origin::Fleet)));
                self.unlock(&key, lock_token).await;
                return;
            }
        }

        Stats::bump(&self.stats.computes);
        match run_compute(compute, opts.hard_timeout).await {
            Ok((value, delta)) => {
                tracing::debug!(key, delta_us = delta.as_micros() as u64, "computed");
                // Stored before it is published: when `get_or_compute` returns a miss, the next
                // read (or a delete) sees the entry. Not stored when the read found the store
                // down: a write queued in a dead connection could land after a later
                // invalidation.
                if store_up {
                    let env = Envelope::new(value.clone(), opts.ttl, opts.grace, delta);
                    self.store_unless_invalidated(&leader, env, None).await;
                }
                leader.publish(Ok((value, Origin::Computed(delta))));
            }
            Err(err) => {
                Stats::bump(&self.stats.compute_errors);
                tracing::warn!(key, error = %err, fail_safe = opts.fail_safe && stale.is_some(), "compute failed");
                match stale.filter(|_| opts.fail_safe) {
                    Some(last_good) => {
                        leader.publish(Ok((last_good.value.clone(), Origin::FailSafe)));
                        if !extend_last_good {
                            self.unlock(&key, lock_token).await;
                            return;
                        }
                        // Keep the last good value a little longer, so the next callers are not
                        // all sent to a failing compute.
                        let mut kept = (*last_good).clone();
                        kept.ttl_ms = u64::try_from(self.config.fail_safe_ttl.as_millis())
                            .unwrap_or(u64::MAX);
                        // The last good value was read before this flight existed: an
                        // invalidation in between marked no flight, so check the epoch too,
                        // or a deleted (or newly `set`) key would get the old value back.
                        self.store_unless_invalidated(&leader, kept, Some(read_epoch))
                            .await;
                    }
                    None => leader.publish(Err(err)),
                }
            }
        }
        self.unlock(&key, lock_token).await;
    }

    async fn unlock(&self, key: &str, token: Option<String>) {
        if let Some(token) = token {
            let _ = self.call("unlock", self.backend.unlock(key, &token)).await;
        }
    }

    /// The stored value, if it is there and still inside its TTL.
    async fn fresh_value<T>(&self, key: &str) -> Option<T>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        // Not `read`: the caller's read already counted (and logged) a bad entry.
        let entry = self.call("get", self.backend.get(key)).await.ok()??;
        let env = self.decode::<T>(entry.payload).ok()?;
        let fresh = entry.remaining.is_none_or(|r| r > env.timing().grace);
        fresh.then(|| into_value(env))
    }

    /// Another process holds the fleet lock: serve the stale value at hand, or wait (bounded)
    /// for the holder's write. `None`: nothing came, compute anyway.
    async fn await_fleet_value<T>(
        &self,
        key: &str,
        stale: Option<&Arc<Envelope<T>>>,
    ) -> Option<(T, Origin)>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        if let Some(stale) = stale {
            return Some((stale.value.clone(), Origin::Stale));
        }
        Stats::bump(&self.stats.lock_waits);
        let wait = self.config.lock_wait;
        // The wait is bounded by `lock_wait`, not by the per-operation timeout.
        let written = tokio::time::timeout(wait, self.backend.wait_for_value(key, wait)).await;
        if let Ok(Ok(Some(entry))) = written {
            if let Ok(env) = self.decode::<T>(entry.payload) {
                return Some((into_value(env), Origin::Fleet));
            }
        }
        Stats::bump(&self.stats.lock_wait_timeouts);
        None
    }

    /// Stores `env` unless the flight was invalidated (checked again after the write, which is
    /// then undone). With `read_epoch`, the write is also skipped when any invalidation (of any
    /// key: the epoch is process-wide) happened since that read; skipping a fail-safe write only
    /// leaves the existing entry as it is, so that check is not followed by an undo, which could
    /// delete the stale fallback because of another key's invalidation.
    async fn store_unless_invalidated<T>(
        &self,
        leader: &Leader<T>,
        env: Envelope<T>,
        read_epoch: Option<u64>,
    ) where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let key = leader.key();
        let since_read = read_epoch.is_some_and(|e| self.flights.invalidated_since(e));
        if !leader.invalidated() && !since_read {
            self.store(key, env).await;
            if !leader.invalidated() {
                return;
            }
            // Invalidated while we were writing: undo our write.
            let _ = self.call("delete", self.backend.delete(key)).await;
        }
        Stats::bump(&self.stats.invalidated_during_compute);
        tracing::debug!(
            key,
            "key invalidated during compute: value returned, not stored"
        );
    }
}
