//! The reader task: every invalidation to the sink, in order, and each new connection to the
//! node table (after what the old connection delivered).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use fred::types::client::Invalidation;
use fred::types::config::Server;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::Shared;
use super::nodes::CANARY_PREFIX;

/// Runs until the tracking client closes its channels (or the feed stops).
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut invalidations: Receiver<Invalidation>,
    mut reconnections: Receiver<Server>,
) {
    loop {
        tokio::select! {
            biased;
            message = invalidations.recv() => match message {
                Ok(invalidation) => deliver(&shared, invalidation),
                Err(RecvError::Lagged(_)) => lagged(&shared),
                Err(RecvError::Closed) => break,
            },
            event = reconnections.recv() => {
                // fred announced the new connection after the old one's last push went into
                // the channel: deliver those first, so none is counted for the new one.
                if !drain(&shared, &mut invalidations) {
                    break;
                }
                match event {
                    Ok(server) => shared.nodes.reset(&shared.node_of(server)),
                    Err(RecvError::Lagged(_)) => shared.nodes.reset_all(),
                    Err(RecvError::Closed) => break,
                }
                shared.canary_seen.notify_waiters();
            }
        }
    }
}

/// Delivers what the channel holds now; false once it is closed.
fn drain(shared: &Shared, invalidations: &mut Receiver<Invalidation>) -> bool {
    loop {
        match invalidations.try_recv() {
            Ok(invalidation) => deliver(shared, invalidation),
            Err(TryRecvError::Lagged(_)) => lagged(shared),
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Closed) => return false,
        }
    }
}

/// One invalidation: each key to the sink, then (so that a beat confirmed by it comes after
/// them) this instance's canaries to the node table. Other instances' canaries are nobody's
/// cache entries; a key that is not UTF-8 cannot be one either.
fn deliver(shared: &Shared, invalidation: Invalidation) {
    let node = shared.node_of(invalidation.server);
    let mut canaries = Vec::new();
    for key in &invalidation.keys {
        let Some(name) = key.as_str() else { continue };
        if name.starts_with(CANARY_PREFIX) {
            canaries.push(name);
        } else {
            shared.sink.changed(name);
        }
    }
    let mut ours = false;
    for name in canaries {
        ours |= shared.nodes.saw(name, &node);
    }
    if ours {
        shared.canary_seen.notify_waiters();
    }
}

/// Invalidations were lost: everything may have changed, and the canary counts no longer
/// match their connections until those are replaced.
fn lagged(shared: &Shared) {
    tracing::warn!(url = %shared.url, "redis change feed fell behind; dropping the L1 and reconnecting");
    shared.sink.changed_all();
    shared.reconnect.store(true, Ordering::Relaxed);
}
