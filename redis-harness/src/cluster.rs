//! A Redis Cluster of primaries (no replicas), each a [`RedisServer`] of its own.

use std::time::{Duration, Instant};

use crate::error::HarnessError;
use crate::resp::Reply;
use crate::server::RedisServer;

/// Number of hash slots in a Redis Cluster.
const SLOTS: usize = 16_384;
/// How long the nodes may take to agree that the cluster is up.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A cluster of `n` primaries on free loopback ports, slots split evenly, `cluster_state:ok`
/// on every node before [`start`](Self::start) returns. Dropping it stops every node.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `primaries` nodes (at least 1), assigns the slots, joins them and waits until the
    /// cluster is up.
    pub fn start(primaries: usize) -> Result<Self, HarnessError> {
        if primaries == 0 {
            return Err(HarnessError::Command(
                "a cluster needs at least one primary".into(),
            ));
        }
        let nodes = (0..primaries)
            .map(|_| RedisServer::builder().cluster().start())
            .collect::<Result<Vec<_>, _>>()?;
        let cluster = RedisCluster { nodes };
        cluster.assign_slots()?;
        cluster.join()?;
        cluster.wait_until_ok()?;
        Ok(cluster)
    }

    fn assign_slots(&self) -> Result<(), HarnessError> {
        let n = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            let first = i * SLOTS / n;
            let last = (i + 1) * SLOTS / n - 1;
            node.command_ok(&[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &first.to_string(),
                &last.to_string(),
            ])?;
            // Distinct epochs up front, so the nodes need no collision round to agree.
            node.command_ok(&["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()])?;
        }
        Ok(())
    }

    fn join(&self) -> Result<(), HarnessError> {
        let (first, rest) = self
            .nodes
            .split_first()
            .ok_or_else(|| HarnessError::Command("empty cluster".into()))?;
        for node in rest {
            let bus = bus_port(node)?;
            first.command_ok(&[
                "CLUSTER",
                "MEET",
                "127.0.0.1",
                &node.port().to_string(),
                &bus.to_string(),
            ])?;
        }
        Ok(())
    }

    fn wait_until_ok(&self) -> Result<(), HarnessError> {
        let started = Instant::now();
        let want_nodes = format!("cluster_known_nodes:{}", self.nodes.len());
        loop {
            let mut all_ok = true;
            let mut last_info = String::new();
            for node in &self.nodes {
                let info = node
                    .command_ok(&["CLUSTER", "INFO"])?
                    .as_text()
                    .unwrap_or_default();
                let ok = info.contains("cluster_state:ok")
                    && info.contains(&want_nodes)
                    && info.contains("cluster_slots_ok:16384");
                if !ok {
                    all_ok = false;
                    last_info = info;
                    break;
                }
            }
            if all_ok {
                return Ok(());
            }
            if started.elapsed() > CLUSTER_READY_TIMEOUT {
                return Err(HarnessError::Startup {
                    message: format!(
                        "cluster not ok within {CLUSTER_READY_TIMEOUT:?}: {}",
                        last_info.trim()
                    ),
                    log_tail: self.nodes[0].log_tail(20),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The nodes, in slot order (node 0 owns the lowest slots).
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// One `redis://127.0.0.1:PORT` URL per node.
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,...`: every node as a seed, the form
    /// `cache-redis` parses.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.nodes.iter().map(RedisServer::address).collect();
        format!("redis-cluster://{}", hosts.join(","))
    }
}

/// The cluster bus port a node announces (`CLUSTER MYID` does not tell it; `CLUSTER NODES`
/// does, as `ip:port@bus` on the `myself` line).
fn bus_port(node: &RedisServer) -> Result<u16, HarnessError> {
    let nodes = node.command_ok(&["CLUSTER", "NODES"])?;
    let text = match nodes {
        Reply::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => {
            return Err(HarnessError::Command(format!(
                "unexpected CLUSTER NODES reply {other:?}"
            )));
        }
    };
    text.lines()
        .find(|line| line.contains("myself"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|addr| addr.split('@').nth(1))
        .and_then(|bus| bus.split(',').next())
        .and_then(|bus| bus.parse().ok())
        .ok_or_else(|| HarnessError::Command(format!("no bus port in CLUSTER NODES: {text}")))
}
