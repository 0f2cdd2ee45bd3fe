//! Which pooled connections were just seen dropping, before fred's own state says so.
//!
//! When a connection drops, fred keeps reporting its client as connected until its first
//! reconnection attempt (after [`reconnect.min`](crate::RedisConfig::reconnect)); a command sent
//! meanwhile is queued, not failed fast, and waits its whole command timeout. The error event of
//! the drop comes at once: from it until that first attempt, the client is not used.
//! Standalone and sentinel only: a cluster client reports errors of one node while it serves
//! the others, and its dead nodes are handled per shard (breakers, direct connections).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fred::clients::WithOptions;
use fred::prelude::*;
use fred::types::config::Options;

/// The pool's clients' recent drops, and a handle for when none is usable.
pub(crate) struct Liveness {
    /// Per pooled client: when its connection was seen dropping (ms since `born`, +1), or 0.
    lost_at: Vec<AtomicU64>,
    born: Instant,
    /// How long after a drop a client counts as down whatever fred says: its first reconnection
    /// delay and fred's jitter.
    window: Duration,
    /// A client never connected: a command through it fails at once (`fail_fast`).
    closed: WithOptions<Client>,
}

/// fred's largest jitter added to a reconnection delay.
const JITTER: Duration = Duration::from_millis(100);

impl Liveness {
    pub(crate) fn new(clients: usize, first_reconnect: Duration) -> Self {
        let fail_fast = Options {
            fail_fast: true,
            ..Options::default()
        };
        Liveness {
            lost_at: (0..clients).map(|_| AtomicU64::new(0)).collect(),
            born: Instant::now(),
            window: first_reconnect + JITTER,
            closed: Client::new(Config::default(), None, None, None).with_options(&fail_fast),
        }
    }

    /// Client `index`'s connection dropped (a connection error event).
    pub(crate) fn lost(&self, index: usize) {
        if let Some(at) = self.lost_at.get(index) {
            let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
            at.store(now.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// Client `index` connected again.
    pub(crate) fn reconnected(&self, index: usize) {
        if let Some(at) = self.lost_at.get(index) {
            at.store(0, Ordering::Relaxed);
        }
    }

    /// Whether client `index` was not seen dropping within the window.
    pub(crate) fn usable(&self, index: usize) -> bool {
        match self.lost_at.get(index).map(|at| at.load(Ordering::Relaxed)) {
            None | Some(0) => true,
            Some(at) => {
                let lost = Duration::from_millis(at - 1);
                self.born.elapsed().saturating_sub(lost) > self.window
            }
        }
    }

    /// A handle whose commands fail at once.
    pub(crate) fn closed(&self) -> &WithOptions<Client> {
        &self.closed
    }
}

#[cfg(test)]
mod tests {
    use super::Liveness;
    use std::time::Duration;

    #[test]
    fn a_drop_makes_a_client_unusable_until_it_reconnects_or_the_window_ends() {
        let live = Liveness::new(2, Duration::from_secs(60));
        assert!(live.usable(0) && live.usable(1));
        live.lost(1);
        assert!(live.usable(0) && !live.usable(1));
        live.reconnected(1);
        assert!(live.usable(1));
        let short = Liveness::new(1, Duration::ZERO);
        short.lost(0);
        std::thread::sleep(Duration::from_millis(150));
        assert!(
            short.usable(0),
            "after the first reconnection delay fred's state counts"
        );
        live.lost(7); // out of range: ignored
    }
}
