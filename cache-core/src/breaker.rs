//! Circuit breaker: stop paying timeouts while the store is down, probe, close on recovery.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// The breaker's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BreakerState {
    /// Backend calls flow.
    #[default]
    Closed,
    /// Backend calls are skipped until the cooldown ends.
    Open,
    /// One probe call is allowed; its outcome closes or reopens the breaker.
    HalfOpen,
}

impl BreakerState {
    /// Lowercase name (`closed`, `open`, `half_open`) for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// A consecutive-failure circuit breaker on tokio's clock (so paused time drives it in tests).
///
/// The closed fast path is one atomic load; the mutex is only touched while failing.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    state: AtomicU8,
    failures: AtomicU32,
    /// When the breaker opened or the last probe started.
    since: Mutex<Instant>,
    threshold: u32,
    cooldown: Duration,
}

impl CircuitBreaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        CircuitBreaker {
            state: AtomicU8::new(CLOSED),
            failures: AtomicU32::new(0),
            since: Mutex::new(Instant::now()),
            threshold: threshold.max(1),
            cooldown,
        }
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Acquire) {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// Whether a backend call may go ahead now. After the cooldown exactly one caller gets
    /// through as the probe; a probe that never reports (its caller was dropped) is replaced
    /// after another cooldown.
    pub(crate) fn allow(&self) -> bool {
        if self.state.load(Ordering::Acquire) == CLOSED {
            return true;
        }
        let mut since = self.since.lock().unwrap_or_else(|p| p.into_inner());
        if since.elapsed() < self.cooldown {
            return false;
        }
        *since = Instant::now();
        if self.state.swap(HALF_OPEN, Ordering::AcqRel) == OPEN {
            tracing::info!("cache circuit breaker half-open: probing the backend");
        }
        true
    }

    pub(crate) fn on_success(&self) {
        // Loads first: the healthy path writes nothing, so concurrent hits share the cache line.
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.state.load(Ordering::Acquire) != CLOSED
            && self.state.swap(CLOSED, Ordering::AcqRel) != CLOSED
        {
            tracing::info!("cache circuit breaker closed: backend recovered");
        }
    }

    pub(crate) fn on_failure(&self) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let state = self.state.load(Ordering::Acquire);
        if state == HALF_OPEN || (state == CLOSED && failures >= self.threshold) {
            *self.since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            if self.state.swap(OPEN, Ordering::AcqRel) != OPEN {
                tracing::warn!(failures, cooldown = ?self.cooldown, "cache circuit breaker open: backend calls suspended");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_probes_and_closes() {
        let b = CircuitBreaker::new(3, Duration::from_secs(5));
        for _ in 0..2 {
            b.on_failure();
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.on_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.allow(), "one probe after the cooldown");
        assert!(!b.allow(), "only one probe at a time");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.on_failure();
        assert_eq!(b.state(), BreakerState::Open, "failed probe reopens");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.allow());
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow());
    }

    #[tokio::test(start_paused = true)]
    async fn lost_probe_is_replaced_after_a_cooldown() {
        let b = CircuitBreaker::new(1, Duration::from_secs(1));
        b.on_failure();
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(b.allow());
        assert!(!b.allow());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(
            b.allow(),
            "a probe whose caller vanished must not wedge the breaker"
        );
    }
}
