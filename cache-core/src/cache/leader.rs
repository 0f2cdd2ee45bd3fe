//! The task that leads a flight: fleet lock, double-check, compute with Δ measured, store,
//! publish, release.

use crate::decoded::Decoded;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use rand::Rng;
use serde::Serialize;
use tokio::time::Instant;

use super::Inner;
use super::gateway::{Found, into_value};
use super::tags::Stamp;
use crate::backend::{LockOutcome, Payload};
use crate::codec::Codec;
use crate::envelope::Envelope;
use crate::error::{BoxError, CacheError, Result};
use crate::flight::{Leader, Origin};
use crate::options::Resolved;
use crate::stats::Stats;
use crate::time_model::EntryTiming;

/// A type-erased compute function: one boxed closure per call keeps the generic surface small.
pub(crate) type Compute<T> =
    Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>> + Send>;

/// Why a flight runs, and what it has at hand.
pub(crate) enum Trigger<T> {
    /// X-Fetch picked a read of this fresh entry: refresh it in the background. A failure
    /// leaves the entry alone (it is still fresh).
    EarlyRefresh(Found<T>),
    /// This stale entry was served: refresh it in the background. A failure keeps it a little
    /// longer (fail-safe), if it is still the stored one.
    StaleRefresh(Found<T>),
    /// A caller waits for the value; `last_good` is the stale entry its read found, if any.
    Miss { last_good: Option<Found<T>> },
    /// The read failed: compute without the store (no lock, no write: a write queued in a dead
    /// connection could land after a later invalidation). `last_good` is the L1's copy, if any,
    /// for fail-safe.
    StoreDown { last_good: Option<Found<T>> },
}

impl<T> Trigger<T> {
    /// The entry the trigger's read found, if any: the generation this flight replaces, and
    /// the last good value for fail-safe.
    pub(crate) fn current(&self) -> Option<&Found<T>> {
        match self {
            Trigger::EarlyRefresh(found) | Trigger::StaleRefresh(found) => Some(found),
            Trigger::Miss { last_good } | Trigger::StoreDown { last_good } => last_good.as_ref(),
        }
    }

    fn uses_store(&self) -> bool {
        !matches!(self, Trigger::StoreDown { .. })
    }

    /// Whether a failed compute keeps the current entry a little longer (not while it is still
    /// fresh: rewriting it would shorten it).
    fn extends_on_failure(&self) -> bool {
        matches!(self, Trigger::StaleRefresh(_) | Trigger::Miss { .. })
    }
}

/// Everything a flight's task needs.
pub(crate) struct Job<T: Send + Sync + 'static> {
    pub leader: Leader<T>,
    pub compute: Compute<T>,
    pub opts: Resolved,
    pub trigger: Trigger<T>,
}

/// Runs a compute with panic capture and the hard timeout; returns the value and Δ.
pub(crate) async fn run_compute<T>(
    compute: Compute<T>,
    hard_timeout: Option<Duration>,
) -> Result<(T, Duration)> {
    let started = Instant::now();
    // Calling `compute` inside the guarded future means a panic while building it is caught too.
    let guarded = AssertUnwindSafe(async move { compute().await }).catch_unwind();
    // `tokio::time::timeout` saturates: a limit of `Duration::MAX` means "never".
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

/// The fleet lock while this flight holds it. Released by [`release`](Self::release) on every
/// normal path; if the task ends any other way (a panicking `Serialize`, an abort), `Drop`
/// releases it in a task of its own, so no path leaves it held until `lock_ttl`.
pub(crate) struct FleetLockGuard<C: Codec> {
    inner: Arc<Inner<C>>,
    key: String,
    token: Option<String>,
}

impl<C: Codec> FleetLockGuard<C> {
    async fn release(mut self) {
        if let Some(token) = self.token.take() {
            let unlock = self.inner.backend.unlock(&self.key, &token);
            let _ = self.inner.call("unlock", Some(&self.key), unlock).await;
        }
    }
}

impl<C: Codec> Drop for FleetLockGuard<C> {
    fn drop(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (inner, key) = (self.inner.clone(), std::mem::take(&mut self.key));
            runtime.spawn(async move {
                let _ = inner.backend.unlock(&key, &token).await;
            });
        }
    }
}

/// What trying the fleet lock gave.
enum FleetLock<C: Codec> {
    /// Ours.
    Held(FleetLockGuard<C>),
    /// Another process computes.
    Elsewhere,
    /// No lock (off, unsupported, or the store failed): compute.
    None,
}

