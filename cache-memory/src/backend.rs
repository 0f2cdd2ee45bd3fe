//! [`MemoryBackend`], its builder, and its [`CacheBackend`] implementation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cache_core::{
    CacheBackend, CacheError, ConditionalWrites, Moment, Payload, PayloadKind, Result, StoredEntry,
};
use moka::ops::compute::{CompResult, Op};
use moka::sync::SegmentedCache;

use crate::entry::{DeadlineExpiry, Stored, weigh};

/// Hashes keys: randomly seeded per store.
type KeyHasher = foldhash::fast::RandomState;

/// How a [`MemoryBackend`] is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// At most this many entries.
    Entries(u64),
    /// At most this many bytes, an entry weighing its key's length plus its payload's
    /// [`size`](Payload::size) (the encoded size for objects).
    Bytes(u64),
}

/// The bound of [`MemoryBackend::builder`] when none is chosen.
pub const DEFAULT_MAX_ENTRIES: u64 = 10_000;

/// The fewest entries a segment gets by default: a smaller store has fewer segments, so that
/// its bound is enforced over enough entries to stay close to exact.
const MIN_SEGMENT_ENTRIES: u64 = 256;

/// The fewest bytes a segment gets by default under [`Bound::Bytes`]: an entry heavier than its
/// segment's share is not kept, so a byte-bounded store is split only when each share still
/// holds large values.
const MIN_SEGMENT_BYTES: u64 = 16 << 20;

/// Segments per worker thread, by default (see [`MemoryBackendBuilder::segments`]).
const SEGMENTS_PER_THREAD: usize = 4;

/// The most segments a store is split into, whatever it is asked for: each is a moka cache of
/// its own, and a count near `usize::MAX` would not round to a power of two.
pub const MAX_SEGMENTS: usize = 1 << 10;

/// Builds a [`MemoryBackend`]; start with [`MemoryBackend::builder`].
#[derive(Debug, Clone)]
pub struct MemoryBackendBuilder {
    bound: Bound,
    reclaim_expired: bool,
    segments: Option<usize>,
}

impl MemoryBackendBuilder {
    /// Bounds the store to `n` entries (replacing any bound set before).
    pub fn max_entries(mut self, n: u64) -> Self {
        self.bound = Bound::Entries(n);
        self
    }

    /// Bounds the store to `n` bytes of keys and payloads (replacing any bound set before).
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.bound = Bound::Bytes(n);
        self
    }

    /// Whether moka removes each entry when its lifetime ends (default: false).
    ///
    /// Either way a read never returns an expired entry: the backend checks the entry's deadline
    /// on every hit. With `false`, an expired entry stays, invisible, until the bound evicts it
    /// or its key is written again: its memory is reclaimed under pressure, within the
    /// configured bound. With `true`, moka also schedules every entry on its timer wheel and
    /// drops it about a second after its deadline, which frees memory sooner but costs every hit
    /// moka's per-entry expiry bookkeeping: some 280 instructions, a sixth of a
    /// `MemoryBackend::get` (callgrind; `cargo bench -p cache-core --bench memory_hit --
    /// --profile MemoryBackend::get`).
    pub fn reclaim_expired(mut self, on: bool) -> Self {
        self.reclaim_expired = on;
        self
    }

    /// Splits the store into `n` independent moka caches (rounded up to a power of two; at
    /// least one, at most [`MAX_SEGMENTS`]), a key's segment chosen by its hash.
    ///
    /// Each segment records its own reads and runs its own maintenance, so threads reading
    /// different keys do not queue on one read log: measured with 64 tasks on two workers
    /// (`cargo bench -p cache-core --bench memory_hit`), raw moka with 8 segments reads about
    /// 12% faster than with one. The bound is split evenly, each segment evicting within its
    /// share, so with many segments the store as a whole holds slightly fewer entries than its
    /// bound when keys spread unevenly, and an entry heavier than a segment's share of a byte
    /// bound is not kept. By default: four per available CPU, as long as each segment keeps at
    /// least 256 entries, or 16 MiB of a byte bound.
    pub fn segments(mut self, n: usize) -> Self {
        self.segments = Some(n.clamp(1, MAX_SEGMENTS));
        self
    }

    /// The segments this builder's store gets.
    fn segment_count(&self) -> usize {
        if let Some(n) = self.segments {
            return n;
        }
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let fitting = match self.bound {
            Bound::Entries(n) => n / MIN_SEGMENT_ENTRIES,
            Bound::Bytes(n) => n / MIN_SEGMENT_BYTES,
        };
        let fitting = usize::try_from(fitting).unwrap_or(usize::MAX);
        (threads.saturating_mul(SEGMENTS_PER_THREAD))
            .min(fitting)
            .clamp(1, MAX_SEGMENTS)
    }

    /// Builds the backend.
    pub fn build(self) -> MemoryBackend {
        // moka rounds the count up to a power of two.
        let segments = self.segment_count().next_power_of_two();
        let mut builder = SegmentedCache::builder(segments);
        let capacity = match self.bound {
            Bound::Entries(n) => n,
            Bound::Bytes(n) => {
                builder = builder.weigher(|key: &String, value: &Stored| weigh(key, value));
                n
            }
        };
        builder = builder.max_capacity(capacity);
        if self.reclaim_expired {
            builder = builder.expire_after(DeadlineExpiry);
        }
        // foldhash instead of moka's default SipHash: a seeded, minimally DoS-resistant hash
        // that costs about a tenth as much on a short key — hashing the key was a sixth of a
        // hit's instructions.
        let cache = builder.build_with_hasher(KeyHasher::default());
        MemoryBackend {
            cache,
            segments,
            bound: self.bound,
            reclaim_expired: self.reclaim_expired,
        }
    }
}

