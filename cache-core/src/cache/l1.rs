//! The in-process tier (L1) in front of the backend (L2), kept coherent by the backend's change
//! feed (see [`crate::coherence`]).
//!
//! An L1 entry is the decoded value and header of an L2 read (not its bytes), with the fill's
//! coherence stamps inline ([`L1Fill`]), kept for the remaining lifetime L2 reported, so every
//! decision (X-Fetch, stale, fail-safe) sees the same remaining time on either tier. It is served only while three things hold:
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
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use smallvec::SmallVec;
use tokio::time::Instant;

use super::gateway::Found;
use crate::backend::{CacheBackend, ObjectPayload, Payload, PayloadKind, StoredEntry};
use crate::coherence::{ChangeSink, FeedHandle, FeedState};
use crate::decoded::Shared;
use crate::envelope::{Envelope, TagVersions};
use crate::moment::Moment;
use crate::stats::Stats;
use crate::tag::TagVersion;

/// `alive_as_of` before the feed first proved delivery (below every moment a clock reads).
const NOT_YET: i64 = i64::MIN;

/// Stripes of change counters: enough that a change rarely costs another key its L1 entry
/// (64 KiB of counters).
const STRIPES: usize = 1 << 14;

/// The coherence stamps of an L1 fill, kept inline in the stored object
/// ([`ObjectPayload`]'s `fill`) beside the decoded value's own `Arc`: an L1 hit then touches the
/// same shared memory as an in-process store's hit (a separate entry allocation cost two more
/// atomic operations and one more cache line per hit). The L2 bytes are not kept: a conditional
/// write on L2 from an L1 copy reads them again (see `Found::payload`). The key's stripe is
/// kept, so a hit does not hash the key a second time.
#[derive(Clone)]
pub(crate) struct L1Fill {
    epoch: NonZeroU32,
    seq: u32,
    /// The key's stripe: the L1 stores a fill under the key its ticket was taken for.
    stripe: u32,
    /// A tagged entry's tags and their check state, shared (an untagged hit touches no
    /// reference count).
    tags: Option<Arc<TagChecks>>,
}

/// A tagged L1 entry's tags: the versions its value was computed under (kept here rather than
/// in the stored header, so a hit moves one reference count for them, not two — each a cache
/// line of its own), and per tag the check state of its version key ([`TagSlot`]), inline for
/// up to two tags: a tagged hit then reads this allocation and the stripe counters, where a
/// slice of stripes and one of check states took two more cache lines per hit.
struct TagChecks {
    /// The entry's tags and the versions it recorded (the stored header's `tags` is `None`;
    /// [`L1::entry`] puts them back).
    versions: Arc<TagVersions>,
    /// One per tag, in the envelope's tag order.
    slots: SmallVec<[TagSlot; 2]>,
}

/// The check state of one tag of an L1 entry.
struct TagSlot {
    /// The stripe of the tag's version key.
    stripe: u32,
    /// One plus that stripe's counter as of which the tag's version was last found unchanged;
    /// 0: not yet.
    checked: AtomicU64,
}

/// Whether a tagged L1 entry's tag versions still hold without looking them up: each was found
/// unchanged, and no change of its version key was reported since — one counter load per tag
/// instead of a lookup, and an invalidation of another tag costs this entry nothing.
pub(crate) struct TagCheck<'a> {
    /// The entry's tags and recorded versions (`None`: untagged).
    versions: Option<&'a TagVersions>,
    stripes: &'a [AtomicU32],
    slots: &'a [TagSlot],
}