/// What a flight's steps before its compute left to do.
pub(crate) enum Prepared<C: Codec> {
    /// The flight was published without a compute.
    Answered,
    /// The compute is to run.
    Compute(Ready<C>),
}

/// What the double-check (before the stamp) left to do.
pub(crate) enum Checked<C: Codec> {
    /// The flight was published without a compute.
    Answered,
    /// The compute is to run; `store`: whether its value is to be stored (the store answered).
    Compute {
        guard: Option<FleetLockGuard<C>>,
        store: bool,
    },
}

impl<C: Codec> Checked<C> {
    /// Whether the value is to be computed and stored (and so needs a stamp).
    pub(crate) fn stores(&self) -> bool {
        matches!(self, Checked::Compute { store: true, .. })
    }

    /// The flight's steps with `stamp`, the one taken for it before its compute (a value not
    /// to be stored keeps none).
    pub(crate) fn with_stamp(self, stamp: Option<&Stamp>) -> Prepared<C> {
        match self {
            Checked::Answered => Prepared::Answered,
            Checked::Compute { guard, store } => Prepared::Compute(Ready {
                guard,
                stamp: stamp.filter(|_| store).cloned(),
            }),
        }
    }
}

/// The fleet lock step of a flight.
pub(crate) enum LockStep<C: Codec> {
    /// Go on: with the lock, or with none (off, unsupported, store down).
    Go(Option<FleetLockGuard<C>>),
    /// Another process holds it.
    Elsewhere,
}

/// A flight ready to compute: the fleet lock it holds, and whether to store the value.
pub(crate) struct Ready<C: Codec> {
    guard: Option<FleetLockGuard<C>>,
    /// The versions of the entry's tags (and of the namespace) as they were before the
    /// compute, so an invalidation from then on makes its result invalid on arrival; `None`
    /// when the value is not to be stored (the store failed since the read).
    pub stamp: Option<Stamp>,
}

impl<C: Codec> Ready<C> {
    /// Releases the fleet lock, if held (after the value was stored).
    pub(crate) async fn release(self) {
        if let Some(guard) = self.guard {
            guard.release().await;
        }
    }
}

