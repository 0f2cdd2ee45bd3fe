//! A cache hit through `SmartCache` on Redis against a raw fred `GET` of the same key, in one
//! run against a harness server: single-task latency, and throughput with 64 concurrent tasks.
//!
//! Also measured, to document the design choice (see the crate docs): `RedisBackend::get`
//! alone, and the rejected alternative — one `EVALSHA` returning `{GET, PTTL}`.
//!
//! `cargo bench -p cache-redis` (needs `redis-server` on PATH).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::{CacheBackend, EntryOptions, SmartCache};
use cache_redis::RedisBackend;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fred::bytes::Bytes;
use fred::prelude::*;
use fred::types::scripts::Script;
use redis_harness::RedisServer;

const KEY: &str = "bench:hit";
const TASKS: u64 = 64;
const GET_PTTL: &str = "return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}";

struct Setup {
    _server: RedisServer,
    backend: RedisBackend,
    cache: SmartCache,
    opts: EntryOptions,
    script: Script,
}

#[derive(Clone, Copy)]
enum Read {
    RawGet,
    BackendGet,
    SmartCacheHit,
    EvalshaGetPttl,
}

impl Read {
    const ALL: [(Read, &'static str); 4] = [
        (Read::RawGet, "raw_fred_get"),
        (Read::SmartCacheHit, "smartcache_hit"),
        (Read::BackendGet, "redis_backend_get"),
        (Read::EvalshaGetPttl, "evalsha_get_pttl"),
    ];

    async fn once(self, s: &Setup) {
        match self {
            Read::RawGet => {
                let v: Option<Bytes> = s.backend.fred_pool().next().get(KEY).await.unwrap();
                assert!(v.is_some());
            }
            Read::BackendGet => {
                assert!(s.backend.get(KEY).await.unwrap().is_some());
            }
            Read::SmartCacheHit => {
                let v: std::sync::Arc<String> = s
                    .cache
                    .get_or_compute(KEY, &s.opts, || async {
                        Ok::<_, std::io::Error>(String::from("miss"))
                    })
                    .await
                    .unwrap();
                assert_ne!(v.as_str(), "miss");
            }
            Read::EvalshaGetPttl => {
                let (v, _pttl): (Option<Bytes>, i64) = s
                    .script
                    .evalsha_with_reload(
                        s.backend.fred_pool().next(),
                        vec![KEY],
                        Vec::<String>::new(),
                    )
                    .await
                    .unwrap();
                assert!(v.is_some());
            }
        }
    }
}

/// Starts a server, connects, and writes the key every read hits.
async fn setup() -> Arc<Setup> {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let backend = RedisBackend::from_url(&server.url()).await.unwrap();
    let cache = SmartCache::builder(backend.clone()).build();
    let opts = EntryOptions::new().ttl(Duration::from_secs(3600));
    // A typical small value (~200 bytes of JSON once enveloped).
    let value = "x".repeat(120);
    cache.set(KEY, value, &opts).await.unwrap();
    let script = Script::from_lua(GET_PTTL);
    script.load(backend.fred_pool().next()).await.unwrap();
    Arc::new(Setup {
        _server: server,
        backend,
        cache,
        opts,
        script,
    })
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let setup = runtime.block_on(setup());

    let mut latency = c.benchmark_group("hit_latency_single_task");
    latency
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (read, name) in Read::ALL {
        latency.bench_function(name, |b| b.to_async(&runtime).iter(|| read.once(&setup)));
    }
    latency.finish();

    let mut throughput = c.benchmark_group("hit_throughput_64_tasks");
    throughput
        .sample_size(15)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    for (read, name) in Read::ALL {
        throughput.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let per_task = iters.div_ceil(TASKS);
                runtime.block_on(async {
                    let started = Instant::now();
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|_| {
                            let setup = setup.clone();
                            tokio::spawn(async move {
                                for _ in 0..per_task {
                                    read.once(&setup).await;
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                    // Scale to `iters` operations (the tasks ran `per_task * TASKS` ≥ iters).
                    started
                        .elapsed()
                        .mul_f64(iters as f64 / (per_task * TASKS) as f64)
                })
            })
        });
    }
    throughput.finish();
}

/// Load on a shared machine drifts between criterion's groups, which run one after the other.
/// This pairs the reads instead: each round measures every kind back to back (order rotated),
/// and the ratio to the raw `GET` of the same round is kept; the median over rounds is printed.
fn paired_ratios(_: &mut Criterion) {
    const ROUNDS: usize = 15;
    const OPS_PER_TASK: u64 = 200;
    const SEQUENTIAL_OPS: u64 = 1_000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let setup = runtime.block_on(setup());
    let kinds = Read::ALL;
    let mut latency: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    let mut throughput: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for round in 0..ROUNDS {
        for offset in 0..kinds.len() {
            let i = (round + offset) % kinds.len();
            let read = kinds[i].0;
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..SEQUENTIAL_OPS {
                    read.once(&setup).await;
                }
                latency[i].push(started.elapsed().as_secs_f64() * 1e6 / SEQUENTIAL_OPS as f64);
                let started = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let setup = setup.clone();
                        tokio::spawn(async move {
                            for _ in 0..OPS_PER_TASK {
                                read.once(&setup).await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                throughput[i].push((TASKS * OPS_PER_TASK) as f64 / started.elapsed().as_secs_f64());
            });
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "\npaired rounds ({ROUNDS}), median per kind and median ratio to raw_fred_get of the same round:"
    );
    for (i, (_, name)) in kinds.iter().enumerate() {
        let lat_ratio = median(
            latency[i]
                .iter()
                .zip(&latency[0])
                .map(|(x, raw)| x / raw)
                .collect(),
        );
        let thr_ratio = median(
            throughput[i]
                .iter()
                .zip(&throughput[0])
                .map(|(x, raw)| x / raw)
                .collect(),
        );
        println!(
            "  {name:<20} latency {:>7.1} µs ({lat_ratio:.2}x)   64-task throughput {:>8.0} ops/s ({thr_ratio:.2}x)",
            median(latency[i].clone()),
            median(throughput[i].clone()),
        );
    }
}

criterion_group!(benches, bench, paired_ratios);
criterion_main!(benches);
