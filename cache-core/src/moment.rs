//! The cache's clock as the hit path reads it: once per hit, as signed nanoseconds from a
//! process-wide origin, so that every time check of a hit (the entry's deadline, the L1's
//! liveness, the namespace version's trust) is an integer comparison rather than an `Instant`
//! subtraction (about 40 instructions each, counted with callgrind) or a 16-byte atomic cell.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// An instant of the cache's clock — Tokio's: the OS monotonic clock, or a test's paused one —
/// in 8 bytes: signed nanoseconds from a process-wide origin, covering ±292 years around it.
///
/// In-process stores receive one in [`CacheBackend::get_now`](crate::CacheBackend::get_now)
/// and measure remaining lifetimes against it; [`Moment::NEVER`] is later than every instant
/// the clock can read.
///
/// ```
/// use std::time::Duration;
/// use cache_core::Moment;
///
/// let now = Moment::now();
/// let deadline = now.saturating_add(Duration::from_secs(60));
/// assert_eq!(deadline.saturating_duration_since(now), Duration::from_secs(60));
/// assert_eq!(now.saturating_duration_since(deadline), Duration::ZERO);
/// assert!(Moment::NEVER > deadline);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Moment(i64);

impl Moment {
    /// Later than any instant the clock reads: a deadline that never comes.
    pub const NEVER: Moment = Moment(i64::MAX);

    /// The cache's clock now (Tokio's, so a test's paused clock moves it).
    ///
    /// A fresh in-process hit reads a cheaper bound of this clock where the OS has one (see
    /// `hit_clock.rs`), until the process sees Tokio's clock paused: at a cache's build or at
    /// any read of this clock (writes, misses). So a test that pauses Tokio's clock pauses it
    /// before it builds its cache or writes (as `#[tokio::test(start_paused = true)]` does).
    #[inline]
    pub fn now() -> Moment {
        if crate::hit_clock::paused_seen() {
            return Moment::at(tokio::time::Instant::now().into_std());
        }
        let os = Instant::now();
        let tokio = tokio::time::Instant::now().into_std();
        crate::hit_clock::observe(os, tokio);
        Moment::at(tokio)
    }

    /// `instant` as a moment; one beyond ±292 years of the origin is clamped (never reached by
    /// a clock read).
    #[inline]
    pub fn at(instant: Instant) -> Moment {
        let origin = origin();
        let nanos = match instant.checked_duration_since(origin) {
            Some(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
            None => i64::try_from(origin.duration_since(instant).as_nanos())
                .map_or(i64::MIN + 1, |before| -before),
        };
        Moment(nanos)
    }

    /// This moment as an `Instant`; `None` for [`NEVER`](Self::NEVER) or beyond what the
    /// platform's `Instant` holds.
    pub fn instant(self) -> Option<Instant> {
        if self == Moment::NEVER {
            return None;
        }
        let offset = Duration::from_nanos(self.0.unsigned_abs());
        if self.0 >= 0 {
            origin().checked_add(offset)
        } else {
            origin().checked_sub(offset)
        }
    }

    /// `duration` after this moment; [`NEVER`](Self::NEVER) when that is beyond ±292 years.
    #[inline]
    pub fn saturating_add(self, duration: Duration) -> Moment {
        i64::try_from(duration.as_nanos())
            .ok()
            .and_then(|nanos| self.0.checked_add(nanos))
            .map_or(Moment::NEVER, Moment)
    }

    /// How long after `earlier` this moment is; zero when it is not later. Exact across the
    /// whole range (an `i64` difference of two moments can overflow; this one cannot).
    #[inline]
    pub fn saturating_duration_since(self, earlier: Moment) -> Duration {
        let nanos = (i128::from(self.0) - i128::from(earlier.0)).clamp(0, i128::from(u64::MAX));
        Duration::from_nanos(nanos as u64)
    }

    /// Nanoseconds from the process-wide origin (for storing in an atomic).
    #[inline]
    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// The moment `nanos` after the process-wide origin (what [`as_nanos`](Self::as_nanos)
    /// gave).
    #[inline]
    pub fn from_nanos(nanos: i64) -> Moment {
        Moment(nanos)
    }
}

/// The origin of every [`Moment`]: the first instant this process asked for one.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_before_the_origin_are_negative_and_come_back() {
        let origin = origin();
        let before = origin.checked_sub(Duration::from_secs(5));
        // A monotonic clock may start too close to its epoch to go 5 s back: nothing to test.
        let Some(before) = before else { return };
        let moment = Moment::at(before);
        assert_eq!(moment.as_nanos(), -5_000_000_000);
        assert_eq!(moment.instant(), Some(before));
        assert_eq!(
            Moment::at(origin).saturating_duration_since(moment),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn adding_beyond_the_range_is_never() {
        let now = Moment::now();
        assert_eq!(now.saturating_add(Duration::MAX), Moment::NEVER);
        assert_eq!(
            Moment::from_nanos(i64::MAX - 10).saturating_add(Duration::from_nanos(11)),
            Moment::NEVER
        );
        assert_eq!(Moment::NEVER.instant(), None);
    }

    #[test]
    fn differences_across_the_whole_range_do_not_overflow() {
        let far = Moment::from_nanos(i64::MAX - 1);
        let early = Moment::from_nanos(i64::MIN + 1);
        assert_eq!(
            far.saturating_duration_since(early),
            Duration::from_nanos(u64::MAX - 2)
        );
        assert_eq!(early.saturating_duration_since(far), Duration::ZERO);
    }

    #[test]
    fn a_moment_follows_the_paused_clock() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let before = Moment::now();
            tokio::time::advance(Duration::from_secs(30)).await;
            let after = Moment::now();
            assert_eq!(
                after.saturating_duration_since(before),
                Duration::from_secs(30)
            );
        });
    }
}
