//! Direct connections to each cluster primary, used only while the cluster client is down.
//!
//! fred reconnects a cluster client as a whole: while one primary is dead and still in the
//! routing table (until its replica is promoted), the client keeps retrying it and every
//! command fails fast, also those for keys on healthy primaries. So the backend also keeps one
//! plain connection per primary; a command that failed while the cluster client is down is
//! sent once more on the connection to its key's primary, if that one is up. A key whose slot
//! moved meanwhile gets `MOVED` there, an error like any other.

use std::collections::HashMap;
use std::sync::Mutex;

use fred::clients::{Client, WithOptions};
use fred::prelude::*;
use fred::types::cluster::ClusterRouting;
use fred::types::config::Options;

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
        let wanted: HashMap<u64, &fred::types::config::Server> =
            primaries.iter().map(|p| (domain_of(p), p)).collect();
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
                    tracing::debug!(error = %err, "no direct connection to a cluster primary");
                    continue;
                }
            };
            // Reconnects by itself, with the configured backoff, for as long as it lives.
            let _task = client.connect();
            let fail_fast = Options {
                fail_fast: true,
                ..Options::default()
            };
            clients.insert(domain, client.with_options(&fail_fast));
        }
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
