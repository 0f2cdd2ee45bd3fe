//! The command line: `cache-sim model …` and `cache-sim live …` (also `cargo xtask stampede …`).

use std::path::PathBuf;

use crate::error::SimError;
use crate::live::{LiveBackend, LiveConfig, render_live, run_live};
use crate::model::{ModelConfig, RecomputeTime, Strategy, run_model};
use crate::output::{render_model, render_model_svg};

/// Usage text.
pub const USAGE: &str = "\
usage: cache-sim model [OPTIONS]    discrete-event model of one key (virtual time)
       cache-sim live [OPTIONS]     K real SmartCache instances under a Poisson read load

model options:
  --lambda R        reads per second, Poisson (default 1000)
  --delta D         recompute time: SECONDS, exp:MEAN or lognormal:MEDIAN:SIGMA (default 0.1)
  --ttl T|auto      TTL in seconds; auto = 10 × the longest expected X-Fetch lead (default auto)
  --cycles C        expiry cycles per strategy (default 500)
  --beta B1,B2,..   X-Fetch β values (default 1,1.5,2)
  --ahead F         refresh-ahead fraction of the TTL (default 0.8)
  --seed S          random seed (default 42)

live options:
  --instances K     SmartCache instances sharing the store (default 8)
  --backend B       memory, or a redis:// URL (needs the `redis` feature) (default memory)
  --lambda R        reads per second over the fleet (default 2000)
  --delta D         compute time, as for model (default 0.05)
  --ttl T           TTL in seconds (default 1)
  --grace G         grace period in seconds (default 0)
  --beta B          X-Fetch β; 0 = plain TTL (default 1)
  --lock on|off|both  fleet lock (default both: one run each)
  --duration S      seconds of load per run (default 5)
  --seed S          random seed (default 42)

common options:
  --json            print JSON instead of a table
  --plot FILE.svg   also write a figure
";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Print the usage.
    Help,
    /// Run the model.
    Model(ModelArgs),
    /// Run live fleets.
    Live(LiveArgs),
}

/// Options of `live`.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveArgs {
    /// One run per configuration (lock off, then on, with `--lock both`).
    pub runs: Vec<LiveConfig>,
    /// Print JSON instead of a table.
    pub json: bool,
}

/// Options of `model`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelArgs {
    /// Load and key parameters.
    pub config: ModelConfig,
    /// Strategies to compare, in order.
    pub strategies: Vec<Strategy>,
    /// Print JSON instead of a table.
    pub json: bool,
    /// Where to write the SVG figure.
    pub plot: Option<PathBuf>,
}

/// Splits `--name value` and `--name=value` pairs; `--json` takes no value.
fn options(args: &[String]) -> Result<Vec<(String, Option<String>)>, SimError> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(name) = arg.strip_prefix("--") else {
            return Err(SimError::invalid(
                "argument",
                arg,
                "an option starting with --",
            ));
        };
        if let Some((name, value)) = name.split_once('=') {
            out.push((name.to_string(), Some(value.to_string())));
        } else if name == "json" {
            out.push((name.to_string(), None));
        } else {
            let value = it
                .next()
                .ok_or_else(|| SimError::invalid(&format!("--{name}"), "nothing", "a value"))?;
            out.push((name.to_string(), Some(value.clone())));
        }
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(name: &str, value: &str, expected: &str) -> Result<T, SimError> {
    value
        .trim()
        .parse()
        .map_err(|_| SimError::invalid(&format!("--{name}"), value, expected))
}

/// Parses a command line (without the program name).
pub fn parse(args: &[String]) -> Result<Command, SimError> {
    match args.first().map(String::as_str) {
        None | Some("help" | "--help" | "-h") => Ok(Command::Help),
        Some("model") => parse_model(&args[1..]).map(Command::Model),
        Some("live") => parse_live(&args[1..]).map(Command::Live),
        Some(other) => Err(SimError::invalid(
            "command",
            other,
            "`model`, `live` or `help`",
        )),
    }
}

