//! Direct connections to each cluster primary (and to a node an `ASK` names), used only
//! while the cluster client is down or cannot follow an `ASK` ([`crate::ask`]).
//!
//! fred reconnects a cluster client as a whole: while one primary is dead and still in the
//! routing table (until its replica is promoted), the client keeps retrying it and every
//! command fails fast, also those for keys on healthy primaries. So the backend also keeps one
//! plain connection per primary; a command that failed while the cluster client is down is
//! sent once more on the connection to its key's primary, if that one is up. A key whose slot
//! moved meanwhile gets `MOVED` there, an error like any other.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use futures_util::future::join_all;
use std::sync::Mutex;

use fred::clients::{Client, WithOptions};
use fred::prelude::*;
use fred::types::cluster::ClusterRouting;
use fred::types::config::{Options, Server};

use crate::config::RedisConfig;
use crate::domain::domain_of;
use crate::secret::Redactor;
use crate::url::Topology;

/// Domain (primary) → a plain client to that primary, failing fast while it is down.
#[derive(Default)]
pub(crate) struct DirectClients {
    clients: Mutex<HashMap<u64, WithOptions<Client>>>,
}

impl DirectClients {
    /// The connected direct client of `domain`, if any.
    pub(crate) fn connected(&self, domain: u64) -> Option<WithOptions<Client>> {
        let clients = self.lock();
        clients.get(&domain).filter(|c| c.is_connected()).cloned()
    }

    /// Opens a client to every primary of `routing` that has none, and closes those of nodes
    /// that no longer serve slots.
    pub(crate) fn update(
        &self,
        routing: &ClusterRouting,
        config: &RedisConfig,
        redactor: &Redactor,
    ) {
        let primaries = routing.unique_primary_nodes();
        let wanted: HashMap<u64, &Server> = primaries.iter().map(|p| (domain_of(p), p)).collect();
        let mut clients = self.lock();
        clients.retain(|domain, client| {
            let keep = wanted.contains_key(domain);
            if !keep {
                let client = client.clone();
                tokio::spawn(async move {
                    let _ = client.quit().await;
                });
            }
            keep
        });
        for (domain, server) in wanted {
            if clients.contains_key(&domain) {
                continue;
            }
            if let Some(client) = open(server, config, redactor) {
                clients.insert(domain, client);
            }
        }
    }

    /// The direct client of `domain` once connected, waiting at most `limit` for it (one
    /// opened a moment ago, or reconnecting).
    pub(crate) async fn ready(&self, domain: u64, limit: Duration) -> Option<WithOptions<Client>> {
        let client = self.lock().get(&domain).cloned()?;
        connected_within(client, limit).await
    }

    /// A connected client to `server`: the one kept for it, or else a new one, kept until the
    /// next routing update that does not list it as a primary (the node an `ASK` names may
    /// serve no slot yet). `None` if it does not connect within `limit`.
    pub(crate) async fn to(
        &self,
        server: &Server,
        config: &RedisConfig,
        redactor: &Redactor,
        limit: Duration,
    ) -> Option<WithOptions<Client>> {
        let client = {
            let mut clients = self.lock();
            match clients.entry(domain_of(server)) {
                Entry::Occupied(kept) => kept.get().clone(),
                Entry::Vacant(slot) => slot.insert(open(server, config, redactor)?).clone(),
            }
        };
        connected_within(client, limit).await
    }

    /// Waits at most `limit` for every direct client to connect (best effort: one that does
    /// not is left to reconnect in the background).
    pub(crate) async fn wait_connected(&self, limit: Duration) {
        let clients: Vec<_> = self.lock().values().cloned().collect();
        join_all(clients.into_iter().map(|c| connected_within(c, limit))).await;
    }

    /// Closes every direct client.
    pub(crate) fn close(&self) {
        for (_, client) in self.lock().drain() {
            tokio::spawn(async move {
                let _ = client.quit().await;
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, WithOptions<Client>>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A plain client to `server`, reconnecting by itself with the configured backoff for as long
/// as it lives, failing fast while down.
fn open(server: &Server, config: &RedisConfig, redactor: &Redactor) -> Option<WithOptions<Client>> {
    let mut direct = config.clone();
    direct.topology = Topology::Standalone {
        host: server.host.to_string(),
        port: server.port,
    };
    let client = match crate::connect::builder(&direct, redactor, true).and_then(|b| {
        b.build()
            .map_err(|e| crate::backend::connect_error(&direct, redactor, &e))
    }) {
        Ok(client) => client,
        Err(err) => {
            tracing::debug!(error = %err, "no direct connection to a cluster node");
            return None;
        }
    };
    let _task = client.connect();
    let fail_fast = Options {
        fail_fast: true,
        ..Options::default()
    };
    Some(client.with_options(&fail_fast))
}

/// `client` once connected, if that happens within `limit`.
async fn connected_within(
    client: WithOptions<Client>,
    limit: Duration,
) -> Option<WithOptions<Client>> {
    if !client.is_connected() {
        tokio::time::timeout(limit, client.wait_for_connect())
            .await
            .ok()?
            .ok()?;
    }
    Some(client)
}
