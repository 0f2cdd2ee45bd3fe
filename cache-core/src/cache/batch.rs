//! `get_many_or_compute`: many keys in one call — the L1, one backend read per failure domain
//! (one `MGET` per slot on Redis), then one batch compute for the keys this call leads — with
//! the per-key decisions of `get_or_compute` (see DESIGN.md, "Tags, clear, batches").
//!
//! Why overlapping batches cannot deadlock: a batch joins every key's flight without awaiting
//! anything, then hands the flights it leads to one spawned task that waits only on the backend
//! and the compute — never on another flight. The caller then waits on flights (its own and
//! others'), holding none.

use crate::decoded::Decoded;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::future::join_all;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::gateway::{Found, Read};
use super::leader::{FleetLockGuard, LockStep, Prepared, Trigger, run_compute};
use super::read_path::{Answer, Decision};
use super::{Inner, SmartCache, validate_key};
use crate::codec::Codec;
use crate::error::{BoxError, CacheError, Result};
use crate::flight::{Join, Leader, Waiter};
use crate::options::{EntryOptions, Lookup, Resolved, Source, Tier};
use crate::stats::Stats;

/// One key's answer in a batch (see [`SmartCache::get_many_or_compute`]).
#[derive(Debug, Clone)]
pub struct BatchItem<T: 'static> {
    /// The key, as requested.
    pub key: String,
    /// Its value with where it came from, or why there is none.
    pub result: Result<Lookup<T>>,
}

/// A type-erased batch compute: the missing keys in, a value per key out.
type BatchCompute<V> = Box<
    dyn FnOnce(
            Vec<String>,
        )
            -> Pin<Box<dyn Future<Output = Result<HashMap<String, V>, BoxError>> + Send>>
        + Send,
>;

/// A flight this batch leads, with why it runs.
type Led<V> = (Leader<V>, Trigger<V>);

/// A led flight free to compute: its fleet lock if it took one.
type Unlocked<V, C> = (Leader<V>, Trigger<V>, Option<FleetLockGuard<C>>);

/// A caller's wait on one key's flight.
struct Pending<V> {
    /// Index of the key in the batch's distinct keys.
    slot: usize,
    waiter: Waiter<V>,
    led: bool,
    last_good: Option<(Arc<crate::envelope::Envelope<V>>, Tier)>,
    stored: bool,
}

