//! From the samples of a run and the times of its fault to the figures of the table and the
//! checks on them.

use std::time::{Duration, Instant};

use crate::load::{Outcome, Sample};
use crate::service::COMMAND_TIMEOUT;
use crate::staleness::StalenessReport;

/// The least compute allowed for in the latency bound: a fit of the suite's small league takes
/// 2–4 ms in a debug build; the rest is headroom. On a loaded machine the compute is measured
/// instead (see [`compute_bound`]).
pub const COMPUTE_ALLOWANCE: Duration = Duration::from_millis(100);
/// Longest wait for hits after Redis accepts connections again.
pub const RECOVERY_LIMIT: Duration = Duration::from_secs(1);
/// "A handful" of WARN/ERROR lines per fault and instance, not one per request.
pub const WARN_LINES_LIMIT: usize = 10;
/// Latency during the fault is taken from its start to this long after its end (reconnection
/// spikes count).
pub const AFTER_FAULT_WINDOW: Duration = Duration::from_secs(1);

/// An uncached request slower than this (or failed) after the fault began means the machine
/// stalled every process, not only the cache's: see [`ScenarioReport::stalled`].
pub const STALL_LIMIT: Duration = COMMAND_TIMEOUT;

/// The baseline is the latency of the requests due in this window before the fault.
pub const BASELINE_WINDOW: Duration = Duration::from_secs(1);

/// The latency bound during a fault: the command timeout plus the compute, where the compute
/// is what an uncached request took in the same window — the control instance, which computes
/// every answer, under the same load on the same machine — or [`COMPUTE_ALLOWANCE`] if that
/// is more. A machine that stalls every process for 400 ms stalls the control as much, so the
/// bound tells the cache's own waits (a command timeout paid twice, a reconnect that blocks)
/// from the machine's.
pub fn compute_bound(control: Duration) -> Duration {
    COMMAND_TIMEOUT + control.max(COMPUTE_ALLOWANCE)
}

/// When the fault happened.
#[derive(Debug, Clone, Copy)]
pub struct FaultTimes {
    /// The first fault action.
    pub start: Instant,
    /// When Redis accepted connections (or answered in time) again: recovery counts from here.
    pub redis_back: Instant,
    /// The last fault action finished.
    pub end: Instant,
}

/// One asserted figure.
#[derive(Debug, Clone)]
pub struct Check {
    /// What is checked, e.g. `failed`.
    pub name: &'static str,
    /// The measured value, printed.
    pub measured: String,
    /// The limit, printed.
    pub limit: String,
    /// Whether it held.
    pub pass: bool,
}

/// Everything measured in one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// `1-kill`, ...
    pub name: String,
    /// What was done, in words.
    pub fault: String,
    /// Requests sent.
    pub requests: usize,
    /// Requests not answered 200 in time.
    pub failed: usize,
    /// A few reasons for failures.
    pub failure_reasons: Vec<String>,
    /// 200s with a body other than the uncached answer.
    pub wrong: usize,
    /// p99 latency in the second before the fault (steady state: the machine's noise).
    pub baseline_p99: Duration,
    /// p99 and max latency of the control (uncached) instance in the fault window: the compute
    /// of the latency bound.
    pub control_p99: Duration,
    /// See `control_p99`.
    pub control_max: Duration,
    /// The p99 and max bounds: [`compute_bound`] of the control's figures.
    pub bounds: (Duration, Duration),
    /// The control instance, which has no cache, took longer than [`STALL_LIMIT`] or failed a
    /// request from the fault's start to the end of the run: the machine stalled every process
    /// (other jobs on a shared machine), and the run says little about the cache. A failed
    /// run that stalled is run again (see `chaos`'s main).
    pub stalled: bool,
    /// How many times the scenario ran (more than 1 after stalled runs).
    pub runs: usize,
    /// p99 latency during the fault (and [`AFTER_FAULT_WINDOW`] after).
    pub fault_p99: Duration,
    /// Max latency in the same window.
    pub fault_max: Duration,
    /// The slowest request of the window: when it was due after the fault's start, and what
    /// it got.
    pub slowest: Option<(Duration, Outcome)>,
    /// From Redis back to the first hit on every instance on a key the fault took away (see
    /// [`recovery`]; `None`: some instance had no such hit before the run ended).
    pub recovery: Option<Duration>,
    /// How long the run went on after Redis was back (the most `recovery` could show).
    pub observed_after: Duration,
    /// Hit ratio of the last second of the run.
    pub final_hit_ratio: f64,
    /// WARN/ERROR lines of the busiest instance from the fault's start to the run's end.
    pub warn_lines: usize,
    /// Those lines of every instance by message, most frequent first: `(count, message)`.
    pub warn_messages: Vec<(usize, String)>,
    /// What the staleness checker found over the whole run (warm-up, fault, after).
    pub staleness: StalenessReport,
    /// The checks.
    pub checks: Vec<Check>,
}

