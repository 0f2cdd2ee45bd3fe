//! A Redis Cluster of primaries, optionally with replicas, each a [`RedisServer`] of its own.

use std::time::{Duration, Instant};

use std::path::Path;

use crate::error::HarnessError;
use crate::process::TempDir;
use crate::resp::Reply;
use crate::server::{RedisServer, RedisServerBuilder, percent_encode};
use crate::tls::TlsFiles;

/// Number of hash slots in a Redis Cluster.
const SLOTS: usize = 16_384;
/// How long the nodes may take to agree that the cluster is up.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a replica may take to be promoted after a forced failover.
const PROMOTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A cluster of `n` primaries on free loopback ports, slots split evenly, optionally with
/// replicas, TLS and ACL users, `cluster_state:ok` on every node (and every replica in sync)
/// before it is returned. Dropping it stops every node.
#[derive(Debug)]
pub struct RedisCluster {
    /// The primaries at start, in slot order.
    nodes: Vec<RedisServer>,
    /// `replicas_per_primary` replicas per primary: those of primary `i` come `i`-th.
    replicas: Vec<RedisServer>,
    replicas_per_primary: usize,
    /// The certificates every node serves (one CA), on a TLS cluster.
    tls: Option<TlsFiles>,
    /// Where those certificates are; after the nodes, so it is removed once they are stopped.
    _certificates: Option<TempDir>,
}

/// Options for [`RedisCluster::builder`].
#[derive(Debug, Clone)]
pub struct RedisClusterBuilder {
    primaries: usize,
    replicas_per_primary: usize,
    tls: bool,
    node: RedisServerBuilder,
}

impl RedisClusterBuilder {
    /// `n` replicas of each primary.
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas_per_primary = n;
        self
    }

    /// TLS everywhere: clients (on [`RedisServer::port`], announced in `CLUSTER SLOTS` and
    /// redirects), the cluster bus and replication (`tls-cluster`, `tls-replication`), every
    /// node with a certificate of one CA made at start ([`RedisCluster::ca_cert`]). The
    /// harness keeps a plaintext loopback admin port per node.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// An ACL user on every node, allowed every key, channel and command.
    pub fn acl_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.node = self.node.acl_user(name, password);
        self
    }

    /// Starts the nodes, assigns the slots, joins them, attaches the replicas and waits until
    /// the cluster is up and every replica is in sync with its primary.
    pub fn start(self) -> Result<RedisCluster, HarnessError> {
        if self.primaries == 0 {
            return Err(HarnessError::Command(
                "a cluster needs at least one primary".into(),
            ));
        }
        let (node, tls, certificates) = if self.tls {
            let dir = TempDir::new("cluster-tls")?;
            let files = TlsFiles::generate(dir.path())?;
            (self.node.tls_with(files.clone()), Some(files), Some(dir))
        } else {
            (self.node, None, None)
        };
        let start = |n: usize| {
            (0..n)
                .map(|_| node.clone().start())
                .collect::<Result<Vec<_>, _>>()
        };
        let cluster = RedisCluster {
            nodes: start(self.primaries)?,
            replicas: start(self.primaries * self.replicas_per_primary)?,
            replicas_per_primary: self.replicas_per_primary,
            tls,
            _certificates: certificates,
        };
        cluster.assign_slots()?;
        cluster.join()?;
        cluster.attach_replicas()?;
        cluster.wait_until_ok()?;
        Ok(cluster)
    }
}

impl RedisCluster {
    /// Starts `primaries` nodes (at least 1), assigns the slots, joins them and waits until the
    /// cluster is up.
    pub fn start(primaries: usize) -> Result<Self, HarnessError> {
        Self::start_with_replicas(primaries, 0)
    }

    /// Starts `primaries` primaries (at least 1) and `replicas_per_primary` replicas of each
    /// (`start_with_replicas(3, 1)`: the usual 3 + 3), and waits until the cluster is up and
    /// every replica is in sync with its primary.
    pub fn start_with_replicas(
        primaries: usize,
        replicas_per_primary: usize,
    ) -> Result<Self, HarnessError> {
        Self::builder(primaries)
            .replicas(replicas_per_primary)
            .start()
    }

