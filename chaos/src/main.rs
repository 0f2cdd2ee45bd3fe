//! `chaos [SCENARIO...] [--duration D] [--rate R] [--short]`: runs the fault scenarios and
//! prints the table; exits non-zero when an asserted figure is not met.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chaos::load::Reference;
use chaos::scenarios::{self, Options, Scenario};
use chaos::service::Service;
use chaos::table;

const USAGE: &str = "usage: chaos [SCENARIO...] [--duration D] [--rate R] [--short]

scenarios (number or name; default: all seven, or 1-3 with --short):
  1 kill         Redis SIGKILL, restart empty after D, same port
  2 stop         Redis SIGSTOP for D, then SIGCONT
  3 client-kill  CLIENT KILL of every service connection
  4 cluster      3 primaries + 3 replicas: a primary killed, its replica promoted (by the
                 cluster, or forced after D), 1000 slots resharded to it
  5 partition    one of two instances black-holed from Redis for D (TCP proxy)
  6 tls          TLS cluster (3 + 3, bus and replication over TLS) with an ACL user: a
                 primary SIGKILLed, restarted on its ports after D
  7 latency      every Redis reply delayed by 2x the command timeout for D

options:
  --duration D   fault length: 10s (default), 500ms, 1m, or plain seconds
  --after D      load after the fault, to watch recovery (default 10s; 3s with --short)
  --rate R       requests per second, open loop (default 200)
  --short        CI version: D = 3s, shorter warm-up and after; every check asserted";

/// Runs of one scenario at most, when the machine stalled the failed ones.
const MAX_RUNS: usize = 3;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (selected, options) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("chaos: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chaos: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(selected, options))
}

async fn run(selected: Vec<Scenario>, options: Options) -> ExitCode {
    // The uncached instance: the reference answers, then the control of every scenario.
    let control = match Service::start("control", &[("CACHE_ENABLED", "false".into())]).await {
        Ok(service) => service,
        Err(e) => {
            eprintln!("chaos: {e}");
            return ExitCode::FAILURE;
        }
    };
    let reference = match Reference::fetch(control.addr(), options.fixtures).await {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("chaos: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "chaos: {} keys, {} req/s open loop, fault {:?}, warm-up {:?}, after {:?}",
        reference.keys(),
        options.rate,
        options.fault,
        options.warmup,
        options.after
    );
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for scenario in selected {
        println!(
            "chaos: running {}-{} ...",
            scenario.number(),
            scenario.slug()
        );
        // A failed run during which the control (no cache) stalled too is run again: the
        // machine, shared with other jobs, stopped every process; every check stays as it is.
        let mut runs = 0;
        let outcome = loop {
            runs += 1;
            match scenarios::run(scenario, &options, reference.clone(), control.addr()).await {
                Ok(report) if !report.passed() && report.stalled && runs < MAX_RUNS => {
                    println!(
                        "chaos: {} run {runs}: the control instance stalled too (the machine); \
                         running it again",
                        report.name
                    );
                }
                outcome => break outcome,
            }
        };
        match outcome {
            Ok(mut report) => {
                report.runs = runs;
                reports.push(report);
            }
            Err(e) => errors.push(format!("{}-{}: {e}", scenario.number(), scenario.slug())),
        }
    }
    println!("\n{}", table::render(&reports));
    for e in &errors {
        eprintln!("chaos: could not run {e}");
    }
    if errors.is_empty() && reports.iter().all(|r| r.passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn parse(args: &[String]) -> Result<(Vec<Scenario>, Options), String> {
    let mut selected = Vec::new();
    let mut duration = None;
    let mut after = None;
    let mut rate = 200;
    let mut short = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--duration" => {
                let value = args.next().ok_or("--duration needs a value")?;
                duration = Some(parse_duration(value)?);
            }
            "--after" => {
                let value = args.next().ok_or("--after needs a value")?;
                after = Some(parse_duration(value)?);
            }
            "--rate" => {
                let value = args.next().ok_or("--rate needs a value")?;
                rate = value
                    .parse::<u32>()
                    .ok()
                    .filter(|r| (1..=10_000).contains(r))
                    .ok_or(format!("--rate {value}: expected 1 to 10000"))?;
            }
            "--short" => short = true,
            "-h" | "--help" => return Err("help".into()),
            name => {
                selected.push(Scenario::parse(name).ok_or(format!("unknown scenario `{name}`"))?)
            }
        }
    }
    if selected.is_empty() {
        selected = if short {
            Scenario::ALL[..3].to_vec()
        } else {
            Scenario::ALL.to_vec()
        };
    }
    let options = if short {
        Options {
            fault: duration.unwrap_or(Duration::from_secs(3)),
            warmup: Duration::from_secs(2),
            after: after.unwrap_or(Duration::from_secs(3)),
            rate,
            fixtures: 40,
            short,
        }
    } else {
        Options {
            fault: duration.unwrap_or(Duration::from_secs(10)),
            warmup: Duration::from_secs(3),
            after: after.unwrap_or(Duration::from_secs(10)),
            rate,
            fixtures: 40,
            short,
        }
    };
    Ok((selected, options))
}

/// `10s`, `500ms`, `1m` or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("--duration {text}: expected e.g. 10s, 500ms, 1m");
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(bad()),
    };
    if d.is_zero() || d > Duration::from_secs(600) {
        return Err(format!(
            "--duration {text}: expected more than 0 and at most 10m"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_line() {
        let (s, o) = parse(&args(&["kill", "5", "--duration", "2s", "--rate", "50"])).unwrap();
        assert_eq!(s, [Scenario::Kill, Scenario::Partition]);
        assert_eq!(
            (o.fault, o.rate, o.short),
            (Duration::from_secs(2), 50, false)
        );
        let (s, o) = parse(&args(&["--short"])).unwrap();
        assert_eq!(s, Scenario::ALL[..3]);
        assert_eq!(o.fault, Duration::from_secs(3));
        assert_eq!(parse(&args(&[])).unwrap().0.len(), 7);
        for bad in [
            &["9"][..],
            &["--rate", "0"],
            &["--duration"],
            &["--duration", "1h"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
    }
}
