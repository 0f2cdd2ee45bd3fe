//! The quick start: a cache in front of an expensive computation.
//!
//! `cargo run -p smartcache --example quick_start`

use std::time::{Duration, Instant};

use smartcache::{EntryOptions, MemoryBackend, SmartCache};

/// Stands for the expensive part: a model, a database query, a remote API.
async fn expensive_model_call(match_id: u32) -> Result<Vec<f64>, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(vec![0.5 + f64::from(match_id % 10) / 100.0, 0.27, 0.22])
}

#[tokio::main]
async fn main() -> Result<(), smartcache::CacheError> {
    let cache = SmartCache::builder(MemoryBackend::new(10_000))
        .default_ttl(Duration::from_secs(60))
        .build();
    let options = EntryOptions::new().ttl(Duration::from_secs(30));

    for attempt in 1..=3 {
        let started = Instant::now();
        let lookup = cache
            .get_or_compute_detailed("prediction:42", &options, || expensive_model_call(42))
            .await?;
        println!(
            "attempt {attempt}: {:?} from {} in {:?}",
            lookup.value,
            lookup.source.as_str(),
            started.elapsed()
        );
    }

    // A thousand concurrent callers on a cold key: one computation (single-flight).
    let calls = (0..1000).map(|_| {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_compute("prediction:7", &EntryOptions::new(), || {
                    expensive_model_call(7)
                })
                .await
        })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.expect("task")?;
    }
    let stats = cache.stats();
    println!("computations: {} (for 1,003 calls)", stats.computes);
    assert_eq!(stats.computes, 2);
    cache.shutdown(Duration::from_secs(5)).await
}