impl<'a> TagCheck<'a> {
    /// The entry's tags and the versions it recorded; `None` for an untagged entry.
    pub(crate) fn versions(&self) -> Option<&'a TagVersions> {
        self.versions
    }

    fn counter(&self, slot: &TagSlot) -> u64 {
        u64::from(self.stripes[slot.stripe as usize].load(Ordering::SeqCst))
    }

    /// Every tag's version was found unchanged, and its version key did not change since.
    pub(crate) fn still_holds(&self) -> bool {
        self.slots
            .iter()
            .all(|slot| slot.checked.load(Ordering::Acquire) == self.counter(slot) + 1)
    }

    /// The counters to take before looking the versions up.
    pub(crate) fn start(&self) -> Vec<u64> {
        self.slots.iter().map(|slot| self.counter(slot)).collect()
    }

    /// The versions looked up after [`start`](Self::start) returned `counters` held.
    pub(crate) fn held(&self, counters: Vec<u64>) {
        for (slot, counter) in self.slots.iter().zip(counters) {
            slot.checked.store(counter + 1, Ordering::Release);
        }
    }
}

/// The header of a tag or namespace version the L1 keeps (the value is the `TagVersion`),
/// which no one reads: the version is in the object.
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

/// A valid L1 entry, as [`L1::with_valid`] found it: the stored object and its remaining
/// lifetime.
struct Valid {
    object: Arc<ObjectPayload>,
    remaining: Option<Duration>,
}

/// Stamps taken before an L2 read; a fill is valid only if nothing changed since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    stripe: usize,
    epoch: NonZeroU32,
    seq: u32,
}

/// The coherence state the change feed reports to.
pub(crate) struct Coherence {
    stripes: Box<[AtomicU32]>,
    /// Never zero (so a stamp needs no flag to say it was taken); wraps after 2³² flushes.
    epoch: AtomicU32,
    hasher: foldhash::fast::FixedState,
    /// The [`Moment`] (as nanoseconds) up to which the feed proved delivery; `NOT_YET`: never.
    alive_as_of: AtomicI64,
    /// The feed's staleness bound in nanoseconds (0 until the feed is running).
    bound: AtomicU64,
    stats: Arc<Stats>,
}

impl Coherence {
    fn new(stats: Arc<Stats>) -> Self {
        Coherence {
            stripes: (0..STRIPES).map(|_| AtomicU32::new(0)).collect(),
            epoch: AtomicU32::new(1),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed_1c0d),
            alive_as_of: AtomicI64::new(NOT_YET),
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
            epoch: self.epoch(),
            seq: self.stripes[stripe].load(Ordering::SeqCst),
        }
    }

    fn epoch(&self) -> NonZeroU32 {
        NonZeroU32::new(self.epoch.load(Ordering::SeqCst)).unwrap_or(NonZeroU32::MIN)
    }

    fn still_valid(&self, stripe: usize, epoch: NonZeroU32, seq: u32) -> bool {
        self.stripes[stripe].load(Ordering::SeqCst) == seq && self.epoch() == epoch
    }

    /// Whether, at `now`, the feed proved delivery recently enough for the L1 to serve.
    #[inline]
    fn live_at(&self, now: Moment) -> bool {
        let as_of = self.alive_as_of.load(Ordering::Acquire);
        if as_of == NOT_YET {
            return false;
        }
        let lag = now.as_nanos().saturating_sub(as_of);
        lag <= 0 || lag.unsigned_abs() <= self.bound.load(Ordering::Relaxed)
    }

    /// Drops `key` from the L1 (a change reported, or our own write).
    fn forget(&self, key: &str) {
        self.stripes[self.stripe(key)].fetch_add(1, Ordering::SeqCst);
    }

    /// Drops everything from the L1.
    fn forget_all(&self) {
        // Once every 2³² flushes the epoch comes back to values old fills were stamped with:
        // then every stripe moves on too (first, so no instant exists where the old stamps
        // hold again), and those fills stay invalid.
        if self.epoch.load(Ordering::SeqCst) == u32::MAX {
            for stripe in self.stripes.iter() {
                stripe.fetch_add(1, Ordering::SeqCst);
            }
        }
        let next = |epoch: u32| Some(epoch.wrapping_add(1).max(1));
        // Cannot fail: the update always gives a value.
        let _ = self
            .epoch
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, next);
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
        let nanos = Moment::at(as_of.into_std()).as_nanos();
        self.alive_as_of.fetch_max(nanos, Ordering::AcqRel);
    }
}

