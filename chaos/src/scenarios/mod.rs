//! The seven scenarios: what each sets up, what fault it injects, and the run around it
//! (warm-up under load, the fault, the time after it, the measurement).

mod faults;
mod stage;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::ChaosError;
use crate::load::{self, LoadPlan, Reference};
use crate::measure::{self, Run, ScenarioReport};
use crate::staleness;

/// A fault scenario of issue 14.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// 1. Redis `SIGKILL`, restarted empty on the same port after the fault time.
    Kill,
    /// 2. Redis `SIGSTOP` for the fault time, then `SIGCONT`.
    Stop,
    /// 3. `CLIENT KILL` of every service connection (commands and pub/sub).
    ClientKill,
    /// 4. A 3-primary cluster with a replica each: a primary killed, its replica promoted, then
    ///    slots resharded to it under load.
    Cluster,
    /// 5. One instance cut off from Redis (stalled proxy) while another keeps working.
    Partition,
    /// 6. A TLS cluster (3 primaries + 3 replicas, bus and replication over TLS) with an ACL
    ///    user: a primary killed and restarted on its ports under load.
    Tls,
    /// 7. Every Redis reply delayed by twice the command timeout for the fault time.
    Latency,
}

impl Scenario {
    /// All of them, in order.
    pub const ALL: [Scenario; 7] = [
        Scenario::Kill,
        Scenario::Stop,
        Scenario::ClientKill,
        Scenario::Cluster,
        Scenario::Partition,
        Scenario::Tls,
        Scenario::Latency,
    ];

    /// Its number in the issue (1–7).
    pub fn number(self) -> usize {
        Scenario::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i + 1)
    }

    /// Its name on the command line.
    pub fn slug(self) -> &'static str {
        match self {
            Scenario::Kill => "kill",
            Scenario::Stop => "stop",
            Scenario::ClientKill => "client-kill",
            Scenario::Cluster => "cluster",
            Scenario::Partition => "partition",
            Scenario::Tls => "tls",
            Scenario::Latency => "latency",
        }
    }

    /// By number or name.
    pub fn parse(text: &str) -> Option<Scenario> {
        Scenario::ALL
            .into_iter()
            .find(|s| s.slug() == text || s.number().to_string() == text)
    }
}

/// How a scenario runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long the fault lasts (outage, freeze, partition, delay).
    pub fault: Duration,
    /// Load before the fault (fills the cache).
    pub warmup: Duration,
    /// Load after the fault.
    pub after: Duration,
    /// Requests per second.
    pub rate: u32,
    /// Keys: this many fixtures × 2 configurations.
    pub fixtures: usize,
    /// The short CI run (3 s faults, scenarios 1–3 by default); every check is asserted.
    pub short: bool,
}

/// Runs one scenario: sets it up, loads it, injects the fault, measures. `control` is an
/// instance without cache (it computes every answer): it gets the load of one more instance,
/// and its latency is the compute of the latency bound.
pub async fn run(
    scenario: Scenario,
    options: &Options,
    reference: Arc<Reference>,
    control: SocketAddr,
) -> Result<ScenarioReport, ChaosError> {
    let stage = stage::Stage::build(scenario).await?;
    let checker = staleness::start(&stage.checker, 14 + scenario.number() as u64).await?;
    let services = stage.services.iter().map(|s| s.addr()).collect::<Vec<_>>();
    let instances = services.len() as u32;
    let mut targets = services.clone();
    targets.push(control);
    let total = options.warmup + options.fault + options.after;
    // `rate` over the services, and as much again as one of them gets for the control.
    let rate = options.rate + options.rate / instances.max(1);
    // Bounded: the planned time plus a minute of slack for slow fault actions.
    let max_requests = (f64::from(rate) * (total + Duration::from_secs(60)).as_secs_f64()) as u64;
    let stop = Arc::new(AtomicBool::new(false));
    let plan = LoadPlan {
        rate,
        targets,
        max_requests,
        seed: 14 + scenario.number() as u64,
    };
    let load = tokio::spawn(load::run(plan, reference, stop.clone()));
    tokio::time::sleep(options.warmup).await;
    let injected = faults::inject(scenario, &stage, options.fault).await;
    if injected.is_ok() {
        tokio::time::sleep(options.after).await;
    }
    stop.store(true, Ordering::Relaxed);
    let samples = load
        .await
        .map_err(|e| ChaosError::Setup(format!("load generator: {e}")))?;
    let staleness = checker.finish().await;
    let (times, fault) = injected?;
    let warnings = stage
        .services
        .iter()
        .map(|s| {
            s.warnings_since(times.start)
                .into_iter()
                .map(|l| format!("{}: {}", s.name(), l.text))
                .collect()
        })
        .collect();
    Ok(measure::measure(Run {
        name: &format!("{}-{}", scenario.number(), scenario.slug()),
        fault,
        samples: &samples,
        instances: services.len(),
        times,
        warnings,
        staleness,
    }))
}

#[cfg(test)]
mod tests {
    use super::Scenario;

    #[test]
    fn scenarios_parse_by_number_and_name() {
        for (i, s) in Scenario::ALL.into_iter().enumerate() {
            assert_eq!(s.number(), i + 1);
            assert_eq!(Scenario::parse(s.slug()), Some(s));
            assert_eq!(Scenario::parse(&(i + 1).to_string()), Some(s));
        }
        assert_eq!(Scenario::parse("8"), None);
        assert_eq!(Scenario::parse("nope"), None);
    }
}
