//! The storage port: what a cache store must do, and nothing more.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::coherence::{ChangeSink, FeedHandle, FeedOptions};
use crate::envelope::Envelope;
use crate::error::{CacheError, Result};

/// What a backend stores for a key: encoded bytes, or — for in-process stores — the decoded
/// entry itself, so that a hit costs a pointer clone instead of a deserialization.
#[derive(Clone)]
pub enum Payload {
    /// An encoded envelope (see [`crate::envelope`]). [`Bytes`](bytes::Bytes), so that an
    /// adapter hands out a slice of the reply it read (no copy per hit).
    Bytes(bytes::Bytes),
    /// A decoded entry kept by an in-process backend, shared: the store's copy, the hit's and
    /// the read path's are one allocation, so a payload moves as one pointer.
    Object(Arc<ObjectPayload>),
}

/// A decoded entry shared by an in-process backend: the envelope's metadata, held inline, and
/// the value's own allocation.
///
/// The cache stores a value of type `T` as the very `Arc<T>` its hits hand out, with the
/// metadata beside it. A [`Payload`] holds it behind an `Arc` of its own, so that a store's
/// answer is a few words: moka copies its value out on every hit, and the hit path moves the
/// answer from call to call (inline, the object cost a memory hit 76 instructions of copies).
#[derive(Clone)]
pub struct ObjectPayload {
    /// The envelope without its value: timing, write id, stamp. Cloning it copies a few
    /// integers (the tags, when there are any, are shared).
    pub header: Envelope<()>,
    /// The value, type-erased: an `Arc<T>` for the cache's entries.
    pub value: Arc<dyn Any + Send + Sync>,
    /// Encoded size of the entry in bytes, measured when it was written (0 when the store does
    /// not weigh objects).
    pub size: usize,
    /// The L1's coherence stamps when the L1 wrote the object (`None` otherwise). A store keeps
    /// them with the object, as it keeps the rest: a copy rebuilt without them is never served
    /// from the L1. Inline, not in an allocation of their own, so an L1 hit touches no more
    /// shared memory than an in-process store's hit.
    pub(crate) fill: Option<crate::cache::L1Fill>,
    /// The writing cache's [`surely_fresh_above`](crate::RefreshPolicy::surely_fresh_above)
    /// bound for this entry (`None`: none was computed), for its hits. It describes `header`
    /// as written: a store keeps objects as they are, never with a rewritten header.
    pub(crate) fresh: Option<crate::cache::FreshBound>,
}

impl ObjectPayload {
    /// The entry `header` describes, holding `value`.
    pub fn new(header: Envelope<()>, value: Arc<dyn Any + Send + Sync>, size: usize) -> Self {
        ObjectPayload {
            header,
            value,
            size,
            fill: None,
            fresh: None,
        }
    }
}

impl Payload {
    /// Whether `self` is the very entry `other` is: the same bytes, or the same write (write id)
    /// of the same object allocation. This is the write identity conditional writes compare:
    /// every envelope the cache writes carries a random write id, so two writes never encode to
    /// the same bytes, and a rewrite of the same value is another entry.
    pub fn same_entry(&self, other: &Payload) -> bool {
        match (self, other) {
            (Payload::Bytes(a), Payload::Bytes(b)) => a == b,
            (Payload::Object(a), Payload::Object(b)) => {
                a.header.id == b.header.id && Arc::ptr_eq(&a.value, &b.value)
            }
            _ => false,
        }
    }

    /// Size in bytes (encoded size for objects).
    pub fn size(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::Object(o) => o.size,
        }
    }
}

impl Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::Bytes(b) => write!(f, "Payload::Bytes({} bytes)", b.len()),
            Payload::Object(o) => write!(f, "Payload::Object(~{} bytes)", o.size),
        }
    }
}

/// Which payload form a backend wants to receive on `set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// Encoded bytes (any out-of-process store).
    Bytes,
    /// Decoded objects (in-process stores: a hit pays no deserialization).
    Object,
}

/// A stored value and how long it still lives physically, measured on the backend's own clock.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    /// The stored payload.
    pub payload: Payload,
    /// Remaining physical lifetime (`PTTL` on Redis); `None` when the key has no expiry.
    pub remaining: Option<Duration>,
}

/// Result of trying to take a fleet-wide refresh lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    /// The lock is ours until released or until its lifetime ends.
    Acquired,
    /// Another process holds the lock.
    Held,
    /// This backend has no fleet lock (in-process stores: single-flight already coalesces).
    Unsupported,
}

/// Writes that apply only if the stored entry is still the one the caller read or wrote.
///
/// The cache uses them for the writes that must never clobber someone else's: keeping the last
/// good value a little longer after a failed compute (fail-safe), and undoing its own write when
/// the key was invalidated while that write was in flight. A backend that cannot offer them
/// atomically returns `None` from [`CacheBackend::conditional`]; the cache then neither extends
/// nor undoes.
///
/// Contract (checked by `cache_core::testing::conformance::conditional_writes`): each method is
/// atomic with respect to every other write of the key; "still the one" is
/// [`Payload::same_entry`]; an absent or expired key never matches.
#[async_trait]
pub trait ConditionalWrites: Send + Sync {
    /// Stores `payload` for `lifetime` only if the entry under `key` is still `expected`;
    /// returns whether it did.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: &Payload,
        payload: Payload,
        lifetime: Duration,
    ) -> Result<bool>;

    /// Removes `key` only if its entry is still `expected`; returns whether it did.
    async fn compare_and_delete(&self, key: &str, expected: &Payload) -> Result<bool>;
}

