//! The clock a hit reads: on Linux, the kernel's coarse monotonic clock, read as a bound that is
//! never earlier than the precise clock.
//!
//! A fresh hit compares the time with deadlines only to ask "still before it?" (the entry's
//! surely-fresh point and expiry, the L1's liveness, the namespace version's trust). A moment no
//! earlier than now answers that safely: a "yes" holds at the precise time too, and a "no"
//! sends the read to the full path, which reads the precise clock and decides on it.
//!
//! Why: the precise read (`clock_gettime(CLOCK_MONOTONIC)` in the `vdso`, whose `rdtscp` waits
//! for the instructions before it) was most of an in-process hit's cost over raw moka — about
//! 40 of 75 ns (`cargo bench -p cache-core --bench memory_hit`, with a probe reading a constant
//! instead). `CLOCK_MONOTONIC_COARSE` reads the time of the kernel's last timer tick from
//! memory, about 6 ns: the same clock as std's `Instant` on Linux (the clock Tokio reads when
//! not paused). It moves in whole ticks from a phase fixed at boot, so it trails the precise
//! clock by less than two ticks while the kernel ticks on time (measured on a 250 Hz VM: 0.49
//! to 1.49 ticks over 3,000 wake-ups). The bound adds three ticks: two for that lag, one of
//! margin for a late tick.
//!
//! Tokio's paused clock (tests) is not the OS clock, so once the process has seen it paused,
//! hits read Tokio's clock precisely, for good. It is seen when a cache is built and at every
//! precise read ([`Moment::now`]: writes, misses, the full path): a paused clock reads behind
//! the OS clock (frozen) or, advanced, ahead of it.
//!
//! Written by hand: `coarsetime` reads the same kernel clock, but in its own units and from its
//! own origin, and the bound needs its exact relation to std's `Instant`, which only the raw
//! `timespec` gives.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::moment::Moment;

/// Whether this process has seen Tokio's clock paused (then every hit reads it precisely).
static PAUSED_SEEN: AtomicBool = AtomicBool::new(false);

/// How far ahead of the OS clock Tokio's may read before it counts as advanced (paused): two
/// reads one after the other are that far apart only when the thread was preempted between
/// them, which a second look rules out.
const AHEAD: Duration = Duration::from_millis(1);

/// What a hit knows of the time.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HitTime {
    /// The precise clock ([`Moment::now`]).
    Exact(Moment),
    /// No earlier than the precise clock, and at most [`slack`] later.
    Bound(Moment),
}

impl HitTime {
    /// The time for a hit: the coarse bound where there is one and Tokio's clock was never seen
    /// paused, the precise clock otherwise.
    #[inline]
    pub(crate) fn read() -> HitTime {
        match coarse::bound() {
            Some(bound) if !PAUSED_SEEN.load(Ordering::Relaxed) => HitTime::Bound(bound),
            _ => HitTime::Exact(Moment::now()),
        }
    }

    /// The moment to compare deadlines with.
    #[inline]
    pub(crate) fn moment(self) -> Moment {
        match self {
            HitTime::Exact(moment) | HitTime::Bound(moment) => moment,
        }
    }

    /// Whether this is the precise clock: what an in-process store answered at it may be decided
    /// on (a bound's answer may call an entry expired, or not surely fresh, too early).
    #[inline]
    pub(crate) fn is_exact(self) -> bool {
        matches!(self, HitTime::Exact(_))
    }
}

/// The most a hit's time may read ahead of the precise clock: zero once hits read it precisely.
/// A trust interval renewed this much before it ends is never cut short by a hit's bound.
pub(crate) fn slack() -> Duration {
    if PAUSED_SEEN.load(Ordering::Relaxed) {
        return Duration::ZERO;
    }
    coarse::slack()
}

/// Notes a paused Tokio clock, for [`Moment::now`]: `tokio` is Tokio's clock, read just after
/// the OS clock read `os`.
pub(crate) fn observe(os: Instant, tokio: Instant) {
    if is_paused(os, tokio, || {
        (Instant::now(), tokio::time::Instant::now().into_std())
    }) && !PAUSED_SEEN.swap(true, Ordering::Relaxed)
    {
        tracing::debug!("Tokio's clock seen paused: cache hits read it precisely from now on");
    }
}

/// Whether Tokio's clock, read at `tokio` just after the OS clock read `os`, is paused;
/// `look_again` reads both again, in that order. Read in this order, an unpaused Tokio clock
/// (the OS clock) is never behind `os`, and ahead of it only by the time between the reads.
fn is_paused(os: Instant, tokio: Instant, look_again: impl FnOnce() -> (Instant, Instant)) -> bool {
    let ahead = |os: Instant, tokio: Instant| tokio > os + AHEAD;
    tokio < os
        || (ahead(os, tokio) && {
            let (os, tokio) = look_again();
            ahead(os, tokio)
        })
}

/// Whether this process has seen Tokio's clock paused.
pub(crate) fn paused_seen() -> bool {
    PAUSED_SEEN.load(Ordering::Relaxed)
}

