//! Circuit breaker: stop paying timeouts while the store is down, probe, close on recovery.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
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

/// At most one warning per breaker in this long: a shard that flaps (a failover under way,
/// commands cancelled between successes) logs a handful of lines, not one per flap.
pub(crate) const WARN_QUIET: Duration = Duration::from_secs(10);

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
    /// The backend's connection epoch when the breaker last opened: when it moves (the
    /// backend reconnected), a probe goes at once instead of after the cooldown.
    opened_at_epoch: AtomicU64,
    threshold: u32,
    cooldown: Duration,
    /// When this breaker last warned of failures, and of opening (see [`WARN_QUIET`]).
    warned_failing: Mutex<Option<Instant>>,
    warned_open: Mutex<Option<Instant>>,
}

impl CircuitBreaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        CircuitBreaker {
            state: AtomicU8::new(CLOSED),
            failures: AtomicU32::new(0),
            since: Mutex::new(Instant::now()),
            opened_at_epoch: AtomicU64::new(0),
            threshold: threshold.max(1),
            cooldown,
            warned_failing: Mutex::new(None),
            warned_open: Mutex::new(None),
        }
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Acquire) {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// Whether a backend call may go ahead now. After the cooldown — or as soon as the
    /// backend's `connection_epoch` moved (it reconnected) — exactly one caller gets through as
    /// the probe; a probe that never reports (its caller was dropped) is replaced after another
    /// cooldown.
    pub(crate) fn allow(&self, connection_epoch: impl FnOnce() -> u64) -> bool {
        if self.state.load(Ordering::Acquire) == CLOSED {
            return true;
        }
        let mut since = self.since.lock().unwrap_or_else(|p| p.into_inner());
        let epoch = connection_epoch();
        let reconnected = epoch != self.opened_at_epoch.swap(epoch, Ordering::AcqRel);
        if since.elapsed() < self.cooldown && !reconnected {
            return false;
        }
        *since = Instant::now();
        if self.state.swap(HALF_OPEN, Ordering::AcqRel) == OPEN {
            tracing::debug!("cache circuit breaker half-open: probing the backend");
        }
        true
    }

    /// Whether calls pass without a probe (the healthy path: one load).
    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) == CLOSED
    }

    pub(crate) fn on_success(&self) {
        // Loads first: the healthy path writes nothing, so concurrent hits share the cache line.
        if self.failures.load(Ordering::Relaxed) != 0 {
            let failures = self.failures.swap(0, Ordering::Relaxed);
            if failures != 0 {
                tracing::info!(failures, "cache backend answers again");
            }
        }
        if self.state.load(Ordering::Acquire) != CLOSED
            && self.state.swap(CLOSED, Ordering::AcqRel) != CLOSED
        {
            tracing::info!("cache circuit breaker closed: backend recovered");
        }
    }

    /// Whether a warning last logged at `warned_at` may be logged again now: not in the last
    /// [`WARN_QUIET`] (which this one then starts).
    fn may_warn(warned_at: &Mutex<Option<Instant>>) -> bool {
        let mut warned_at = warned_at.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if warned_at.is_some_and(|at| now.saturating_duration_since(at) < WARN_QUIET) {
            return false;
        }
        *warned_at = Some(now);
        true
    }

    /// Records a failure seen while the backend's connection epoch was `connection_epoch`;
    /// returns whether it starts a fault worth a warning: the first failure in a row, and no
    /// warning from this breaker in the last [`WARN_QUIET`].
    pub(crate) fn on_failure(&self, connection_epoch: u64) -> bool {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let state = self.state.load(Ordering::Acquire);
        if state == HALF_OPEN || (state == CLOSED && failures >= self.threshold) {
            *self.since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            self.opened_at_epoch
                .store(connection_epoch, Ordering::Release);
            // One warning per outage: a failed probe reopens the breaker quietly.
            match self.state.swap(OPEN, Ordering::AcqRel) {
                CLOSED if Self::may_warn(&self.warned_open) => {
                    tracing::warn!(failures, cooldown = ?self.cooldown, "cache circuit breaker open: backend calls suspended");
                }
                CLOSED => {
                    tracing::debug!(failures, cooldown = ?self.cooldown, "cache circuit breaker open again");
                }
                HALF_OPEN => tracing::debug!(failures, "cache breaker probe failed; open again"),
                _ => {}
            }
        }
        failures == 1 && Self::may_warn(&self.warned_failing)
    }
}