impl ScenarioReport {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.pass)
    }
}

/// Inputs of [`measure`].
#[derive(Debug)]
pub struct Run<'a> {
    /// Scenario name.
    pub name: &'a str,
    /// What was done.
    pub fault: String,
    /// The samples, in due order: targets `0..instances` are the services, target `instances`
    /// (if any) the control instance that computes every answer.
    pub samples: &'a [Sample],
    /// Number of service instances (targets).
    pub instances: usize,
    /// The fault's times.
    pub times: FaultTimes,
    /// WARN/ERROR lines per instance since the fault's start.
    pub warnings: Vec<Vec<String>>,
    /// The staleness checker's report.
    pub staleness: StalenessReport,
}

/// Computes the figures and the checks.
pub fn measure(run: Run<'_>) -> ScenarioReport {
    let (services, control): (Vec<Sample>, Vec<Sample>) = run
        .samples
        .iter()
        .cloned()
        .partition(|s| s.target < run.instances);
    let samples = services.as_slice();
    let due = |s: &Sample| s.due.into_std();
    let failed: Vec<&Sample> = samples
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Failed(_)))
        .collect();
    let mut failure_reasons: Vec<String> = Vec::new();
    for s in &failed {
        if let Outcome::Failed(reason) = &s.outcome {
            if !failure_reasons.contains(reason) && failure_reasons.len() < 3 {
                failure_reasons.push(reason.clone());
            }
        }
    }
    let wrong = samples
        .iter()
        .filter(|s| s.outcome == Outcome::Wrong)
        .count();
    let baseline: Vec<Duration> = samples
        .iter()
        .filter(|s| due(s) < run.times.start && due(s) + BASELINE_WINDOW >= run.times.start)
        .map(|s| s.latency)
        .collect();
    let window_end = run.times.end + AFTER_FAULT_WINDOW;
    let in_window: Vec<&Sample> = samples
        .iter()
        .filter(|s| due(s) >= run.times.start && due(s) <= window_end)
        .collect();
    let during: Vec<Duration> = in_window.iter().map(|s| s.latency).collect();
    let control_window: Vec<Duration> = control
        .iter()
        .filter(|s| due(s) >= run.times.start && due(s) <= window_end)
        .map(|s| s.latency)
        .collect();
    let control_p99 = percentile(&control_window, 0.99);
    let control_max = control_window.iter().copied().max().unwrap_or_default();
    let bounds = (compute_bound(control_p99), compute_bound(control_max));
    let stalled = control
        .iter()
        .filter(|s| due(s) >= run.times.start)
        .any(|s| s.latency > STALL_LIMIT || matches!(s.outcome, Outcome::Failed(_)));
    let slowest = in_window.iter().max_by_key(|s| s.latency).map(|s| {
        (
            due(s).saturating_duration_since(run.times.start),
            s.outcome.clone(),
        )
    });
    let recovery = recovery(samples, run.instances, &run.times);
    let observed_after = samples.last().map_or(Duration::ZERO, |s| {
        due(s).saturating_duration_since(run.times.redis_back)
    });
    let last_second: Vec<&Sample> = match samples.last() {
        Some(last) => samples
            .iter()
            .filter(|s| due(s) + Duration::from_secs(1) >= due(last))
            .collect(),
        None => Vec::new(),
    };
    let final_hits = last_second
        .iter()
        .filter(|s| s.outcome == Outcome::Correct { hit: true })
        .count();
    let final_hit_ratio = final_hits as f64 / last_second.len().max(1) as f64;
    let warn_lines = run.warnings.iter().map(Vec::len).max().unwrap_or(0);
    let warn_messages = group_messages(run.warnings.iter().flatten().map(String::as_str));

    let fault_p99 = percentile(&during, 0.99);
    let fault_max = during.iter().copied().max().unwrap_or_default();
    let check = |name: &'static str, measured: String, limit: String, pass: bool| Check {
        name,
        measured,
        limit,
        pass,
    };
    let checks = vec![
        check(
            "failed",
            failed.len().to_string(),
            "0".into(),
            failed.is_empty(),
        ),
        check("wrong", wrong.to_string(), "0".into(), wrong == 0),
        check(
            "p99 fault",
            ms(fault_p99),
            format!("≤ {}", ms(bounds.0)),
            fault_p99 <= bounds.0,
        ),
        check(
            "max fault",
            ms(fault_max),
            format!("≤ {}", ms(bounds.1)),
            fault_max <= bounds.1,
        ),
        check(
            "recovery",
            recovery.map_or_else(|| format!("none in {}", ms(observed_after)), ms),
            format!("≤ {}", ms(RECOVERY_LIMIT)),
            recovery.is_some_and(|r| r <= RECOVERY_LIMIT),
        ),
        check(
            "warn lines",
            warn_lines.to_string(),
            format!("≤ {WARN_LINES_LIMIT}"),
            warn_lines <= WARN_LINES_LIMIT,
        ),
        check(
            "stale>bound",
            run.staleness.violations.len().to_string(),
            "0".into(),
            run.staleness.violations.is_empty(),
        ),
        // Without L1 hits the staleness check proves nothing.
        check(
            "checker L1 reads",
            run.staleness.l1_reads.to_string(),
            "> 0".into(),
            run.staleness.l1_reads > 0,
        ),
    ];
    ScenarioReport {
        name: run.name.to_owned(),
        fault: run.fault,
        requests: samples.len(),
        failed: failed.len(),
        failure_reasons,
        wrong,
        baseline_p99: percentile(&baseline, 0.99),
        control_p99,
        control_max,
        bounds,
        stalled,
        runs: 1,
        fault_p99,
        fault_max,
        slowest,
        recovery,
        observed_after,
        final_hit_ratio,
        warn_lines,
        warn_messages,
        staleness: run.staleness,
        checks,
    }
}

