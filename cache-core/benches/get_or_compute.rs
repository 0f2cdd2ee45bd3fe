//! Each path of `get_or_compute` on the memory backend, and single-flight under load.
//!
//! IDs: `get_or_compute/fresh`, `get_or_compute/early_refresh`, `get_or_compute/stale`,
//! `get_or_compute/miss`, `single_flight/waiters/{1,100,10000}`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_core::{EntryOptions, PlainTtl, RefreshAhead, SmartCache, Source};
use cache_memory::MemoryBackend;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::future::join_all;

const HOUR: Duration = Duration::from_secs(3600);

fn runtime() -> tokio::runtime::Runtime {
    // One thread: every waiter of a flight joins before the computation task first runs.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn compute() -> Result<u64, std::io::Error> {
    Ok(7)
}

/// Checks, before measuring, that a call takes the path the benchmark is named after.
fn assert_path(
    rt: &tokio::runtime::Runtime,
    cache: &SmartCache,
    key: &str,
    options: &EntryOptions,
    path: Source,
) {
    let lookup = rt
        .block_on(cache.get_or_compute_detailed(key, options, compute))
        .unwrap();
    assert_eq!(
        lookup.source, path,
        "benchmark setup does not take the {path:?} path"
    );
}

fn paths(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("get_or_compute");

    // Fresh: a long TTL and a policy that never refreshes early.
    let fresh = SmartCache::builder(MemoryBackend::new(10_000))
        .policy(PlainTtl)
        .build();
    let long = EntryOptions::new().ttl(HOUR);
    rt.block_on(fresh.set("k", 1u64, &long)).unwrap();
    assert_path(&rt, &fresh, "k", &long, Source::Hit);
    group.bench_function("fresh", |b| {
        b.to_async(&rt)
            .iter(|| async { fresh.get_or_compute("k", &long, compute).await.unwrap() })
    });

    // Early refresh: refresh-ahead past 0 % of the TTL says "refresh early" on every read; each
    // read serves the value and joins (or starts) the one background refresh of the key.
    let early = SmartCache::builder(MemoryBackend::new(10_000))
        .policy(RefreshAhead {
            fraction: f64::MIN_POSITIVE,
        })
        .build();
    rt.block_on(early.set("k", 1u64, &long)).unwrap();
    assert_path(&rt, &early, "k", &long, Source::EarlyRefresh);
    group.bench_function("early_refresh", |b| {
        b.to_async(&rt)
            .iter(|| async { early.get_or_compute("k", &long, compute).await.unwrap() })
    });

    // Stale: a zero TTL inside an hour of grace is stale on every read, refreshes included.
    let stale = SmartCache::builder(MemoryBackend::new(10_000))
        .policy(PlainTtl)
        .build();
    let zero_ttl = EntryOptions::new()
        .ttl(Duration::ZERO)
        .grace(HOUR)
        .stale_while_revalidate(true);
    rt.block_on(stale.set("k", 1u64, &zero_ttl)).unwrap();
    assert_path(&rt, &stale, "k", &zero_ttl, Source::Stale);
    group.bench_function("stale", |b| {
        b.to_async(&rt)
            .iter(|| async { stale.get_or_compute("k", &zero_ttl, compute).await.unwrap() })
    });

    // Miss: a new key each time (read, flight, compute, store, publish).
    let miss = SmartCache::builder(MemoryBackend::new(10_000))
        .policy(PlainTtl)
        .build();
    assert_path(&rt, &miss, "first-miss", &long, Source::Miss);
    let next = AtomicU64::new(0);
    group.bench_function("miss", |b| {
        b.to_async(&rt).iter(|| async {
            let key = format!("miss:{}", next.fetch_add(1, Ordering::Relaxed));
            miss.get_or_compute(&key, &long, compute).await.unwrap()
        })
    });
    group.finish();
}

fn single_flight(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("single_flight");
    let cache = SmartCache::builder(MemoryBackend::new(100_000))
        .policy(PlainTtl)
        .build();
    let options = EntryOptions::new().ttl(HOUR);
    let next = AtomicU64::new(0);
    // One flight, one computation, whatever the number of callers.
    let before = cache.stats().computes;
    let calls = (0..100).map(|_| cache.get_or_compute("flight:check", &options, compute));
    rt.block_on(join_all(calls));
    assert_eq!(
        cache.stats().computes - before,
        1,
        "100 concurrent callers must share one computation"
    );
    for waiters in [1usize, 100, 10_000] {
        group.throughput(Throughput::Elements(waiters as u64));
        group.bench_with_input(
            BenchmarkId::new("waiters", waiters),
            &waiters,
            |b, &waiters| {
                b.to_async(&rt).iter(|| async {
                    // `waiters` concurrent callers of one missing key: one computes, the rest wait.
                    let key = format!("flight:{}", next.fetch_add(1, Ordering::Relaxed));
                    let calls = (0..waiters).map(|_| cache.get_or_compute(&key, &options, compute));
                    join_all(calls).await
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, paths, single_flight);
criterion_main!(benches);