/// An in-process [`CacheBackend`] on [`moka`]: bounded, with a lifetime per entry.
///
/// It asks for decoded values ([`PayloadKind::Object`]), so a hit hands back the stored `Arc`
/// without deserializing; it stores encoded bytes too when given them. Remaining lifetimes are
/// measured on the OS monotonic clock, the one moka expires entries by. Cheap to clone: clones
/// share the store.
#[derive(Clone)]
pub struct MemoryBackend {
    cache: SegmentedCache<String, Stored, KeyHasher>,
    segments: usize,
    bound: Bound,
    reclaim_expired: bool,
}

impl MemoryBackend {
    /// A backend holding at most `max_entries` entries.
    pub fn new(max_entries: u64) -> Self {
        MemoryBackend::builder().max_entries(max_entries).build()
    }

    /// A builder, bounded to [`DEFAULT_MAX_ENTRIES`] until told otherwise.
    pub fn builder() -> MemoryBackendBuilder {
        MemoryBackendBuilder {
            bound: Bound::Entries(DEFAULT_MAX_ENTRIES),
            reclaim_expired: false,
            segments: None,
        }
    }

    /// The bound this backend was built with.
    pub fn bound(&self) -> Bound {
        self.bound
    }

    /// How many segments the store is split into (see [`MemoryBackendBuilder::segments`]).
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Number of entries, as of moka's last maintenance (see
    /// [`run_pending_tasks`](Self::run_pending_tasks)); may count expired entries not yet
    /// evicted.
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Total weight (entries, or bytes under a [`Bound::Bytes`]), as of moka's last maintenance.
    pub fn weighted_size(&self) -> u64 {
        self.cache.weighted_size()
    }

    /// Runs moka's pending maintenance now (evictions, expirations, counters). Moka otherwise
    /// runs it in small steps as the cache is used.
    pub fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks();
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }

    /// The hit path: a moka lookup and one `Arc` clone; nothing is decoded or allocated.
    #[inline]
    fn lookup(&self, key: &str, now: Moment) -> Option<StoredEntry> {
        let stored = self.cache.get(key)?;
        // The deadline check is what hides an expired entry: moka drops it up to a timer tick
        // later with `reclaim_expired`, or never.
        let remaining = stored.remaining(now)?;
        Some(StoredEntry {
            payload: stored.payload,
            remaining,
        })
    }
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("bound", &self.bound)
            .field("segments", &self.segments)
            .field("reclaim_expired", &self.reclaim_expired)
            .field("entry_count", &self.cache.entry_count())
            .finish()
    }
}

