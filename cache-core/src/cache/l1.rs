//! The in-process tier (L1) in front of the backend (L2), kept coherent by the backend's change
//! feed (see [`crate::coherence`]).
//!
//! An L1 entry is the decoded envelope of an L2 read, kept for the remaining lifetime L2
//! reported, so every decision (X-Fetch, stale, fail-safe) sees the same remaining time on
//! either tier. It is served only while three things hold:
//!
//! 1. no change of its key was reported since *before* the L2 read that filled it: each key
//!    hashes to a stripe whose counter every change bumps; the fill records the counter as it
//!    was before the read was sent, and a hit requires it unchanged. So a change the store sent
//!    after serving our read wins over the fill, whichever arrives first;
//! 2. no "anything may have changed" (reconnect, flush, lag) since the fill: a global epoch;
//! 3. the feed proved itself alive within its staleness bound: the last heartbeat covered every
//!    change made before `as_of`, and `now − as_of ≤ bound`.
//!
//! Hence the promise: an L1 hit never returns a value the store replaced more than the feed's
//! staleness bound ago. A stripe shared by two keys costs a needless L1 miss, never a stale hit.
//!
//! Written by hand: moka gives the bounded store (the L1 backend), but no crate offers this
//! read/invalidate ordering over an external invalidation channel.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::gateway::Found;
use crate::backend::{CacheBackend, ObjectPayload, Payload};
use crate::coherence::{ChangeSink, FeedHandle, FeedState};
use crate::envelope::Envelope;
use crate::stats::Stats;
use crate::tag::TagVersion;

/// Stripes of change counters: enough that a change rarely costs another key its L1 entry
/// (64 KiB of counters).
const STRIPES: usize = 1 << 14;

/// What the L1 stores for a key (beside the entry's header, which the L1 store keeps inline:
/// [`ObjectPayload::header`]): the decoded value, the L2 bytes it came from (its write
/// identity, for conditional writes on L2), and the coherence stamps of its fill.
pub(crate) struct L1Entry<T> {
    value: T,
    raw: Option<bytes::Bytes>,
    size: usize,
    epoch: u64,
    /// The key's stripe (kept, so a hit hashes its key once: for the store).
    stripe: u32,
    seq: u32,
    /// The stripes of the version keys of the entry's tags, in the envelope's tag order.
    tag_stripes: Box<[u32]>,
    /// Per tag, one plus its version key's stripe counter as of which its version was last
    /// found unchanged; 0: not yet.
    tags_checked: Box<[AtomicU64]>,
}

/// Whether a tagged L1 entry's tag versions still hold without looking them up: each was found
/// unchanged, and no change of its version key was reported since — one counter load per tag
/// instead of a lookup, and an invalidation of another tag costs this entry nothing.
pub(crate) struct TagCheck<'a> {
    stripes: &'a [AtomicU32],
    tag_stripes: &'a [u32],
    checked: &'a [AtomicU64],
}

impl TagCheck<'_> {
    fn counters(&self) -> impl Iterator<Item = u64> + '_ {
        self.tag_stripes
            .iter()
            .map(|&stripe| u64::from(self.stripes[stripe as usize].load(Ordering::SeqCst)))
    }

    /// Every tag's version was found unchanged, and its version key did not change since.
    pub(crate) fn still_holds(&self) -> bool {
        self.counters()
            .zip(self.checked)
            .all(|(now, checked)| checked.load(Ordering::Acquire) == now + 1)
    }

    /// The counters to take before looking the versions up.
    pub(crate) fn start(&self) -> Vec<u64> {
        self.counters().collect()
    }

    /// The versions looked up after [`start`](Self::start) returned `counters` held.
    pub(crate) fn held(&self, counters: Vec<u64>) {
        for (checked, counter) in self.checked.iter().zip(counters) {
            checked.store(counter + 1, Ordering::Release);
        }
    }
}

/// The L2 bytes an L1 entry was filled from (`holder` is an `L1Entry<T>`).
pub(crate) fn raw_of<T: Send + Sync + 'static>(
    holder: &(dyn std::any::Any + Send + Sync),
) -> Option<bytes::Bytes> {
    holder.downcast_ref::<L1Entry<T>>()?.raw.clone()
}