impl<C: Codec> SmartCache<C> {
    /// [`get_or_compute_detailed`](Self::get_or_compute_detailed) for many keys at once: one
    /// answer per requested key, in request order.
    ///
    /// - the L1 (when configured) answers what it holds, without I/O; the rest is read in one
    ///   backend call per failure domain (the Redis adapters send one `MGET` per slot);
    /// - each key then gets `get_or_compute`'s decision: fresh, X-Fetch early refresh, stale
    ///   while revalidating, or missing;
    /// - the missing keys (and those due for a refresh) that no one in this process is already
    ///   computing go to **one** call of `compute`, in a task of its own; keys another caller
    ///   (a `get_or_compute` or another batch) is computing are awaited, never recomputed. Each
    ///   value is stored with Δ = the time the whole call took;
    /// - per key, as for one: soft and hard timeouts (the hard one bounds the whole compute),
    ///   fail-safe, the fleet lock. A key absent from the map `compute` returns gets
    ///   [`CacheError::MissingFromBatch`] (or its last good value), and the others are not
    ///   affected.
    ///
    /// Duplicate keys are answered once (each position gets the answer); an empty batch does
    /// nothing; an invalid key (empty, too long) gets [`CacheError::InvalidKey`] alone. A key
    /// that a concurrent call uses with another value type gets [`CacheError::TypeMismatch`].
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # use cache_core::{EntryOptions, SmartCache, Source};
    /// # use cache_memory::MemoryBackend;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = SmartCache::new(MemoryBackend::new(100));
    /// let square = |keys: Vec<String>| async move {
    ///     let values = keys.iter().map(|k| (k.clone(), k.len() * k.len()));
    ///     Ok::<HashMap<String, usize>, std::io::Error>(values.collect())
    /// };
    /// let answers = cache.get_many_or_compute(&["a", "bb"], &EntryOptions::new(), square).await;
    /// let first = answers[0].result.as_ref().unwrap();
    /// assert_eq!((*first.value, first.source), (1, Source::Miss));
    /// let again = cache.get_many_or_compute(&["bb"], &EntryOptions::new(), square).await;
    /// assert_eq!(again[0].result.as_ref().unwrap().source, Source::Hit);
    /// # }
    /// ```
    pub async fn get_many_or_compute<T, K, F, Fut, E>(
        &self,
        keys: &[K],
        options: &EntryOptions,
        compute: F,
    ) -> Vec<BatchItem<T>>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
        K: AsRef<str>,
        F: FnOnce(Vec<String>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<HashMap<String, T>, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let compute: BatchCompute<Arc<T>> = Box::new(move |missing| {
            Box::pin(async move {
                match compute(missing).await {
                    Ok(values) => Ok(values.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()),
                    Err(err) => Err(err.into()),
                }
            })
        });
        let (distinct, positions) = distinct(keys);
        let answers = self.answer_many(&distinct, options, compute).await;
        let item = |key: &str, answer: Result<Answer<Arc<T>>>| BatchItem {
            key: key.to_owned(),
            result: answer.map(Answer::lookup),
        };
        if distinct.len() == positions.len() {
            // No duplicate: the answers are in request order already.
            return distinct
                .into_iter()
                .zip(answers)
                .map(|(key, answer)| item(key, answer))
                .collect();
        }
        let mut results: Vec<Option<BatchItem<T>>> = distinct
            .iter()
            .zip(answers)
            .map(|(key, answer)| Some(item(key, answer)))
            .collect();
        let mut uses = vec![0usize; distinct.len()];
        for &slot in &positions {
            uses[slot] += 1;
        }
        positions
            .into_iter()
            .map(|slot| {
                uses[slot] -= 1;
                // The last position of a key takes its answer; earlier duplicates share it.
                let shared = match uses[slot] {
                    0 => results[slot].take(),
                    _ => results[slot].as_ref().map(share),
                };
                shared.unwrap_or_else(|| BatchItem {
                    key: distinct[slot].to_owned(),
                    result: Err(CacheError::ComputePanicked),
                })
            })
            .collect()
    }

    /// [`get_many_or_compute`](Self::get_many_or_compute) for a compute that cannot fail.
    pub async fn get_many_with<T, K, F, Fut>(
        &self,
        keys: &[K],
        options: &EntryOptions,
        compute: F,
    ) -> Vec<BatchItem<T>>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
        K: AsRef<str>,
        F: FnOnce(Vec<String>) -> Fut + Send + 'static,
        Fut: Future<Output = HashMap<String, T>> + Send + 'static,
    {
        let compute = move |missing| async move { Ok::<_, Infallible>(compute(missing).await) };
        self.get_many_or_compute(keys, options, compute).await
    }

    /// The batch read path for distinct keys: one answer per key, in order.
    async fn answer_many<V>(
        &self,
        keys: &[&str],
        options: &EntryOptions,
        compute: BatchCompute<V>,
    ) -> Vec<Result<Answer<V>>>
    where
        V: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        let inner = &self.inner;
        let opts = options.resolve(&inner.config);
        // Bad tags are the options' fault: every key gets the error.
        let tags = crate::tag::validate_tags(&options.tags).err();
        let mut answers: Vec<Option<Result<Answer<V>>>> = keys
            .iter()
            .map(|key| {
                let invalid = tags.clone().map_or_else(|| validate_key(key).err(), Some);
                invalid.map(Err)
            })
            .collect();
        let valid: Vec<usize> = (0..keys.len()).filter(|&i| answers[i].is_none()).collect();
        if valid.is_empty() {
            return finished(answers);
        }
        if !inner.uses_store() {
            self.bypass_many(keys, &valid, &mut answers, compute, &opts)
                .await;
            return finished(answers);
        }