/// The L1: a bounded in-process store and the coherence state that says what it may serve.
pub(crate) struct L1 {
    store: Arc<dyn CacheBackend>,
    coherence: Arc<Coherence>,
    feed: FeedHandle,
    /// Whether L2 keeps objects: an L1 copy then holds L2's own object (its write identity).
    l2_objects: bool,
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
                    l2_objects: l2.payload_kind() == PayloadKind::Object,
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
    pub(crate) fn hit<T: Shared>(&self, key: &str) -> Option<Found<T>> {
        let now = Moment::now();
        if !self.coherence.live_at(now) {
            return None;
        }
        self.entry(key, now)
    }

    /// The hit path's read: `key`'s valid entry, if the L1 may serve at `now` and `fresh`
    /// accepts the entry's object, remaining lifetime and tag check — the store's own object,
    /// for the hit to hand out as it is.
    pub(crate) fn fresh(
        &self,
        key: &str,
        now: Moment,
        fresh: impl FnOnce(&ObjectPayload, Option<Duration>, TagCheck<'_>) -> bool,
    ) -> Option<Arc<ObjectPayload>> {
        if !self.coherence.live_at(now) {
            return None;
        }
        self.with_valid(key, now, |valid| {
            let accepted = fresh(
                &valid.object,
                valid.remaining,
                self.check(&valid.object.fill),
            );
            accepted.then_some(valid.object)
        })
    }

    /// What the L1 holds of `key`, alive feed or not: when the backend is down, the last good
    /// value for fail-safe (never served as fresh).
    pub(crate) fn last_good<T: Shared>(&self, key: &str) -> Option<Found<T>> {
        self.entry(key, Moment::now())
    }

    /// The L1 entry of `key`, unless a change of the key (or a flush) was reported since the
    /// read that filled it.
    fn entry<T: Shared>(&self, key: &str, now: Moment) -> Option<Found<T>> {
        self.with_valid(key, now, |valid| {
            let object = &valid.object;
            let value = T::from_object(&object.value)?;
            let mut header = object.header.clone();
            if let Some(tags) = object.fill.as_ref().and_then(|fill| fill.tags.as_ref()) {
                header.tags = Some(tags.versions.clone());
            }
            let env = Arc::new(header.map_value(|()| value));
            Some(Found::from_l1(
                env,
                valid.remaining,
                object.size,
                self.l2_objects,
            ))
        })
    }

    /// `f` of the object the L1 store holds under `key` (with its remaining lifetime), unless
    /// a change of the key (or a flush) was reported since the read that filled it, or the
    /// store lost the fill's stamps.
    #[inline]
    fn with_valid<R>(
        &self,
        key: &str,
        now: Moment,
        f: impl FnOnce(Valid) -> Option<R>,
    ) -> Option<R> {
        let Some(Ok(Some(StoredEntry {
            payload: Payload::Object(object),
            remaining,
        }))) = self.store.get_now(key, now)
        else {
            return None;
        };
        let fill = object.fill.as_ref()?;
        if !self
            .coherence
            .still_valid(fill.stripe as usize, fill.epoch, fill.seq)
        {
            return None;
        }
        f(Valid { object, remaining })
    }

    /// The tag check of an entry filled with `fill`'s stamps (none: an untagged entry's).
    /// Inline: built out of line, it came back through the stack in pieces that the hit then
    /// read whole (a failed store forward: a third of `L1::fresh`'s own time in `perf`).
    #[inline(always)]
    fn check<'a>(&'a self, fill: &'a Option<L1Fill>) -> TagCheck<'a> {
        let tags = fill.as_ref().and_then(|fill| fill.tags.as_ref());
        TagCheck {
            versions: tags.map(|tags| &*tags.versions),
            stripes: &self.coherence.stripes,
            slots: tags.map_or(&[], |tags| &tags.slots),
        }
    }

    /// The version the L1 holds under the version key `key`, if the L1 may serve now.
    pub(crate) fn version(&self, key: &str) -> Option<TagVersion> {
        self.version_at(key, Moment::now())
    }

    /// The version the L1 holds under the version key `key`, if the L1 may serve at `now`.
    pub(crate) fn version_at(&self, key: &str, now: Moment) -> Option<TagVersion> {
        if !self.coherence.live_at(now) {
            return None;
        }
        self.with_valid(key, now, |valid| {
            valid.object.value.downcast_ref::<TagVersion>().copied()
        })
    }

    /// Keeps a version read from L2, unless its key changed since `ticket` was taken.
    pub(crate) async fn fill_version(
        &self,
        key: &str,
        ticket: Ticket,
        version: TagVersion,
        lifetime: Duration,
    ) {
        let size = std::mem::size_of::<TagVersion>();
        let object = ObjectPayload::new(VERSION_HEADER, Arc::new(version), size);
        self.keep(key, ticket, object, None, lifetime).await;
    }

    /// Stamps to take before reading `key` from L2.
    pub(crate) fn ticket(&self, key: &str) -> Ticket {
        self.coherence.ticket(key)
    }

    /// Keeps what an L2 read found, unless `key` changed since `ticket` was taken.
    /// `fresh`: the cache's freshness bound for the entry, kept with it for its hits.
    pub(crate) async fn fill<T: Shared>(
        &self,
        key: &str,
        ticket: Ticket,
        found: &Found<T>,
        fresh: Option<crate::cache::FreshBound>,
    ) {
        let lifetime = found.remaining.unwrap_or_else(|| found.env.lifetime());
        let tags = found.env.tags.as_ref().map(|tags| {
            let slots = tags.keys().map(|tag| TagSlot {
                stripe: self.coherence.stripe(&crate::tag::version_key(tag)) as u32,
                checked: AtomicU64::new(0),
            });
            Arc::new(TagChecks {
                versions: tags.clone(),
                slots: slots.collect(),
            })
        });
        let value = found.env.value.clone().into_object();
        let mut header = found.env.header();
        // The tags live in the fill's check state (see `TagChecks`).
        header.tags = None;
        let mut object = ObjectPayload::new(header, value, found.size());
        object.fresh = fresh;
        if self.keep(key, ticket, object, tags, lifetime).await {
            Stats::bump(&self.coherence.stats.l1_fills);
        }
    }

    /// Stores `object` for `lifetime`, unless `key` changed since `ticket` was taken; whether it
    /// did. A failed fill only costs a later L1 miss.
    async fn keep(
        &self,
        key: &str,
        ticket: Ticket,
        mut object: ObjectPayload,
        tags: Option<Arc<TagChecks>>,
        lifetime: Duration,
    ) -> bool {
        if lifetime.is_zero()
            || !self
                .coherence
                .still_valid(ticket.stripe, ticket.epoch, ticket.seq)
        {
            return false;
        }
        object.fill = Some(L1Fill {
            epoch: ticket.epoch,
            seq: ticket.seq,
            stripe: ticket.stripe as u32,
            tags,
        });
        self.store
            .set(key, Payload::Object(Arc::new(object)), lifetime)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_from_before_the_epoch_wrapped_stays_invalid() {
        let coherence = Coherence::new(Arc::new(Stats::default()));
        let old = coherence.ticket("k");
        // 2³² − 2 flushes later, the next one wraps the epoch back to the old fill's.
        coherence.epoch.store(u32::MAX, Ordering::SeqCst);
        coherence.forget_all();
        assert_eq!(coherence.epoch(), old.epoch);
        assert!(!coherence.still_valid(old.stripe, old.epoch, old.seq));
        let fresh = coherence.ticket("k");
        assert!(coherence.still_valid(fresh.stripe, fresh.epoch, fresh.seq));
    }
}