#[async_trait]
impl CacheBackend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn payload_kind(&self) -> PayloadKind {
        PayloadKind::Object
    }

    fn bounds_own_latency(&self) -> bool {
        true
    }

    /// Only a byte bound needs each entry's encoded size.
    fn weighs_objects(&self) -> bool {
        matches!(self.bound, Bound::Bytes(_))
    }

    async fn get(&self, key: &str) -> Result<Option<StoredEntry>> {
        Ok(self.lookup(key, Moment::now()))
    }

    /// Always answers: a read never waits.
    fn get_now(&self, key: &str, now: Moment) -> Option<Result<Option<StoredEntry>>> {
        Some(Ok(self.lookup(key, now)))
    }

    /// Through moka's per-key compute lock, like every write here: a plain `insert` does not
    /// take it, and could land between a compare-and-set's comparison and its write.
    async fn set(&self, key: &str, payload: Payload, lifetime: Duration) -> Result<()> {
        let stored = Stored::new(payload, lifetime);
        self.cache
            .entry_by_ref(key)
            .and_compute_with(|_| Op::Put(stored));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(remove(&self.cache, key))
    }

    /// Scans every entry: on a blocking thread, so a large cache never stalls an async worker.
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        let (cache, pattern) = (self.cache.clone(), pattern.to_owned());
        tokio::task::spawn_blocking(move || remove_matching(&cache, &pattern))
            .await
            .map_err(|err| CacheError::unavailable("memory", err))
    }

    fn conditional(&self) -> Option<&dyn ConditionalWrites> {
        Some(self)
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

fn remove_matching(cache: &SegmentedCache<String, Stored, KeyHasher>, pattern: &str) -> u64 {
    let matching: Vec<Arc<String>> = cache
        .iter()
        .filter(|(key, _)| cache_core::glob::matches(pattern, key))
        .map(|(key, _)| key)
        .collect();
    let mut removed = 0;
    for key in matching {
        removed += u64::from(remove(cache, key.as_str()));
    }
    removed
}

/// Removes `key` under moka's per-key compute lock (see `set`); true when it held a live entry
/// (one that expired but was not evicted yet is not "existed").
fn remove(cache: &SegmentedCache<String, Stored, KeyHasher>, key: &str) -> bool {
    let now = Moment::now();
    match cache.entry_by_ref(key).and_compute_with(|_| Op::Remove) {
        CompResult::Removed(entry) => entry.value().is_live(now),
        _ => false,
    }
}

/// moka's `and_compute_with` runs the comparison and the write under the entry's lock, which
/// every write of this backend takes (`set`, `delete`, pattern invalidation), so both are
/// atomic with respect to every other write of the key.
#[async_trait]
impl ConditionalWrites for MemoryBackend {
    async fn compare_and_set(
        &self,
        key: &str,
        expected: &Payload,
        payload: Payload,
        lifetime: Duration,
    ) -> Result<bool> {
        let now = Moment::now();
        let result = self
            .cache
            .entry_by_ref(key)
            .and_compute_with(|current| match current {
                Some(entry) if is_expected(entry.value(), expected, now) => {
                    Op::Put(Stored::new(payload, lifetime))
                }
                _ => Op::Nop,
            });
        Ok(matches!(result, CompResult::ReplacedWith(_)))
    }

    async fn compare_and_delete(&self, key: &str, expected: &Payload) -> Result<bool> {
        let now = Moment::now();
        let result = self
            .cache
            .entry_by_ref(key)
            .and_compute_with(|current| match current {
                Some(entry) if is_expected(entry.value(), expected, now) => Op::Remove,
                _ => Op::Nop,
            });
        Ok(matches!(result, CompResult::Removed(_)))
    }
}

fn is_expected(stored: &Stored, expected: &Payload, now: Moment) -> bool {
    stored.is_live(now) && stored.payload.same_entry(expected)
}
