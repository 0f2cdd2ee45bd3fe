//! Multi-key operations (the versions of an entry's tags, a batch) over keys of several failure
//! domains: each domain's keys go through that domain's breaker, so a dead shard charges its own
//! breaker — not that of whichever key came first, which would open a healthy shard's breaker,
//! or flap it (one warning per flap) while the dead one never opens.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cache_core::{
    BreakerState, CacheBackend, CacheConfig, CacheError, EntryOptions, Payload, PayloadKind,
    Result, SmartCache, Source, StoredEntry,
};
use cache_fake::FakeBackend;

/// A two-shard store: keys containing `east` live on shard 1, which can be taken down.
#[derive(Debug, Clone)]
struct TwoShards {
    store: FakeBackend,
    east_down: Arc<AtomicBool>,
}

impl TwoShards {
    fn check(&self, keys: &[&str]) -> Result<()> {
        let down = self.east_down.load(Ordering::SeqCst);
        if down && keys.iter().any(|key| key.contains("east")) {
            return Err(CacheError::unavailable("two-shards", "shard east is down"));
        }
        Ok(())
    }
}

#[async_trait]
impl CacheBackend for TwoShards {
    fn name(&self) -> &'static str {
        "two-shards"
    }
    fn payload_kind(&self) -> PayloadKind {
        self.store.payload_kind()
    }
    fn failure_domain(&self, key: &str) -> u64 {
        u64::from(key.contains("east"))
    }
    async fn get(&self, key: &str) -> Result<Option<StoredEntry>> {
        self.check(&[key])?;
        self.store.get(key).await
    }
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<StoredEntry>>> {
        self.check(keys)?;
        self.store.get_many(keys).await
    }
    async fn set(&self, key: &str, payload: Payload, lifetime: Duration) -> Result<()> {
        self.check(&[key])?;
        self.store.set(key, payload, lifetime).await
    }
    async fn set_many(&self, entries: &[(&str, Payload, Duration)]) -> Result<()> {
        let keys: Vec<&str> = entries.iter().map(|(key, _, _)| *key).collect();
        self.check(&keys)?;
        self.store.set_many(entries).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.check(&[key])?;
        self.store.delete(key).await
    }
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        self.store.invalidate_pattern(pattern).await
    }
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_dead_shard_opens_its_own_breaker_not_the_first_keys() {
    let shards = TwoShards {
        store: FakeBackend::new(),
        east_down: Arc::new(AtomicBool::new(false)),
    };
    let config = CacheConfig {
        breaker_threshold: 3,
        clear_check_interval: Duration::from_secs(3600),
        ..CacheConfig::default()
    };
    let cache = SmartCache::builder(shards.clone()).config(config).build();
    // Tags sort "a-west" first: the versions' read starts with a healthy shard's key.
    let tagged = EntryOptions::new().tags(["a-west", "b-east"]);
    let read = |key: &'static str, options: EntryOptions| {
        let cache = cache.clone();
        async move {
            cache
                .get_or_compute_detailed(key, &options, || async { Ok::<_, CacheError>(1u64) })
                .await
                .unwrap()
                .source
        }
    };
    assert_eq!(read("k-west", tagged.clone()).await, Source::Miss);
    assert_eq!(read("plain-west", EntryOptions::new()).await, Source::Miss);

    shards.east_down.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        // The entry is read from the healthy shard; its tags' versions cannot all be read.
        read("k-west", tagged.clone()).await;
    }
    assert_eq!(
        cache.stats().breaker,
        BreakerState::Open,
        "the dead shard's breaker opened"
    );
    assert_eq!(
        read("plain-west", EntryOptions::new()).await,
        Source::Hit,
        "the healthy shard still serves"
    );
}