/// From Redis back to the first hit on every instance, counting only the keys the fault took
/// away: those that were not hits during the fault (on a cluster, the dead primary's keys; the
/// other shards' keys never stopped hitting). Every key when none was affected. `None` when an
/// instance had no such hit before the run ended.
pub fn recovery(samples: &[Sample], instances: usize, times: &FaultTimes) -> Option<Duration> {
    let due = |s: &Sample| s.due.into_std();
    let mut affected = std::collections::HashSet::new();
    for s in samples {
        if due(s) >= times.start
            && due(s) < times.redis_back
            && s.outcome != (Outcome::Correct { hit: true })
        {
            affected.insert(s.path);
        }
    }
    let counts = |s: &Sample| affected.is_empty() || affected.contains(&s.path);
    (0..instances)
        .map(|target| {
            samples
                .iter()
                .filter(|s| s.target == target && due(s) >= times.redis_back && counts(s))
                .filter(|s| s.outcome == Outcome::Correct { hit: true })
                .map(|s| (due(s) + s.latency).saturating_duration_since(times.redis_back))
                .min()
        })
        .try_fold(Duration::ZERO, |worst, first_hit| {
            first_hit.map(|d| worst.max(d))
        })
}

/// Counts log lines by message: the words after the level up to the first `key=value` field.
pub fn group_messages<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(usize, String)> {
    let mut counts: Vec<(usize, String)> = Vec::new();
    for line in lines {
        let message = line
            .split_whitespace()
            .skip_while(|w| !matches!(*w, "WARN" | "ERROR"))
            .skip(1)
            .take_while(|w| !w.contains('='))
            .collect::<Vec<_>>()
            .join(" ");
        match counts.iter_mut().find(|(_, m)| *m == message) {
            Some((n, _)) => *n += 1,
            None => counts.push((1, message)),
        }
    }
    counts.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    counts
}

