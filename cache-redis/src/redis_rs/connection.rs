//! One handle over redis-rs' two async connection kinds, so every command is written once.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};

/// A standalone [`ConnectionManager`] or a [`ClusterConnection`]: both multiplex concurrent
/// commands over shared sockets, and both are cheap to clone (a clone shares them).
#[derive(Clone)]
pub(crate) enum Connection {
    /// One server (reconnects by itself).
    Standalone(ConnectionManager),
    /// A cluster (routes each command by its key's slot, follows MOVED/ASK).
    Cluster(ClusterConnection),
}

/// A cluster primary, as `CLUSTER SLOTS` names it (the address redis-rs routes to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Connection {
    /// Runs `cmd` (routed by its keys on a cluster).
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        cmd.query_async(&mut self.clone()).await
    }

    /// Runs `cmd` on one cluster node; on a standalone server, on that server.
    pub(crate) async fn query_on<T: FromRedisValue>(
        &self,
        cmd: Cmd,
        node: Option<&Node>,
    ) -> RedisResult<T> {
        match (self, node) {
            (Connection::Cluster(cluster), Some(node)) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: node.host.clone(),
                    port: node.port,
                });
                let value = cluster.clone().route_command(cmd, routing).await?;
                T::from_redis_value(value).map_err(Into::into)
            }
            _ => self.query(&cmd).await,
        }
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Connection::Cluster(_))
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Standalone(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Standalone(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Standalone(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}
