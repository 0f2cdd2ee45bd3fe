//! An in-process fleet lock for backends that have none, so that several `SmartCache` instances
//! in one process can behave like processes of a fleet sharing one Redis.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cache_core::{CacheBackend, LockOutcome, Payload, PayloadKind, Result, StoredEntry};

/// Lock holders by key: the holder's token and when the lock lapses.
type LockTable = HashMap<String, (String, Instant)>;

/// Decorates a backend with a refresh lock shared by every clone of this value: `try_lock`
/// takes the lock for a key unless a live holder has it, like Redis's `SET key token NX PX`,
/// and `unlock` releases it only for the holder's token. Every other operation goes to the
/// wrapped backend.
#[derive(Clone)]
pub struct SharedLockBackend<B> {
    inner: B,
    locks: Arc<Mutex<LockTable>>,
}

impl<B> SharedLockBackend<B> {
    /// Wraps `inner`; clones of the result share the lock table (and, if `inner`'s clones share
    /// their store, the store).
    pub fn new(inner: B) -> Self {
        SharedLockBackend {
            inner,
            locks: Arc::default(),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, LockTable> {
        // A panic while holding this lock cannot leave the table inconsistent: keep using it.
        self.locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<B: fmt::Debug> fmt::Debug for SharedLockBackend<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedLockBackend")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<B: CacheBackend> CacheBackend for SharedLockBackend<B> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn payload_kind(&self) -> PayloadKind {
        self.inner.payload_kind()
    }
    async fn get(&self, key: &str) -> Result<Option<StoredEntry>> {
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, payload: Payload, lifetime: Duration) -> Result<()> {
        self.inner.set(key, payload, lifetime).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(key).await
    }
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        self.inner.invalidate_pattern(pattern).await
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn try_lock(&self, key: &str, token: &str, lifetime: Duration) -> Result<LockOutcome> {
        let now = Instant::now();
        let mut table = self.table();
        if table.get(key).is_some_and(|(_, lapses)| *lapses > now) {
            return Ok(LockOutcome::Held);
        }
        table.insert(key.to_owned(), (token.to_owned(), now + lifetime));
        Ok(LockOutcome::Acquired)
    }
    async fn unlock(&self, key: &str, token: &str) -> Result<bool> {
        let mut table = self.table();
        if table
            .get(key)
            .is_some_and(|(holder, lapses)| holder == token && *lapses > Instant::now())
        {
            table.remove(key);
            return Ok(true);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_memory::MemoryBackend;

    #[tokio::test]
    async fn one_holder_at_a_time_across_clones() {
        let a = SharedLockBackend::new(MemoryBackend::new(10));
        let b = a.clone();
        let life = Duration::from_secs(10);
        assert_eq!(
            a.try_lock("k", "ta", life).await.unwrap(),
            LockOutcome::Acquired
        );
        assert_eq!(
            b.try_lock("k", "tb", life).await.unwrap(),
            LockOutcome::Held
        );
        assert_eq!(
            b.try_lock("other", "tb", life).await.unwrap(),
            LockOutcome::Acquired
        );
        assert!(
            !b.unlock("k", "tb").await.unwrap(),
            "only the holder's token releases"
        );
        assert!(a.unlock("k", "ta").await.unwrap());
        assert_eq!(
            b.try_lock("k", "tb", life).await.unwrap(),
            LockOutcome::Acquired
        );
    }

    #[tokio::test]
    async fn a_lapsed_lock_can_be_taken() {
        let a = SharedLockBackend::new(MemoryBackend::new(10));
        assert_eq!(
            a.try_lock("k", "ta", Duration::ZERO).await.unwrap(),
            LockOutcome::Acquired
        );
        assert_eq!(
            a.try_lock("k", "tb", Duration::from_secs(1)).await.unwrap(),
            LockOutcome::Acquired
        );
        assert!(!a.unlock("k", "ta").await.unwrap());
    }
}
