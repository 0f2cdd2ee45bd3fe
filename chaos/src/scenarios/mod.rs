//! The seven scenarios: what each sets up, what fault it injects, and the run around it
//! (warm-up under load, the fault, the time after it, the measurement).

mod faults;
mod stage;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::ChaosError;
use crate::load::{self, LoadPlan, Reference};
use crate::measure::{self, Run, ScenarioReport};

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

    /// Checks known to fail on the current main branch, left out of the assertions of the
    /// short CI run only (the full run asserts everything). Measured with `--short` (3 s faults)
    /// on a shared, heavily loaded 2-core machine, main at 633af9b:
    ///
    /// - `kill`: p99/max 0.26–4.2 s (bound 350 ms; the worst runs had a baseline p99 of
    ///   0.4–2.2 s, i.e. the machine stalled) and hits not back within 3 s in two runs of
    ///   five; log lines 4–8, but 20 on main at b5cf9ac;
    /// - `stop`: p99/max 0.35–2.5 s; recovery 0.43–4.1 s; 24 log lines in one run;
    /// - `client-kill`: everything holds;
    /// - the others (not in CI), from the full run: latency, recovery and log lines fail in the
    ///   cluster and TLS scenarios, latency and recovery under slow replies.
    ///
    /// The fast-recovery and per-shard breaker work is meant to fix these: remove an entry once
    /// it holds.
    pub fn known_failing(self) -> &'static [&'static str] {
        const LATENCY_AND_RECOVERY: &[&str] = &["p99 fault", "max fault", "recovery"];
        const ALL_BUT_CORRECTNESS: &[&str] = &["p99 fault", "max fault", "recovery", "warn lines"];
        match self {
            Scenario::ClientKill => &[],
            Scenario::Partition => &["recovery"],
            Scenario::Latency => LATENCY_AND_RECOVERY,
            Scenario::Kill | Scenario::Stop | Scenario::Cluster | Scenario::Tls => {
                ALL_BUT_CORRECTNESS
            }
        }
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
    /// The short CI run: known-failing checks are measured but not asserted.
    pub short: bool,
}

/// Runs one scenario: sets it up, loads it, injects the fault, measures.
pub async fn run(
    scenario: Scenario,
    options: &Options,
    reference: Arc<Reference>,
) -> Result<ScenarioReport, ChaosError> {
    let stage = stage::Stage::build(scenario).await?;
    let targets = stage.services.iter().map(|s| s.addr()).collect::<Vec<_>>();
    let total = options.warmup + options.fault + options.after;
    // Bounded: the planned time plus a minute of slack for slow fault actions.
    let max_requests =
        (f64::from(options.rate) * (total + Duration::from_secs(60)).as_secs_f64()) as u64;
    let stop = Arc::new(AtomicBool::new(false));
    let plan = LoadPlan {
        rate: options.rate,
        targets: targets.clone(),
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
    let waived = if options.short {
        scenario.known_failing()
    } else {
        &[]
    };
    Ok(measure::measure(Run {
        name: &format!("{}-{}", scenario.number(), scenario.slug()),
        fault,
        samples: &samples,
        instances: targets.len(),
        times,
        warnings,
        waived,
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