        let valid_keys: Vec<&str> = valid.iter().map(|&i| keys[i]).collect();
        let reads = inner.read_many::<V>(&valid_keys).await;
        // From the first flight led to the spawn below, nothing is awaited: a led flight is
        // never held by a caller that waits.
        let mut led: Vec<Led<V>> = Vec::new();
        let mut pending: Vec<Pending<V>> = Vec::new();
        for (slot, read) in valid.into_iter().zip(reads) {
            let key = keys[slot];
            match self.decide(read, opts.stale_while_revalidate) {
                Decision::Serve(answer) => answers[slot] = Some(Ok(answer)),
                Decision::ServeAndRefresh(answer, trigger) => {
                    answers[slot] = Some(Ok(answer));
                    if let Join::Lead(leader) = inner.flights.join::<V>(key) {
                        Stats::bump(&inner.stats.background_refreshes);
                        led.push((leader, trigger));
                    }
                }
                Decision::Miss(trigger) => {
                    let last_good = trigger.current().map(|f| (f.env.clone(), f.tier));
                    let stored = !matches!(trigger, Trigger::StoreDown { .. });
                    let (waiter, is_led) = match inner.flights.join::<V>(key) {
                        Join::Lead(leader) => {
                            let waiter = leader.waiter();
                            led.push((leader, trigger));
                            (waiter, true)
                        }
                        Join::Wait(waiter) => {
                            Stats::bump(&inner.stats.coalesced_waits);
                            (waiter, false)
                        }
                        Join::Alone => {
                            tracing::warn!(key, "key used with two value types; not computed");
                            answers[slot] = Some(Err(CacheError::TypeMismatch {
                                expected: std::any::type_name::<V>(),
                            }));
                            continue;
                        }
                    };
                    pending.push(Pending {
                        slot,
                        waiter,
                        led: is_led,
                        last_good,
                        stored,
                    });
                }
            }
        }
        if !led.is_empty() {
            tokio::spawn(inner.clone().drive_batch(led, compute, opts.clone()));
        }
        let opts = &opts;
        let waits = pending.into_iter().map(|p| async move {
            let answer = self
                .await_flight(p.waiter, p.led, p.last_good, p.stored, opts)
                .await;
            (p.slot, answer)
        });
        for (slot, answer) in join_all(waits).await {
            answers[slot] = Some(answer);
        }
        finished(answers)
    }

    /// The cache is off: one compute for every valid key, nothing stored.
    async fn bypass_many<V>(
        &self,
        keys: &[&str],
        valid: &[usize],
        answers: &mut [Option<Result<Answer<V>>>],
        compute: BatchCompute<V>,
        opts: &Resolved,
    ) where
        V: Send + Sync + 'static,
    {
        let stats = &self.inner.stats;
        for _ in valid {
            Stats::bump(&stats.bypasses);
        }
        Stats::bump(&stats.computes);
        let missing: Vec<String> = valid.iter().map(|&i| keys[i].to_owned()).collect();
        let outcome = run_compute(Box::new(move || compute(missing)), opts.hard_timeout).await;
        let (mut values, delta) = match outcome {
            Ok(computed) => computed,
            Err(err) => {
                for &i in valid {
                    answers[i] = Some(Err(err.clone()));
                }
                return;
            }
        };
        for &i in valid {
            answers[i] = Some(match values.remove(keys[i]) {
                Some(value) => Ok(Answer {
                    value,
                    source: Source::Bypass,
                    tier: None,
                    compute_time: Some(delta),
                }),
                None => Err(missing_from_batch(keys[i])),
            });
        }
    }
}

