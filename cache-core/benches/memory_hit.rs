//! A memory hit as users run it, against raw moka in the same run (paired rounds, see
//! `support/paired.rs`): a 621-byte JSON value held as `Arc<Prediction>` in every subject, 1,024
//! hot keys, one task (p50 latency) and 64 tasks (throughput) on a two-worker runtime.
//!
//! Subjects: raw `moka::sync::Cache` and `moka::future::Cache` (`get`), `MemoryBackend::get`
//! alone, and smartcache over the default `MemoryBackend` through `get_or_compute` and `get`.
//!
//! `cargo bench -p cache-core --bench memory_hit [-- --quick]` (`-- --profile "<subject>" [reads]`:
//! only reads (200,000) with one subject, for a profiler); `cargo xtask bench` prints the
//! summary table.

#[path = "support/paired.rs"]
mod paired;
#[path = "support/prediction.rs"]
mod prediction;

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cache_core::{CacheBackend, EntryOptions, SmartCache, Source};
use cache_memory::MemoryBackend;
use paired::{Plan, Row, Subject};
use prediction::Prediction;

const KEYS: usize = 1_024;
const CAPACITY: u64 = 10_000;

struct Setup {
    keys: Vec<String>,
    moka_sync: moka::sync::Cache<String, Arc<Prediction>>,
    moka_future: moka::future::Cache<String, Arc<Prediction>>,
    backend: MemoryBackend,
    cache: SmartCache,
    options: EntryOptions,
}

#[derive(Clone, Copy)]
enum Read {
    MokaSync,
    MokaFuture,
    Backend,
    GetOrCompute,
    Get,
}

impl Subject for Read {
    type Setup = Setup;

    fn name(self) -> &'static str {
        match self {
            Read::MokaSync => "raw moka sync",
            Read::MokaFuture => "raw moka future",
            Read::Backend => "MemoryBackend::get",
            Read::GetOrCompute => "smartcache get_or_compute",
            Read::Get => "smartcache get",
        }
    }

    async fn read(self, s: &Setup, i: usize) {
        let key = s.keys[i % s.keys.len()].as_str();
        match self {
            Read::MokaSync => {
                black_box(s.moka_sync.get(key).expect("a moka hit"));
            }
            Read::MokaFuture => {
                black_box(s.moka_future.get(key).await.expect("a moka hit"));
            }
            Read::Backend => {
                let entry = s.backend.get(key).await.ok().flatten();
                black_box(entry.expect("a backend hit"));
            }
            Read::GetOrCompute => {
                let value: Arc<Prediction> = s
                    .cache
                    .get_or_compute(key, &s.options, || async {
                        Ok::<_, Infallible>(prediction::sample())
                    })
                    .await
                    .expect("a smartcache hit");
                black_box(value);
            }
            Read::Get => {
                let cached = s.cache.get::<Prediction>(key).await;
                let value: Arc<Prediction> = cached.ok().flatten().expect("a smartcache hit").value;
                black_box(value);
            }
        }
    }
}

async fn setup() -> Setup {
    let value = Arc::new(prediction::sample());
    let keys = prediction::keys("bench:prediction", KEYS);
    let moka_sync = moka::sync::Cache::new(CAPACITY);
    let moka_future = moka::future::Cache::new(CAPACITY);
    // The default backend and policy (X-Fetch, β = 1), as a user builds them.
    let backend = MemoryBackend::builder().max_entries(CAPACITY).build();
    let cache = SmartCache::new(backend.clone());
    let options = EntryOptions::new().ttl(Duration::from_secs(3600));
    let writes = keys.iter().map(|key| {
        moka_sync.insert(key.clone(), Arc::clone(&value));
        let value = Arc::clone(&value);
        let (moka_future, cache, options) = (&moka_future, &cache, &options);
        async move {
            moka_future.insert(key.clone(), Arc::clone(&value)).await;
            // Written by a compute that took a millisecond (Δ > 0), as in production.
            let lookup = cache
                .get_or_compute_detailed(key, options, move || async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    Ok::<_, Infallible>(Prediction::clone(&value))
                })
                .await
                .expect("the first read computes");
            assert_eq!(lookup.source, Source::Miss);
        }
    });
    futures_util::future::join_all(writes).await;
    Setup {
        keys,
        moka_sync,
        moka_future,
        backend,
        cache,
        options,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let setup = Arc::new(runtime.block_on(setup()));
    let subjects = [
        Read::MokaSync,
        Read::MokaFuture,
        Read::Backend,
        Read::GetOrCompute,
        Read::Get,
    ];
    if let Some((subject, reads)) = paired::profile_requested(&subjects, 200_000) {
        paired::profile(&runtime, &*setup, subject, reads);
        return;
    }
    let plan = Plan {
        rounds: 30,
        batch: 16,
        batches: 400,
        tasks: 64,
        reads_per_task: 1_000,
    }
    .or_quick();
    let before = setup.cache.stats();
    let measured = paired::run(&runtime, &setup, &subjects, plan);
    let after = setup.cache.stats();
    assert_eq!(
        after.misses, before.misses,
        "every smartcache read must hit"
    );
    paired::report(
        "memory hit",
        &measured,
        &[
            Row {
                id: "memory.get_or_compute",
                path: "memory hit, get_or_compute",
                subject: "smartcache get_or_compute",
                floor: "raw moka sync",
            },
            Row {
                id: "memory.get_or_compute.future",
                path: "memory hit, get_or_compute",
                subject: "smartcache get_or_compute",
                floor: "raw moka future",
            },
            Row {
                id: "memory.get",
                path: "memory hit, SmartCache::get",
                subject: "smartcache get",
                floor: "raw moka sync",
            },
            Row {
                id: "memory.backend",
                path: "MemoryBackend::get alone",
                subject: "MemoryBackend::get",
                floor: "raw moka sync",
            },
        ],
    );
}
