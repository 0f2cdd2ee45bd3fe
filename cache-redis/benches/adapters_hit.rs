//! A cache hit through each Redis adapter, in one run against one harness server: single-task
//! latency and 64-task throughput of `SmartCache` on fred and on redis-rs, next to a raw `GET`
//! of the same client. Both caches read the same key (written once, by the fred adapter).
//!
//! Load on a shared machine drifts, so the kinds are measured in paired rounds (every kind
//! back to back, order rotated) and the medians over rounds are printed.
//!
//! `cargo bench -p cache-redis --features redis-rs --bench adapters_hit`

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::{EntryOptions, SmartCache};
use cache_redis::{RedisBackend, RedisRsBackend};
use criterion::{Criterion, criterion_group, criterion_main};
use fred::bytes::Bytes;
use fred::prelude::*;
use redis::aio::ConnectionManager;
use redis_harness::RedisServer;

const KEY: &str = "bench:adapters:hit";
const TASKS: u64 = 64;
const ROUNDS: usize = 15;
const OPS_PER_TASK: u64 = 200;
const SEQUENTIAL_OPS: u64 = 1_000;

struct Setup {
    _server: RedisServer,
    fred: RedisBackend,
    fred_cache: SmartCache,
    manager: ConnectionManager,
    redis_rs_cache: SmartCache,
    opts: EntryOptions,
}

#[derive(Clone, Copy)]
enum Read {
    RawFredGet,
    FredHit,
    RawRedisRsGet,
    RedisRsHit,
}

impl Read {
    const ALL: [(Read, &'static str); 4] = [
        (Read::RawFredGet, "raw fred GET"),
        (Read::FredHit, "SmartCache hit, fred"),
        (Read::RawRedisRsGet, "raw redis-rs GET"),
        (Read::RedisRsHit, "SmartCache hit, redis-rs"),
    ];

    async fn once(self, s: &Setup) {
        match self {
            Read::RawFredGet => {
                let v: Option<Bytes> = s.fred.fred_pool().next().get(KEY).await.unwrap();
                assert!(v.is_some());
            }
            Read::RawRedisRsGet => {
                let v: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(KEY)
                    .query_async(&mut s.manager.clone())
                    .await
                    .unwrap();
                assert!(v.is_some());
            }
            Read::FredHit | Read::RedisRsHit => {
                let cache = match self {
                    Read::FredHit => &s.fred_cache,
                    _ => &s.redis_rs_cache,
                };
                let v: cache_core::Value<String> = cache
                    .get_or_compute(KEY, &s.opts, || async {
                        Ok::<_, std::io::Error>(String::from("miss"))
                    })
                    .await
                    .unwrap();
                assert_ne!(*v, "miss");
            }
        }
    }
}

async fn setup() -> Arc<Setup> {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let fred = RedisBackend::from_url(&server.url()).await.unwrap();
    let fred_cache = SmartCache::builder(fred.clone()).build();
    let manager = redis::Client::open(server.url())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let redis_rs = RedisRsBackend::new(manager.clone());
    redis_rs.sync_clock().await.unwrap();
    let redis_rs_cache = SmartCache::builder(redis_rs).build();
    let opts = EntryOptions::new().ttl(Duration::from_secs(3600));
    // A typical small value (~200 bytes of JSON once enveloped).
    fred_cache.set(KEY, "x".repeat(120), &opts).await.unwrap();
    Arc::new(Setup {
        _server: server,
        fred,
        fred_cache,
        manager,
        redis_rs_cache,
        opts,
    })
}

fn paired_rounds(_: &mut Criterion) {
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
    // Each hit is compared with the raw GET of its own client, in the same round.
    let baseline = [0, 0, 2, 2];
    println!(
        "\n{ROUNDS} paired rounds; medians, and the median ratio to the same client's raw GET:"
    );
    for (i, (_, name)) in kinds.iter().enumerate() {
        let base = baseline[i];
        let ratio = |series: &[Vec<f64>]| {
            median(
                series[i]
                    .iter()
                    .zip(&series[base])
                    .map(|(x, raw)| x / raw)
                    .collect(),
            )
        };
        println!(
            "  {name:<26} latency {:>6.1} µs ({:.2}x)   {TASKS}-task throughput {:>7.0} ops/s ({:.2}x)",
            median(latency[i].clone()),
            ratio(&latency),
            median(throughput[i].clone()),
            ratio(&throughput),
        );
    }
}

criterion_group!(benches, paired_rounds);
criterion_main!(benches);