/// A tag or namespace version the L1 keeps (see `Inner::tag_versions`), with the coherence
/// stamps of its fill.
struct L1Version {
    version: TagVersion,
    epoch: u64,
    seq: u32,
}

/// The header of an [`L1Version`] object, which no one reads: the version is in the object.
const VERSION_HEADER: Envelope<()> = Envelope {
    version: crate::envelope::ENVELOPE_VERSION,
    ttl_ms: 0,
    grace_ms: 0,
    delta_us: 0,
    stored_at_ms: 0,
    id: 0,
    ns: None,
    tags: None,
    value: (),
};

/// Stamps taken before an L2 read; a fill is valid only if nothing changed since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    stripe: usize,
    epoch: u64,
    seq: u32,
}

/// The coherence state the change feed reports to.
pub(crate) struct Coherence {
    stripes: Box<[AtomicU32]>,
    epoch: AtomicU64,
    hasher: foldhash::fast::FixedState,
    /// Clock origin of `alive_as_of`.
    origin: Instant,
    /// Nanoseconds after `origin` up to which the feed proved delivery, plus one (0: never).
    alive_as_of: AtomicU64,
    /// The feed's staleness bound in nanoseconds (0 until the feed is running).
    bound: AtomicU64,
    stats: Arc<Stats>,
}

impl Coherence {
    fn new(stats: Arc<Stats>) -> Self {
        Coherence {
            stripes: (0..STRIPES).map(|_| AtomicU32::new(0)).collect(),
            epoch: AtomicU64::new(0),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed_1c0d),
            origin: Instant::now(),
            alive_as_of: AtomicU64::new(0),
            bound: AtomicU64::new(0),
            stats,
        }
    }

    fn stripe(&self, key: &str) -> usize {
        self.hasher.hash_one(key) as usize % STRIPES
    }

    fn ticket(&self, key: &str) -> Ticket {
        let stripe = self.stripe(key);
        // SeqCst: the ticket is taken before the read is sent, and must not be reordered after
        // it; a change bumped after this load is seen by `valid`.
        Ticket {
            stripe,
            epoch: self.epoch.load(Ordering::SeqCst),
            seq: self.stripes[stripe].load(Ordering::SeqCst),
        }
    }

    fn still_valid(&self, stripe: usize, epoch: u64, seq: u32) -> bool {
        self.stripes[stripe].load(Ordering::SeqCst) == seq
            && self.epoch.load(Ordering::SeqCst) == epoch
    }

    /// Whether, at `now`, the feed proved delivery recently enough for the L1 to serve.
    fn live_at(&self, now: Instant) -> bool {
        let as_of = self.alive_as_of.load(Ordering::Acquire);
        if as_of == 0 {
            return false;
        }
        let now = now.saturating_duration_since(self.origin).as_nanos() as u64;
        now.saturating_sub(as_of - 1) <= self.bound.load(Ordering::Relaxed)
    }

    /// Drops `key` from the L1 (a change reported, or our own write).
    fn forget(&self, key: &str) {
        self.stripes[self.stripe(key)].fetch_add(1, Ordering::SeqCst);
    }

    /// Drops everything from the L1.
    fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

impl ChangeSink for Coherence {
    fn changed(&self, key: &str) {
        self.forget(key);
        Stats::bump(&self.stats.l1_invalidations);
    }

    fn changed_all(&self) {
        self.forget_all();
        Stats::bump(&self.stats.l1_flushes);
    }

    fn alive(&self, as_of: Instant) {
        let nanos = as_of.saturating_duration_since(self.origin).as_nanos() as u64 + 1;
        self.alive_as_of.fetch_max(nanos, Ordering::AcqRel);
    }
}

/// The L1: a bounded in-process store and the coherence state that says what it may serve.
pub(crate) struct L1 {
    store: Arc<dyn CacheBackend>,
    coherence: Arc<Coherence>,
    feed: FeedHandle,
}

impl std::fmt::Debug for L1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L1")
            .field("store", &self.store)
            .field("feed", &self.feed)
            .finish_non_exhaustive()
    }
}

