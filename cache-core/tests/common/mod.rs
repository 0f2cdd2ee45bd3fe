//! Shared helpers for cache-core's integration tests (fake backend, paused tokio time).
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::{CacheBackend, EntryOptions, Envelope, Payload, SmartCache, SmartCacheBuilder};
use cache_fake::FakeBackend;

pub const TTL: Duration = Duration::from_secs(10);
pub const GRACE: Duration = Duration::from_secs(60);
pub const DELTA: Duration = Duration::from_millis(500);

pub fn builder(fake: &FakeBackend) -> SmartCacheBuilder<cache_core::JsonCodec> {
    SmartCache::builder(fake.clone())
        .default_ttl(TTL)
        .grace(GRACE)
        .seed(42)
}

pub fn cache(fake: &FakeBackend) -> SmartCache {
    builder(fake).build()
}

pub fn opts() -> EntryOptions {
    EntryOptions::new()
}

/// A compute that takes `DELTA` of (virtual) time, counts its runs, and returns `value`.
pub fn counted(
    counter: &Arc<AtomicUsize>,
    value: u64,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<u64, std::io::Error>> + Send>>
+ Send
+ 'static {
    let counter = counter.clone();
    move || {
        Box::pin(async move {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(DELTA).await;
            Ok(value)
        })
    }
}

/// A compute that fails after `DELTA`.
pub fn failing()
-> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<u64, std::io::Error>> + Send>>
+ Send
+ 'static {
    || {
        Box::pin(async {
            tokio::time::sleep(DELTA).await;
            Err(std::io::Error::other("model server down"))
        })
    }
}

/// Reads the envelope the fake holds for `key` (object payloads only).
pub fn stored<T: Send + Sync + 'static + Clone>(
    fake: &FakeBackend,
    key: &str,
) -> Option<Envelope<T>> {
    let entry = fake.peek(key)?;
    // The cache stores the `Arc<T>` its hits hand out, with the envelope's header beside it.
    match entry.payload {
        Payload::Object(o) => {
            let value = o.value.clone().downcast::<T>().ok()?;
            Some(o.header.clone().map_value(|()| (*value).clone()))
        }
        Payload::Bytes(_) => None,
    }
}

/// Lets spawned tasks run until they block (no virtual time passes).
pub async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

pub fn count(c: &Arc<AtomicUsize>) -> usize {
    c.load(Ordering::SeqCst)
}

pub fn _assert_backend_object_safe(b: Arc<dyn CacheBackend>) -> SmartCache {
    SmartCache::new(b)
}
