//! The fault of each scenario, with the times the measurement needs. Harness calls block, so
//! they run off the async threads while the load keeps going.

use std::time::{Duration, Instant};

use redis_harness::{RedisCluster, RedisServer, node_id};

use super::Scenario;
use super::stage::{Redis, Stage};
use crate::error::ChaosError;
use crate::measure::FaultTimes;
use crate::proxy::ProxyMode;
use crate::service::COMMAND_TIMEOUT;

/// Slots moved between two primaries in the cluster scenario.
const RESHARD_SLOTS: usize = 1000;
/// How long the cluster may take after the failover to report `cluster_state:ok`.
const CLUSTER_OK_TIMEOUT: Duration = Duration::from_secs(30);

/// Injects the scenario's fault for `length`; returns its times and a description.
pub async fn inject(
    scenario: Scenario,
    stage: &Stage,
    length: Duration,
) -> Result<(FaultTimes, String), ChaosError> {
    let secs = length.as_secs_f64();
    match (scenario, &stage.redis) {
        (Scenario::Kill, Redis::Standalone(server)) => {
            let server = server.clone();
            blocking(move || outage(&server, length))
                .await
                .map(|t| (t, format!("SIGKILL, restart empty after {secs:.0} s")))
        }
        (Scenario::Tls, Redis::Cluster(cluster)) => {
            let cluster = cluster.clone();
            blocking(move || restart_primary(&cluster, length))
                .await
                .map(|t| {
                    (
                        t,
                        format!(
                            "TLS cluster, ACL user: a primary SIGKILLed, restarted after \
                             {secs:.0} s (its replica promoted meanwhile if the cluster sees \
                             it dead)"
                        ),
                    )
                })
        }
        (Scenario::Stop, Redis::Standalone(server)) => {
            let server = server.clone();
            blocking(move || freeze(&server, length))
                .await
                .map(|t| (t, format!("SIGSTOP {secs:.0} s, SIGCONT")))
        }
        (Scenario::ClientKill, Redis::Standalone(server)) => {
            let server = server.clone();
            blocking(move || kill_clients(&server))
                .await
                .map(|t| (t, "CLIENT KILL of every normal and pub/sub client".into()))
        }
        (Scenario::Cluster, Redis::Cluster(cluster)) => {
            let cluster = cluster.clone();
            blocking(move || failover_and_reshard(&cluster, length))
                .await
                .map(|t| {
                    (
                        t,
                        format!(
                            "primary SIGKILL, replica promoted (auto, or forced after \
                             {secs:.0} s); {RESHARD_SLOTS} slots resharded to it"
                        ),
                    )
                })
        }
        (Scenario::Partition, _) => proxy_fault(stage, ProxyMode::Stall, length).await.map(|t| {
            (
                t,
                format!("instance a black-holed from Redis {secs:.0} s; b unaffected"),
            )
        }),
        (Scenario::Latency, _) => {
            let delay = COMMAND_TIMEOUT * 2;
            proxy_fault(stage, ProxyMode::DelayReplies(delay), length)
                .await
                .map(|t| {
                    (
                        t,
                        format!("every reply +{} ms for {secs:.0} s", delay.as_millis()),
                    )
                })
        }
        (scenario, redis) => Err(ChaosError::Setup(format!(
            "scenario {scenario:?} cannot run on {redis:?}"
        ))),
    }
}

async fn blocking(
    fault: impl FnOnce() -> Result<FaultTimes, ChaosError> + Send + 'static,
) -> Result<FaultTimes, ChaosError> {
    tokio::task::spawn_blocking(fault)
        .await
        .map_err(|e| ChaosError::Setup(format!("fault task: {e}")))?
}

fn outage(server: &RedisServer, length: Duration) -> Result<FaultTimes, ChaosError> {
    let start = Instant::now();
    server.kill();
    std::thread::sleep(length);
    server.restart()?; // returns once it answers PING
    let back = Instant::now();
    Ok(FaultTimes {
        start,
        redis_back: back,
        end: back,
    })
}

fn freeze(server: &RedisServer, length: Duration) -> Result<FaultTimes, ChaosError> {
    let pid = server
        .pid()
        .ok_or_else(|| ChaosError::Setup("redis is not running".into()))?;
    let start = Instant::now();
    signal(pid, "STOP")?;
    std::thread::sleep(length);
    signal(pid, "CONT")?;
    let back = Instant::now();
    Ok(FaultTimes {
        start,
        redis_back: back,
        end: back,
    })
}

/// Sends a signal with the `kill` utility (no libc binding needed for two signals).
fn signal(pid: u32, name: &str) -> Result<(), ChaosError> {
    let status = std::process::Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(ChaosError::Setup(format!("kill -s {name} {pid}: {status}")))
    }
}

fn kill_clients(server: &RedisServer) -> Result<FaultTimes, ChaosError> {
    let start = Instant::now();
    // The harness's own connection is spared (SKIPME); every other client is a service's.
    for kind in ["normal", "pubsub"] {
        server.command_ok(&["CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes"])?;
    }
    let end = Instant::now();
    Ok(FaultTimes {
        start,
        redis_back: end,
        end,
    })
}

