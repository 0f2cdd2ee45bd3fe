//! The staleness checker: several [`SmartCache`] instances over one store, some writing and
//! deleting at random, all reading, every read checked against the history of acknowledged
//! writes. A read is *staler than the bound* when it returns a value that a write acknowledged
//! more than the reading instance's [`staleness_bound`](crate::L1Status::staleness_bound)
//! before the read started had already replaced.
//!
//! It runs beside whatever the caller does to the store meanwhile (connections killed, a server
//! frozen or partitioned away): [`StalenessChecker::start`] spawns the workers,
//! [`StalenessChecker::finish`] stops them and returns the [`StalenessReport`].
//!
//! ```
//! # use std::time::Duration;
//! # use cache_core::SmartCache;
//! use cache_core::testing::staleness::{Plan, Role, StalenessChecker};
//! # async fn example(a: SmartCache, b: SmartCache) {
//! let prefix = cache_core::testing::unique_prefix("staleness");
//! let checker = StalenessChecker::start(
//!     vec![(a, Role::Writer), (b, Role::Reader)],
//!     &prefix,
//!     Plan::default(),
//! );
//! // ... break the store meanwhile ...
//! tokio::time::sleep(Duration::from_secs(5)).await;
//! let report = checker.finish().await;
//! assert!(report.violations.is_empty(), "{report:?}");
//! # }
//! ```
//!
//! What is not checked: a read that fails (an absent key reads as an error, since the
//! checker's compute always fails, and absence never comes from the L1), and a
//! [`Source::FailSafe`] answer (the store was down: stale by design; counted, with its worst
//! staleness, in [`StalenessReport::fail_safe`] and [`StalenessReport::fail_safe_worst`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::SmartCache;
use crate::options::{EntryOptions, Source, Tier};

/// What an instance does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Writes (`set`), deletes and reads.
    Writer,
    /// Only reads: it sees the writers' changes through the store and its change feed.
    Reader,
}

/// How the checker drives its instances.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Keys (`{prefix}:0` to `{prefix}:{keys - 1}`).
    pub keys: u64,
    /// Concurrent workers per instance.
    pub workers: u64,
    /// Share of a writer's operations that are `set`s, in percent.
    pub set_percent: u32,
    /// Share of a writer's operations that are deletes, in percent.
    pub delete_percent: u32,
    /// Pause of a worker between two operations: zero runs flat out; more spares the CPU of a
    /// machine that measures something else meanwhile.
    pub pause: Duration,
    /// Seed of the workers' random choices (each worker derives its own).
    pub seed: u64,
}

impl Default for Plan {
    /// 40 keys, 4 workers per instance, 10 % sets and 3 % deletes, flat out.
    fn default() -> Self {
        Plan {
            keys: 40,
            workers: 4,
            set_percent: 10,
            delete_percent: 3,
            pause: Duration::ZERO,
            seed: 0,
        }
    }
}

/// What the checker found.
#[derive(Debug, Clone, Default)]
pub struct StalenessReport {
    /// Checked reads (a value, not fail-safe).
    pub reads: u64,
    /// Of those, served by the L1.
    pub l1_reads: u64,
    /// Writes and deletes sent.
    pub writes: u64,
    /// Of those, not acknowledged (an error: it may or may not have applied).
    pub failed_writes: u64,
    /// Reads that returned an error (absent key, store down): not checked.
    pub read_errors: u64,
    /// Fail-safe answers (the store was down and the compute failed): not checked.
    pub fail_safe: u64,
    /// The stalest fail-safe answer (informative: a fail-safe value is stale by design).
    pub fail_safe_worst: Duration,
    /// Checked reads of a value that some acknowledged write had replaced before the read
    /// started (within the bound or not).
    pub stale_reads: u64,
    /// The stalest checked read.
    pub worst: Duration,
    /// The largest staleness bound of the instances (zero for an instance without an L1).
    pub bound: Duration,
    /// Checked reads beyond their instance's bound, or of a value nobody wrote.
    pub violations: Vec<String>,
}

/// One write (or delete, `value: None`) of a key: recorded before it is sent, acknowledged
/// when it returned.
#[derive(Debug, Clone, Copy)]
struct Write {
    value: Option<u64>,
    started: Instant,
    acked: Option<Instant>,
}

