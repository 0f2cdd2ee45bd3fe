//! `cargo xtask fuzz`: every cargo-fuzz target of `fuzz/` for a fixed time, then one table of
//! runs and findings.
//!
//! The targets are built once with optimisations, debug assertions (overflow checks) and no
//! sanitizer: everything they reach is safe Rust, where AddressSanitizer finds nothing a panic
//! would not and costs about half the executions. Each target keeps its corpus in
//! `fuzz/corpus/<target>` (ignored by git, so runs build on each other) and starts from the
//! checked-in seeds of `fuzz/seeds/<target>`; a crashing input lands in `fuzz/artifacts/<target>`.

use std::path::Path;
use std::process::Command;

const USAGE: &str =
    "usage: cargo xtask fuzz [--seconds N] [target...]  (default: 60 s, every target)";

/// Release build, debug assertions on, no sanitizer (for `build` and `run` alike, so `run`
/// reuses the build).
const FLAGS: [&str; 4] = ["-O", "-a", "--sanitizer", "none"];

/// Runs the targets named in `args` (all when none) for `--seconds` each.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let (seconds, mut targets) = parse_args(args)?;
    check_tools()?;
    let fuzz_dir = root.join("fuzz");
    if targets.is_empty() {
        targets = list_targets(root)?;
    }
    println!("==> building {} fuzz targets", targets.len());
    nightly(root, &[&["fuzz", "build"][..], &FLAGS].concat())?;

    let mut outcomes = Vec::new();
    for target in &targets {
        println!("==> fuzzing {target} for {seconds} s");
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .map_err(|e| format!("cannot create {}: {e}", corpus.display()))?;
        let mut command = nightly_cargo(root);
        command
            .args(["fuzz", "run", target.as_str()])
            .args(FLAGS)
            .arg(&corpus);
        let seeds = fuzz_dir.join("seeds").join(target);
        if seeds.is_dir() {
            command.arg(&seeds);
        }
        let output = command
            .arg("--")
            .args([
                format!("-max_total_time={seconds}"),
                "-timeout=10".into(),
                "-print_final_stats=1".into(),
            ])
            .output()
            .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        let outcome = Outcome::read(target, &log, output.status.success());
        println!("<== {}", outcome.row());
        if !output.status.success() {
            eprintln!("{}", tail(&log, 40));
        }
        outcomes.push(outcome);
    }

    println!(
        "\n{:<12} {:>12} {:>10} {:>8}  result",
        "target", "runs", "runs/s", "corpus"
    );
    for outcome in &outcomes {
        println!("{}", outcome.row());
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.finding.is_some())
        .map(|o| o.target.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("findings in {}", failed.join(", ")))
    }
}

fn parse_args(args: &[String]) -> Result<(u64, Vec<String>), String> {
    let mut seconds = 60;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|&s| s > 0)
                    .ok_or_else(|| format!("--seconds needs a whole number ≥ 1\n{USAGE}"))?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}\n{USAGE}")),
            target => targets.push(target.to_owned()),
        }
    }
    Ok((seconds, targets))
}