impl<C: Codec> Inner<C> {
    /// Reads distinct `keys`: the L1 first, then one `get_many` per failure domain for the
    /// rest (each through its domain's breaker), filling the L1 from what they found.
    async fn read_many<T>(&self, keys: &[&str]) -> Vec<Read<T>>
    where
        T: Decoded + Send + Sync + 'static,
    {
        let mut reads: Vec<Option<Read<T>>> = keys.iter().map(|_| None).collect();
        let mut tickets = vec![None; keys.len()];
        // What the L1 and the backend found, decoded, for one check of their stamps (tags,
        // clear()) below.
        let mut found: Vec<(usize, Found<T>)> = Vec::with_capacity(keys.len());
        if let Some(l1) = &self.l1 {
            for (i, key) in keys.iter().enumerate() {
                match self.read_l1::<T>(l1, key) {
                    Some(hit) => found.push((i, hit)),
                    // Taken before the read is sent: a change reported after it beats the fill.
                    None => tickets[i] = Some(l1.ticket(key)),
                }
            }
        }
        let to_read = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| tickets[*i].is_some() || self.l1.is_none())
            .map(|(i, key)| (i, *key));
        let fetches = self.by_domain(to_read).into_iter().map(|group| async move {
            let batch: Vec<&str> = group.iter().map(|&i| keys[i]).collect();
            let read = self
                .call(
                    "get_many",
                    batch.first().copied(),
                    self.backend.get_many(&batch),
                )
                .await;
            (group, read)
        });
        for (group, read) in join_all(fetches).await {
            match read {
                Ok(entries) if entries.len() == group.len() => {
                    for (i, entry) in group.into_iter().zip(entries) {
                        match entry.and_then(|entry| self.decode_entry::<T>(keys[i], entry)) {
                            Some(entry) => found.push((i, entry)),
                            None => reads[i] = Some(Read::Absent),
                        }
                    }
                }
                _ => {
                    for i in group {
                        // As `Inner::read`: the L1's copy backs fail-safe, never served as fresh.
                        let last_good = self.l1.as_ref().and_then(|l1| l1.last_good(keys[i]));
                        reads[i] = Some(Read::Unavailable { last_good });
                    }
                }
            }
        }
        for (i, read) in self.admit_many(keys, found).await {
            // A ticket: read from the backend, so the L1 is filled with it.
            if let (Some(l1), Some(ticket), Read::Found(found)) = (&self.l1, tickets[i], &read) {
                l1.fill(
                    keys[i],
                    ticket,
                    found,
                    self.fresh_bound(&found.env.timing()),
                )
                .await;
            }
            reads[i] = Some(read);
        }
        reads
            .into_iter()
            .map(|read| read.unwrap_or(Read::Unavailable { last_good: None }))
            .collect()
    }

    /// The task behind a batch's flights. It owns the leaders and waits on no other flight of
    /// this process. Per key the fleet lock first (side by side); then, at the same time, the
    /// keys it may compute (double-check, **one** compute, store and publish each, release the
    /// locks) and the keys another process holds the lock of (wait for that process's value).
    /// So the locks this batch holds are never held while it waits on someone else's: two
    /// processes with overlapping batches each compute their own keys and serve each other's.
    /// A key whose holder delivered nothing within `lock_wait` is computed then, by the same
    /// compute call when it was not needed yet, else it fails ([`CacheError::ComputeTimeout`],
    /// or its last good value).
    async fn drive_batch<V>(
        self: Arc<Self>,
        led: Vec<Led<V>>,
        compute: BatchCompute<V>,
        opts: Resolved,
    ) where
        V: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        let steps = join_all(
            led.iter()
                .map(|(leader, trigger)| self.lock_step(leader.key(), &opts, trigger)),
        )
        .await;
        let (mut own, mut theirs) = (Vec::new(), Vec::new());
        for ((leader, trigger), step) in led.into_iter().zip(steps) {
            match step {
                LockStep::Go(guard) => own.push((leader, trigger, guard)),
                LockStep::Elsewhere => theirs.push((leader, trigger)),
            }
        }
        let waits = theirs.into_iter().map(|(leader, trigger)| async {
            let delivered = self.fleet_wait(&leader, &trigger).await;
            (leader, trigger, delivered)
        });
        let (unused, waited) = tokio::join!(self.compute_own(own, compute, &opts), join_all(waits));
        let late: Vec<_> = waited
            .into_iter()
            .filter(|(_, _, delivered)| !delivered)
            .map(|(leader, trigger, _)| (leader, trigger, None))
            .collect();
        if late.is_empty() {
            return;
        }
        match unused {
            Some(compute) => {
                self.compute_own(late, compute, &opts).await;
            }
            None => {
                let limit = self.config.lock_wait;
                let settled = late.iter().map(|(leader, trigger, _)| {
                    let outcome = Err(CacheError::ComputeTimeout(limit));
                    self.settle(leader, &opts, trigger, outcome, None)
                });
                join_all(settled).await;
            }
        }
    }

    /// Double-checks `items`, runs `compute` once for those still to compute, stores and
    /// publishes each, releases their locks. Hands `compute` back when it was not called.
    async fn compute_own<V>(
        &self,
        items: Vec<Unlocked<V, C>>,
        compute: BatchCompute<V>,
        opts: &Resolved,
    ) -> Option<BatchCompute<V>>
    where
        V: Serialize + Decoded + Clone + Send + Sync + 'static,
    {
        let checked = join_all(items.into_iter().map(|(leader, trigger, guard)| async {
            let checked = self.check_generation(&leader, &trigger, guard).await;
            (leader, trigger, checked)
        }))
        .await;
        // One stamp for the batch (its keys share their options, so their tags): one read of
        // the tag versions, not one per key — and one creation of a missing version key.
        let stamp = match checked.iter().any(|(_, _, checked)| checked.stores()) {
            true => self.stamp(&opts.tags).await.ok(),
            false => None,
        };
        let mut todo = Vec::new();
        for (leader, trigger, checked) in checked {
            if let Prepared::Compute(ready) = checked.with_stamp(stamp.as_ref()) {
                todo.push((leader, trigger, ready));
            }
        }
        if todo.is_empty() {
            return Some(compute);
        }
        let keys: Vec<String> = todo.iter().map(|(l, _, _)| l.key().to_owned()).collect();
        let count = keys.len();
        Stats::bump(&self.stats.computes);
        let outcome = run_compute(Box::new(move || compute(keys)), opts.hard_timeout).await;
        let outcomes: Vec<Result<(V, std::time::Duration)>> = match outcome {
            Ok((mut values, delta)) => {
                tracing::debug!(
                    keys = count,
                    delta_us = delta.as_micros() as u64,
                    "batch computed"
                );
                self.stats.record_compute(delta);
                todo.iter()
                    .map(|(leader, _, _)| match values.remove(leader.key()) {
                        Some(value) => Ok((value, delta)),
                        None => Err(missing_from_batch(leader.key())),
                    })
                    .collect()
            }
            Err(err) => {
                Stats::bump(&self.stats.compute_errors);
                tracing::warn!(keys = count, error = %err, "batch compute failed");
                todo.iter().map(|_| Err(err.clone())).collect()
            }
        };
        let stamps: Vec<_> = todo
            .iter_mut()
            .map(|(_, _, ready)| ready.stamp.take())
            .collect();
        let settled = todo.iter().zip(outcomes).zip(stamps).map(
            |(((leader, trigger, _), outcome), stamp)| {
                self.settle(leader, opts, trigger, outcome, stamp)
            },
        );
        join_all(settled).await;
        join_all(todo.into_iter().map(|(_, _, ready)| ready.release())).await;
        None
    }
}

