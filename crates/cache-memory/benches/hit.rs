//! A hit on the memory backend against a raw `moka::future::Cache::get` of the same value.
//!
//! `cargo bench -p cache-memory --bench hit`
//!
//! Reference points: a raw moka cache, and a raw moka cache with a per-entry `Expiry` (what the
//! backend pays for `reclaim_expired`, its default).

use std::any::Any;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::{CacheBackend, Envelope, ObjectPayload, Payload};
use cache_memory::MemoryBackend;
use criterion::{Criterion, criterion_group, criterion_main};

const KEY: &str = "prediction:user:42";
const LIFETIME: Duration = Duration::from_secs(3600);

type Value = Arc<Envelope<Vec<f64>>>;

/// The simplest per-entry expiry, for the reference point.
struct FixedExpiry;

impl moka::Expiry<String, Value> for FixedExpiry {
    fn expire_after_create(&self, _: &String, _: &Value, _: Instant) -> Option<Duration> {
        Some(LIFETIME)
    }
}

fn hit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let envelope: Value = Arc::new(Envelope::new(
        vec![0.25; 16],
        LIFETIME,
        Duration::ZERO,
        Duration::ZERO,
    ));

    let raw: moka::future::Cache<String, Value> = moka::future::Cache::new(10_000);
    let raw_with_expiry: moka::future::Cache<String, Value> = moka::future::Cache::builder()
        .max_capacity(10_000)
        .expire_after(FixedExpiry)
        .build();
    let reclaiming: Arc<dyn CacheBackend> = Arc::new(MemoryBackend::new(10_000));
    let lazy: Arc<dyn CacheBackend> = Arc::new(
        MemoryBackend::builder()
            .max_entries(10_000)
            .reclaim_expired(false)
            .build(),
    );
    runtime.block_on(async {
        raw.insert(KEY.to_owned(), envelope.clone()).await;
        raw_with_expiry
            .insert(KEY.to_owned(), envelope.clone())
            .await;
        for backend in [&reclaiming, &lazy] {
            let value: Arc<dyn Any + Send + Sync> = envelope.clone();
            let payload = Payload::Object(ObjectPayload { value, size: 200 });
            backend.set(KEY, payload, LIFETIME).await.unwrap();
        }
    });

    let mut group = c.benchmark_group("memory hit");
    group.bench_function("raw moka get", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(raw.get(black_box(KEY)).await) })
    });
    group.bench_function("raw moka get, per-entry expiry", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(raw_with_expiry.get(black_box(KEY)).await) })
    });
    group.bench_function("dyn CacheBackend get (reclaim_expired)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(reclaiming.get(black_box(KEY)).await.unwrap()) })
    });
    group.bench_function("dyn CacheBackend get (no reclaim)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(lazy.get(black_box(KEY)).await.unwrap()) })
    });
    group.finish();
}

criterion_group!(benches, hit);
criterion_main!(benches);
