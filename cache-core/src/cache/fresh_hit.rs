//! The hit path: a fresh hit settled without awaiting, without a decision to carry around and
//! without a draw — one read of the hit's clock (a bound of the precise one, see
//! `hit_clock.rs`, shared with the store), the entry checked where it lies and
//! handed out as it is ([`Value`]: the store's own reference count, the only one a hit moves).
//! What it cannot settle goes to the full read path (`read_path.rs`).

use std::time::Duration;

use super::Inner;
use super::l1::TagCheck;
use crate::backend::{ObjectPayload, Payload, StoredEntry};
use crate::codec::Codec;
use crate::envelope::EntryTiming;
use crate::error::Result as CacheResult;
use crate::hit_clock::HitTime;
use crate::moment::Moment;
use crate::options::{Lookup, Source, Tier};
use crate::stats::Stats;
use crate::value::Value;

/// What [`Inner::fresh_hit`] learned from the store's `get_now`, handed to the full read so the
/// store is not asked twice.
pub(crate) enum Prefetched {
    /// The store was not asked (an L1 in front of it, or its breaker not closed).
    NotAsked,
    /// The store cannot answer without awaiting (a network store): the full read awaits `get`.
    MustAwait,
    /// An in-process store's answer.
    Answered(CacheResult<Option<StoredEntry>>),
}

/// A fresh hit: the value and the tier that held it (what `get_or_compute_detailed` reports).
pub(crate) struct Hit<T> {
    pub value: Value<T>,
    pub tier: Tier,
}

impl<T> Hit<T> {
    /// The hit as a [`Lookup`].
    pub(crate) fn lookup(self) -> Lookup<T> {
        Lookup {
            value: self.value,
            source: Source::Hit,
            tier: Some(self.tier),
            compute_time: None,
        }
    }
}

/// The policy's [`surely_fresh_above`](crate::RefreshPolicy::surely_fresh_above) bound, kept
/// in an in-process store's object: a hit of it compares one duration. It names the cache
/// whose policy computed it, so another cache sharing the store asks its own policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FreshBound {
    policy: u64,
    above: Duration,
}

impl<C: Codec> Inner<C> {
    /// The bound this cache's policy gives entries with `timing`, for the objects it writes.
    pub(crate) fn fresh_bound(&self, timing: &EntryTiming) -> Option<FreshBound> {
        let above = self.policy.surely_fresh_above(timing)?;
        Some(FreshBound {
            policy: self.policy_id,
            above,
        })
    }

    /// The common hit: a fresh entry of the L1 or of an in-process store, certainly not due
    /// for an early refresh, whose stamp (tags, `clear()`) checks without I/O. Counted as a hit,
    /// and handed to `hit` with its tier. `Err` for everything else (nothing counted or drawn),
    /// with what an in-process store answered, for [`read`](Self::read) and the full decision:
    /// the store is not asked twice.
    ///
    /// A caller that needs only the value returns just the value: a three-word [`Hit`], moved
    /// through the nested results of the hit path in overlapping pieces, stalled the loads
    /// reading it back (store forwarding failed: `perf annotate` put a quarter of
    /// `get_or_compute`'s own time on two such loads).
    // The store's answer is handed back by value: boxing it would allocate on every read the
    // hit path does not settle, and at 72 bytes it moves in registers.
    #[allow(clippy::result_large_err)]
    #[inline(always)]
    pub(crate) fn fresh_hit<T, R>(
        &self,
        key: &str,
        hit: impl FnOnce(Value<T>, Tier) -> R,
    ) -> Result<R, Prefetched>
    where
        T: Send + Sync + 'static,
    {
        let time = HitTime::read();
        let now = time.moment();
        let (value, tier) = match &self.l1 {
            Some(l1) => {
                let object = l1
                    .fresh(key, now, |object, remaining, check| {
                        self.fresh_at(object, remaining, now, Some(check))
                    })
                    .ok_or(Prefetched::NotAsked)?;
                // Another type under the key: the full read reports it.
                let value = Value::stored(object).map_err(|_| Prefetched::NotAsked)?;
                Stats::bump(&self.stats.l1_hits);
                (value, Tier::L1)
            }
            None => {
                let read = self.ask_now(key, now);
                let value = self.fresh_object(read, now).map_err(|read| match read {
                    // Answered at a bound: an entry it calls expired or not surely fresh may
                    // not be, so the full read asks again at the precise time.
                    Prefetched::Answered(_) if !time.is_exact() => Prefetched::NotAsked,
                    read => read,
                })?;
                (value, Tier::L2)
            }
        };
        Stats::bump(&self.stats.hits);
        Ok(hit(value, tier))
    }

    /// The store's answer to `get_now` at `now`, unless `key`'s breaker is not closed.
    pub(crate) fn ask_now(&self, key: &str, now: Moment) -> Prefetched {
        let domain = self.backend.failure_domain(key);
        if !self.breakers.of(domain).is_closed() {
            return Prefetched::NotAsked;
        }
        match self.backend.get_now(key, now) {
            Some(read) => Prefetched::Answered(read),
            None => Prefetched::MustAwait,
        }
    }

    /// The value of an in-process store's answer, when it is a fresh object of type `T`: the
    /// store's own entry, checked where it lies. `Err`: the answer as it was, for the full read.
    #[allow(clippy::result_large_err)] // as `fresh_hit`
    fn fresh_object<T: 'static>(
        &self,
        read: Prefetched,
        now: Moment,
    ) -> Result<Value<T>, Prefetched> {
        match read {
            Prefetched::Answered(Ok(Some(StoredEntry {
                payload: Payload::Object(object),
                remaining,
            }))) if self.fresh_at(&object, remaining, now, None) => {
                // Another type under the key: the full read reports it.
                Value::stored(object).map_err(|object| {
                    Prefetched::Answered(Ok(Some(StoredEntry {
                        payload: Payload::Object(object),
                        remaining,
                    })))
                })
            }
            read => Err(read),
        }
    }

    /// Whether `object`, with `remaining` physical lifetime, is a fresh hit at `now`: certainly
    /// not due for a refresh (by its kept bound when this cache's policy computed one), and its
    /// stamp holds without I/O.
    fn fresh_at(
        &self,
        object: &ObjectPayload,
        remaining: Option<Duration>,
        now: Moment,
        check: Option<TagCheck<'_>>,
    ) -> bool {
        let surely_fresh = match object.fresh {
            Some(bound) if bound.policy == self.policy_id => {
                remaining.is_none_or(|remaining| remaining > bound.above)
            }
            _ => self.policy.surely_fresh(&object.header.timing(), remaining),
        };
        surely_fresh && self.stamp_holds_now(&object.header, now, check) == Some(true)
    }
}