impl<C: Codec> Inner<C> {
    /// The task behind every flight. It owns the [`Leader`], so however it ends — value, error,
    /// panic, abort — the flight is published or closed and leaves the map.
    pub(crate) async fn drive<T>(self: Arc<Self>, job: Job<T>)
    where
        T: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        let Job {
            leader,
            compute,
            opts,
            trigger,
        } = job;
        let Prepared::Compute(mut ready) = self.prepare(&leader, &opts, &trigger).await else {
            return;
        };
        Stats::bump(&self.stats.computes);
        let outcome = run_compute(compute, opts.hard_timeout).await;
        match &outcome {
            Ok((_, delta)) => {
                tracing::debug!(
                    key = leader.key(),
                    delta_us = delta.as_micros() as u64,
                    "computed"
                );
                self.stats.record_compute(*delta);
            }
            Err(err) => {
                Stats::bump(&self.stats.compute_errors);
                let fail_safe = opts.fail_safe && trigger.current().is_some();
                tracing::warn!(key = leader.key(), error = %err, fail_safe, "compute failed");
            }
        }
        let stamp = ready.stamp.take();
        self.settle(&leader, &opts, &trigger, outcome, stamp).await;
        ready.release().await;
    }

    /// A flight's steps before its compute: the fleet lock (and, when another process holds
    /// it, the wait for that process's value), then the double-check. `Answered` when the
    /// flight was published without a compute.
    pub(crate) async fn prepare<T>(
        self: &Arc<Self>,
        leader: &Leader<T>,
        opts: &Resolved,
        trigger: &Trigger<T>,
    ) -> Prepared<C>
    where
        T: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        let guard = match self.lock_step(leader.key(), opts, trigger).await {
            LockStep::Go(guard) => guard,
            LockStep::Elsewhere => {
                if self.fleet_wait(leader, trigger).await {
                    return Prepared::Answered;
                }
                None
            }
        };
        self.double_check(leader, opts, trigger, guard).await
    }

    /// The fleet lock, when the options and the trigger call for it.
    pub(crate) async fn lock_step<T>(
        self: &Arc<Self>,
        key: &str,
        opts: &Resolved,
        trigger: &Trigger<T>,
    ) -> LockStep<C> {
        if !(opts.fleet_lock && trigger.uses_store()) {
            return LockStep::Go(None);
        }
        match self.clone().take_fleet_lock(key).await {
            FleetLock::Held(guard) => LockStep::Go(Some(guard)),
            FleetLock::Elsewhere => LockStep::Elsewhere,
            FleetLock::None => LockStep::Go(None),
        }
    }

    /// Another process holds the fleet lock: publishes the stale value at hand, or that
    /// process's write (bounded wait). False when nothing came: compute anyway.
    pub(crate) async fn fleet_wait<T>(&self, leader: &Leader<T>, trigger: &Trigger<T>) -> bool
    where
        T: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        match self
            .await_fleet_value(leader.key(), trigger.current())
            .await
        {
            Some(result) => {
                leader.publish(Ok(result));
                true
            }
            None => false,
        }
    }

    /// The double-check: a newer generation than the one our read saw may have been stored
    /// since (by a flight here that already ended, or by another process). Then this flight
    /// has nothing to do: at most one refresh per key per entry generation. If the store fails
    /// now, it went down since our read: no write either, so a request pays at most one
    /// operation timeout on top of its compute.
    pub(crate) async fn double_check<T>(
        &self,
        leader: &Leader<T>,
        opts: &Resolved,
        trigger: &Trigger<T>,
        guard: Option<FleetLockGuard<C>>,
    ) -> Prepared<C>
    where
        T: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        let checked = self.check_generation(leader, trigger, guard).await;
        // The versions of the entry's tags (and of the namespace) as they are before the
        // compute: an invalidation from now on makes its result invalid on arrival.
        let stamp = match checked.stores() {
            true => self.stamp(&opts.tags).await.ok(),
            false => None,
        };
        checked.with_stamp(stamp.as_ref())
    }

    /// [`double_check`](Self::double_check) without the stamp, which a batch takes once for
    /// all its keys.
    pub(crate) async fn check_generation<T>(
        &self,
        leader: &Leader<T>,
        trigger: &Trigger<T>,
        guard: Option<FleetLockGuard<C>>,
    ) -> Checked<C>
    where
        T: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        let mut store_up = trigger.uses_store();
        if store_up {
            match self
                .newer_generation::<T>(leader.key(), trigger.current())
                .await
            {
                Ok(Some(newer)) => {
                    leader.publish(Ok((into_value(newer), Origin::Fleet)));
                    if let Some(guard) = guard {
                        guard.release().await;
                    }
                    return Checked::Answered;
                }
                Ok(None) => {}
                Err(_) => store_up = false,
            }
        }
        Checked::Compute {
            guard,
            store: store_up,
        }
    }

    /// A flight's steps after its compute (`outcome`: the value and Δ, or the error): store
    /// (with `stamp`, taken before the compute; no stamp: no store) and publish the value, or
    /// publish the last good one (fail-safe) or the error.
    pub(crate) async fn settle<T>(
        &self,
        leader: &Leader<T>,
        opts: &Resolved,
        trigger: &Trigger<T>,
        outcome: Result<(T, Duration)>,
        stamp: Option<Stamp>,
    ) where
        T: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        match outcome {
            Ok((value, delta)) => {
                // Stored before it is published: when `get_or_compute` returns a miss, the next
                // read (or a delete) sees the entry.
                if let Some(stamp) = stamp {
                    let timing = self.timing(opts.ttl, opts.grace, delta);
                    let env = stamp.apply(Envelope::with_timing(value.clone(), timing));
                    self.store_unless_invalidated(leader, env).await;
                }
                leader.publish(Ok((value, Origin::Computed(delta))));
            }
            Err(err) => match trigger.current().filter(|_| opts.fail_safe) {
                Some(last_good) => {
                    leader.publish(Ok((last_good.env.value.clone(), Origin::FailSafe)));
                    if trigger.extends_on_failure() {
                        self.keep_last_good(leader, last_good).await;
                    }
                }
                None => leader.publish(Err(err)),
            },
        }
    }

    /// The timing of an entry written now into this backend: the TTL kept, the grace
    /// shortened to fit the backend's longest lifetime.
    pub(crate) fn timing(&self, ttl: Duration, grace: Duration, delta: Duration) -> EntryTiming {
        EntryTiming::fitted(ttl, grace, delta, self.max_lifetime)
    }

    async fn take_fleet_lock(self: Arc<Self>, key: &str) -> FleetLock<C> {
        let token = format!("{:032x}", rand::rng().random::<u128>());
        let try_lock = self.backend.try_lock(key, &token, self.config.lock_ttl);
        match self.call("try_lock", Some(key), try_lock).await {
            Ok(LockOutcome::Acquired) => FleetLock::Held(FleetLockGuard {
                inner: self.clone(),
                key: key.to_owned(),
                token: Some(token),
            }),
            Ok(LockOutcome::Held) => FleetLock::Elsewhere,
            Ok(LockOutcome::Unsupported) | Err(_) => FleetLock::None,
        }
    }

    /// A fresh entry stored under `key` that is not `seen` (the generation the caller's read
    /// found), if there is one; an error when the store failed.
    async fn newer_generation<T>(
        &self,
        key: &str,
        seen: Option<&Found<T>>,
    ) -> Result<Option<Arc<Envelope<T>>>>
    where
        T: Decoded + Send + Sync + 'static,
    {
        // Not `read`: the caller's read already counted (and logged) a bad entry.
        let Some(entry) = self.call("get", Some(key), self.backend.get(key)).await? else {
            return Ok(None);
        };
        let Ok(found) = self.found::<T>(entry) else {
            return Ok(None);
        };
        let same = seen.is_some_and(|seen| seen.same_write(&found));
        let fresh = found.env.timing().is_fresh(found.remaining);
        let usable = fresh && !same && self.stamp_holds(&found.env).await?;
        Ok(usable.then_some(found.env))
    }

    /// Another process holds the fleet lock: serve the stale value at hand, or wait (bounded)
    /// for the holder's write. `None`: nothing came, compute anyway.
    async fn await_fleet_value<T>(&self, key: &str, stale: Option<&Found<T>>) -> Option<(T, Origin)>
    where
        T: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        if let Some(stale) = stale {
            return Some((stale.env.value.clone(), Origin::Stale));
        }
        Stats::bump(&self.stats.lock_waits);
        let wait = self.config.lock_wait;
        // The wait is bounded by `lock_wait`, not by the per-operation timeout.
        let written = tokio::time::timeout(wait, self.backend.wait_for_value(key, wait)).await;
        if let Ok(Ok(Some(entry))) = written {
            if let Ok(found) = self.found::<T>(entry) {
                if let Ok(true) = self.stamp_holds(&found.env).await {
                    return Some((into_value(found.env), Origin::Fleet));
                }
            }
        }
        Stats::bump(&self.stats.lock_wait_timeouts);
        None
    }

    /// Stores `env` unless the flight was invalidated. If it was invalidated while the write
    /// was in flight, undoes the write — only the entry this flight wrote, never a value
    /// someone `set` meanwhile (compare-and-delete).
    async fn store_unless_invalidated<T>(&self, leader: &Leader<T>, env: Envelope<T>)
    where
        T: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        let key = leader.key();
        if !leader.invalidated() {
            let Some(written) = self.store(key, env).await else {
                return;
            };
            if !leader.invalidated() {
                return;
            }
            self.delete_if_unchanged(key, &written).await;
        }
        Stats::bump(&self.stats.invalidated_during_compute);
        tracing::debug!(
            key,
            "key invalidated during compute: value returned, not stored"
        );
    }

    /// Keeps the last good value `fail_safe_ttl` longer after a failed compute, so the next
    /// callers are not all sent to a failing compute — only if the stored entry is still the
    /// one that was read: never over a newer value, never back after a delete.
    async fn keep_last_good<T>(&self, leader: &Leader<T>, last_good: &Found<T>)
    where
        T: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        if leader.invalidated() {
            return;
        }
        let old = last_good.env.timing();
        let timing = self.timing(self.config.fail_safe_ttl, old.grace, old.delta);
        let kept = Envelope::with_timing(last_good.env.value.clone(), timing)
            .with_stamp_of(&last_good.env);
        let stored = match self.stored_payload(leader.key(), last_good).await {
            Some(expected) => self.store_if_unchanged(leader.key(), &expected, kept).await,
            None => false,
        };
        if !stored {
            tracing::debug!(
                key = leader.key(),
                "last good value not extended: the stored entry changed (or no conditional writes)"
            );
        }
    }

    /// What the store holds as `found`'s entry, for a conditional write: the payload read, or,
    /// for an L1 copy (which keeps no bytes), the stored payload read again if it is still that
    /// write. `None`: the entry changed, or the store could not say.
    async fn stored_payload<T>(&self, key: &str, found: &Found<T>) -> Option<Payload>
    where
        T: Decoded + Send + Sync + 'static,
    {
        if let Some(payload) = found.payload() {
            return Some(payload);
        }
        let entry = self
            .call("get", Some(key), self.backend.get(key))
            .await
            .ok()??;
        let current = self.found::<T>(entry).ok()?;
        current
            .same_write(found)
            .then(|| current.payload())
            .flatten()
    }
}