/// The storage port of smartcache: an async, object-safe key-value store with lifetimes.
///
/// Implementations are adapters (Redis, moka, a fake); decorators may wrap any of them. Every
/// backend runs the shared conformance suite (`cache_core::testing`, feature `testing`).
///
/// Keys are arbitrary UTF-8 strings; patterns are Redis globs (see [`crate::glob`]).
#[async_trait]
pub trait CacheBackend: Send + Sync + Debug + 'static {
    /// Short name for logs and errors (`redis`, `memory`, `fake`).
    fn name(&self) -> &'static str;

    /// The payload form this backend wants on [`set`](Self::set).
    fn payload_kind(&self) -> PayloadKind {
        PayloadKind::Bytes
    }

    /// True when every operation ends within a bound the backend enforces itself: an in-memory
    /// store, or a client with its own command timeout (the Redis adapter). The cache then skips
    /// its own per-operation timeout, whose timer costs more than an in-memory lookup and a
    /// measurable share of a Redis round trip under load.
    fn bounds_own_latency(&self) -> bool {
        false
    }

    /// The longest physical lifetime this backend can keep an entry for; longer lifetimes are
    /// clamped by the cache (which then shortens the grace period, never the TTL). The default
    /// is Redis's own bound: `PX` in milliseconds must fit an `i64` once added to the clock.
    fn max_lifetime(&self) -> Duration {
        Duration::from_millis(i64::MAX as u64 / 4)
    }

    /// The failure domain of `key`: keys in different domains fail independently (the shards of
    /// a cluster). The cache keeps one circuit breaker per domain, so a dead primary does not
    /// take the cache away from keys on healthy ones. Default: one domain.
    fn failure_domain(&self, _key: &str) -> u64 {
        0
    }

    /// A counter that moves each time the backend (re)establishes its connection. When it
    /// moves while a circuit breaker is open, the cache probes at once instead of waiting for
    /// the cooldown, so hits resume as soon as the store is back. Default: never moves.
    fn connection_epoch(&self) -> u64 {
        0
    }

    /// Compare-and-set / compare-and-delete on the stored entry, when this backend offers them
    /// atomically (see [`ConditionalWrites`]).
    fn conditional(&self) -> Option<&dyn ConditionalWrites> {
        None
    }

    /// Whether this backend weighs object payloads by their encoded size
    /// ([`ObjectPayload::size`]); only a byte-bounded in-process store does. When false the
    /// cache stores objects without encoding them at all (size 0), so a miss on an in-process
    /// store pays no serialization. Default: false.
    fn weighs_objects(&self) -> bool {
        false
    }

    /// Starts a feed of this store's changes, for an in-process tier (L1) in front of it: the
    /// feed tells `sink` about every key written or deleted by anyone, and proves itself alive
    /// with heartbeats (see [`crate::coherence`]). Called from a Tokio runtime; the feed runs in
    /// tasks of its own until its handle is dropped.
    ///
    /// # Errors
    ///
    /// [`CacheError::Unsupported`] (the default) when this store cannot say which keys change;
    /// the cache then uses no L1.
    fn watch_changes(
        &self,
        _sink: Arc<dyn ChangeSink>,
        _options: FeedOptions,
    ) -> Result<FeedHandle> {
        Err(CacheError::Unsupported("watch_changes"))
    }

    /// Closes the backend's connections (see [`SmartCache::shutdown`](crate::SmartCache::shutdown)).
    /// Default: nothing to close.
    async fn close(&self) -> Result<()> {
        Ok(())
    }

    /// Reads a key with its remaining physical lifetime; `Ok(None)` when absent or expired.
    async fn get(&self, key: &str) -> Result<Option<StoredEntry>>;

    /// The same read as [`get`](Self::get), answered without awaiting: `Some` with `get`'s
    /// answer, or `None` when this backend cannot answer at once (the caller then awaits
    /// `get`). In-process stores answer here, so that a hit costs no boxed future; the default
    /// is `None`. `now` is the caller's clock (Tokio's, as a [`Moment`](crate::Moment)): a
    /// store that measures lifetimes in process measures the remaining one from it, so one
    /// clock read serves the whole hit.
    fn get_now(&self, _key: &str, _now: crate::Moment) -> Option<Result<Option<StoredEntry>>> {
        None
    }

    /// Stores a payload that lives for `lifetime` (physical: the cache adds its grace period).
    async fn set(&self, key: &str, payload: Payload, lifetime: Duration) -> Result<()>;

    /// Removes a key; returns whether it existed.
    async fn delete(&self, key: &str) -> Result<bool>;

    /// Removes every key matching the Redis glob `pattern`; returns how many went.
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64>;

    /// Checks that the backend answers.
    async fn ping(&self) -> Result<()>;

    /// Reads several keys; the default calls [`get`](Self::get) for each.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<StoredEntry>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(key).await?);
        }
        Ok(out)
    }

    /// Writes several entries; the default calls [`set`](Self::set) for each.
    async fn set_many(&self, entries: &[(&str, Payload, Duration)]) -> Result<()> {
        for (key, payload, lifetime) in entries {
            self.set(key, payload.clone(), *lifetime).await?;
        }
        Ok(())
    }

    /// Tries to take the fleet-wide refresh lock for `key` with `token`, for at most `lifetime`.
    async fn try_lock(&self, _key: &str, _token: &str, _lifetime: Duration) -> Result<LockOutcome> {
        Ok(LockOutcome::Unsupported)
    }

    /// Releases the lock for `key` if (and only if) it is still held with `token`.
    async fn unlock(&self, _key: &str, _token: &str) -> Result<bool> {
        Ok(false)
    }

    /// Waits until `key` is written by the lock holder, or `timeout` passes; returns the entry
    /// if it appeared. The default polls with a bounded backoff; Redis may use pub/sub.
    async fn wait_for_value(&self, key: &str, timeout: Duration) -> Result<Option<StoredEntry>> {
        // A user-supplied wait may be `Duration::MAX`: no instant arithmetic that can overflow.
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(entry) = self.get(key).await? {
                return Ok(Some(entry));
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Ok(None);
            }
            tokio::time::sleep(pause.min(timeout - waited)).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

/// The future type `#[async_trait]` methods return.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Forwards a method to the shared backend, handing back *its* boxed future instead of boxing it
/// again (as `#[async_trait]` would): an `Arc<dyn CacheBackend>` costs nothing extra on the hot path.
macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        $(fn $name<'s, 'a, 'f>(&'s self, $($arg: $ty),*) -> BoxFuture<'f, Result<$out>>
        where
            's: 'f,
            'a: 'f,
            Self: 'f,
        {
            (**self).$name($($arg),*)
        })*
    };
}

