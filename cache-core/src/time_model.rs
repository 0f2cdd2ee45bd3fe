//! The time model, in one place.
//!
//! An entry is written with a logical lifetime (`ttl`) and a grace period. The store keeps it
//! physically for `ttl + grace`; a reader learns the *physical* remaining time from the store's
//! own clock and derives the logical remaining time `r = physical_remaining - grace`:
//!
//! - `r > 0`: fresh (X-Fetch may pick this read to refresh early);
//! - `-grace < r <= 0`: stale, servable while one refresh runs;
//! - gone: a miss.
//!
//! A store keeps nothing longer than its [`max_lifetime`](crate::CacheBackend::max_lifetime).
//! When `ttl + grace` exceeds it, the *grace* is shortened, never the TTL: with
//! `grace = Duration::MAX` ("serve stale forever") an entry is still fresh for its whole TTL.

use std::time::Duration;

/// Timing metadata of an entry: what a [`RefreshPolicy`](crate::policy::RefreshPolicy) decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryTiming {
    /// Logical lifetime.
    pub ttl: Duration,
    /// Stale-serving period after the TTL.
    pub grace: Duration,
    /// Measured recompute time Δ.
    pub delta: Duration,
}

/// Where an entry stands, from its timing and the physical lifetime the store reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Inside its TTL, with this logical remaining time (`None`: the store keeps it forever).
    Fresh(Option<Duration>),
    /// Past its TTL, inside its grace period.
    Stale,
    /// Gone.
    Expired,
}

impl EntryTiming {
    /// Classifies the entry from the physical remaining lifetime the store reported (`None`:
    /// the store keeps it forever).
    pub fn phase(&self, physical_remaining: Option<Duration>) -> Phase {
        match physical_remaining {
            None => Phase::Fresh(None),
            Some(physical) if physical > self.grace => Phase::Fresh(Some(physical - self.grace)),
            Some(physical) if !physical.is_zero() => Phase::Stale,
            Some(_) => Phase::Expired,
        }
    }

    /// Whether the entry is inside its TTL.
    pub fn is_fresh(&self, physical_remaining: Option<Duration>) -> bool {
        matches!(self.phase(physical_remaining), Phase::Fresh(_))
    }

    /// The physical lifetime a store must keep the entry: `ttl + grace`.
    pub fn physical(&self) -> Duration {
        self.ttl.saturating_add(self.grace)
    }

    /// The timing to write for a requested `ttl` and `grace` in a store that keeps nothing
    /// longer than `max_lifetime`: the TTL is kept (up to the cap), the grace shortened to fit.
    /// Both are rounded down to whole milliseconds, as the envelope stores them.
    pub fn fitted(ttl: Duration, grace: Duration, delta: Duration, max_lifetime: Duration) -> Self {
        let cap = whole_ms(max_lifetime);
        let ttl = whole_ms(ttl).min(cap);
        let grace = whole_ms(grace).min(cap - ttl);
        EntryTiming { ttl, grace, delta }
    }
}

/// Rounds down to whole milliseconds, saturating at what a `u64` of milliseconds holds.
pub(crate) fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(millis(d))
}

/// Milliseconds in `d`, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Duration = Duration::from_secs(1000);

    #[test]
    fn an_oversized_grace_is_shortened_and_the_ttl_kept() {
        let t = EntryTiming::fitted(Duration::from_secs(10), Duration::MAX, Duration::ZERO, CAP);
        assert_eq!(t.ttl, Duration::from_secs(10));
        assert_eq!(t.physical(), CAP);
        assert_eq!(
            t.phase(Some(CAP)),
            Phase::Fresh(Some(Duration::from_secs(10))),
            "fresh for its whole TTL at birth"
        );
    }

    #[test]
    fn a_ttl_beyond_the_cap_is_capped_with_no_grace() {
        let t = EntryTiming::fitted(Duration::MAX, Duration::MAX, Duration::ZERO, CAP);
        assert_eq!((t.ttl, t.grace), (CAP, Duration::ZERO));
    }

    #[test]
    fn phases_follow_the_remaining_physical_lifetime() {
        let t = EntryTiming {
            ttl: Duration::from_secs(30),
            grace: Duration::from_secs(10),
            delta: Duration::ZERO,
        };
        let s = Duration::from_secs;
        assert_eq!(t.phase(Some(s(40))), Phase::Fresh(Some(s(30))));
        assert_eq!(t.phase(Some(s(10))), Phase::Stale);
        assert_eq!(t.phase(Some(s(1))), Phase::Stale);
        assert_eq!(t.phase(Some(Duration::ZERO)), Phase::Expired);
        assert_eq!(t.phase(None), Phase::Fresh(None));
    }
}
