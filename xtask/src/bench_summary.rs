//! The tables `cargo xtask bench` prints: the hit paths against their floors (from the lines
//! the paired-round benchmarks append to [`HIT_RESULTS`]), and criterion's medians.

use std::path::Path;

/// Where the hit-path benchmarks append their comparisons (under the workspace's `target/`).
pub const HIT_RESULTS: &str = "target/bench-hit.tsv";

/// The targets of issues 10 (memory, Redis), 11 (L1) and 12 (a batch of 100 against one `MGET`
/// and the decoding of its values): `(row id, metric, target)`. A p50
/// target is a ceiling on the ratio to the floor, a throughput target a floor under it.
const TARGETS: &[(&str, &str, Target)] = &[
    ("memory.get_or_compute", "p50_us", Target::AtMost(1.5)),
    ("memory.get_or_compute", "ops_per_s", Target::AtLeast(0.85)),
    ("l1.get_or_compute", "p50_us", Target::AtMost(1.5)),
    ("l1.get_or_compute", "ops_per_s", Target::AtLeast(0.85)),
    ("redis.get_or_compute", "p50_us", Target::AtMost(1.1)),
    ("redis.get_or_compute", "ops_per_s", Target::AtLeast(0.9)),
    ("redis.get_many_or_compute", "p50_us", Target::AtMost(1.2)),
];

#[derive(Clone, Copy)]
enum Target {
    AtMost(f64),
    AtLeast(f64),
}

impl Target {
    fn met(self, ratio: f64) -> bool {
        match self {
            Target::AtMost(limit) => ratio <= limit,
            Target::AtLeast(limit) => ratio >= limit,
        }
    }

    fn label(self) -> String {
        match self {
            Target::AtMost(limit) => format!("<= {limit}x"),
            Target::AtLeast(limit) => format!(">= {limit}x"),
        }
    }
}

/// One comparison, as the benchmark wrote it.
struct Line {
    id: String,
    metric: String,
    path: String,
    floor: String,
    mine: f64,
    theirs: f64,
    rounds: u32,
    ratio: f64,
}

fn parse(line: &str) -> Option<Line> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [id, metric, path, floor, mine, theirs, rounds, ratio] = fields[..] else {
        return None;
    };
    Some(Line {
        id: id.into(),
        metric: metric.into(),
        path: path.into(),
        floor: floor.into(),
        mine: mine.parse().ok()?,
        theirs: theirs.parse().ok()?,
        rounds: rounds.parse().ok()?,
        ratio: ratio.parse().ok()?,
    })
}

/// Prints the hit-path table from `file`; fails when it holds no result. Returns how many
/// targets were missed.
pub fn print_hits(file: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("no hit-path results in {}: {e}", file.display()))?;
    let lines: Vec<Line> = text.lines().filter_map(parse).collect();
    if lines.is_empty() {
        return Err(format!("no hit-path results in {}", file.display()));
    }
    println!(
        "\nhit paths against their floors (paired rounds, medians; ratio = median of per-round ratios)\n"
    );
    println!(
        "| {:<58} | {:>12} | {:<42} | {:>6} | {:>8} | {:<6} |",
        "path", "smartcache", "floor (raw store, same run)", "ratio", "target", ""
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|",
        "-".repeat(60),
        "-".repeat(14),
        "-".repeat(44),
        "-".repeat(8),
        "-".repeat(10),
        "-".repeat(8)
    );
    let mut missed = 0;
    for line in &lines {
        let (what, mine, theirs) = match line.metric.as_str() {
            "p50_us" => ("p50, one task", micros(line.mine), micros(line.theirs)),
            _ => ("64 tasks", rate(line.mine), rate(line.theirs)),
        };
        let target = TARGETS
            .iter()
            .find(|(id, metric, _)| *id == line.id && *metric == line.metric)
            .map(|(_, _, target)| *target);
        let verdict = match target {
            Some(t) if t.met(line.ratio) => "met",
            Some(_) => {
                missed += 1;
                "MISSED"
            }
            None => "",
        };
        println!(
            "| {:<58} | {:>12} | {:<42} | {:>5.2}x | {:>8} | {:<6} |",
            format!("{}, {what}", line.path),
            mine,
            format!("{} {theirs}", line.floor),
            line.ratio,
            target.map_or_else(|| "-".into(), Target::label),
            verdict,
        );
    }
    let rounds = lines.iter().map(|l| l.rounds).min().unwrap_or(0);
    println!("\n(at least {rounds} rounds per comparison; targets from issues 10, 11 and 12)");
    Ok(missed)
}

fn micros(us: f64) -> String {
    format!("{us:.3} µs")
}

fn rate(per_second: f64) -> String {
    match per_second {
        r if r >= 1e6 => format!("{:.2} M/s", r / 1e6),
        r => format!("{:.1} k/s", r / 1e3),
    }
}

/// Prints criterion's median of every benchmark under `criterion_dir`.
pub fn print_criterion(criterion_dir: &Path) -> Result<(), String> {
    let mut rows = Vec::new();
    collect(criterion_dir, criterion_dir, &mut rows);
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if rows.is_empty() {
        return Err(format!(
            "no criterion results under {}",
            criterion_dir.display()
        ));
    }
    println!("\n{:<70} {:>14}", "criterion benchmark", "median");
    for (id, ns) in &rows {
        println!("{id:<70} {:>14}", human(*ns));
    }
    Ok(())
}

/// Walks `target/criterion/**/new/estimates.json`.
fn collect(root: &Path, dir: &Path, rows: &mut Vec<(String, f64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "report") {
            continue;
        }
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "new") {
                if let Some(ns) = median_ns(&path.join("estimates.json")) {
                    let id = dir
                        .strip_prefix(root)
                        .unwrap_or(dir)
                        .to_string_lossy()
                        .into_owned();
                    rows.push((id, ns));
                }
            } else {
                collect(root, &path, rows);
            }
        }
    }
}

/// The median point estimate in nanoseconds, read without a JSON dependency.
fn median_ns(file: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(file).ok()?;
    let median = &text[text.find("\"median\"")?..];
    let point = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = point.find([',', '}'])?;
    point[..end].trim().parse().ok()
}

fn human(ns: f64) -> String {
    match ns {
        n if n < 1e3 => format!("{n:.1} ns"),
        n if n < 1e6 => format!("{:.2} µs", n / 1e3),
        n if n < 1e9 => format!("{:.2} ms", n / 1e6),
        n => format!("{:.2} s", n / 1e9),
    }
}