impl L1 {
    /// An L1 over `store`, coherent with `l2` — or `None`, with one warning naming the cause,
    /// when `l2` offers no change feed (an incoherent L1 is never used).
    pub(crate) fn start(
        store: Arc<dyn CacheBackend>,
        l2: &dyn CacheBackend,
        heartbeat: Duration,
        stats: Arc<Stats>,
    ) -> Option<Self> {
        let coherence = Arc::new(Coherence::new(stats));
        let options = crate::coherence::FeedOptions::with_heartbeat(heartbeat);
        match l2.watch_changes(coherence.clone(), options) {
            Ok(feed) => {
                let bound = feed.staleness_bound().as_nanos().min(u64::MAX as u128) as u64;
                coherence.bound.store(bound, Ordering::Relaxed);
                Some(L1 {
                    store,
                    coherence,
                    feed,
                })
            }
            Err(err) => {
                tracing::warn!(
                    backend = l2.name(),
                    error = %err,
                    "L1 not used: the backend offers no change feed to keep it coherent"
                );
                None
            }
        }
    }

    /// The feed's state, for health and metrics.
    pub(crate) fn feed_state(&self) -> FeedState {
        self.feed.state()
    }

    /// The most an L1 hit may lag the backend.
    pub(crate) fn staleness_bound(&self) -> Duration {
        self.feed.staleness_bound()
    }