fn parse_model(args: &[String]) -> Result<ModelArgs, SimError> {
    let mut read_rate = 1000.0;
    let mut recompute = RecomputeTime::Fixed { seconds: 0.1 };
    let mut ttl: Option<f64> = None;
    let mut cycles = 500usize;
    let mut betas = vec![1.0, 1.5, 2.0];
    let mut ahead = 0.8;
    let mut seed = 42u64;
    let mut json = false;
    let mut plot = None;
    for (name, value) in options(args)? {
        let value = value.unwrap_or_default();
        match name.as_str() {
            "lambda" => read_rate = number(&name, &value, "reads per second")?,
            "delta" => recompute = value.parse()?,
            "ttl" if value == "auto" => ttl = None,
            "ttl" => ttl = Some(number(&name, &value, "seconds or auto")?),
            "cycles" => cycles = number(&name, &value, "a whole number of cycles")?,
            "beta" => {
                betas = value
                    .split(',')
                    .map(|b| number(&name, b, "comma-separated β values"))
                    .collect::<Result<_, _>>()?
            }
            "ahead" => ahead = number(&name, &value, "a fraction in (0, 1]")?,
            "seed" => seed = number(&name, &value, "a whole number")?,
            "json" => json = true,
            "plot" => plot = Some(PathBuf::from(value)),
            _ => {
                return Err(SimError::invalid(
                    "option",
                    format!("--{name}"),
                    "an option listed by `help`",
                ));
            }
        }
    }
    let ttl = ttl.unwrap_or_else(|| ModelConfig::auto_ttl(read_rate, &recompute, &betas));
    let config = ModelConfig {
        read_rate,
        recompute,
        ttl,
        cycles,
        seed,
    };
    let mut strategies = vec![Strategy::PlainTtl];
    strategies.extend(betas.iter().map(|&beta| Strategy::XFetch { beta }));
    strategies.push(Strategy::RefreshAhead { fraction: ahead });
    strategies.push(Strategy::XFetchSingleFlight {
        beta: betas.first().copied().unwrap_or(1.0),
    });
    config.validate()?;
    for s in &strategies {
        s.validate()?;
    }
    Ok(ModelArgs {
        config,
        strategies,
        json,
        plot,
    })
}

fn parse_live(args: &[String]) -> Result<LiveArgs, SimError> {
    let mut base = LiveConfig {
        instances: 8,
        backend: LiveBackend::Memory,
        read_rate: 2000.0,
        recompute: RecomputeTime::Fixed { seconds: 0.05 },
        ttl: 1.0,
        grace: 0.0,
        beta: 1.0,
        fleet_lock: false,
        duration: 5.0,
        seed: 42,
    };
    let mut locks = vec![false, true];
    let mut json = false;
    for (name, value) in options(args)? {
        let value = value.unwrap_or_default();
        match name.as_str() {
            "instances" => base.instances = number(&name, &value, "a number of instances")?,
            "backend" => base.backend = value.parse()?,
            "lambda" => base.read_rate = number(&name, &value, "reads per second")?,
            "delta" => base.recompute = value.parse()?,
            "ttl" => base.ttl = number(&name, &value, "seconds")?,
            "grace" => base.grace = number(&name, &value, "seconds")?,
            "beta" => base.beta = number(&name, &value, "β ≥ 0")?,
            "duration" => base.duration = number(&name, &value, "seconds")?,
            "seed" => base.seed = number(&name, &value, "a whole number")?,
            "lock" => {
                locks = match value.as_str() {
                    "on" => vec![true],
                    "off" => vec![false],
                    "both" => vec![false, true],
                    _ => return Err(SimError::invalid("--lock", value, "on, off or both")),
                }
            }
            "json" => json = true,
            _ => {
                return Err(SimError::invalid(
                    "option",
                    format!("--{name}"),
                    "an option listed by `help`",
                ));
            }
        }
    }
    base.validate()?;
    let runs = locks
        .into_iter()
        .map(|fleet_lock| LiveConfig {
            fleet_lock,
            ..base.clone()
        })
        .collect();
    Ok(LiveArgs { runs, json })
}

