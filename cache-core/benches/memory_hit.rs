//! A hit in the in-process tier against raw moka: what smartcache's layers cost on the hottest
//! path. IDs: `memory_hit/raw_moka`, `memory_hit/memory_backend`, `memory_hit/smartcache_get`
//! (`SmartCache::get`), `memory_hit/smartcache` (a fresh hit through `get_or_compute`),
//! `memory_hit/smartcache_get_lazy_expiry` (`get` on a backend built with `reclaim_expired(false)`).

use std::sync::Arc;
use std::time::Duration;

use cache_core::{CacheBackend, EntryOptions, SmartCache};
use cache_memory::MemoryBackend;
use criterion::{Criterion, criterion_group, criterion_main};

const KEY: &str = "bench:hit";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn memory_hit(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("memory_hit");

    let moka: moka::future::Cache<String, Arc<u64>> = moka::future::Cache::new(10_000);
    rt.block_on(moka.insert(KEY.to_string(), Arc::new(42)));
    group.bench_function("raw_moka", |b| {
        b.to_async(&rt)
            .iter(|| async { moka.get(KEY).await.unwrap() })
    });

    let backend = MemoryBackend::new(10_000);
    // The default policy (X-Fetch, β = 1) and an entry written by `get_or_compute` (Δ > 0), as
    // in production.
    let cache = SmartCache::builder(backend.clone()).build();
    let options = EntryOptions::new().ttl(Duration::from_secs(3600));
    rt.block_on(cache.get_or_compute(KEY, &options, || async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok::<u64, std::io::Error>(42)
    }))
    .unwrap();
    group.bench_function("memory_backend", |b| {
        b.to_async(&rt)
            .iter(|| async { backend.get(KEY).await.unwrap().unwrap() })
    });
    group.bench_function("smartcache_get", |b| {
        b.to_async(&rt)
            .iter(|| async { cache.get::<u64>(KEY).await.unwrap().unwrap() })
    });
    group.bench_function("smartcache", |b| {
        b.to_async(&rt).iter(|| async {
            cache
                .get_or_compute(KEY, &options, || async { Ok::<u64, std::io::Error>(0) })
                .await
                .unwrap()
        })
    });
    // Without moka's per-entry expiry bookkeeping: expired entries are hidden by the deadline
    // check and freed by the bound's eviction instead of at their deadline.
    let lazy = SmartCache::builder(MemoryBackend::builder().reclaim_expired(false).build()).build();
    rt.block_on(lazy.set(KEY, 42u64, &options)).unwrap();
    group.bench_function("smartcache_get_lazy_expiry", |b| {
        b.to_async(&rt)
            .iter(|| async { lazy.get::<u64>(KEY).await.unwrap().unwrap() })
    });
    group.finish();
}

criterion_group!(benches, memory_hit);
criterion_main!(benches);
