//! The Redis change feed ([`CacheBackend::watch_changes`](cache_core::CacheBackend::watch_changes)):
//! server-assisted client-side caching (`CLIENT TRACKING`), so that a write by anything drops
//! the key from every instance's L1.
//!
//! # Why broadcast mode, on a client of its own
//!
//! Reads go through a pool of connections. Default-mode tracking remembers which keys each
//! *connection* read, so every pooled connection would need tracking with a redirect to the
//! listening connection, set again after each reconnection of either side. Broadcast mode
//! (`BCAST`) needs none of that: one tracking connection per primary hears every write under
//! the tracked prefixes, whoever made it — exactly "a write by anything drops the key". The
//! cost: every write under the prefixes is pushed to every instance, which suits a cache, whose
//! writes are computes. [`RedisConfig::tracking_prefixes`](crate::RedisConfig::tracking_prefixes)
//! narrows it (empty: every key). No `NOLOOP`: the cache writes through other connections, and
//! the canary (below) must come back to its own connection.
//!
//! The tracking client speaks RESP3 (pushes arrive on the same connection); the pool keeps the
//! protocol it has.
//!
//! # What the sink is told, and why it is enough
//!
//! - `changed(key)` for every key of every invalidation, in order, from one reader task that
//!   reads fred's channel itself (fred's `on_invalidation` task ends silently when it lags); a
//!   lagged reader calls `changed_all()` and reconnects.
//! - `changed_all()` once tracking is (re-)enabled on a connection, before any later `alive`:
//!   on the first connection, on every reconnection (fred enables nothing again by itself, and
//!   a write in the gap is lost), for every new primary (failover, resharding), after a lag,
//!   and when a flush is seen. fred drops Redis's null invalidation of `FLUSHALL`/`FLUSHDB`, so
//!   flushes are found by the heartbeat's canary.
//! - `alive(as_of)`: each heartbeat takes `as_of`, then writes this instance's canary key on
//!   each primary through the tracking connection with `SET canary nonce GET` (one key per
//!   instance and primary: a random instance id in its name, in a slot that primary serves).
//!   Its invalidation comes back on that connection after every invalidation the primary sent
//!   before, so once it came from every primary, every change before `as_of` has been handed
//!   to `changed`. (Redis sends broadcast invalidations once per event-loop iteration, one push
//!   per prefix; a write in the canary's batch ran in the same iteration, whose input was read
//!   after the canary was sent, so after `as_of`: the order of prefixes within a batch does not
//!   matter.) The previous value must be this instance's last nonce; anything else means
//!   the key was flushed (or evicted): `changed_all()`, and no `alive` that round.
//! - A beat not confirmed within the round-trip allowance (the command timeout) leaves the feed
//!   `Down`: `alive` stops, and the L1 stops serving by itself once the staleness bound
//!   (heartbeat + command timeout) has passed. After a few missed beats the tracking client
//!   reconnects, which starts the proof from scratch.
//! - If the server refuses tracking (Redis < 6, an ACL without `CLIENT`, RESP3 refused), the
//!   feed is `Unavailable`, with one warning, and `alive` is never called.

mod client;
mod heartbeat;
mod nodes;
mod reader;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use cache_core::{CacheError, ChangeFeed, ChangeSink, FeedHandle, FeedOptions, FeedState, Result};
use fred::prelude::*;
use fred::types::config::Server;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::config::RedisConfig;
use crate::secret::Redactor;
use crate::url::Topology;
use nodes::{NodeKey, Nodes};

/// What the feed's tasks share.
pub(crate) struct Shared {
    sink: Arc<dyn ChangeSink>,
    client: Client,
    clustered: bool,
    nodes: Nodes,
    state: Mutex<FeedState>,
    /// Wakes the heartbeat when a canary's invalidation came.
    canary_seen: Notify,
    /// Set by the reader after a lag: the heartbeat replaces the connections.
    reconnect: AtomicBool,
    instance: String,
    nonces: AtomicU64,
    prefixes: Vec<String>,
    heartbeat: Duration,
    round_trip: Duration,
    connect_timeout: Duration,
    reconnect_delay: Duration,
    url: String,
    redactor: Redactor,
}

impl Shared {
    fn node_of(&self, server: Server) -> NodeKey {
        self.clustered.then_some(server)
    }

