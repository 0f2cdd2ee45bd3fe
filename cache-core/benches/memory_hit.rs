//! A memory hit as users run it, against raw moka in the same run (paired rounds, see
//! `support/paired.rs`): a 621-byte JSON value held as `Arc<Prediction>` in every subject, 1,024
//! hot keys, one task (p50 latency) and 64 tasks (throughput) on a two-worker runtime.
//!
//! Subjects: raw `moka::sync::Cache` and `moka::future::Cache` (`get`), `MemoryBackend::get`
//! alone, smartcache over the default `MemoryBackend` through `get_or_compute` and `get`, and an
//! L1 hit: smartcache with a `MemoryBackend` L1 in front of a network store (the fake, with its
//! change feed alive), through `get_or_compute`.
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
    tiered: SmartCache,
    options: EntryOptions,
}

#[derive(Clone, Copy)]
enum Read {
    MokaSync,
    MokaFuture,
    Backend,
    GetOrCompute,
    Get,
    L1,
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
            Read::L1 => "smartcache L1 get_or_compute",
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
            Read::L1 => {
                let value: Arc<Prediction> = s
                    .tiered
                    .get_or_compute(key, &s.options, || async {
                        Ok::<_, Infallible>(prediction::sample())
                    })
                    .await
                    .expect("an L1 hit");
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
    // Two tiers: the L2 a fake network store (encoded values, change feed), the L1 in process.
    let l2 = cache_fake::FakeBackend::builder()
        .encode_values(true)
        .build();
    // A long heartbeat: under valgrind the feed's task runs late, and a closed L1 would profile
    // L2 reads. The hit path's cost does not depend on the interval.
    let tiered = SmartCache::builder(l2)
        .l1(MemoryBackend::builder().max_entries(CAPACITY).build())
        .l1_heartbeat(Duration::from_secs(5))
        .build();
    let writes = keys.iter().map(|key| {
        moka_sync.insert(key.clone(), Arc::clone(&value));
        let value = Arc::clone(&value);
        let (moka_future, cache, options, tiered) = (&moka_future, &cache, &options, &tiered);
        async move {
            moka_future.insert(key.clone(), Arc::clone(&value)).await;
            let stored = Arc::clone(&value);
            tiered
                .get_or_compute(key, options, move || async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    Ok::<_, Infallible>(Prediction::clone(&stored))
                })
                .await
                .expect("the first read computes");
            // The second read fills the L1 from the L2.
            let filled = tiered
                .get_or_compute_detailed(key, options, || async {
                    Ok::<_, Infallible>(prediction::sample())
                })
                .await
                .expect("an L2 hit");
            assert_eq!(filled.tier, Some(cache_core::Tier::L2));
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
    // A fill loses to a concurrent write of another key of its stripe: read again until every
    // key is in the L1.
    for key in &keys {
        for _ in 0..3 {
            let lookup = tiered
                .get_or_compute_detailed(key, &options, || async {
                    Ok::<_, Infallible>(prediction::sample())
                })
                .await
                .expect("a hit");
            if lookup.tier == Some(cache_core::Tier::L1) {
                break;
            }
        }
    }
    Setup {
        keys,
        moka_sync,
        moka_future,
        backend,
        cache,
        tiered,
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
        Read::L1,
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
    let (before, l1_before) = (setup.cache.stats(), setup.tiered.stats());
    let measured = paired::run(&runtime, &setup, &subjects, plan);
    let (after, l1_after) = (setup.cache.stats(), setup.tiered.stats());
    assert_eq!(
        after.misses, before.misses,
        "every smartcache read must hit"
    );
    assert_eq!(
        l1_after.l1_hits - l1_before.l1_hits,
        l1_after.hits - l1_before.hits,
        "every two-tier read must be an L1 hit"
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
                id: "l1.get_or_compute",
                path: "L1 hit, get_or_compute",
                subject: "smartcache L1 get_or_compute",
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