/// Looks at Tokio's clock once (a cache's build): a cache built while it is paused reads it
/// precisely from its first hit.
pub(crate) fn look() {
    if !paused_seen() {
        let _ = Moment::now();
    }
}

#[cfg(target_os = "linux")]
mod coarse {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use crate::moment::Moment;

    /// The coarse clock as this process reads it.
    struct Coarse {
        /// `CLOCK_MONOTONIC` nanoseconds at [`Moment`] zero, or a little before (never after:
        /// the bound stays a bound).
        origin: i64,
        /// Nanoseconds added to a reading: three ticks.
        slack: i64,
    }

    /// A tick this long or longer is not worth bounding by: hits then read the precise clock
    /// (a 100 Hz kernel's 30 ms slack would cut trust intervals of 100 ms short too often).
    const TOO_LONG_TICK: i64 = 10_000_000;

    fn coarse() -> Option<&'static Coarse> {
        static COARSE: OnceLock<Option<Coarse>> = OnceLock::new();
        COARSE.get_or_init(measure).as_ref()
    }

    fn measure() -> Option<Coarse> {
        let tick = timespec_nanos(|ts| {
            // SAFETY: `ts` is a valid, writable `timespec`.
            unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, ts) }
        })?;
        if !(1..TOO_LONG_TICK).contains(&tick) {
            return None;
        }
        // std's `Instant` is `CLOCK_MONOTONIC` on Linux: read before it, the raw clock gives an
        // origin no later than the true one.
        let before = read(libc::CLOCK_MONOTONIC)?;
        let moment = Moment::at(Instant::now());
        Some(Coarse {
            origin: before.saturating_sub(moment.as_nanos()),
            slack: 3 * tick,
        })
    }

    fn read(clock: libc::clockid_t) -> Option<i64> {
        timespec_nanos(|ts| {
            // SAFETY: `ts` is a valid, writable `timespec`.
            unsafe { libc::clock_gettime(clock, ts) }
        })
    }

    // `time_t` and `c_long` are `i32` on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    #[inline]
    fn timespec_nanos(call: impl FnOnce(&mut libc::timespec) -> libc::c_int) -> Option<i64> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if call(&mut ts) != 0 {
            return None;
        }
        Some(
            i64::from(ts.tv_sec)
                .saturating_mul(1_000_000_000)
                .saturating_add(i64::from(ts.tv_nsec)),
        )
    }

    /// A moment no earlier than the precise clock now, at most [`slack`] later.
    #[inline]
    pub(super) fn bound() -> Option<Moment> {
        let coarse = coarse()?;
        let now = read(libc::CLOCK_MONOTONIC_COARSE)?;
        Some(Moment::from_nanos(
            now.saturating_sub(coarse.origin)
                .saturating_add(coarse.slack),
        ))
    }

    pub(super) fn slack() -> Duration {
        coarse().map_or(Duration::ZERO, |coarse| {
            Duration::from_nanos(coarse.slack.unsigned_abs())
        })
    }
}

/// Elsewhere hits read the precise clock.
#[cfg(not(target_os = "linux"))]
mod coarse {
    use std::time::Duration;

    use crate::moment::Moment;

    #[inline]
    pub(super) fn bound() -> Option<Moment> {
        None
    }

    pub(super) fn slack() -> Duration {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_is_never_before_the_precise_clock_nor_later_than_its_slack() {
        for _ in 0..10_000 {
            let before = Moment::at(Instant::now());
            let Some(bound) = coarse::bound() else {
                return; // no coarse clock here: hits read the precise one
            };
            let after = Moment::at(Instant::now());
            assert!(bound >= before, "{bound:?} before {before:?}");
            assert!(
                bound <= after.saturating_add(coarse::slack()),
                "{bound:?} more than {:?} after {after:?}",
                coarse::slack()
            );
        }
    }

    #[test]
    fn a_frozen_or_advanced_clock_is_paused_and_the_os_clock_is_not() {
        let os = Instant::now();
        let later = |by: Duration| os + by;
        let unreachable = || -> (Instant, Instant) { panic!("no second look needed") };
        assert!(!is_paused(
            os,
            later(Duration::from_nanos(300)),
            unreachable
        ));
        assert!(!is_paused(os, os, unreachable));
        assert!(
            is_paused(later(Duration::from_secs(1)), os, unreachable),
            "frozen"
        );
        let hour = later(Duration::from_secs(3600));
        assert!(is_paused(os, hour, || (os, hour)), "advanced, twice");
        assert!(
            !is_paused(os, hour, || (os, os)),
            "once ahead, then not: preempted between the reads"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_runtime_is_seen_and_hits_then_read_its_clock() {
        look();
        assert!(paused_seen());
        assert!(HitTime::read().is_exact());
        assert_eq!(slack(), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(60)).await;
        let hit = HitTime::read().moment();
        assert!(hit >= Moment::at(tokio::time::Instant::now().into_std()));
    }
}
