//! `brain-load`: load generator for a running `brain-integration` service.
//!
//! ```text
//! brain-load [--addr 127.0.0.1:8080] [-c 64] [--warmup 10s] [--duration 30s] [--uncached 10s]
//!            [--zipf 1.0] [--fixtures 500] [--config model=poisson ...] [--seed 42] [--quiet]
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use brain_integration::load::{LoadOptions, run};

const USAGE: &str = "usage: brain-load [options]
  --addr HOST:PORT     service address (also --url http://HOST:PORT)   [127.0.0.1:8080]
  -c, --concurrency N  concurrent keep-alive clients                     [64]
  --warmup D           warm-up phase, not measured (e.g. 10s, 500ms)     [10s]
  --duration D         measured cached phase                             [30s]
  --uncached D         measured phase with ?cache=bypass (0 skips it)    [10s]
  --zipf S             Zipf exponent over fixtures x configs (0 uniform) [1.0]
  --fixtures N         use the first N fixtures                          [500]
  --config QUERY       a configuration, repeatable                       [model=dixon-coles,
                                                                          model=poisson,
                                                                          model=dixon-coles&max_goals=8&xi=0.001]
  --seed N             RNG seed                                          [42]
  --quiet              no progress line";

/// A duration flag, read like every other duration in the project (`humantime`, or plain
/// seconds).
fn parse_duration(flag: &str, value: &str) -> Result<Duration, String> {
    cache_core::config::parse_duration(value).map_err(|e| {
        format!("{flag}: expected a duration like 30s, 500ms or 1m30s, got {value:?} ({e})")
    })
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<LoadOptions>, String> {
    let mut options = LoadOptions::default();
    let mut configs = Vec::new();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if matches!(flag.as_str(), "-h" | "--help") {
            return Ok(None);
        }
        if flag == "--quiet" {
            options.progress = false;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: expected {what}, got {value:?}"))
        };
        match flag.as_str() {
            "--addr" | "--url" => {
                let host = value.trim_start_matches("http://").trim_end_matches('/');
                options.addr = host
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| format!("{flag}: cannot resolve {value:?}"))?;
            }
            "-c" | "--concurrency" => options.concurrency = number("a number of clients")? as usize,
            "--warmup" => options.warmup = parse_duration(&flag, &value)?,
            "--duration" => options.duration = parse_duration(&flag, &value)?,
            "--uncached" => options.uncached_duration = parse_duration(&flag, &value)?,
            "--zipf" => {
                options.zipf_exponent = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("--zipf: expected a number >= 0, got {value:?}"))?
            }
            "--fixtures" => options.fixtures = number("a number of fixtures")? as usize,
            "--config" => configs.push(value.trim_start_matches('?').to_owned()),
            "--seed" => options.seed = number("a whole number")?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if !configs.is_empty() {
        options.configs = configs;
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("brain-load: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
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

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_flags() {
        let o = parse_args(args(&[
            "-c",
            "8",
            "--duration",
            "500ms",
            "--config",
            "?model=poisson",
            "--url",
            "http://127.0.0.1:9000/",
            "--quiet",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.concurrency, 8);
        assert_eq!(o.duration, Duration::from_millis(500));
        assert_eq!(o.configs, ["model=poisson"]);
        assert_eq!(o.addr.to_string(), "127.0.0.1:9000");
        assert!(!o.progress);
        assert!(parse_args(args(&["--help"])).unwrap().is_none());
        for bad in [
            &["--duration", "soon"][..],
            &["--zipf", "-1"],
            &["--bogus", "1"],
            &["-c"],
        ] {
            assert!(parse_args(args(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(parse_duration("x", "2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("x", "3").unwrap(), Duration::from_secs(3));
        assert_eq!(
            parse_duration("x", "1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert!(
            parse_duration("--warmup", "1e30")
                .unwrap_err()
                .contains("--warmup")
        );
    }
}