/// The `q` quantile (nearest rank) of `values`; zero when empty.
pub fn percentile(values: &[Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `123.4 ms`, or `1.23 s` from a second up.
pub fn ms(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        // A tenth of a millisecond, so a value just over a limit does not print as the limit.
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant as TokioInstant;

    /// A checker that saw L1 reads and nothing stale.
    fn coherent() -> StalenessReport {
        StalenessReport {
            reads: 10,
            l1_reads: 5,
            ..StalenessReport::default()
        }
    }

    fn sample(target: usize, due: TokioInstant, latency_ms: u64, outcome: Outcome) -> Sample {
        Sample {
            target,
            path: 0,
            due,
            latency: Duration::from_millis(latency_ms),
            outcome,
        }
    }

    #[test]
    fn log_lines_are_grouped_by_message() {
        let lines = [
            "a: 2026-12-02T01:00:00Z  WARN cache backend failed backend=\"redis\" error=x",
            "b: 2026-12-02T01:00:01Z  WARN cache backend failed backend=\"redis\" error=y",
            "a: 2026-12-02T01:00:02Z ERROR redis unreachable; reconnecting url=\"redis://h\"",
        ];
        assert_eq!(
            group_messages(lines.into_iter()),
            [
                (2, "cache backend failed".to_owned()),
                (1, "redis unreachable; reconnecting".to_owned())
            ]
        );
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&values, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }

    #[test]
    fn figures_and_checks_follow_the_samples() {
        let t0 = TokioInstant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let hit = Outcome::Correct { hit: true };
        let miss = Outcome::Correct { hit: false };
        let samples = vec![
            sample(0, at(0), 5, hit.clone()),
            sample(1, at(10), 5, hit.clone()),
            // The fault: 1000..2000 ms; Redis back at 2000 ms.
            sample(0, at(1100), 600, miss.clone()),
            sample(1, at(1200), 20, Outcome::Failed("status 500".into())),
            sample(0, at(1300), 20, Outcome::Wrong),
            sample(0, at(2100), 10, hit.clone()),
            sample(1, at(2200), 10, miss),
            sample(1, at(2500), 100, hit),
        ];
        let times = FaultTimes {
            start: at(1000).into_std(),
            redis_back: at(2000).into_std(),
            end: at(2000).into_std(),
        };
        let report = measure(Run {
            name: "t",
            fault: "test".into(),
            samples: &samples,
            instances: 2,
            times,
            warnings: vec![vec!["w".into(); 11], vec![]],
            staleness: StalenessReport {
                violations: vec!["k: read Some(1) replaced 2s before the read".into()],
                ..coherent()
            },
        });
        assert_eq!((report.requests, report.failed, report.wrong), (8, 1, 1));
        assert_eq!(report.failure_reasons, ["status 500"]);
        assert_eq!(report.fault_max, Duration::from_millis(600));
        // Instance 1 hits first at 2500 + 100 ms: 600 ms after Redis came back.
        assert_eq!(report.recovery, Some(Duration::from_millis(600)));
        assert_eq!(report.warn_lines, 11);
        let failing: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name)
            .collect();
        assert_eq!(
            failing,
            [
                "failed",
                "wrong",
                "p99 fault",
                "max fault",
                "warn lines",
                "stale>bound"
            ]
        );
        assert!(!report.passed());
    }

    #[test]
    fn the_bound_is_the_timeout_plus_the_controls_compute() {
        let t0 = TokioInstant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let hit = Outcome::Correct { hit: true };
        let miss = Outcome::Correct { hit: false };
        let times = FaultTimes {
            start: at(1000).into_std(),
            redis_back: at(2000).into_std(),
            end: at(2000).into_std(),
        };
        // The machine stalls at 1500 ms: the control (target 1) waits 400 ms like the service.
        let stalled = vec![
            sample(0, at(1500), 650, miss.clone()),
            sample(1, at(1500), 400, miss.clone()),
            sample(0, at(2100), 5, hit.clone()),
        ];
        let run = |samples: &[Sample]| {
            measure(Run {
                name: "t",
                fault: String::new(),
                samples,
                instances: 1,
                times,
                warnings: vec![],
                staleness: coherent(),
            })
        };
        let report = run(&stalled);
        assert_eq!(report.requests, 2, "the control is not a service request");
        assert_eq!(report.control_max, Duration::from_millis(400));
        assert_eq!(
            report.bounds.1,
            COMMAND_TIMEOUT + Duration::from_millis(400)
        );
        assert!(report.passed(), "{:?}", report.checks);
        assert!(
            report.stalled,
            "the control took longer than a command timeout"
        );
        // Without the stall the same wait is the cache's own: two timeouts and more.
        let quiet = vec![
            sample(0, at(1500), 650, miss.clone()),
            sample(1, at(1500), 4, miss),
            sample(0, at(2100), 5, hit),
        ];
        let report = run(&quiet);
        assert_eq!(report.bounds.1, COMMAND_TIMEOUT + COMPUTE_ALLOWANCE);
        assert!(!report.passed());
        assert!(!report.stalled);
    }

    #[test]
    fn an_instance_without_a_hit_means_no_recovery() {
        let t0 = TokioInstant::now();
        let samples = vec![sample(0, t0, 1, Outcome::Correct { hit: true })];
        let report = measure(Run {
            name: "t",
            fault: String::new(),
            samples: &samples,
            instances: 2,
            times: FaultTimes {
                start: t0.into_std(),
                redis_back: t0.into_std(),
                end: t0.into_std(),
            },
            warnings: vec![],
            staleness: coherent(),
        });
        assert_eq!(report.recovery, None);
        assert!(!report.passed());
    }

    #[test]
    fn a_checker_without_l1_reads_fails() {
        let t0 = TokioInstant::now();
        let samples = vec![sample(0, t0, 1, Outcome::Correct { hit: true })];
        let times = FaultTimes {
            start: t0.into_std(),
            redis_back: t0.into_std(),
            end: t0.into_std(),
        };
        let run = |staleness| {
            measure(Run {
                name: "t",
                fault: String::new(),
                samples: &samples,
                instances: 1,
                times,
                warnings: vec![],
                staleness,
            })
        };
        assert!(run(coherent()).passed());
        let report = run(StalenessReport {
            l1_reads: 0,
            ..coherent()
        });
        let failing: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name)
            .collect();
        assert_eq!(failing, ["checker L1 reads"]);
    }
}

