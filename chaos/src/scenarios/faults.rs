//! The fault of each scenario, with the times the measurement needs. Harness calls block, so
//! they run off the async threads while the load keeps going.

use std::time::{Duration, Instant};

use redis_harness::{RedisCluster, RedisServer, Reply};

use super::Scenario;
use super::stage::{Redis, Stage};
use crate::error::ChaosError;
use crate::measure::FaultTimes;
use crate::proxy::ProxyMode;
use crate::service::COMMAND_TIMEOUT;

/// Slots moved between two primaries in the cluster scenario.
const RESHARD_SLOTS: usize = 1000;
/// How long the restarted cluster may take to report `cluster_state:ok`.
const CLUSTER_OK_TIMEOUT: Duration = Duration::from_secs(30);

/// Injects the scenario's fault for `length`; returns its times and a description.
pub async fn inject(
    scenario: Scenario,
    stage: &Stage,
    length: Duration,
) -> Result<(FaultTimes, String), ChaosError> {
    let secs = length.as_secs_f64();
    match (scenario, &stage.redis) {
        (Scenario::Kill | Scenario::Tls, Redis::Standalone(server)) => {
            let server = server.clone();
            blocking(move || outage(&server, length)).await.map(|t| {
                let what = if scenario == Scenario::Tls {
                    "TLS + ACL user: "
                } else {
                    ""
                };
                (t, format!("{what}SIGKILL, restart empty after {secs:.0} s"))
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
            blocking(move || primary_outage_and_reshard(&cluster, length))
                .await
                .map(|t| {
                    (
                        t,
                        format!(
                            "primary SIGKILL {secs:.0} s, restart; reshard {RESHARD_SLOTS} slots"
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

fn primary_outage_and_reshard(
    cluster: &RedisCluster,
    length: Duration,
) -> Result<FaultTimes, ChaosError> {
    let [victim, from, to] = cluster.nodes() else {
        return Err(ChaosError::Setup(
            "the cluster scenario needs 3 nodes".into(),
        ));
    };
    let start = Instant::now();
    victim.kill();
    std::thread::sleep(length);
    victim.restart()?; // same port, same nodes.conf: it rejoins with its slots, empty
    let back = Instant::now();
    wait_cluster_ok(cluster)?;
    let from_id = node_id(from)?;
    let to_id = node_id(to)?;
    let output = std::process::Command::new("redis-cli")
        .args(["--cluster", "reshard", &from.address()])
        .args(["--cluster-from", &from_id, "--cluster-to", &to_id])
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

fn node_id(node: &RedisServer) -> Result<String, ChaosError> {
    node.command_ok(&["CLUSTER", "MYID"])?
        .as_text()
        .ok_or_else(|| ChaosError::Setup("CLUSTER MYID gave no text".into()))
}

fn wait_cluster_ok(cluster: &RedisCluster) -> Result<(), ChaosError> {
    let started = Instant::now();
    loop {
        let ok = cluster.nodes().iter().all(|node| {
            matches!(node.command(&["CLUSTER", "INFO"]), Ok(ref r @ Reply::Bulk(_))
                if r.as_text().is_some_and(|t| t.contains("cluster_state:ok")))
        });
        if ok {
            return Ok(());
        }
        if started.elapsed() > CLUSTER_OK_TIMEOUT {
            return Err(ChaosError::Setup(format!(
                "cluster not ok {CLUSTER_OK_TIMEOUT:?} after the restart"
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
