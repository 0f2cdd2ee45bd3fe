//! [`FakeBackend`]: the handle tests hold, its builder, and its [`CacheBackend`] implementation.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use cache_core::{
    CacheBackend, CacheError, ChangeSink, ConditionalWrites, FeedHandle, FeedOptions, LockOutcome,
    Payload, PayloadKind, Result, StoredEntry,
};
use tokio::sync::Notify;

use crate::corruption::Corruption;
use crate::faults::Faults;
use crate::feed::FeedControl;
use crate::ops::{Op, OpKind, OpLog};
use crate::store::Store;

/// An in-memory [`CacheBackend`] for tests, on tokio's clock.
///
/// Cheap to clone: clones share the same store, faults and log, so a test keeps one handle while
/// the cache under test owns another. See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct FakeBackend {
    shared: Arc<Shared>,
}

struct Shared {
    encode_values: bool,
    locks: bool,
    conditional: bool,
    state: Mutex<State>,
    /// Woken on every write, for [`CacheBackend::wait_for_value`].
    written: Notify,
    /// [`CacheBackend::connection_epoch`]: moved by [`FakeBackend::reconnect`].
    connection_epoch: std::sync::atomic::AtomicU64,
    /// The change feed of [`CacheBackend::watch_changes`].
    feed: FeedControl,
}

#[derive(Debug, Default)]
struct State {
    store: Store,
    faults: Faults,
    log: OpLog,
}

/// Builds a [`FakeBackend`]; start with [`FakeBackend::builder`].
#[derive(Debug, Clone)]
pub struct FakeBackendBuilder {
    encode_values: bool,
    locks: bool,
    conditional: bool,
}

impl FakeBackendBuilder {
    /// When true, the backend asks for encoded values ([`PayloadKind::Bytes`]), so every value
    /// goes through the cache's codec as it would with Redis, and a type that does not serialize
    /// fails the test. A `set` of an object payload is then an error. Default: false (objects,
    /// like the memory backend).
    pub fn encode_values(mut self, on: bool) -> Self {
        self.encode_values = on;
        self
    }

    /// Whether the backend offers the fleet refresh lock (`try_lock`/`unlock`). When false it
    /// answers [`LockOutcome::Unsupported`], like an in-process store. Default: true.
    pub fn locks(mut self, on: bool) -> Self {
        self.locks = on;
        self
    }

    /// Whether the backend offers [`ConditionalWrites`] (compare-and-set/delete). When false,
    /// [`CacheBackend::conditional`] is `None`, like a store that cannot do them atomically.
    /// Default: true.
    pub fn conditional(mut self, on: bool) -> Self {
        self.conditional = on;
        self
    }

    /// Builds the backend.
    pub fn build(self) -> FakeBackend {
        FakeBackend {
            shared: Arc::new(Shared {
                encode_values: self.encode_values,
                locks: self.locks,
                conditional: self.conditional,
                state: Mutex::new(State::default()),
                written: Notify::new(),
                connection_epoch: Default::default(),
                feed: FeedControl::default(),
            }),
        }
    }
}

impl Default for FakeBackend {
    fn default() -> Self {
        FakeBackend::new()
    }
}

impl FakeBackend {
    /// A fake that keeps objects (no codec round trip), with locks and no faults.
    pub fn new() -> Self {
        FakeBackend::builder().build()
    }