    /// A cluster of `primaries` primaries to configure: replicas, TLS, ACL users, e.g.
    /// `RedisCluster::builder(3).replicas(1).tls().acl_user("app", "pw").start()`.
    pub fn builder(primaries: usize) -> RedisClusterBuilder {
        RedisClusterBuilder {
            primaries,
            replicas_per_primary: 0,
            tls: false,
            node: RedisServer::builder().cluster(),
        }
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
        for node in rest.iter().chain(&self.replicas) {
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

    /// Makes each replica replicate its primary, once it knows every node.
    fn attach_replicas(&self) -> Result<(), HarnessError> {
        if self.replicas.is_empty() {
            return Ok(());
        }
        let total = self.nodes.len() + self.replicas.len();
        let want_nodes = format!("cluster_known_nodes:{total}");
        let started = Instant::now();
        for node in &self.replicas {
            loop {
                let info = text(node.command_ok(&["CLUSTER", "INFO"])?);
                if info.contains(&want_nodes) {
                    break;
                }
                if started.elapsed() > CLUSTER_READY_TIMEOUT {
                    return Err(HarnessError::Startup {
                        message: format!("replica does not know every node: {}", info.trim()),
                        log_tail: node.log_tail(20),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for (i, primary) in self.nodes.iter().enumerate() {
            let id = node_id(primary)?;
            for replica in self.replicas_of(i) {
                replica.command_ok(&["CLUSTER", "REPLICATE", &id])?;
            }
        }
        Ok(())
    }

    /// Waits until every node says `cluster_state:ok`, knows every node and sees every slot
    /// served, and every replica's link to its primary is up.
    fn wait_until_ok(&self) -> Result<(), HarnessError> {
        let started = Instant::now();
        let want_nodes = format!(
            "cluster_known_nodes:{}",
            self.nodes.len() + self.replicas.len()
        );
        loop {
            let mut all_ok = true;
            let mut last_info = String::new();
            for replica in &self.replicas {
                let info = text(replica.command_ok(&["INFO", "replication"])?);
                if !info.contains("master_link_status:up") {
                    all_ok = false;
                    last_info = info;
                    break;
                }
            }
            for node in self.nodes.iter().chain(&self.replicas) {
                if !all_ok {
                    break;
                }
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

    /// The primaries at start, in slot order (node 0 owns the lowest slots). After a failover
    /// one of them may be a replica, or dead.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Every replica started, those of primary 0 first.
    pub fn replicas(&self) -> &[RedisServer] {
        &self.replicas
    }

    /// The replicas started for primary `primary` (empty without replicas or out of range).
    pub fn replicas_of(&self, primary: usize) -> &[RedisServer] {
        let first = primary.saturating_mul(self.replicas_per_primary);
        self.replicas
            .get(first..first.saturating_add(self.replicas_per_primary))
            .unwrap_or(&[])
    }

    /// One `redis://127.0.0.1:PORT` URL per primary.
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,...` (`rediss-cluster://` with TLS): every
    /// node (primaries, then replicas) as a seed, the form `cache-redis` parses.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.hosts())
    }

    /// The URL with an ACL user's credentials: `redis-cluster://USER:PASSWORD@h1:p1,...`
    /// (percent-encoded).
    pub fn url_with_auth(&self, user: &str, password: &str) -> String {
        format!(
            "{}://{}:{}@{}",
            self.scheme(),
            percent_encode(user),
            percent_encode(password),
            self.hosts()
        )
    }

    /// The CA certificate that signed every node's certificate (`None` without TLS).
    pub fn ca_cert(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca_cert.as_path())
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "rediss-cluster"
        } else {
            "redis-cluster"
        }
    }

    fn hosts(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .chain(&self.replicas)
            .map(RedisServer::address)
            .collect();
        hosts.join(",")
    }

    /// Promotes `replica` with `CLUSTER FAILOVER FORCE` (no handshake with its primary, which
    /// may be dead; the other primaries vote), and waits until it is a primary serving its
    /// slots with `cluster_state:ok`. Falls back to `TAKEOVER` (no vote) if the election does
    /// not finish within a few seconds.
    pub fn promote(&self, replica: &RedisServer) -> Result<(), HarnessError> {
        replica.command_ok(&["CLUSTER", "FAILOVER", "FORCE"])?;
        let started = Instant::now();
        let mut took_over = false;
        loop {
            let role = text(replica.command_ok(&["INFO", "replication"])?);
            let info = text(replica.command_ok(&["CLUSTER", "INFO"])?);
            if role.contains("role:master") && info.contains("cluster_state:ok") {
                return Ok(());
            }
            if !took_over && started.elapsed() > Duration::from_secs(5) {
                replica.command_ok(&["CLUSTER", "FAILOVER", "TAKEOVER"])?;
                took_over = true;
            }
            if started.elapsed() > PROMOTION_TIMEOUT {
                return Err(HarnessError::Startup {
                    message: format!(
                        "replica {} not promoted within {PROMOTION_TIMEOUT:?}: {}",
                        replica.port(),
                        role.trim()
                    ),
                    log_tail: replica.log_tail(20),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A node's cluster id (`CLUSTER MYID`).
pub fn node_id(node: &RedisServer) -> Result<String, HarnessError> {
    node.command_ok(&["CLUSTER", "MYID"])?
        .as_text()
        .ok_or_else(|| HarnessError::Command("CLUSTER MYID answered no text".into()))
}

/// The text of a bulk or status reply (empty otherwise).
fn text(reply: Reply) -> String {
    reply.as_text().unwrap_or_default()
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