/// Kills primary 0 and gives its replica `length` to be promoted by the cluster itself (node
/// timeout 5 s); if it is not a primary by then, forces the failover. Then moves slots from
/// primary 1 to the promoted replica under load.
fn failover_and_reshard(
    cluster: &RedisCluster,
    length: Duration,
) -> Result<FaultTimes, ChaosError> {
    let (Some(victim), Some(donor), Some(replica)) = (
        cluster.nodes().first(),
        cluster.nodes().get(1),
        cluster.replicas_of(0).first(),
    ) else {
        return Err(ChaosError::Setup(
            "the cluster scenario needs 2 primaries and a replica of the first".into(),
        ));
    };
    let start = Instant::now();
    victim.kill();
    let mut back = None;
    while start.elapsed() < length {
        if back.is_none() && serves_as_primary(replica) {
            back = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let back = match back {
        Some(at) => at,
        None => {
            cluster.promote(replica)?; // returns once it serves its slots
            Instant::now()
        }
    };
    wait_cluster_ok(cluster)?;
    let output = std::process::Command::new("redis-cli")
        .args(["--cluster", "reshard", &donor.address()])
        .args(["--cluster-from", &node_id(donor)?])
        .args(["--cluster-to", &node_id(replica)?])
        .args([
            "--cluster-slots",
            &RESHARD_SLOTS.to_string(),
            "--cluster-yes",
        ])
        .output()
        .map_err(|e| ChaosError::Setup(format!("redis-cli (apt-get install redis-tools): {e}")))?;
    if !output.status.success() {
        return Err(ChaosError::Setup(format!(
            "redis-cli --cluster reshard failed: {}",
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        )));
    }
    Ok(FaultTimes {
        start,
        redis_back: back,
        end: Instant::now(),
    })
}

/// Kills primary 0 and restarts it on the same ports after `length`. Its shard is back when
/// its replica serves as primary (the cluster promotes it after the node timeout, 5 s) or,
/// if that has not happened, when the restarted node serves its slots again.
fn restart_primary(cluster: &RedisCluster, length: Duration) -> Result<FaultTimes, ChaosError> {
    let (Some(victim), Some(replica)) = (cluster.nodes().first(), cluster.replicas_of(0).first())
    else {
        return Err(ChaosError::Setup(
            "the TLS scenario needs a primary with a replica".into(),
        ));
    };
    let start = Instant::now();
    victim.kill();
    let mut back = None;
    while start.elapsed() < length {
        if back.is_none() && serves_as_primary(replica) {
            back = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    victim.restart()?;
    let back = match back {
        Some(at) => at,
        None => {
            let waiting = Instant::now();
            while !serves_as_primary(victim) && !serves_as_primary(replica) {
                if waiting.elapsed() > CLUSTER_OK_TIMEOUT {
                    return Err(ChaosError::Setup(format!(
                        "shard 0 not served {CLUSTER_OK_TIMEOUT:?} after the restart"
                    )));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Instant::now()
        }
    };
    wait_cluster_ok(cluster)?;
    Ok(FaultTimes {
        start,
        redis_back: back,
        end: Instant::now(),
    })
}

/// Whether `node` is a primary in a cluster that is up.
fn serves_as_primary(node: &RedisServer) -> bool {
    let text = |args: &[&str]| {
        node.command_ok(args)
            .ok()
            .and_then(|r| r.as_text())
            .unwrap_or_default()
    };
    text(&["INFO", "replication"]).contains("role:master")
        && text(&["CLUSTER", "INFO"]).contains("cluster_state:ok")
}

fn wait_cluster_ok(cluster: &RedisCluster) -> Result<(), ChaosError> {
    let started = Instant::now();
    loop {
        // The killed primary stays down: only the running nodes are asked.
        let ok = cluster
            .nodes()
            .iter()
            .chain(cluster.replicas())
            .filter(|node| node.is_running())
            .all(|node| {
                node.command(&["CLUSTER", "INFO"])
                    .ok()
                    .and_then(|r| r.as_text())
                    .is_some_and(|t| t.contains("cluster_state:ok"))
            });
        if ok {
            return Ok(());
        }
        if started.elapsed() > CLUSTER_OK_TIMEOUT {
            return Err(ChaosError::Setup(format!(
                "cluster not ok {CLUSTER_OK_TIMEOUT:?} after the failover"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn proxy_fault(
    stage: &Stage,
    mode: ProxyMode,
    length: Duration,
) -> Result<FaultTimes, ChaosError> {
    let proxy = stage
        .proxy
        .as_ref()
        .ok_or_else(|| ChaosError::Setup("this scenario needs the proxy".into()))?;
    let start = Instant::now();
    proxy.set(mode);
    tokio::time::sleep(length).await;
    proxy.set(ProxyMode::Pass);
    let back = Instant::now();
    Ok(FaultTimes {
        start,
        redis_back: back,
        end: back,
    })
}
