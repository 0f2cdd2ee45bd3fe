//! What the hit benchmarks (`memory_hit`, `redis_hit`) share: smartcache's two read paths over
//! the cached [`Prediction`], the warm-up write, and the run itself (runtime, `--profile` mode,
//! paired rounds, the every-read-hits check, the report). Needs the `paired` and `prediction`
//! support modules beside it.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cache_core::{EntryOptions, SmartCache, Source, StatsSnapshot, Value};
use tokio::runtime::Runtime;

use crate::paired::{self, Plan, Row, Subject};
use crate::prediction::{self, Prediction};

/// One read through `get_or_compute`; panics unless it hits.
pub async fn get_or_compute(cache: &SmartCache, key: &str, options: &EntryOptions) {
    let value: Value<Prediction> = cache
        .get_or_compute(key, options, || async {
            Ok::<_, Infallible>(prediction::sample())
        })
        .await
        .expect("a smartcache hit");
    black_box(value);
}

/// One `SmartCache::get`; panics unless it hits.
pub async fn get(cache: &SmartCache, key: &str) {
    let cached = cache.get::<Prediction>(key).await;
    let value: Value<Prediction> = cached.ok().flatten().expect("a smartcache hit").value;
    black_box(value);
}

/// Writes `key` through `cache` as a compute that took a millisecond (Δ > 0), as in
/// production; panics unless that read was a miss.
pub async fn warm(cache: &SmartCache, key: &str, options: &EntryOptions, value: Prediction) {
    let lookup = cache
        .get_or_compute_detailed(key, options, move || async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<_, Infallible>(value)
        })
        .await
        .expect("the first read computes");
    assert_eq!(lookup.source, Source::Miss);
}

/// One hit benchmark: what it reads and how much, and what it reports.
pub struct HitBench<'a, S> {
    /// The report's title.
    pub title: &'a str,
    pub subjects: &'a [S],
    /// Reads of `--profile <subject>` when no count follows.
    pub profile_reads: usize,
    pub plan: Plan,
    pub rows: &'a [Row],
}

impl<S: Subject> HitBench<'_, S> {
    /// Builds the setup on a two-worker runtime, then either profiles one subject (see
    /// [`paired::profile_requested`]) or measures the plan (`--quick` shortens it), checks the
    /// run with `verify(snapshot before, snapshot after)` and prints the report. Returns the
    /// runtime and the setup, for the caller to close what it opened.
    pub fn run<T>(
        &self,
        setup: impl Future<Output = S::Setup>,
        snapshot: impl Fn(&S::Setup) -> T,
        verify: impl FnOnce(T, T),
    ) -> (Runtime, Arc<S::Setup>) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        let setup = Arc::new(runtime.block_on(setup));
        if let Some((subject, reads)) = paired::profile_requested(self.subjects, self.profile_reads)
        {
            paired::profile(&runtime, &setup, subject, reads);
            return (runtime, setup);
        }
        let before = snapshot(&setup);
        let measured = paired::run(&runtime, &setup, self.subjects, self.plan.or_quick());
        verify(before, snapshot(&setup));
        paired::report(self.title, &measured, self.rows);
        (runtime, setup)
    }
}

/// Panics unless every smartcache read between the two snapshots hit.
pub fn every_read_hit(before: &StatsSnapshot, after: &StatsSnapshot) {
    assert_eq!(
        after.misses, before.misses,
        "every smartcache read must hit"
    );
}
