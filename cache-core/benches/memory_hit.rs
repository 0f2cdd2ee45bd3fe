//! A memory hit as users run it, against raw moka in the same run (paired rounds, see
//! `support/paired.rs`): a 621-byte JSON value held as `Arc<Prediction>` in every subject, 1,024
//! hot keys, one task (p50 latency) and 64 tasks (throughput) on a two-worker runtime.
//!
//! Subjects: raw `moka::sync::Cache` and `moka::future::Cache` (`get`),
//! `MemoryBackend::get_now` alone (the store read a hit makes, without the cache), smartcache
//! over the default `MemoryBackend` through `get_or_compute` and `get`, and an L1 hit:
//! smartcache with a `MemoryBackend` L1 in front of a network store (the fake, with its change
//! feed alive), through `get_or_compute`.
//!
//! `cargo bench -p cache-core --bench memory_hit [-- --quick]` (`-- --profile "<subject>" [reads]
//! [--tasks <n>]`: only reads (200,000) with one subject, from one task or spread over `n`, for a
//! profiler); `cargo xtask bench` prints the summary table.

#[path = "support/hit.rs"]
mod hit;
#[path = "support/paired.rs"]
mod paired;
#[path = "support/prediction.rs"]
mod prediction;

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cache_core::{CacheBackend, EntryOptions, Moment, SmartCache};
use cache_memory::MemoryBackend;
use hit::HitBench;
use paired::{Plan, Row, Subject};
use prediction::Prediction;

const KEYS: usize = 1_024;
const CAPACITY: u64 = 10_000;

struct Setup {
    keys: Vec<String>,
    moka_sync: moka::sync::Cache<String, Arc<Prediction>>,
    moka_segmented: moka::sync::SegmentedCache<String, Arc<Prediction>>,
    moka_future: moka::future::Cache<String, Arc<Prediction>>,
    backend: MemoryBackend,
    cache: SmartCache,
    tiered: SmartCache,
    options: EntryOptions,
}

#[derive(Clone, Copy)]
enum Read {
    MokaSync,
    MokaSegmented,
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
            Read::MokaSegmented => "raw moka sync, segmented",
            Read::MokaFuture => "raw moka future",
            Read::Backend => "MemoryBackend::get_now",
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
            Read::MokaSegmented => {
                black_box(s.moka_segmented.get(key).expect("a moka hit"));
            }
            Read::MokaFuture => {
                black_box(s.moka_future.get(key).await.expect("a moka hit"));
            }
            Read::Backend => {
                // One precise read of the OS clock, as the hit path read it before its bound.
                let entry = s
                    .backend
                    .get_now(key, Moment::at(std::time::Instant::now()));
                black_box(entry.and_then(Result::ok).flatten().expect("a backend hit"));
            }
            Read::GetOrCompute => hit::get_or_compute(&s.cache, key, &s.options).await,
            Read::Get => hit::get(&s.cache, key).await,
            Read::L1 => hit::get_or_compute(&s.tiered, key, &s.options).await,
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
    // Raw moka split as the backend splits its store: what the cache's own path costs over it.
    let moka_segmented = moka::sync::SegmentedCache::new(CAPACITY, backend.segments());
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
        // Each key its own value, as in every other subject (and in a user's cache).
        let value = Arc::new(Prediction::clone(&value));
        let (moka_sync, moka_future, moka_segmented) = (&moka_sync, &moka_future, &moka_segmented);
        let (cache, options, tiered) = (&cache, &options, &tiered);
        async move {
            moka_future
                .insert(key.clone(), Arc::new(Prediction::clone(&value)))
                .await;
            hit::warm(tiered, key, options, Prediction::clone(&value)).await;
            // The second read fills the L1 from the L2.
            let filled = tiered
                .get_or_compute_detailed(key, options, || async {
                    Ok::<_, Infallible>(prediction::sample())
                })
                .await
                .expect("an L2 hit");
            assert_eq!(filled.tier, Some(cache_core::Tier::L2));
            hit::warm(cache, key, options, Prediction::clone(&value)).await;
            moka_segmented.insert(key.clone(), Arc::new(Prediction::clone(&value)));
            moka_sync.insert(key.clone(), value);
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
        moka_segmented,
        moka_future,
        backend,
        cache,
        tiered,
        options,
    }
}

fn main() {
    HitBench {
        title: "memory hit",
        subjects: &[
            Read::MokaSync,
            Read::MokaSegmented,
            Read::MokaFuture,
            Read::Backend,
            Read::GetOrCompute,
            Read::Get,
            Read::L1,
        ],
        profile_reads: 200_000,
        plan: Plan {
            rounds: 30,
            batch: 16,
            batches: 400,
            tasks: 64,
            reads_per_task: 1_000,
        },
        rows: &[
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
                id: "memory.get_or_compute.segmented",
                path: "memory hit, get_or_compute",
                subject: "smartcache get_or_compute",
                floor: "raw moka sync, segmented",
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
                path: "MemoryBackend::get_now alone",
                subject: "MemoryBackend::get_now",
                floor: "raw moka sync",
            },
        ],
    }
    .run(
        setup(),
        |s| (s.cache.stats(), s.tiered.stats()),
        |(before, l1_before), (after, l1_after)| {
            hit::every_read_hit(&before, &after);
            assert_eq!(
                l1_after.l1_hits - l1_before.l1_hits,
                l1_after.hits - l1_before.hits,
                "every two-tier read must be an L1 hit"
            );
        },
    );
}