fn write_plot(path: &PathBuf, svg: &str) -> Result<(), SimError> {
    std::fs::write(path, svg).map_err(|e| SimError::Output {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Runs a parsed command; returns what to print. Writes the figure when asked.
pub fn execute(command: &Command) -> Result<String, SimError> {
    match command {
        Command::Help => Ok(USAGE.to_string()),
        Command::Model(args) => {
            let report = run_model(&args.config, &args.strategies)?;
            if let Some(path) = &args.plot {
                write_plot(path, &render_model_svg(&report))?;
            }
            if args.json {
                serde_json::to_string_pretty(&report).map_err(|e| SimError::Encode(e.to_string()))
            } else {
                Ok(render_model(&report))
            }
        }
        Command::Live(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| SimError::Live(format!("cannot start the tokio runtime: {e}")))?;
            let reports = runtime.block_on(async {
                let mut reports = Vec::new();
                for config in &args.runs {
                    reports.push(run_live(config).await?);
                }
                Ok::<_, SimError>(reports)
            })?;
            if args.json {
                serde_json::to_string_pretty(&reports).map_err(|e| SimError::Encode(e.to_string()))
            } else {
                Ok(render_live(&reports))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_model_options() {
        let Command::Model(m) = parse(&args("model --lambda 200 --delta=exp:0.2 --ttl 4 --cycles 10 --beta 1,2 --ahead 0.5 --seed 3 --json --plot x.svg")).unwrap() else {
            panic!("not a model command")
        };
        assert_eq!(m.config.read_rate, 200.0);
        assert_eq!(m.config.recompute, RecomputeTime::Exponential { mean: 0.2 });
        assert_eq!((m.config.ttl, m.config.cycles, m.config.seed), (4.0, 10, 3));
        assert!(m.json);
        assert_eq!(m.plot, Some(PathBuf::from("x.svg")));
        assert_eq!(
            m.strategies,
            vec![
                Strategy::PlainTtl,
                Strategy::XFetch { beta: 1.0 },
                Strategy::XFetch { beta: 2.0 },
                Strategy::RefreshAhead { fraction: 0.5 },
                Strategy::XFetchSingleFlight { beta: 1.0 },
            ]
        );
    }

    #[test]
    fn auto_ttl_is_ten_leads() {
        let Command::Model(m) = parse(&args("model --beta 1")).unwrap() else {
            panic!()
        };
        // 10 · 0.1 · (ln 100 + γ) = 5.18 → 5.2.
        assert_eq!(m.config.ttl, 5.2);
    }

    #[test]
    fn rejects_bad_input_with_a_message() {
        for bad in [
            "model --lambda",
            "model --lambda x",
            "model --lambda -5",
            "model --beta 1,,2",
            "model --ahead 0",
            "model --cycles 0",
            "model --what 1",
            "model stray",
            "simulate",
        ] {
            let err = parse(&args(bad)).unwrap_err();
            assert!(!err.to_string().is_empty(), "{bad}");
        }
        assert_eq!(parse(&[]).unwrap(), Command::Help);
        for bad in [
            "live --lock maybe",
            "live --instances 0",
            "live --backend ftp://x",
            "live --ttl 0.01",
            "live --beta -1",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_live_options() {
        let Command::Live(l) = parse(&args("live --instances 3 --lambda 50 --delta 0.01 --ttl 0.5 --grace 1 --beta 0 --duration 2 --seed 9 --lock on --json")).unwrap() else {
            panic!("not a live command")
        };
        assert!(l.json);
        assert_eq!(l.runs.len(), 1);
        let c = &l.runs[0];
        assert_eq!(
            (
                c.instances,
                c.read_rate,
                c.ttl,
                c.grace,
                c.beta,
                c.duration,
                c.seed
            ),
            (3, 50.0, 0.5, 1.0, 0.0, 2.0, 9)
        );
        assert!(c.fleet_lock);
        assert_eq!(c.backend, LiveBackend::Memory);
        let Command::Live(both) = parse(&args("live")).unwrap() else {
            panic!()
        };
        assert_eq!(
            both.runs.iter().map(|r| r.fleet_lock).collect::<Vec<_>>(),
            vec![false, true]
        );
    }

    #[test]
    fn executes_a_small_model_as_json() {
        let cmd = parse(&args(
            "model --lambda 100 --delta 0.1 --cycles 5 --beta 1 --json",
        ))
        .unwrap();
        let out = execute(&cmd).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["strategies"].as_array().unwrap().len(), 4);
        assert_eq!(v["strategies"][3]["recomputes_per_cycle"]["mean"], 1.0);
        let table =
            execute(&parse(&args("model --lambda 100 --delta 0.1 --cycles 5 --beta 1")).unwrap())
                .unwrap();
        assert!(table.contains("X-Fetch β=1 + single-flight"));
    }
}