/// The distinct keys in first-seen order, and for each requested position its key's index.
fn distinct<K: AsRef<str>>(keys: &[K]) -> (Vec<&str>, Vec<usize>) {
    // foldhash (seeded per process) rather than SipHash: a fifth of the cost per key, and the
    // map lives for one call.
    let mut index: HashMap<&str, usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(keys.len(), foldhash::fast::RandomState::default());
    let mut distinct = Vec::with_capacity(keys.len());
    let positions = keys
        .iter()
        .map(|key| {
            let key = key.as_ref();
            *index.entry(key).or_insert_with(|| {
                distinct.push(key);
                distinct.len() - 1
            })
        })
        .collect();
    (distinct, positions)
}

/// Another handle on the same answer (for a duplicate key): `Lookup<T>` is `Clone` only
/// when `T` is, but its value is shared.
fn share<T>(item: &BatchItem<T>) -> BatchItem<T> {
    let result = match &item.result {
        Ok(lookup) => Ok(Lookup {
            value: lookup.value.clone(),
            source: lookup.source,
            tier: lookup.tier,
            compute_time: lookup.compute_time,
        }),
        Err(err) => Err(err.clone()),
    };
    BatchItem {
        key: item.key.clone(),
        result,
    }
}

fn missing_from_batch(key: &str) -> CacheError {
    tracing::debug!(key, "the batch compute returned no value for this key");
    CacheError::MissingFromBatch {
        key: key.to_owned(),
    }
}

/// Every slot is answered by then; an unanswered one would be a bug, reported as a panic of
/// the compute rather than a panic of the caller.
fn finished<V>(answers: Vec<Option<Result<Answer<V>>>>) -> Vec<Result<Answer<V>>> {
    answers
        .into_iter()
        .map(|answer| answer.unwrap_or(Err(CacheError::ComputePanicked)))
        .collect()
}