/// How many breakers a cache keeps. Failure domains (cluster shards) map onto them by hash;
/// two shards that share a breaker only fail together, which is the old global behaviour.
const DOMAINS: usize = 16;

/// One [`CircuitBreaker`] per failure domain of the backend
/// ([`CacheBackend::failure_domain`](crate::CacheBackend::failure_domain)): a dead primary
/// opens its own breaker, and keys on healthy primaries keep being served.
#[derive(Debug)]
pub(crate) struct Breakers {
    domains: Box<[CircuitBreaker]>,
}

impl Breakers {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Breakers {
            domains: (0..DOMAINS)
                .map(|_| CircuitBreaker::new(threshold, cooldown))
                .collect(),
        }
    }

    /// The breaker of failure domain `domain`.
    pub(crate) fn of(&self, domain: u64) -> &CircuitBreaker {
        &self.domains[(domain % DOMAINS as u64) as usize]
    }

    /// The most severe state of any domain (open beats half-open beats closed).
    pub(crate) fn state(&self) -> BreakerState {
        self.domains
            .iter()
            .map(CircuitBreaker::state)
            .max_by_key(|s| match s {
                BreakerState::Closed => 0,
                BreakerState::HalfOpen => 1,
                BreakerState::Open => 2,
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_probes_and_closes() {
        let b = CircuitBreaker::new(3, Duration::from_secs(5));
        let epoch = || 0;
        for _ in 0..2 {
            b.on_failure(0);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.on_failure(0);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow(epoch));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.allow(epoch), "one probe after the cooldown");
        assert!(!b.allow(epoch), "only one probe at a time");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.on_failure(0);
        assert_eq!(b.state(), BreakerState::Open, "failed probe reopens");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.allow(epoch));
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow(epoch));
    }

    #[tokio::test(start_paused = true)]
    async fn lost_probe_is_replaced_after_a_cooldown() {
        let b = CircuitBreaker::new(1, Duration::from_secs(1));
        b.on_failure(0);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(b.allow(|| 0));
        assert!(!b.allow(|| 0));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(
            b.allow(|| 0),
            "a probe whose caller vanished must not wedge the breaker"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reconnect_probes_at_once() {
        let b = CircuitBreaker::new(1, Duration::from_secs(5));
        b.on_failure(7);
        assert!(!b.allow(|| 7), "same connection: wait for the cooldown");
        assert!(b.allow(|| 8), "the backend reconnected: probe now");
        assert!(!b.allow(|| 8), "one probe per reconnect");
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    /// A shard that flaps (failures between successes, as commands are cancelled during a
    /// failover) warns once per quiet period, not once per flap.
    #[tokio::test(start_paused = true)]
    async fn a_flapping_backend_warns_once_per_quiet_period() {
        let b = CircuitBreaker::new(3, Duration::from_millis(500));
        let warned = (0..20)
            .filter(|_| {
                let warn = b.on_failure(0);
                b.on_success();
                warn
            })
            .count();
        assert_eq!(warned, 1);
        tokio::time::advance(WARN_QUIET).await;
        assert!(b.on_failure(0), "a fault after a quiet period warns again");
    }

    #[tokio::test(start_paused = true)]
    async fn domains_fail_independently() {
        let b = Breakers::new(1, Duration::from_secs(5));
        b.of(3).on_failure(0);
        assert!(!b.of(3).allow(|| 0));
        assert!(b.of(4).allow(|| 0), "another shard keeps going");
        assert_eq!(b.state(), BreakerState::Open);
    }
}
