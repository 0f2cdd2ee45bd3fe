//! The heartbeat task: connects the tracking client, enables tracking on every primary that
//! lacks it, and every interval proves the feed alive with the canaries (see the module docs
//! of [`super`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use fred::prelude::*;
use fred::types::ConnectHandle;
use futures_util::future::join_all;
use tokio::time::Instant;

use super::Shared;
use super::client::{self, on_node, refusal};
use super::nodes::{Canary, NodeKey, NodeView, canary_name};
use cache_core::FeedState;

/// What one beat found.
enum Beat {
    /// Every primary's canary came back, and nothing was flushed.
    Confirmed,
    /// Not this time (down, slow, just (re)enabled, flushed).
    Unconfirmed,
    /// The server refuses what the feed needs.
    Refused(&'static str, String),
}

/// One primary's part of a beat.
enum Round {
    /// The canary was written: confirmed once invalidation number `target` comes.
    Sent {
        target: u64,
    },
    /// Nothing to wait for: not confirmed this beat.
    Miss,
    Refused(&'static str, String),
}

/// Runs the feed until it stops or the server refuses it.
pub(crate) async fn run(shared: Arc<Shared>) {
    let Some(mut task) = connect(&shared).await else {
        return;
    };
    let mut next = Instant::now();
    let mut resync = false;
    loop {
        tokio::time::sleep_until(next).await;
        next = Instant::now() + shared.heartbeat;
        if task.is_finished() {
            // fred ended its connection task (it does on some errors): start another; its
            // connections announce themselves, and tracking is enabled on them as on any.
            tracing::warn!(url = %shared.url, "redis tracking connection task ended; starting a new one");
            task = shared.client.connect();
            continue;
        }
        if shared.reconnect.swap(false, Ordering::Relaxed) {
            force_reconnection(&shared);
        }
        if shared.clustered {
            refresh_nodes(&shared, resync).await;
        }
        // Taken before any canary write of this beat is sent.
        let as_of = Instant::now();
        match beat(&shared, as_of).await {
            Beat::Confirmed => {
                shared.sink.alive(as_of);
                shared.set_state(FeedState::Live);
                resync = false;
            }
            Beat::Unconfirmed => {
                if shared.state() == FeedState::Live {
                    shared.set_state(FeedState::Down);
                }
                resync = true;
            }
            Beat::Refused(why, detail) => {
                unavailable(&shared, why, &detail).await;
                return;
            }
        }
    }
}

/// Connects the tracking client, retrying with the reconnection delay while the server is
/// unreachable; `None` if it refuses (then the feed is unavailable). A first connection that
/// fails ends fred's task (the client is built to report it), so each attempt starts one.
async fn connect(shared: &Shared) -> Option<ConnectHandle> {
    let limit = shared.connect_timeout * 3;
    loop {
        let task = shared.client.connect();
        loop {
            match tokio::time::timeout(limit, shared.client.wait_for_connect()).await {
                Ok(Ok(())) => return Some(task),
                Ok(Err(err)) => {
                    if let Some(why) = refusal(&err) {
                        unavailable(shared, why, err.details()).await;
                        return None;
                    }
                    break;
                }
                // Still trying (fred bounds each attempt): wait on, unless the task ended.
                Err(_) if !task.is_finished() => {}
                Err(_) => break,
            }
        }
        let _ = tokio::time::timeout(limit, task).await;
        tokio::time::sleep(shared.reconnect_delay).await;
    }
}

/// The feed can never work here: say why once, close the client.
async fn unavailable(shared: &Shared, why: &'static str, detail: &str) {
    let detail = shared.redactor.clean(detail);
    tracing::warn!(
        url = %shared.url,
        reason = why,
        error = %detail,
        "redis change feed unavailable: the in-process tier (L1) stays off"
    );
    *shared.state.lock().unwrap_or_else(|p| p.into_inner()) =
        FeedState::Unavailable(format!("{why}: {detail}"));
    let _ = shared.client.quit().await;
}

/// Replaces every tracking connection (in the background: fred answers once reconnected).
/// Not while fred is reconnecting already: the new connections will start afresh anyway.
fn force_reconnection(shared: &Shared) {
    if !shared.client.is_connected() {
        return;
    }
    let client = shared.client.clone();
    let limit = shared.connect_timeout * 3;
    tokio::spawn(async move {
        let _ = tokio::time::timeout(limit, client.force_reconnection()).await;
    });
}

/// Keeps the node table to the primaries the tracking client routes to; after a failed beat,
/// asks the cluster first (a failover or a resharding may be why).
async fn refresh_nodes(shared: &Shared, resync: bool) {
    if resync {
        let _ = tokio::time::timeout(shared.round_trip * 4, shared.client.sync_cluster()).await;
    }
    if let Some(routing) = shared.client.cached_cluster_state() {
        let primaries: Vec<NodeKey> = routing
            .unique_primary_nodes()
            .into_iter()
            .map(Some)
            .collect();
        if !primaries.is_empty() {
            shared.nodes.retain(&primaries);
        }
    }
}

/// One heartbeat: a round on every primary, then the wait for their canaries.
async fn beat(shared: &Shared, as_of: Instant) -> Beat {
    let nodes = shared.nodes.snapshot();
    if nodes.is_empty() {
        return Beat::Unconfirmed;
    }
    let rounds = join_all(nodes.iter().map(|node| round(shared, node))).await;
    let mut waits = Vec::with_capacity(rounds.len());
    let mut complete = true;
    let mut reconnect = false;
    for (node, round) in nodes.iter().zip(rounds) {
        match round {
            Round::Sent { target } => waits.push((node, target)),
            Round::Miss => {
                complete = false;
                reconnect |= shared.nodes.record_beat(&node.key, false);
            }
            Round::Refused(why, detail) => return Beat::Refused(why, detail),
        }
    }
    let deadline = as_of + shared.round_trip;
    let arrived = |shared: &Shared| {
        waits
            .iter()
            .all(|(n, target)| shared.nodes.confirmed(&n.key, n.generation, *target))
    };
    loop {
        let seen = shared.canary_seen.notified();
        tokio::pin!(seen);
        seen.as_mut().enable();
        if arrived(shared) {
            break;
        }
        if tokio::time::timeout_at(deadline, seen).await.is_err() {
            break;
        }
    }
    for (node, target) in &waits {
        let ok = shared.nodes.confirmed(&node.key, node.generation, *target);
        complete &= ok;
        reconnect |= shared.nodes.record_beat(&node.key, ok);
    }
    if reconnect {
        force_reconnection(shared);
    }
    if complete {
        Beat::Confirmed
    } else {
        Beat::Unconfirmed
    }
}

/// One primary's part of a beat: enable tracking if it is off (no confirmation this beat),
/// else write the canary and check what it held.
async fn round(shared: &Shared, node: &NodeView) -> Round {
    let command = on_node(&shared.client, &node.key, shared.round_trip);
    let canary = match (&node.canary, node.enabled) {
        (Some(canary), true) => canary.clone(),
        _ => return enable(shared, node).await,
    };
    let Some(target) = shared.nodes.begin_write(&node.key, node.generation) else {
        return Round::Miss;
    };
    let nonce = shared.nonce();
    match client::write_canary(&command, &canary, &nonce).await {
        Ok(previous) => {
            match shared
                .nodes
                .check_canary(&node.key, node.generation, previous.as_deref(), nonce)
            {
                Canary::Intact => Round::Sent { target },
                Canary::Lost => {
                    tracing::debug!(url = %shared.url, "redis canary lost (flush): dropping the L1");
                    shared.sink.changed_all();
                    Round::Miss
                }
                Canary::Stale => Round::Miss,
            }
        }
        Err(err) => {
            if *err.kind() == ErrorKind::Timeout {
                // It may still run, and its invalidation come.
                shared
                    .nodes
                    .write_unknown(&node.key, node.generation, nonce);
            } else {
                shared.nodes.undo_write(&node.key, node.generation);
                if let Some(why) = refusal(&err) {
                    return Round::Refused(why, err.details().to_string());
                }
            }
            Round::Miss
        }
    }
}

/// Turns tracking on for `node`'s current connection, writes the canary baseline, and drops
/// the L1 (a write before tracking was on went unheard).
async fn enable(shared: &Shared, node: &NodeView) -> Round {
    let command = on_node(&shared.client, &node.key, shared.round_trip);
    if let Err(err) = client::enable(&command, &shared.prefixes).await {
        return refused_or_miss(&err);
    }
    let routing = if shared.clustered {
        shared.client.cached_cluster_state()
    } else {
        None
    };
    let Some(canary) = canary_name(&shared.instance, &node.key, routing.as_ref()) else {
        return Round::Miss;
    };
    if !shared
        .nodes
        .set_canary(&node.key, node.generation, canary.clone())
    {
        return Round::Miss;
    }
    if shared
        .nodes
        .begin_write(&node.key, node.generation)
        .is_none()
    {
        return Round::Miss;
    }
    let nonce = shared.nonce();
    match client::write_canary(&command, &canary, &nonce).await {
        Ok(_) => {}
        Err(err) => {
            if *err.kind() != ErrorKind::Timeout {
                shared.nodes.undo_write(&node.key, node.generation);
            }
            return refused_or_miss(&err);
        }
    }
    if shared.nodes.enabled(&node.key, node.generation, nonce) {
        tracing::debug!(url = %shared.url, node = ?node.key, "redis tracking enabled");
        shared.sink.changed_all();
    }
    Round::Miss
}

fn refused_or_miss(err: &Error) -> Round {
    match refusal(err) {
        Some(why) => Round::Refused(why, err.details().to_string()),
        None => Round::Miss,
    }
}