#[async_trait]
impl<B: CacheBackend + ?Sized> CacheBackend for Arc<B> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn payload_kind(&self) -> PayloadKind {
        (**self).payload_kind()
    }
    fn bounds_own_latency(&self) -> bool {
        (**self).bounds_own_latency()
    }
    fn max_lifetime(&self) -> Duration {
        (**self).max_lifetime()
    }
    fn failure_domain(&self, key: &str) -> u64 {
        (**self).failure_domain(key)
    }
    fn connection_epoch(&self) -> u64 {
        (**self).connection_epoch()
    }
    fn conditional(&self) -> Option<&dyn ConditionalWrites> {
        (**self).conditional()
    }
    fn weighs_objects(&self) -> bool {
        (**self).weighs_objects()
    }
    async fn close(&self) -> Result<()> {
        (**self).close().await
    }
    fn watch_changes(&self, sink: Arc<dyn ChangeSink>, options: FeedOptions) -> Result<FeedHandle> {
        (**self).watch_changes(sink, options)
    }
    fn get_now(&self, key: &str, now: crate::Moment) -> Option<Result<Option<StoredEntry>>> {
        (**self).get_now(key, now)
    }
    forward! {
        get(key: &'a str) -> Option<StoredEntry>;
        set(key: &'a str, payload: Payload, lifetime: Duration) -> ();
        delete(key: &'a str) -> bool;
        invalidate_pattern(pattern: &'a str) -> u64;
        wait_for_value(key: &'a str, timeout: Duration) -> Option<StoredEntry>;
    }
    // Rarely called: the extra box of `#[async_trait]` does not matter here.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<StoredEntry>>> {
        (**self).get_many(keys).await
    }
    async fn set_many(&self, entries: &[(&str, Payload, Duration)]) -> Result<()> {
        (**self).set_many(entries).await
    }
    async fn try_lock(&self, key: &str, token: &str, lifetime: Duration) -> Result<LockOutcome> {
        (**self).try_lock(key, token, lifetime).await
    }
    async fn unlock(&self, key: &str, token: &str) -> Result<bool> {
        (**self).unlock(key, token).await
    }
    fn ping<'s, 'f>(&'s self) -> BoxFuture<'f, Result<()>>
    where
        's: 'f,
        Self: 'f,
    {
        (**self).ping()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-process store's answer moves through the hit path by value, and moka copies the
    /// stored entry out on every hit: a payload stays one pointer or one `Bytes` (an inline
    /// 112-byte object cost a memory hit 76 instructions of copies), and the answer within 128
    /// bytes, which move in registers rather than through `memcpy`.
    #[test]
    fn a_stored_entry_is_a_few_words() {
        assert!(std::mem::size_of::<Payload>() <= std::mem::size_of::<bytes::Bytes>());
        assert!(std::mem::size_of::<StoredEntry>() <= 48);
        assert!(std::mem::size_of::<Option<Result<Option<StoredEntry>>>>() <= 128);
    }
}
