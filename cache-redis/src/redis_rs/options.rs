//! Settings of a [`RedisRsBackend`](super::RedisRsBackend) beyond its connection.

use std::fmt;
use std::time::Duration;

use crate::config::RedisConfig;

/// What a [`RedisRsBackend`](super::RedisRsBackend) needs besides its connection. The defaults
/// match [`RedisConfig`]'s, so that a redis-rs instance and a fred instance sharing a Redis
/// announce lock releases on the same channel.
#[derive(Clone)]
pub struct RedisRsOptions {
    /// The pub/sub channel on which a lock holder announces its release (both adapters).
    pub lock_channel: String,
    /// `COUNT` hint for each `SCAN` page of a pattern invalidation.
    pub scan_count: u32,
    /// How often the server clocks are re-measured (see the crate docs).
    pub clock_sync_interval: Duration,
    /// A client whose connection subscribes to [`lock_channel`](Self::lock_channel), so that a
    /// waiter hears a release at once. `None`: waiters look again after a pause growing from
    /// 20 ms to 250 ms. A backend built from a URL sets it; one built from a
    /// `ConnectionManager` has no client to open that connection with unless given one here
    /// (on a cluster, a client for any one node: releases are broadcast to every node).
    pub notifications: Option<redis::Client>,
}

impl Default for RedisRsOptions {
    fn default() -> Self {
        let config = RedisConfig::default();
        RedisRsOptions {
            lock_channel: config.lock_channel,
            scan_count: config.scan_count,
            clock_sync_interval: config.clock_sync_interval,
            notifications: None,
        }
    }
}

impl fmt::Debug for RedisRsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the client itself: its connection info holds the password.
        f.debug_struct("RedisRsOptions")
            .field("lock_channel", &self.lock_channel)
            .field("scan_count", &self.scan_count)
            .field("clock_sync_interval", &self.clock_sync_interval)
            .field("notifications", &self.notifications.is_some())
            .finish()
    }
}