    /// A builder with the defaults of [`FakeBackend::new`].
    pub fn builder() -> FakeBackendBuilder {
        FakeBackendBuilder {
            encode_values: false,
            locks: true,
            conditional: true,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves consistent data behind (every
        // critical section is a single map operation), so a poisoned lock is still usable.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The change feed: every write or delete through any handle is published as a change of
    /// its key to the caches watching this fake (an L1 in front of it); the control holds,
    /// reorders, loses and reconnects it.
    pub fn feed(&self) -> FeedControl {
        self.shared.feed.clone()
    }

    // ---- fault injection ----

    /// Makes the next `n` operations fail (on top of any already armed).
    pub fn fail_next(&self, n: u64) {
        let mut state = self.state();
        state.faults.fail_next = state.faults.fail_next.saturating_add(n);
    }

    /// Makes every operation fail until called again with `false`.
    pub fn fail_always(&self, on: bool) {
        self.state().faults.fail_always = on;
    }

    /// Adds `latency` (on tokio's clock) to every operation before it reaches the store,
    /// failing ones included.
    pub fn set_latency(&self, latency: Duration) {
        self.state().faults.latency = latency;
    }

    /// Adds `latency` to every reply: the operation has applied at the store, and its caller
    /// learns it this much later (a write in flight, a read whose answer is already old).
    pub fn set_reply_latency(&self, latency: Duration) {
        self.state().faults.reply_latency = latency;
    }

    /// Holds back the reply of the next operation of `kind` by `delay`, after it applied.
    pub fn delay_next_reply(&self, kind: OpKind, delay: Duration) {
        self.state().faults.reply_delays.push((kind, delay));
    }

    /// The error injected faults return. Default: [`CacheError::Unavailable`] with backend
    /// `fake`, which counts as a backend failure.
    pub fn set_injected_error(&self, error: CacheError) {
        self.state().faults.error = error;
    }

    /// Plays a reconnection: [`CacheBackend::connection_epoch`] moves, as a real client's does
    /// when its connection to the store is established again.
    pub fn reconnect(&self) {
        self.shared
            .connection_epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Disarms every fault: no failures, no latency, the default error.
    pub fn heal(&self) {
        self.state().faults = Faults::default();
    }

    /// Replaces the stored entry of `key` as `corruption` says, keeping its remaining lifetime.
    /// Returns false (and changes nothing) when the key holds no live entry. Not logged.
    pub fn corrupt(&self, key: &str, corruption: Corruption) -> bool {
        self.state()
            .store
            .replace_payload(key, corruption.payload())
    }

    // ---- inspection (never logged, never faulted) ----

    /// Every operation since creation or the last [`clear_ops`](Self::clear_ops), in order.
    pub fn ops(&self) -> Vec<Op> {
        self.state().log.ops()
    }

    /// Empties the operation log and resets the counts.
    pub fn clear_ops(&self) {
        self.state().log.clear();
    }

    /// How many calls of `kind` were made (a batch counts once).
    pub fn count(&self, kind: OpKind) -> u64 {
        self.state().log.calls(kind)
    }

    /// How many calls of any kind were made.
    pub fn total_calls(&self) -> u64 {
        self.state().log.total_calls()
    }

    /// Reads an entry like `get`, without logging it or applying faults.
    pub fn peek(&self, key: &str) -> Option<StoredEntry> {
        self.state().store.get(key)
    }

    /// The live keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.state().store.keys()
    }

    /// How many live entries are stored.
    pub fn len(&self) -> usize {
        self.keys().len()
    }

    /// Whether no live entry is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The token holding the refresh lock of `key`, if any.
    pub fn lock_holder(&self, key: &str) -> Option<String> {
        self.state().store.lock_holder(key)
    }

    // ---- the operation pipeline ----

    /// The life of one call: logged; the request latency; failed if a fault is armed;
    /// `apply` runs on the store; then the reply latency. Like a network store, an operation
    /// that applied may be answered late.
    async fn run<R>(
        &self,
        kind: OpKind,
        keys: &[&str],
        apply: impl FnOnce(&mut State) -> Result<R>,
    ) -> Result<R> {
        let (fault, latency) = {
            let mut state = self.state();
            let fault = state.faults.take();
            state.log.record(kind, keys, fault.is_some());
            (fault, state.faults.latency)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(error) = fault {
            return Err(error);
        }
        let (result, reply_delay, changes) = {
            let mut state = self.state();
            let result = apply(&mut state);
            let changes = state.store.take_changes();
            (result, state.faults.reply_delay(kind), changes)
        };
        // Published as the store applies the write, before its reply: a change can reach a
        // watcher before the reply to a read served just before it, as with Redis.
        self.shared.feed.publish(changes);
        if !reply_delay.is_zero() {
            tokio::time::sleep(reply_delay).await;
        }
        result
    }

    /// Like Redis (whose adapter clamps `PX`), no lifetime beyond [`CacheBackend::max_lifetime`].
    fn clamp(&self, lifetime: Duration) -> Duration {
        lifetime.min(self.max_lifetime())
    }

    fn check_payload(&self, payload: &Payload) -> Result<()> {
        if self.shared.encode_values && matches!(payload, Payload::Object(_)) {
            return Err(CacheError::Encode(
                "the fake backend was built with encode_values(true) and accepts only encoded bytes".into(),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for FakeBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeBackend")
            .field("encode_values", &self.shared.encode_values)
            .field("locks", &self.shared.locks)
            .field("conditional", &self.shared.conditional)
            .field("entries", &self.len())
            .finish()
    }
}

#[async_trait]
impl CacheBackend for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn payload_kind(&self) -> PayloadKind {
        if self.shared.encode_values {
            PayloadKind::Bytes
        } else {
            PayloadKind::Object
        }
    }

    fn connection_epoch(&self) -> u64 {
        self.shared
            .connection_epoch
            .load(std::sync::atomic::Ordering::Acquire)
    }

    fn conditional(&self) -> Option<&dyn ConditionalWrites> {
        self.shared
            .conditional
            .then_some(self as &dyn ConditionalWrites)
    }

    async fn get(&self, key: &str) -> Result<Option<StoredEntry>> {
        self.run(OpKind::Get, &[key], |state| Ok(state.store.get(key)))
            .await
    }

    /// Answers at once only when no latency or fault could apply (then it logs a `Get`).
    fn get_now(&self, key: &str, _now: cache_core::Moment) -> Option<Result<Option<StoredEntry>>> {
        let mut state = self.state();
        if !state.faults.is_quiet() {
            return None;
        }
        state.log.record(OpKind::Get, &[key], false);
        Some(Ok(state.store.get(key)))
    }

    fn watch_changes(&self, sink: Arc<dyn ChangeSink>, options: FeedOptions) -> Result<FeedHandle> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(CacheError::Unsupported(
                "watch_changes outside a Tokio runtime",
            ));
        }
        Ok(self.shared.feed.watch(sink, options))
    }

    async fn set(&self, key: &str, payload: Payload, lifetime: Duration) -> Result<()> {
        self.check_payload(&payload)?;
        let lifetime = self.clamp(lifetime);
        self.run(OpKind::Set, &[key], |state| {
            state.store.set(key, payload, lifetime);
            self.shared.written.notify_waiters();
            Ok(())
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.run(OpKind::Delete, &[key], |state| Ok(state.store.delete(key)))
            .await
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        self.run(OpKind::InvalidatePattern, &[pattern], |state| {
            Ok(state.store.invalidate_pattern(pattern))
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.run(OpKind::Ping, &[], |_| Ok(())).await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<StoredEntry>>> {
        self.run(OpKind::GetMany, keys, |state| {
            Ok(keys.iter().map(|key| state.store.get(key)).collect())
        })
        .await
    }

    async fn set_many(&self, entries: &[(&str, Payload, Duration)]) -> Result<()> {
        let keys: Vec<&str> = entries.iter().map(|(key, _, _)| *key).collect();
        for (_, payload, _) in entries {
            self.check_payload(payload)?;
        }
        self.run(OpKind::SetMany, &keys, |state| {
            for (key, payload, lifetime) in entries {
                state.store.set(key, payload.clone(), self.clamp(*lifetime));
            }
            self.shared.written.notify_waiters();
            Ok(())
        })
        .await
    }

    async fn try_lock(&self, key: &str, token: &str, lifetime: Duration) -> Result<LockOutcome> {
        self.run(OpKind::TryLock, &[key], |state| {
            Ok(if !self.shared.locks {
                LockOutcome::Unsupported
            } else if state.store.try_lock(key, token, lifetime) {
                LockOutcome::Acquired
            } else {
                LockOutcome::Held
            })
        })
        .await
    }

    async fn unlock(&self, key: &str, token: &str) -> Result<bool> {
        self.run(OpKind::Unlock, &[key], |state| {
            Ok(self.shared.locks && state.store.unlock(key, token))
        })
        .await
    }

    /// Waits on a notification of every write instead of polling, so the wait logs one
    /// operation and wakes at the exact (virtual) instant the value is written.
    async fn wait_for_value(&self, key: &str, timeout: Duration) -> Result<Option<StoredEntry>> {
        self.run(OpKind::WaitForValue, &[key], |_| Ok(())).await?;
        let deadline = tokio::time::Instant::now().checked_add(timeout);
        loop {
            // Register for the next write before looking, so a write in between is not missed.
            let mut written = std::pin::pin!(self.shared.written.notified());
            written.as_mut().enable();
            if let Some(entry) = self.state().store.get(key) {
                return Ok(Some(entry));
            }
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, written).await.is_err() {
                        return Ok(None);
                    }
                }
                None => written.await,
            }
        }
    }
}

#[async_trait]
impl ConditionalWrites for FakeBackend {
    async fn compare_and_set(
        &self,
        key: &str,
        expected: &Payload,
        payload: Payload,
        lifetime: Duration,
    ) -> Result<bool> {
        self.check_payload(&payload)?;
        let lifetime = self.clamp(lifetime);
        self.run(OpKind::CompareAndSet, &[key], |state| {
            let swapped = state
                .store
                .compare_and_set(key, expected, payload, lifetime);
            if swapped {
                self.shared.written.notify_waiters();
            }
            Ok(swapped)
        })
        .await
    }

    async fn compare_and_delete(&self, key: &str, expected: &Payload) -> Result<bool> {
        self.run(OpKind::CompareAndDelete, &[key], |state| {
            Ok(state.store.compare_and_delete(key, expected))
        })
        .await
    }
}