    fn state(&self) -> FeedState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_state(&self, state: FeedState) {
        let mut current = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !matches!(*current, FeedState::Unavailable(_)) {
            *current = state;
        }
    }

    /// A fresh canary value: unique per write.
    fn nonce(&self) -> String {
        let n = self.nonces.fetch_add(1, Ordering::Relaxed);
        format!("{}:{n}", self.instance)
    }
}

/// A running Redis change feed; dropping the last handle (or closing the backend) stops it.
pub(crate) struct RedisFeed {
    shared: Arc<Shared>,
    tasks: Vec<AbortHandle>,
    stopped: AtomicBool,
}

impl RedisFeed {
    /// Ends the tasks and closes the tracking client.
    pub(crate) fn stop(&self) {
        if self.stopped.swap(true, Ordering::Relaxed) {
            return;
        }
        for task in &self.tasks {
            task.abort();
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let client = self.shared.client.clone();
            runtime.spawn(async move {
                let _ = client.quit().await;
            });
        }
    }
}

impl Drop for RedisFeed {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for RedisFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisFeed")
            .field("url", &self.shared.url)
            .field("state", &self.shared.state())
            .field("heartbeat", &self.shared.heartbeat)
            .finish_non_exhaustive()
    }
}

impl ChangeFeed for RedisFeed {
    fn staleness_bound(&self) -> Duration {
        self.shared.heartbeat + self.shared.round_trip
    }

    fn state(&self) -> FeedState {
        self.shared.state()
    }
}

/// The feeds a backend started, stopped when it closes.
#[derive(Default)]
pub(crate) struct Feeds {
    feeds: Mutex<Vec<Weak<RedisFeed>>>,
}

impl Feeds {
    fn add(&self, feed: &Arc<RedisFeed>) {
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds.retain(|f| f.strong_count() > 0);
        feeds.push(Arc::downgrade(feed));
    }

    /// Stops every running feed.
    pub(crate) fn stop_all(&self) {
        let feeds = std::mem::take(&mut *self.feeds.lock().unwrap_or_else(|p| p.into_inner()));
        for feed in feeds.iter().filter_map(Weak::upgrade) {
            feed.stop();
        }
    }
}

/// Starts a feed for `config` reporting to `sink`; the work happens in tasks. Fails only
/// without a Tokio runtime or when the client cannot be built from the settings.
pub(crate) fn start(
    config: &RedisConfig,
    redactor: &Redactor,
    feeds: &Feeds,
    sink: Arc<dyn ChangeSink>,
    options: FeedOptions,
) -> Result<FeedHandle> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| CacheError::Unavailable {
        backend: "redis",
        message: "watch_changes needs a Tokio runtime".into(),
    })?;
    let client = client::build(config, redactor)?;
    let clustered = matches!(config.topology, Topology::Cluster { .. });
    let shared = Arc::new(Shared {
        sink,
        clustered,
        nodes: Nodes::default(),
        state: Mutex::new(FeedState::Starting),
        canary_seen: Notify::new(),
        reconnect: AtomicBool::new(false),
        instance: format!("{:016x}", rand::random::<u64>()),
        nonces: AtomicU64::new(0),
        prefixes: client::prefixes(&config.tracking_prefixes),
        heartbeat: options.heartbeat.max(Duration::from_millis(1)),
        round_trip: config.command_timeout,
        connect_timeout: config.connect_timeout,
        reconnect_delay: config.reconnect.min,
        url: config.redacted_url(),
        redactor: redactor.clone(),
        client,
    });
    if !clustered {
        shared.nodes.retain(&[None]);
    }
    // Subscribed before connecting: the first connection is announced as a reconnection too.
    let invalidations = shared.client.invalidation_rx();
    let reconnections = shared.client.reconnect_rx();
    let reader = runtime.spawn(reader::run(
        Arc::clone(&shared),
        invalidations,
        reconnections,
    ));
    let heartbeat = runtime.spawn(heartbeat::run(Arc::clone(&shared)));
    let feed = Arc::new(RedisFeed {
        shared,
        tasks: vec![reader.abort_handle(), heartbeat.abort_handle()],
        stopped: AtomicBool::new(false),
    });
    feeds.add(&feed);
    Ok(feed)
}
