//! `brain-load`: load generator for a running `brain-integration` service (`--help` lists the
//! flags).
//!
//! ```text
//! brain-load [--addr 127.0.0.1:8080] [-c 64] [--warmup 10s] [--duration 30s] [--uncached 10s]
//!            [--zipf 1.0] [--fixtures 500] [--config model=poisson ...] [--seed 42] [--quiet]
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use brain_integration::load::{LoadOptions, run};
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};

/// A duration flag, read like every other duration in the project (`humantime`, or plain
/// seconds).
fn parse_duration(value: &str) -> Result<Duration, String> {
    cache_core::config::parse_duration(value)
        .map_err(|e| format!("expected a duration like 30s, 500ms or 1m30s ({e})"))
}

fn parse_addr(value: &str) -> Result<SocketAddr, String> {
    let host = value.trim_start_matches("http://").trim_end_matches('/');
    host.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("cannot resolve {value:?}"))
}

fn parse_zipf(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| "expected a number >= 0".to_owned())
}

/// The command line (clap's builder API: no derive macro to compile).
fn command() -> Command {
    let duration = |name: &'static str, default: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .value_name("D")
            .default_value(default)
            .value_parser(parse_duration)
            .help(help)
    };
    Command::new("brain-load")
        .about("Load generator for a running brain-integration service")
        .arg(
            Arg::new("addr")
                .long("addr")
                .visible_alias("url")
                .value_name("HOST:PORT")
                .default_value("127.0.0.1:8080")
                .value_parser(parse_addr)
                .help("service address (or http://HOST:PORT)"),
        )
        .arg(
            Arg::new("concurrency")
                .short('c')
                .long("concurrency")
                .value_name("N")
                .default_value("64")
                .value_parser(value_parser!(u64).range(1..=100_000))
                .help("concurrent keep-alive clients"),
        )
        .arg(duration("warmup", "10s", "warm-up phase, not measured"))
        .arg(duration("duration", "30s", "measured cached phase"))
        .arg(duration(
            "uncached",
            "10s",
            "measured phase with ?cache=bypass (0 skips it)",
        ))
        .arg(
            Arg::new("zipf")
                .long("zipf")
                .value_name("S")
                .default_value("1.0")
                .value_parser(parse_zipf)
                .help("Zipf exponent over fixtures x configs (0 is uniform)"),
        )
        .arg(
            Arg::new("fixtures")
                .long("fixtures")
                .value_name("N")
                .default_value("500")
                .value_parser(value_parser!(u64).range(1..))
                .help("use the first N fixtures"),
        )
        .arg(
            Arg::new("config")
                .long("config")
                .value_name("QUERY")
                .action(ArgAction::Append)
                .help("a configuration, repeatable [default: model=dixon-coles, model=poisson, model=dixon-coles&max_goals=8&xi=0.001]"),
        )
        .arg(
            Arg::new("seed")
                .long("seed")
                .value_name("N")
                .default_value("42")
                .value_parser(value_parser!(u64))
                .help("RNG seed"),
        )
        .arg(
            Arg::new("quiet")
                .long("quiet")
                .action(ArgAction::SetTrue)
                .help("no progress line"),
        )
}

fn options_from(m: &ArgMatches) -> LoadOptions {
    let mut options = LoadOptions::default();
    // Every argument has a default or is optional: `get_one` finds a value for each.
    let get_u64 = |name: &str| m.get_one::<u64>(name).copied();
    if let Some(addr) = m.get_one::<SocketAddr>("addr") {
        options.addr = *addr;
    }
    if let Some(c) = get_u64("concurrency") {
        options.concurrency = usize::try_from(c).unwrap_or(usize::MAX);
    }
    for (name, slot) in [
        ("warmup", &mut options.warmup),
        ("duration", &mut options.duration),
        ("uncached", &mut options.uncached_duration),
    ] {
        if let Some(d) = m.get_one::<Duration>(name) {
            *slot = *d;
        }
    }
    if let Some(z) = m.get_one::<f64>("zipf") {
        options.zipf_exponent = *z;
    }
    if let Some(n) = get_u64("fixtures") {
        options.fixtures = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(seed) = get_u64("seed") {
        options.seed = seed;
    }
    if let Some(configs) = m.get_many::<String>("config") {
        options.configs = configs
            .map(|c| c.trim_start_matches('?').to_owned())
            .collect();
    }
    options.progress = !m.get_flag("quiet");
    options
}

fn main() -> ExitCode {
    // clap prints `--help` and usage errors itself (exit code 2 on an error).
    let options = options_from(&command().get_matches());
    let addr: SocketAddr = options.addr;
    println!(
        "brain-load: {addr}, {} clients, warm-up {:?}, cached {:?}, uncached {:?}, Zipf({}) over {} fixtures x {} configs",
        options.concurrency,
        options.warmup,
        options.duration,
        options.uncached_duration,
        options.zipf_exponent,
        options.fixtures,
        options.configs.len()
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("brain-load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&options)) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "brain-load: {e} (is the service running? cargo run --release -p brain-integration)"
            );
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> Result<LoadOptions, clap::Error> {
        command()
            .try_get_matches_from(std::iter::once("brain-load").chain(list.iter().copied()))
            .map(|m| options_from(&m))
    }

    #[test]
    fn command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn parses_flags() {
        let o = parse(&[
            "-c",
            "8",
            "--duration",
            "500ms",
            "--warmup",
            "1m30s",
            "--config",
            "?model=poisson",
            "--url",
            "http://127.0.0.1:9000/",
            "--quiet",
        ])
        .unwrap();
        assert_eq!(o.concurrency, 8);
        assert_eq!(o.duration, Duration::from_millis(500));
        assert_eq!(o.warmup, Duration::from_secs(90));
        assert_eq!(o.configs, ["model=poisson"]);
        assert_eq!(o.addr.to_string(), "127.0.0.1:9000");
        assert!(!o.progress);
        let defaults = parse(&[]).unwrap();
        let want = LoadOptions::default();
        assert_eq!(
            (
                defaults.addr,
                defaults.concurrency,
                defaults.warmup,
                defaults.duration
            ),
            (want.addr, want.concurrency, want.warmup, want.duration)
        );
        assert_eq!(
            (
                defaults.uncached_duration,
                defaults.fixtures,
                defaults.seed,
                defaults.configs
            ),
            (
                want.uncached_duration,
                want.fixtures,
                want.seed,
                want.configs
            )
        );
        assert_eq!(defaults.zipf_exponent, want.zipf_exponent);
        assert_eq!(
            parse(&["--help"]).unwrap_err().kind(),
            clap::error::ErrorKind::DisplayHelp
        );
        for bad in [
            &["--duration", "soon"][..],
            &["--duration", "1e30"],
            &["--zipf", "-1"],
            &["--bogus", "1"],
            &["-c"],
            &["-c", "0"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let err = parse(&["--warmup", "1000y"]).unwrap_err().to_string();
        assert!(err.contains("--warmup") && err.contains("maximum"), "{err}");
    }
}