/// How stale a read of `seen` that started at `read_started` is, given the key's history
/// (which begins, at `origin`, with the key absent): `None` when `seen` was never written;
/// zero when it may have been current when the read started; else how long before the read
/// started a write issued after `seen`'s own was acknowledged — the least such time over the
/// writes that could have produced `seen`.
fn staleness(
    history: &[Write],
    seen: Option<u64>,
    read_started: Instant,
    origin: Instant,
) -> Option<Duration> {
    let initial = Write {
        value: None,
        started: origin,
        acked: Some(origin),
    };
    std::iter::once(&initial)
        .chain(history)
        .filter(|w| w.value == seen)
        .map(|w| {
            let Some(acked) = w.acked else {
                return Duration::ZERO; // still in flight, or failed: it may be the current value
            };
            history
                .iter()
                .filter(|later| later.started > acked)
                .filter_map(|later| later.acked.filter(|at| *at < read_started))
                .map(|at| read_started.saturating_duration_since(at))
                .max()
                .unwrap_or(Duration::ZERO)
        })
        .min()
}

/// State shared by the workers.
#[derive(Debug)]
struct Shared {
    prefix: String,
    plan: Plan,
    origin: Instant,
    stop: AtomicBool,
    next_value: AtomicU64,
    history: Mutex<HashMap<u64, Vec<Write>>>,
    report: Mutex<StalenessReport>,
}

/// A poisoned lock (a worker panicked) still holds consistent data: every update is one step.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Records a write before it is sent; returns its index in the key's history.
    fn begin_write(&self, k: u64, value: Option<u64>) -> usize {
        let mut history = lock(&self.history);
        let writes = history.entry(k).or_default();
        writes.push(Write {
            value,
            started: Instant::now(),
            acked: None,
        });
        writes.len() - 1
    }

    /// Marks a write acknowledged; a failed one stays unacknowledged (it may or may not have
    /// applied, so it stays a candidate for any later read).
    fn end_write(&self, k: u64, index: usize, ok: bool) {
        let acked = Instant::now();
        if ok {
            if let Some(w) = lock(&self.history)
                .get_mut(&k)
                .and_then(|h| h.get_mut(index))
            {
                w.acked = Some(acked);
            }
        }
        let mut report = lock(&self.report);
        report.writes += 1;
        report.failed_writes += u64::from(!ok);
    }

    /// How stale a read of `seen` is (see [`staleness`]).
    fn judge(&self, k: u64, seen: Option<u64>, read_started: Instant) -> Option<Duration> {
        let history = lock(&self.history);
        let past = history.get(&k).map(Vec::as_slice).unwrap_or(&[]);
        staleness(past, seen, read_started, self.origin)
    }
}

/// The running checker; [`finish`](Self::finish) stops it. Dropping it without finishing
/// stops the workers too.
#[derive(Debug)]
pub struct StalenessChecker {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl StalenessChecker {
    /// Starts `plan.workers` workers per instance on the keys `{prefix}:{n}`, which nothing
    /// else may write. Must be called within a tokio runtime.
    pub fn start(instances: Vec<(SmartCache, Role)>, prefix: &str, plan: Plan) -> Self {
        let bound = instances
            .iter()
            .map(|(cache, _)| instance_bound(cache))
            .max()
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            prefix: prefix.to_owned(),
            plan,
            origin: Instant::now(),
            stop: AtomicBool::new(false),
            next_value: AtomicU64::new(1),
            history: Mutex::default(),
            report: Mutex::new(StalenessReport {
                bound,
                ..StalenessReport::default()
            }),
        });
        let mut tasks = Vec::new();
        for (i, (cache, role)) in instances.into_iter().enumerate() {
            for worker in 0..shared.plan.workers {
                let seed = shared.plan.seed ^ (((i as u64) << 32) | worker);
                tasks.push(tokio::spawn(run_worker(
                    shared.clone(),
                    cache.clone(),
                    role,
                    seed,
                )));
            }
        }
        StalenessChecker { shared, tasks }
    }

    /// Stops the workers, waits for their last operations, and returns what they found.
    pub async fn finish(mut self) -> StalenessReport {
        self.shared.stop.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(e) = task.await {
                lock(&self.shared.report)
                    .violations
                    .push(format!("a checker worker failed: {e}"));
            }
        }
        std::mem::take(&mut *lock(&self.shared.report))
    }
}

