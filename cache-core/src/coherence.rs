//! The coherence port: how a shared store tells an in-process tier (L1) which keys changed.
//!
//! A backend that can say when any of its keys is written or deleted — by anything: another
//! instance, another service, `redis-cli` — offers a change feed
//! ([`CacheBackend::watch_changes`](crate::CacheBackend::watch_changes)). The cache gives it a
//! [`ChangeSink`]; the feed calls the sink, in the order the store sent them, for each changed
//! key, for "anything may have changed" (a reconnect, a flush, a lagging channel), and each time
//! a heartbeat proves that every change the store sent before some instant has been delivered.
//!
//! The L1 serves an entry only while the feed is proven alive within its
//! [`staleness_bound`](ChangeFeed::staleness_bound): so an L1 hit never returns a value the store
//! replaced more than that bound ago. Redis implements the feed with server-assisted
//! client-side caching (`CLIENT TRACKING`); the fake backend with a queue the test controls.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// What a change feed reports to (implemented by the cache's L1).
///
/// Calls are cheap and never block: a feed may call them from its reader task.
pub trait ChangeSink: Send + Sync {
    /// `key` was written, deleted or expired in the store.
    fn changed(&self, key: &str);

    /// Anything may have changed: the feed lost its connection, reconnected, lagged, or saw a
    /// flush. Everything the L1 holds is dropped.
    fn changed_all(&self);

    /// Every change the store made before `as_of` (this process's clock, taken *before* the
    /// heartbeat was sent) has been delivered to [`changed`](Self::changed). Until this is
    /// called again within the feed's staleness bound, the L1 serves nothing.
    fn alive(&self, as_of: Instant);
}

/// The state of a change feed, for health endpoints and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedState {
    /// Being set up (connecting, enabling tracking); the L1 serves nothing yet.
    Starting,
    /// Delivering, heartbeats confirmed.
    Live,
    /// Connection lost or heartbeat late; reconnecting. The L1 serves nothing.
    Down,
    /// The store cannot offer a feed (e.g. Redis < 6, an ACL that forbids `CLIENT`, a RESP2-only
    /// proxy): the L1 is never used. The reason is logged once.
    Unavailable(String),
}

impl FeedState {
    /// Lowercase name for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            FeedState::Starting => "starting",
            FeedState::Live => "live",
            FeedState::Down => "down",
            FeedState::Unavailable(_) => "unavailable",
        }
    }
}

/// A running change feed. Dropping the last handle stops it.
pub trait ChangeFeed: Send + Sync + Debug {
    /// The most an L1 hit may lag the store: the heartbeat interval plus the longest a
    /// heartbeat's round trip may take before the L1 stops serving.
    fn staleness_bound(&self) -> Duration;

    /// The feed's state now.
    fn state(&self) -> FeedState;
}

/// What the cache asks of a change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedOptions {
    /// How often the feed proves itself alive (default 500 ms).
    pub heartbeat: Duration,
}

impl Default for FeedOptions {
    fn default() -> Self {
        FeedOptions {
            heartbeat: Duration::from_millis(500),
        }
    }
}

impl FeedOptions {
    /// Options with this heartbeat interval.
    pub fn with_heartbeat(heartbeat: Duration) -> Self {
        FeedOptions { heartbeat }
    }
}

/// A handle to a running feed, shared by the cache and its clones.
pub type FeedHandle = Arc<dyn ChangeFeed>;
