//! Project tasks: `cargo xtask <ci|scratch|bench|stampede|redis|load|chaos|fuzz>`.

mod bench_summary;
mod fuzz;
mod scratch;

use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <command> [args]

commands:
  ci                 fmt --check, clippy -D warnings, every test and doctest, rustdoc -D warnings,
                     every example, the scratch crate below
  scratch            the README's quick start in a new crate outside the workspace, made with
                     `cargo add smartcache --path … --features redis` as a new user would;
                     `cargo check`ed into target/ (its dependencies already built), offline
                     when it can
  bench [options]    the hit paths (memory, L1, Redis) and a Redis batch against raw moka / raw
                     fred in paired rounds, then one table with the targets; a few minutes
                     --quick: fewer rounds (under a minute once built)
                     --criterion: also the criterion benchmarks (read paths, envelope)
                     --summary: print the tables of the last run without running again
  stampede [args]    the stampede simulator (model and live modes); --help for its options
  redis [--cluster]  start local redis-server(s) on free ports for development, print their URLs
  load [args]        the HTTP load generator against a running prediction service; --help
  chaos [SCENARIO] [--duration D] [--short]
                     the fault suite: Redis killed, frozen, partitioned... under load; a table
                     (release build; --short: scenarios 1-3 with 3 s faults, debug build, as CI)
  fuzz [--seconds N] [target...]
                     each fuzz target of fuzz/ for N seconds (default 60), then runs and
                     findings per target; needs the nightly toolchain and cargo-fuzz";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest.to_vec()),
        None => {
            eprintln!("{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        "ci" => ci(),
        "scratch" => scratch::run(&workspace_root()),
        "bench" => bench(&rest),
        "stampede" => {
            // Live mode against Redis needs the simulator's `redis` feature (it pulls in fred).
            let redis = rest
                .iter()
                .any(|a| a.starts_with("redis") || a.starts_with("rediss"));
            let features: &[&str] = if redis { &["--features", "redis"] } else { &[] };
            let prefix = [
                &["run", "--release", "--quiet", "-p", "cache-sim"],
                features,
                &["--"],
            ]
            .concat();
            cargo(&prefix, &rest)
        }
        "redis" => redis(&rest),
        "fuzz" => fuzz::run(&workspace_root(), &rest),
        "load" => cargo(
            &[
                "run",
                "--release",
                "--quiet",
                "-p",
                "brain-integration",
                "--bin",
                "brain-load",
                "--",
            ],
            &rest,
        ),
        "chaos" => chaos(&rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), String> {
    step("format", &["fmt", "--all", "--", "--check"], &[])?;
    step(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    if has_nextest() {
        step(
            "tests",
            &[
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--no-fail-fast",
            ],
            &[],
        )?;
    } else {
        step(
            "tests",
            &[
                "test",
                "--workspace",
                "--locked",
                "--lib",
                "--bins",
                "--tests",
            ],
            &[],
        )?;
    }
    // The short fault suite: scenarios 1-3 against real Redis and the service (~30 s).
    chaos(&["--short".to_owned()])?;
    step(
        "doctests",
        &["test", "--workspace", "--locked", "--doc"],
        &[],
    )?;
    // The fred adapter as a user without TLS builds it: the workspace steps above run with TLS
    // on (the service enables it), so this combination is built, linted and tested on its own.
    let fred_plain = ["-p", "cache-redis", "--locked"];
    step(
        "clippy (fred adapter without TLS)",
        &[
            &["clippy", "--all-targets"],
            &fred_plain[..],
            &["--", "-D", "warnings"],
        ]
        .concat(),
        &[],
    )?;
    test_step(
        "tests (fred adapter without TLS: a TLS URL is refused, naming the feature)",
        &[&fred_plain[..], &["--lib", "--test", "security"]].concat(),
    )?;
    // The redis-rs adapter is off by default, so the workspace steps above skip it.
    let redis_rs = ["-p", "cache-redis", "--features", "redis-rs", "--locked"];
    step(
        "clippy (redis-rs adapter)",
        &[
            &["clippy", "--all-targets"],
            &redis_rs[..],
            &["--", "-D", "warnings"],
        ]
        .concat(),
        &[],
    )?;
    test_step(
        "tests (redis-rs adapter, and both adapters on one Redis)",
        &[
            &redis_rs[..],
            &["--lib", "--test", "redis_rs", "--test", "mixed_clients"],
        ]
        .concat(),
    )?;
    // Its TLS is a feature of its own: linted, and its round trip run, with it on.
    let redis_rs_tls = [
        "-p",
        "cache-redis",
        "--features",
        "redis-rs-tls",
        "--locked",
    ];
    step(
        "clippy (redis-rs adapter with TLS)",
        &[
            &["clippy", "--all-targets"],
            &redis_rs_tls[..],
            &["--", "-D", "warnings"],
        ]
        .concat(),
        &[],
    )?;
    test_step(
        "tests (redis-rs adapter with TLS)",
        &[&redis_rs_tls[..], &["--test", "redis_rs", "tls"]].concat(),
    )?;
    step(
        "doctests (redis-rs adapter)",
        &[&["test", "--doc"], &redis_rs[..]].concat(),
        &[],
    )?;
    step(
        "docs",
        &["doc", "--workspace", "--no-deps", "--locked"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // The fuzz targets build on stable too; running them needs nightly (`cargo xtask fuzz`).
    // Checked here so that an API change cannot leave them broken unnoticed.
    step(
        "fuzz targets compile",
        &[
            "check",
            "--manifest-path",
            "fuzz/Cargo.toml",
            "--bins",
            "--locked",
        ],
        &[],
    )?;
    examples()?;
    scratch::run(&workspace_root())?;
    println!("\nxtask ci: all green");
    Ok(())
}

/// Every example of the `smartcache` crate runs (they assert what they print).
fn examples() -> Result<(), String> {
    for (name, features) in [
        ("quick_start", ""),
        ("swap_backend_in_tests", "testing"),
        ("choose_settings", ""),
        ("two_tiers", "redis"),
    ] {
        let mut args = vec!["run", "--quiet", "--locked", "-p", "smartcache"];
        if !features.is_empty() {
            args.extend(["--features", features]);
        }
        args.extend(["--example", name]);
        step(&format!("example {name}"), &args, &[])?;
    }
    Ok(())
}

fn bench(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut criterion = false;
    let mut summary_only = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            "--criterion" => criterion = true,
            "--summary" => summary_only = true,
            other => return Err(format!("unknown bench option `{other}`\n\n{USAGE}")),
        }
    }
    let root = workspace_root();
    let hits = root.join(bench_summary::HIT_RESULTS);
    let criterion_dir = root.join("target/criterion");
    if !summary_only {
        // The benchmarks append to it: start empty, so the table is this run's only.
        let _ = std::fs::remove_file(&hits);
        let out = hits.to_string_lossy().into_owned();
        let env = [("SMARTCACHE_BENCH_OUT", out.as_str())];
        let pass: &[&str] = if quick { &["--", "--quick"] } else { &[] };
        // One cargo invocation: both packages then share one feature resolution, so nothing is
        // built twice.
        let hit_paths = [
            "bench",
            "--locked",
            "-p",
            "cache-core",
            "-p",
            "cache-redis",
            "--bench",
            "memory_hit",
            "--bench",
            "redis_hit",
            "--bench",
            "redis_batch",
        ];
        step("hit paths", &[&hit_paths[..], pass].concat(), &env)?;
        if criterion {
            let args = [
                &[
                    "bench",
                    "--locked",
                    "-p",
                    "cache-core",
                    "--bench",
                    "get_or_compute",
                    "--bench",
                    "envelope",
                ],
                pass,
            ]
            .concat();
            step("criterion benchmarks", &args, &[])?;
        }
    }
    if criterion {
        bench_summary::print_criterion(&criterion_dir)?;
    }
    let missed = bench_summary::print_hits(&hits)?;
    if missed > 0 {
        println!("{missed} target(s) missed");
    }
    Ok(())
}

fn redis(args: &[String]) -> Result<(), String> {
    let cluster = match args {
        [] => false,
        [flag] if flag == "--cluster" => true,
        _ => return Err("usage: cargo xtask redis [--cluster]".into()),
    };
    redis_harness::dev::run(cluster).map_err(|e| e.to_string())
}

/// Builds the service and the suite into the same target directory (the suite finds the
/// service binary next to its own), then runs the suite. The full run uses a release build,
/// as a deployment would; `--short` (CI) reuses the debug build the tests already made.
fn chaos(args: &[String]) -> Result<(), String> {
    let release = !args.iter().any(|a| a == "--short");
    let profile: &[&str] = if release { &["--release"] } else { &[] };
    let build = [
        &[
            "build",
            "--locked",
            "-p",
            "brain-integration",
            "-p",
            "chaos",
            "--bins",
        ][..],
        profile,
    ]
    .concat();
    step("chaos build", &build, &[])?;
    println!("\n==> chaos {}", args.join(" "));
    let run = [
        &["run", "--quiet", "--locked", "-p", "chaos"][..],
        profile,
        &["--"],
    ]
    .concat();
    cargo(&run, args)
        .map_err(|_| "chaos: an asserted figure was not met, or a scenario could not run".into())
}

fn has_nextest() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `cargo test <args>`, run by nextest when it is installed: the Redis packages then get the
/// retries `.config/nextest.toml` gives them (a connect on a loaded machine can miss its
/// deadline), as in the workspace's test step.
fn test_step(name: &str, args: &[&str]) -> Result<(), String> {
    let runner: &[&str] = if has_nextest() {
        &["nextest", "run", "--no-fail-fast"]
    } else {
        &["test"]
    };
    step(name, &[runner, args].concat(), &[])
}

fn step(name: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    println!("\n==> {name}: cargo {}", args.join(" "));
    let started = std::time::Instant::now();
    let status = Command::new(env!("CARGO"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    println!(
        "<== {name}: {} in {:.0?}",
        if status.success() { "ok" } else { "FAILED" },
        started.elapsed()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed"))
    }
}

fn cargo(prefix: &[&str], rest: &[String]) -> Result<(), String> {
    let status = Command::new(env!("CARGO"))
        .args(prefix)
        .args(rest)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed", prefix.join(" ")))
    }
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Into::into)
        .unwrap_or_default()
}