impl Drop for StalenessChecker {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The most an L1 hit of `cache` may lag the store; zero without an L1 (every read goes to
/// the store).
fn instance_bound(cache: &SmartCache) -> Duration {
    cache
        .l1_status()
        .map(|status| status.staleness_bound)
        .unwrap_or_default()
}

async fn run_worker(shared: Arc<Shared>, cache: SmartCache, role: Role, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let bound = instance_bound(&cache);
    let plan = &shared.plan;
    let writes = match role {
        Role::Writer => plan.set_percent + plan.delete_percent,
        Role::Reader => 0,
    };
    while !shared.stop.load(Ordering::Relaxed) {
        let k = rng.random_range(0..plan.keys.max(1));
        let key = format!("{}:{k}", shared.prefix);
        let roll = rng.random_range(0..100);
        if roll < writes {
            let value = (roll < plan.set_percent)
                .then(|| shared.next_value.fetch_add(1, Ordering::Relaxed));
            write(&shared, &cache, k, &key, value).await;
        } else {
            read(&shared, &cache, k, &key, bound).await;
        }
        if plan.pause.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(plan.pause).await;
        }
    }
}

/// Sets `key` to `value`, or deletes it (`None`), recording the write around the call.
async fn write(shared: &Shared, cache: &SmartCache, k: u64, key: &str, value: Option<u64>) {
    let index = shared.begin_write(k, value);
    let ok = match value {
        Some(v) => cache.set(key, v, &EntryOptions::new()).await.is_ok(),
        None => cache.delete(key).await.is_ok(),
    };
    shared.end_write(k, index, ok);
}

/// Reads `key` through the read path, so that every answer says where it came from, with a
/// compute that fails (see the module's "not checked"), and judges the answer.
async fn read(shared: &Shared, cache: &SmartCache, k: u64, key: &str, bound: Duration) {
    let started = Instant::now();
    let answer = cache
        .get_or_compute_detailed(key, &EntryOptions::new(), || async {
            Err::<u64, _>(std::io::Error::other("absent"))
        })
        .await;
    let lookup = match answer {
        Ok(lookup) => lookup,
        Err(_) => {
            lock(&shared.report).read_errors += 1;
            return;
        }
    };
    let seen = Some(*lookup.value);
    let verdict = shared.judge(k, seen, started);
    let mut report = lock(&shared.report);
    if lookup.source == Source::FailSafe {
        report.fail_safe += 1;
        report.fail_safe_worst = report.fail_safe_worst.max(verdict.unwrap_or_default());
        return;
    }
    let from_l1 = lookup.tier == Some(Tier::L1);
    report.reads += 1;
    report.l1_reads += u64::from(from_l1);
    match verdict {
        None => report
            .violations
            .push(format!("{key}: read {seen:?}, never written")),
        Some(stale) => {
            report.stale_reads += u64::from(!stale.is_zero());
            report.worst = report.worst.max(stale);
            if stale > bound {
                report.violations.push(format!(
                    "{key}: read {seen:?} (L1: {from_l1}) replaced {stale:?} before the read \
                     (bound {bound:?})"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(value: Option<u64>, started: Instant, acked: Option<Instant>) -> Write {
        Write {
            value,
            started,
            acked,
        }
    }

    #[test]
    fn staleness_counts_from_the_replacing_writes_acknowledgement() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 1 written 10..20 ms, replaced by 2 written 30..40 ms, then deleted 50..60 ms.
        let history = [
            write(Some(1), at(10), Some(at(20))),
            write(Some(2), at(30), Some(at(40))),
            write(None, at(50), Some(at(60))),
        ];
        let ms = Duration::from_millis;
        // 1 read at 100 ms: 2 (acked at 40) replaced it 60 ms before.
        assert_eq!(staleness(&history, Some(1), at(100), t0), Some(ms(60)));
        // 2 read at 45 ms was current; at 100 ms, the delete replaced it 40 ms before.
        assert_eq!(staleness(&history, Some(2), at(45), t0), Some(ms(0)));
        assert_eq!(staleness(&history, Some(2), at(100), t0), Some(ms(40)));
        // Absent: current after the delete, and at the origin.
        assert_eq!(staleness(&history, None, at(100), t0), Some(ms(0)));
        // A value nobody wrote.
        assert_eq!(staleness(&history, Some(9), at(100), t0), None);
    }

    #[test]
    fn overlapping_and_unacknowledged_writes_may_be_current() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 1 and 2 overlap (either may have applied last); 3 never acknowledged.
        let history = [
            write(Some(1), at(10), Some(at(30))),
            write(Some(2), at(20), Some(at(25))),
            write(Some(3), at(40), None),
        ];
        assert_eq!(
            staleness(&history, Some(1), at(35), t0),
            Some(Duration::ZERO)
        );
        assert_eq!(
            staleness(&history, Some(2), at(35), t0),
            Some(Duration::ZERO)
        );
        assert_eq!(
            staleness(&history, Some(3), at(500), t0),
            Some(Duration::ZERO)
        );
    }
}
