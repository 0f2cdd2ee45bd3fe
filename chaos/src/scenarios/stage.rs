//! What a scenario runs on: the Redis topology, an optional fault proxy, the service instances.

use std::net::SocketAddr;
use std::sync::Arc;

use redis_harness::{RedisCluster, RedisServer};

use super::Scenario;
use crate::error::ChaosError;
use crate::proxy::FaultProxy;
use crate::service::Service;
use crate::staleness::{CheckerInstance, Role};

/// The ACL user of the TLS scenario (a throwaway password for a throwaway server).
const TLS_USER: (&str, &str) = ("chaos-app", "chaos-app-password");

/// Redis as the scenario runs it.
#[derive(Debug)]
pub enum Redis {
    /// One server.
    Standalone(Arc<RedisServer>),
    /// A cluster.
    Cluster(Arc<RedisCluster>),
}

/// A scenario's processes; dropping it stops them all.
#[derive(Debug)]
pub struct Stage {
    /// The services, in target order.
    pub services: Vec<Service>,
    /// Between the first service (or every service) and Redis, when the fault needs it.
    pub proxy: Option<FaultProxy>,
    /// Redis.
    pub redis: Redis,
    /// The staleness checker's instances: how each reaches Redis (through the proxy where the
    /// services' traffic goes through it) and what it does.
    pub checker: Vec<CheckerInstance>,
}

impl Stage {
    /// Starts Redis, the proxy and two service instances as the scenario needs them.
    pub async fn build(scenario: Scenario) -> Result<Stage, ChaosError> {
        match scenario {
            Scenario::Kill | Scenario::Stop | Scenario::ClientKill => {
                let server = start(RedisServer::start).await?;
                let env = [("REDIS_URL", server.url())];
                Ok(Stage {
                    services: two_services(&env, &env).await?,
                    proxy: None,
                    redis: Redis::Standalone(server),
                    checker: checker(&env, &env),
                })
            }
            Scenario::Cluster => {
                let cluster = start(|| RedisCluster::start_with_replicas(3, 1)).await?;
                let env = [("REDIS_URL", cluster.url())];
                Ok(Stage {
                    services: two_services(&env, &env).await?,
                    proxy: None,
                    redis: Redis::Cluster(cluster),
                    checker: checker(&env, &env),
                })
            }
            Scenario::Partition | Scenario::Latency => {
                let server = start(RedisServer::start).await?;
                let upstream: SocketAddr = server
                    .address()
                    .parse()
                    .map_err(|e| ChaosError::Setup(format!("redis address: {e}")))?;
                let proxy = FaultProxy::start(upstream).await?;
                let proxied = [("REDIS_URL", format!("redis://{}", proxy.addr()))];
                let direct = [("REDIS_URL", server.url())];
                // Partition: only the first instance is cut off; latency: both are slowed.
                let second = if scenario == Scenario::Partition {
                    &direct
                } else {
                    &proxied
                };
                Ok(Stage {
                    services: two_services(&proxied, second).await?,
                    proxy: Some(proxy),
                    redis: Redis::Standalone(server),
                    checker: checker_with_proxy(scenario, &direct, &proxied),
                })
            }
            Scenario::Tls => {
                let cluster = start(|| {
                    RedisCluster::builder(3)
                        .replicas(1)
                        .tls()
                        .acl_user(TLS_USER.0, TLS_USER.1)
                        .start()
                })
                .await?;
                let ca = cluster
                    .ca_cert()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let env = [
                    ("REDIS_URL", cluster.url_with_auth(TLS_USER.0, TLS_USER.1)),
                    ("REDIS_TLS_CA_FILE", ca),
                ];
                Ok(Stage {
                    services: two_services(&env, &env).await?,
                    proxy: None,
                    redis: Redis::Cluster(cluster),
                    checker: checker(&env, &env),
                })
            }
        }
    }
}

/// Starts a Redis topology off the async threads (the harness blocks).
async fn start<T: Send + 'static>(
    start: impl FnOnce() -> Result<T, redis_harness::HarnessError> + Send + 'static,
) -> Result<Arc<T>, ChaosError> {
    tokio::task::spawn_blocking(start)
        .await
        .map_err(|e| ChaosError::Setup(format!("redis start: {e}")))?
        .map(Arc::new)
        .map_err(ChaosError::from)
}

async fn two_services(
    first: &[(&str, String)],
    second: &[(&str, String)],
) -> Result<Vec<Service>, ChaosError> {
    Ok(vec![
        Service::start("a", first).await?,
        Service::start("b", second).await?,
    ])
}

/// The checker where a proxy stands between the services and Redis. Partition: the reader is
/// black-holed with instance `a` while the writers keep writing directly — a partition
/// between one instance and Redis while others write. Latency: everyone is slowed.
fn checker_with_proxy(
    scenario: Scenario,
    direct: &[(&str, String)],
    proxied: &[(&str, String)],
) -> Vec<CheckerInstance> {
    if scenario == Scenario::Partition {
        checker(direct, proxied)
    } else {
        checker(proxied, proxied)
    }
}

/// The staleness checker's instances: two writers reaching Redis as `writers` says, and a
/// reader as `reader` says.
fn checker(writers: &[(&str, String)], reader: &[(&str, String)]) -> Vec<CheckerInstance> {
    let instance = |name: &str, role, env: &[(&str, String)]| CheckerInstance {
        name: name.to_owned(),
        role,
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    };
    vec![
        instance("w1", Role::Writer, writers),
        instance("w2", Role::Writer, writers),
        instance("r", Role::Reader, reader),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(instances: &[CheckerInstance], role: Role) -> Vec<&str> {
        instances
            .iter()
            .filter(|i| i.role == role)
            .flat_map(|i| &i.env)
            .filter(|(k, _)| k == "REDIS_URL")
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn in_the_partition_only_the_checkers_reader_goes_through_the_proxy() {
        let direct = [("REDIS_URL", "redis://redis".to_owned())];
        let proxied = [("REDIS_URL", "redis://proxy".to_owned())];
        let partition = checker_with_proxy(Scenario::Partition, &direct, &proxied);
        assert_eq!(urls(&partition, Role::Writer), ["redis://redis"; 2]);
        assert_eq!(urls(&partition, Role::Reader), ["redis://proxy"]);
        let latency = checker_with_proxy(Scenario::Latency, &direct, &proxied);
        assert_eq!(urls(&latency, Role::Writer), ["redis://proxy"; 2]);
        assert_eq!(urls(&latency, Role::Reader), ["redis://proxy"]);
    }
}