    /// A valid L1 entry for `key`, if the L1 may serve now.
    pub(crate) fn hit<T: Clone + Send + Sync + 'static>(&self, key: &str) -> Option<Found<T>> {
        let now = Instant::now();
        if !self.coherence.live_at(now) {
            return None;
        }
        self.entry(key, now)
    }

    /// [`hit`](Self::hit) for the hit path: `f` of the valid entry's header, value, remaining
    /// lifetime and tag check, by reference (no clone of the entry), if the L1 may serve at
    /// `now`.
    pub(crate) fn with_entry<T: Send + Sync + 'static, R>(
        &self,
        key: &str,
        now: Instant,
        f: impl FnOnce(&Envelope<()>, &T, Option<Duration>, TagCheck<'_>) -> Option<R>,
    ) -> Option<R> {
        if !self.coherence.live_at(now) {
            return None;
        }
        self.with_valid(key, now, |l1, object, remaining| {
            let check = TagCheck {
                stripes: &self.coherence.stripes,
                tag_stripes: &l1.tag_stripes,
                checked: &l1.tags_checked,
            };
            f(&object.header, &l1.value, remaining, check)
        })
    }

    /// What the L1 holds of `key`, alive feed or not: when the backend is down, the last good
    /// value for fail-safe (never served as fresh).
    pub(crate) fn last_good<T: Clone + Send + Sync + 'static>(
        &self,
        key: &str,
    ) -> Option<Found<T>> {
        self.entry(key, Instant::now())
    }

    /// The L1 entry of `key`, unless a change of the key (or a flush) was reported since the
    /// read that filled it.
    fn entry<T: Clone + Send + Sync + 'static>(&self, key: &str, now: Instant) -> Option<Found<T>> {
        self.with_valid(key, now, |l1: &L1Entry<T>, object, remaining| {
            let env = object.header.clone().map_value(|()| l1.value.clone());
            let holder = Arc::clone(&object.value);
            Some(Found::from_l1(Arc::new(env), remaining, holder, l1.size))
        })
    }

    /// `f` of the L1 entry of `key` (with the object the store holds and its remaining
    /// lifetime), unless a change of the key (or a flush) was reported since the read that
    /// filled it.
    fn with_valid<T: Send + Sync + 'static, R>(
        &self,
        key: &str,
        now: Instant,
        f: impl FnOnce(&L1Entry<T>, &ObjectPayload, Option<Duration>) -> Option<R>,
    ) -> Option<R> {
        let (object, remaining) = self.kept(key, now)?;
        let l1 = object.value.downcast_ref::<L1Entry<T>>()?;
        let valid = self
            .coherence
            .still_valid(l1.stripe as usize, l1.epoch, l1.seq);
        valid.then(|| f(l1, &object, remaining)).flatten()
    }

    /// The version the L1 holds under the version key `key`, if the L1 may serve now.
    pub(crate) fn version(&self, key: &str) -> Option<TagVersion> {
        self.version_at(key, Instant::now())
    }

    /// The version the L1 holds under the version key `key`, if the L1 may serve at `now`.
    pub(crate) fn version_at(&self, key: &str, now: Instant) -> Option<TagVersion> {
        if !self.coherence.live_at(now) {
            return None;
        }
        let (object, _) = self.kept(key, now)?;
        let kept = object.value.downcast_ref::<L1Version>()?;
        self.still_valid(key, kept.epoch, kept.seq)
            .then_some(kept.version)
    }

    /// The object the L1 store holds under `key`, with its remaining lifetime.
    fn kept(&self, key: &str, now: Instant) -> Option<(ObjectPayload, Option<Duration>)> {
        let Some(Ok(Some(entry))) = self.store.get_now(key, now.into_std()) else {
            return None;
        };
        match entry.payload {
            Payload::Object(object) => Some((object, entry.remaining)),
            Payload::Bytes(_) => None,
        }
    }

    /// Whether no change of `key` (nor a flush) was reported since a fill stamped `epoch`/`seq`.
    fn still_valid(&self, key: &str, epoch: u64, seq: u32) -> bool {
        let stripe = self.coherence.stripe(key);
        self.coherence.still_valid(stripe, epoch, seq)
    }

    /// Keeps a version read from L2, unless its key changed since `ticket` was taken.
    pub(crate) async fn fill_version(
        &self,
        key: &str,
        ticket: Ticket,
        version: TagVersion,
        lifetime: Duration,
    ) {
        let kept = L1Version {
            version,
            epoch: ticket.epoch,
            seq: ticket.seq,
        };
        let size = std::mem::size_of::<L1Version>();
        let object = ObjectPayload::new(VERSION_HEADER, Arc::new(kept), size);
        self.keep(key, ticket, object, lifetime).await;
    }

    /// Stamps to take before reading `key` from L2.
    pub(crate) fn ticket(&self, key: &str) -> Ticket {
        self.coherence.ticket(key)
    }

    /// Keeps what an L2 read found, unless `key` changed since `ticket` was taken.
    pub(crate) async fn fill<T: Clone + Send + Sync + 'static>(
        &self,
        key: &str,
        ticket: Ticket,
        found: &Found<T>,
    ) {
        let lifetime = found.remaining.unwrap_or_else(|| found.env.lifetime());
        let (raw, size) = found.identity();
        // A copy of exactly the entry: the read's bytes may be a slice of a connection's whole
        // read buffer, which the L1 would otherwise keep alive for the entry's lifetime.
        let raw = raw.map(|bytes| bytes::Bytes::copy_from_slice(&bytes));
        let tag_stripes: Box<[u32]> = found
            .env
            .tags
            .iter()
            .flat_map(|tags| tags.keys())
            .map(|tag| self.coherence.stripe(&crate::tag::version_key(tag)) as u32)
            .collect();
        let header = found.env.header();
        let entry = L1Entry {
            tags_checked: tag_stripes.iter().map(|_| AtomicU64::new(0)).collect(),
            tag_stripes,
            value: found.env.value.clone(),
            raw,
            size,
            epoch: ticket.epoch,
            stripe: ticket.stripe as u32,
            seq: ticket.seq,
        };
        let object = ObjectPayload::new(header, Arc::new(entry), size);
        if self.keep(key, ticket, object, lifetime).await {
            Stats::bump(&self.coherence.stats.l1_fills);
        }
    }

    /// Stores `object` for `lifetime`, unless `key` changed since `ticket` was taken; whether it
    /// did. A failed fill only costs a later L1 miss.
    async fn keep(
        &self,
        key: &str,
        ticket: Ticket,
        object: ObjectPayload,
        lifetime: Duration,
    ) -> bool {
        if lifetime.is_zero()
            || !self
                .coherence
                .still_valid(ticket.stripe, ticket.epoch, ticket.seq)
        {
            return false;
        }
        self.store
            .set(key, Payload::Object(object), lifetime)
            .await
            .is_ok()
    }

    /// Drops `key` (after our own write or delete of it).
    pub(crate) fn forget(&self, key: &str) {
        self.coherence.forget(key);
    }

    /// Drops everything (after a pattern invalidation or a clear).
    pub(crate) fn forget_all(&self) {
        self.coherence.forget_all();
    }
}
