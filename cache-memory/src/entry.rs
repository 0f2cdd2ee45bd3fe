//! What the moka cache holds per key, and the per-entry expiry and weight moka reads from it.

use std::time::{Duration, Instant};

use cache_core::Payload;
use moka::Expiry;

/// A stored payload and the instant it stops being servable.
///
/// Cloning it (what a moka hit does) is one reference-count increment (both payload forms hold
/// one shared allocation: the bytes, or the value) and a copy of plain values: the deadline and
/// an object's header (whose tags, when it has any, are shared too).
#[derive(Clone)]
pub(crate) struct Stored {
    pub(crate) payload: Payload,
    /// `None`: never expires (a lifetime too long to represent as an instant).
    pub(crate) deadline: Option<Instant>,
}

impl Stored {
    pub(crate) fn new(payload: Payload, lifetime: Duration) -> Self {
        Stored {
            payload,
            deadline: crate::backend::now().checked_add(lifetime),
        }
    }

    /// Remaining lifetime at `now`: `Some(None)` for no expiry, `None` once expired.
    #[inline]
    pub(crate) fn remaining(&self, now: Instant) -> Option<Option<Duration>> {
        match self.deadline {
            None => Some(None),
            Some(deadline) => deadline
                .checked_duration_since(now)
                .filter(|left| !left.is_zero())
                .map(Some),
        }
    }

    pub(crate) fn is_live(&self, now: Instant) -> bool {
        self.remaining(now).is_some()
    }

    /// Moka's expiry for this entry, counted from moka's own timestamp `at`, so that moka drops
    /// the entry at the deadline this crate reports.
    fn expire_from(&self, at: Instant) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(at))
    }
}

/// Per-entry lifetime: each write sets the expiry from its own deadline, whether the key is new
/// or overwritten; reads leave it alone.
pub(crate) struct DeadlineExpiry;

impl Expiry<String, Stored> for DeadlineExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Stored,
        created_at: Instant,
    ) -> Option<Duration> {
        value.expire_from(created_at)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Stored,
        updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        value.expire_from(updated_at)
    }
}

/// Weight of an entry in a byte-bounded cache: key bytes plus payload size (the encoded size for
/// objects), saturating at moka's `u32` limit.
pub(crate) fn weigh(key: &str, value: &Stored) -> u32 {
    u32::try_from(key.len().saturating_add(value.payload.size())).unwrap_or(u32::MAX)
}
