//! Swapping Redis for an in-process store — or for the deterministic fake — in a test.
//!
//! Application code takes any `CacheBackend` (or an `Arc<dyn CacheBackend>` chosen at run
//! time); a test hands it the fake, drives time with `tokio::time::pause()`, and injects faults.
//!
//! `cargo run -p smartcache --features testing --example swap_backend_in_tests`

use std::sync::Arc;
use std::time::Duration;

use smartcache::fake::{FakeBackend, OpKind};
use smartcache::{CacheBackend, EntryOptions, MemoryBackend, SmartCache, Source};

/// The application's service: it does not know which store it has.
struct PriceService {
    cache: SmartCache,
}

impl PriceService {
    fn new(backend: Arc<dyn CacheBackend>) -> Self {
        let cache = SmartCache::builder(backend)
            .default_ttl(Duration::from_secs(10))
            .grace(Duration::from_secs(60))
            .build();
        PriceService { cache }
    }

    async fn price(&self, sku: &str) -> Result<(u64, Source), smartcache::CacheError> {
        let sku_owned = sku.to_owned();
        let lookup = self
            .cache
            .get_or_compute_detailed(
                &format!("price:{sku}"),
                &EntryOptions::new(),
                || async move {
                    tokio::time::sleep(Duration::from_millis(100)).await; // the pricing engine
                    Ok::<_, std::io::Error>(sku_owned.len() as u64 * 100)
                },
            )
            .await?;
        Ok((*lookup.value, lookup.source))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), smartcache::CacheError> {
    // Production would pass `Arc::new(RedisBackend::from_env().await?)`; here, in-process.
    let service = PriceService::new(Arc::new(MemoryBackend::new(1_000)));
    assert_eq!(service.price("abc").await?, (300, Source::Miss));
    assert_eq!(service.price("abc").await?, (300, Source::Hit));

    // In a test: the fake, on tokio's paused clock, with an outage injected.
    tokio::time::pause();
    let fake = FakeBackend::new();
    let service = PriceService::new(Arc::new(fake.clone()));
    assert_eq!(service.price("abc").await?, (300, Source::Miss));
    tokio::time::advance(Duration::from_secs(11)).await; // past the TTL, inside the grace
    assert_eq!(service.price("abc").await?.1, Source::Stale);
    fake.fail_always(true); // the store goes down: values keep coming
    assert_eq!(service.price("xyz").await?, (300, Source::Bypass));
    println!(
        "fake saw {} gets and {} sets; the outage cost no request",
        fake.count(OpKind::Get),
        fake.count(OpKind::Set)
    );
    Ok(())
}
