//! What the moka cache holds per key, and the per-entry expiry and weight moka reads from it.

use std::time::{Duration, Instant};

use cache_core::Payload;
use moka::Expiry;

/// A stored payload and the instant it stops being servable.
///
/// Cloning it (what a moka hit does) is one reference-count increment (both payload forms hold
/// one shared allocation: the bytes, or the value) and a copy of plain values: the deadline and
/// an object's header (whose tags, when it has any, are shared too). The deadline takes 8 bytes,
/// not a `std::time::Instant`'s 16: moka copies the entry out on every hit (measured: a memory
/// hit 216–221 ns against 238 ns with an `Instant`, in the same tight loop).
#[derive(Clone)]
pub(crate) struct Stored {
    pub(crate) payload: Payload,
    deadline: Deadline,
}

impl Stored {
    pub(crate) fn new(payload: Payload, lifetime: Duration) -> Self {
        Stored {
            payload,
            deadline: Deadline::after(crate::backend::now(), lifetime),
        }
    }

    /// Remaining lifetime at `now`: `Some(None)` for no expiry, `None` once expired.
    #[inline]
    pub(crate) fn remaining(&self, now: Instant) -> Option<Option<Duration>> {
        self.deadline.remaining(now)
    }

    pub(crate) fn is_live(&self, now: Instant) -> bool {
        self.remaining(now).is_some()
    }

    /// Moka's expiry for this entry, counted from moka's own timestamp `at`, so that moka drops
    /// the entry at the deadline this crate reports.
    fn expire_from(&self, at: Instant) -> Option<Duration> {
        self.deadline
            .instant()
            .map(|deadline| deadline.saturating_duration_since(at))
    }
}

/// An instant in 8 bytes (a `std::time::Instant` takes 16): signed nanoseconds from a
/// process-wide origin, which covers ±292 years around it; `i64::MAX`: never.
#[derive(Clone, Copy)]
struct Deadline(i64);

impl Deadline {
    const NEVER: Deadline = Deadline(i64::MAX);

    /// `lifetime` after `now`; never, when that is beyond what the clock or 292 years hold.
    fn after(now: Instant, lifetime: Duration) -> Self {
        now.checked_add(lifetime)
            .and_then(nanos_from_origin)
            .map_or(Deadline::NEVER, Deadline)
    }

    fn instant(self) -> Option<Instant> {
        if self.0 == i64::MAX {
            return None;
        }
        let offset = Duration::from_nanos(self.0.unsigned_abs());
        if self.0 >= 0 {
            origin().checked_add(offset)
        } else {
            origin().checked_sub(offset)
        }
    }

    /// Remaining lifetime at `now`: `Some(None)` for never, `None` once passed.
    #[inline]
    fn remaining(self, now: Instant) -> Option<Option<Duration>> {
        if self.0 == i64::MAX {
            return Some(None);
        }
        let now = nanos_from_origin(now)?;
        // i128: a deadline near +292 years minus a `now` before the origin overflows an i64.
        let left = (i128::from(self.0) - i128::from(now)).clamp(0, i128::from(u64::MAX));
        (left > 0).then(|| Some(Duration::from_nanos(left as u64)))
    }
}

/// The origin of every [`Deadline`]: the first instant this process asked for one.
fn origin() -> Instant {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// `at` in signed nanoseconds from [`origin`] (`None` beyond ±292 years).
#[inline]
fn nanos_from_origin(at: Instant) -> Option<i64> {
    let origin = origin();
    match at.checked_duration_since(origin) {
        Some(after) => i64::try_from(after.as_nanos()).ok(),
        None => i64::try_from(origin.duration_since(at).as_nanos())
            .ok()
            .map(|before| -before),
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

#[cfg(test)]
mod deadline_tests {
    use super::*;

    #[test]
    fn a_deadline_counts_down_to_expiry_on_either_side_of_the_origin() {
        let second = Duration::from_secs(1);
        let origin = origin();
        let mut starts = vec![origin, origin + 3 * second];
        // An instant before the origin (a test's paused clock can lag the process's).
        starts.extend(origin.checked_sub(10 * second));
        for start in starts {
            let deadline = Deadline::after(start, 5 * second);
            assert_eq!(deadline.instant(), Some(start + 5 * second));
            assert_eq!(deadline.remaining(start), Some(Some(5 * second)));
            assert_eq!(
                deadline.remaining(start + 2 * second),
                Some(Some(3 * second))
            );
            assert_eq!(
                deadline.remaining(start + 5 * second),
                None,
                "expired at the deadline"
            );
            assert_eq!(deadline.remaining(start + 9 * second), None);
        }
    }

    #[test]
    fn a_far_deadline_read_before_the_origin_is_far_not_expired() {
        let Some(before) = origin().checked_sub(Duration::from_secs(1)) else {
            return; // a clock that starts at the origin has no instant before it
        };
        let far = Deadline(i64::MAX - 1);
        assert!(far.remaining(before).is_some_and(|left| left.is_some()));
    }

    #[test]
    fn a_lifetime_beyond_what_a_deadline_holds_never_expires() {
        let now = Instant::now();
        for lifetime in [Duration::MAX, Duration::from_secs(300 * 365 * 24 * 3600)] {
            let deadline = Deadline::after(now, lifetime);
            assert_eq!(deadline.remaining(now), Some(None));
            assert_eq!(deadline.instant(), None);
        }
    }
}
