//! The fake's change feed: what Redis client tracking does for an L1, under the test's control.
//!
//! Every write or delete through any handle of the fake is published as a change of its key, at
//! the moment the store applies it (so, like Redis, a change can reach the L1 before the reply
//! of a read the store served just before it). A test can hold changes back and release them
//! late or in reverse order, cut the feed (changes published meanwhile are lost), reconnect it
//! (which reports "anything may have changed", as a real feed must), or stall its heartbeats.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use cache_core::{ChangeFeed, ChangeSink, FeedHandle, FeedOptions, FeedState};
use tokio::time::Instant;

/// Controls the change feed of a [`FakeBackend`](crate::FakeBackend); see
/// [`FakeBackend::feed`](crate::FakeBackend::feed). Clones control the same feed.
#[derive(Clone, Default)]
pub struct FeedControl {
    shared: Arc<Mutex<Feed>>,
}

#[derive(Default)]
struct Feed {
    sinks: Vec<Arc<dyn ChangeSink>>,
    /// Changes are queued instead of delivered.
    held: bool,
    /// Cut by [`FeedControl::disconnect`]: changes are lost, no heartbeat.
    cut: bool,
    /// Heartbeats are not confirmed (a silent channel).
    stalled: bool,
    /// Held changes, with when they were published.
    queue: VecDeque<(Instant, String)>,
}

impl FeedControl {
    fn feed(&self) -> MutexGuard<'_, Feed> {
        // Every critical section is a few field updates: a poisoned lock holds consistent data.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes changes of `keys` (called by the store as it applies writes).
    pub(crate) fn publish(&self, keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        let mut feed = self.feed();
        if feed.cut {
            return;
        }
        if feed.held {
            let now = Instant::now();
            feed.queue.extend(keys.into_iter().map(|key| (now, key)));
            return;
        }
        for key in &keys {
            feed.sinks.iter().for_each(|sink| sink.changed(key));
        }
    }

    /// From now on, changes are queued instead of delivered (a slow channel).
    pub fn hold(&self) {
        self.feed().held = true;
    }

    /// Delivers the held changes in the order they happened, and stops holding.
    pub fn release(&self) {
        let mut feed = self.feed();
        feed.held = false;
        while let Some((_, key)) = feed.queue.pop_front() {
            feed.sinks.iter().for_each(|sink| sink.changed(&key));
        }
    }

    /// Delivers the held changes newest first, and stops holding.
    pub fn release_reversed(&self) {
        let mut feed = self.feed();
        feed.held = false;
        while let Some((_, key)) = feed.queue.pop_back() {
            feed.sinks.iter().for_each(|sink| sink.changed(&key));
        }
    }

    /// How many changes are held.
    pub fn held(&self) -> usize {
        self.feed().queue.len()
    }

    /// Cuts the feed's connection: held changes and those published until
    /// [`reconnect`](Self::reconnect) are lost, and no heartbeat is confirmed.
    pub fn disconnect(&self) {
        let mut feed = self.feed();
        feed.cut = true;
        feed.queue.clear();
    }

    /// Reconnects the feed: it reports that anything may have changed, then resumes.
    pub fn reconnect(&self) {
        let mut feed = self.feed();
        feed.cut = false;
        feed.sinks.iter().for_each(|sink| sink.changed_all());
    }

    /// Stops (true) or resumes (false) confirming heartbeats, the connection otherwise intact.
    pub fn stall_heartbeats(&self, stalled: bool) {
        self.feed().stalled = stalled;
    }

    /// One heartbeat: confirms delivery of every change published before now — or, with changes
    /// held, before the oldest of them.
    pub fn beat(&self) {
        let feed = self.feed();
        if feed.cut || feed.stalled {
            return;
        }
        let as_of = feed.queue.front().map_or_else(Instant::now, |(at, _)| *at);
        feed.sinks.iter().for_each(|sink| sink.alive(as_of));
    }

    fn state(&self) -> FeedState {
        let feed = self.feed();
        if feed.cut || feed.stalled {
            FeedState::Down
        } else {
            FeedState::Live
        }
    }

    /// Subscribes `sink` and starts the heartbeat task (which ends when the handle is dropped).
    pub(crate) fn watch(&self, sink: Arc<dyn ChangeSink>, options: FeedOptions) -> FeedHandle {
        self.feed().sinks.push(sink);
        let handle = Arc::new(FakeFeed {
            control: self.clone(),
            heartbeat: options.heartbeat,
        });
        let weak: Weak<FakeFeed> = Arc::downgrade(&handle);
        self.beat();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(options.heartbeat).await;
                let Some(feed) = weak.upgrade() else { return };
                feed.control.beat();
            }
        });
        handle
    }
}

impl fmt::Debug for FeedControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let feed = self.feed();
        f.debug_struct("FeedControl")
            .field("sinks", &feed.sinks.len())
            .field("held", &feed.queue.len())
            .field("cut", &feed.cut)
            .field("stalled", &feed.stalled)
            .finish()
    }
}

/// The handle [`watch_changes`](cache_core::CacheBackend::watch_changes) returns.
#[derive(Debug)]
struct FakeFeed {
    control: FeedControl,
    heartbeat: Duration,
}

impl ChangeFeed for FakeFeed {
    /// The interval plus half of it for the heartbeat's "round trip": on a busy runtime the
    /// heartbeat task itself runs late, and a tighter bound would close the L1 for nothing.
    fn staleness_bound(&self) -> Duration {
        self.heartbeat + self.heartbeat / 2
    }

    fn state(&self) -> FeedState {
        self.control.state()
    }
}