/// Fuzzing needs the nightly toolchain (libFuzzer's coverage flags) and cargo-fuzz.
fn check_tools() -> Result<(), String> {
    let works = |args: &[&str]| {
        Command::new("cargo")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !works(&["+nightly", "--version"]) {
        return Err(
            "fuzzing needs the nightly toolchain: `rustup toolchain install nightly` \
                    (the targets build with nightly only; the rest of the project stays on stable)"
                .into(),
        );
    }
    if !works(&["+nightly", "fuzz", "--version"]) {
        return Err("fuzzing needs cargo-fuzz: `cargo install cargo-fuzz`".into());
    }
    Ok(())
}

fn list_targets(root: &Path) -> Result<Vec<String>, String> {
    let output = nightly_cargo(root)
        .args(["fuzz", "list"])
        .output()
        .map_err(|e| format!("cannot run cargo fuzz list: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

fn nightly(root: &Path, args: &[&str]) -> Result<(), String> {
    let status = nightly_cargo(root)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo +nightly {}` failed", args.join(" ")))
    }
}

/// `cargo +nightly` in `root`, without the variables `cargo run` set for xtask itself: build
/// scripts (ring's) rerun when `CARGO_PKG_NAME` or `CARGO_MANIFEST_DIR` change, so passing
/// xtask's on would rebuild every target's dependencies once more than `cargo fuzz` from a shell.
fn nightly_cargo(root: &Path) -> Command {
    let mut command = Command::new("cargo");
    command.current_dir(root).arg("+nightly");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let from_cargo_run = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&name.as_ref());
        if from_cargo_run {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// What one target's run reported.
struct Outcome {
    target: String,
    runs: Option<u64>,
    per_second: Option<u64>,
    corpus: Option<u64>,
    /// The crash (panic message and saved input), when there was one.
    finding: Option<String>,
}

impl Outcome {
    /// Reads libFuzzer's final statistics and crash report from its log.
    fn read(target: &str, log: &str, success: bool) -> Outcome {
        let stat = |name: &str| {
            log.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        };
        // `#123456 DONE cov: … corp: 97/2170b …` or the last pulse: the corpus size.
        let corpus = log
            .lines()
            .rev()
            .find_map(|l| l.split("corp: ").nth(1)?.split('/').next()?.parse().ok());
        let finding = (!success).then(|| {
            let panic = log
                .lines()
                .find(|l| l.contains("panicked at") || l.contains("ERROR: libFuzzer"))
                .unwrap_or("the target failed");
            let input = log
                .lines()
                .find_map(|l| l.split("Test unit written to ").nth(1))
                .unwrap_or("no input saved");
            format!("{} (input: {input})", panic.trim())
        });
        Outcome {
            target: target.to_owned(),
            runs: stat("stat::number_of_executed_units:"),
            per_second: stat("stat::average_exec_per_sec:"),
            corpus,
            finding,
        }
    }

    fn row(&self) -> String {
        let show = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        format!(
            "{:<12} {:>12} {:>10} {:>8}  {}",
            self.target,
            show(self.runs),
            show(self.per_second),
            show(self.corpus),
            self.finding.as_deref().unwrap_or("no panic")
        )
    }
}

/// The last `n` lines of `log`.
fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_statistics_and_crashes() {
        let done = "#2097152 pulse  cov: 412 ft: 1201 corp: 180/6011b lim: 4096 exec/s: 69905\n\
                    #2207531 DONE   cov: 412 ft: 1203 corp: 183/6100b lim: 4096 exec/s: 71210\n\
                    stat::number_of_executed_units: 2207531\n\
                    stat::average_exec_per_sec:     71210\n";
        let o = Outcome::read("glob", done, true);
        assert_eq!(
            (o.runs, o.per_second, o.corpus),
            (Some(2207531), Some(71210), Some(183))
        );
        assert!(o.finding.is_none());

        let crash = "thread '<unnamed>' panicked at fuzz_targets/glob.rs:9:5:\n\
                     ==1== ERROR: libFuzzer: deadly signal\n\
                     artifact_prefix='a/'; Test unit written to fuzz/artifacts/glob/crash-12ab\n\
                     stat::number_of_executed_units: 77\n";
        let o = Outcome::read("glob", crash, false);
        let finding = o.finding.unwrap();
        assert!(finding.contains("glob.rs:9:5"), "{finding}");
        assert!(
            finding.contains("fuzz/artifacts/glob/crash-12ab"),
            "{finding}"
        );
        assert_eq!(o.runs, Some(77));
    }

    #[test]
    fn arguments() {
        let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(args(&[]), Ok((60, vec![])));
        assert_eq!(
            args(&["--seconds", "5", "glob"]),
            Ok((5, vec!["glob".to_owned()]))
        );
        assert!(args(&["--seconds", "0"]).is_err());
        assert!(args(&["--seconds"]).is_err());
        assert!(args(&["--minutes", "1"]).is_err());
    }
}