#[cfg(test)]
mod recovery_tests {
    use super::*;
    use tokio::time::Instant as TokioInstant;

    #[test]
    fn recovery_counts_the_keys_the_fault_took_away() {
        let t0 = TokioInstant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let hit = Outcome::Correct { hit: true };
        let miss = Outcome::Correct { hit: false };
        let s = |path: usize, due_ms: u64, outcome: &Outcome| Sample {
            target: 0,
            path,
            due: at(due_ms),
            latency: Duration::from_millis(5),
            outcome: outcome.clone(),
        };
        let times = FaultTimes {
            start: at(1000).into_std(),
            redis_back: at(2000).into_std(),
            end: at(2000).into_std(),
        };
        // Key 1 (a healthy shard) hits all along; key 2 misses during the fault and hits
        // again 700 ms after Redis is back.
        let samples = vec![
            s(1, 1500, &hit),
            s(2, 1500, &miss),
            s(1, 2100, &hit),
            s(2, 2300, &miss),
            s(2, 2700, &hit),
        ];
        assert_eq!(
            recovery(&samples, 1, &times),
            Some(Duration::from_millis(705))
        );
        // Nothing was affected: the first hit of any key counts.
        let untouched = vec![s(1, 1500, &hit), s(1, 2100, &hit)];
        assert_eq!(
            recovery(&untouched, 1, &times),
            Some(Duration::from_millis(105))
        );
    }
}
