//! Reads criterion's estimates and prints one table: each benchmark's median, and the ratio of
//! every smartcache path to the baseline measured in the same run.

use std::path::Path;

/// `(benchmark id, baseline id, target)`: ratios against a baseline measured in the same run.
const RATIOS: &[(&str, &str, &str)] = &[
    (
        "memory_hit/smartcache_get",
        "memory_hit/raw_moka",
        "<= 1.5x",
    ),
    (
        "memory_hit/smartcache_get_lazy_expiry",
        "memory_hit/raw_moka",
        "<= 1.5x",
    ),
    ("memory_hit/smartcache", "memory_hit/raw_moka", "<= 2x"),
    ("memory_hit/memory_backend", "memory_hit/raw_moka", "-"),
    ("get_or_compute/early_refresh", "get_or_compute/fresh", "-"),
    ("get_or_compute/stale", "get_or_compute/fresh", "-"),
    ("get_or_compute/miss", "get_or_compute/fresh", "-"),
    (
        "hit_latency_single_task/smartcache_hit",
        "hit_latency_single_task/raw_fred_get",
        "<= 1.15x",
    ),
    // Time per operation under 64 tasks: throughput >= 0.9x raw fred is a time ratio <= 1.11x.
    (
        "hit_throughput_64_tasks/smartcache_hit",
        "hit_throughput_64_tasks/raw_fred_get",
        "<= 1.11x",
    ),
    (
        "hit_throughput_64_tasks/evalsha_get_pttl",
        "hit_throughput_64_tasks/raw_fred_get",
        "-",
    ),
];

pub fn print(criterion_dir: &Path) -> Result<(), String> {
    let mut rows = Vec::new();
    collect(criterion_dir, criterion_dir, &mut rows);
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if rows.is_empty() {
        return Err(format!(
            "no criterion results under {}",
            criterion_dir.display()
        ));
    }
    println!("\n{:<70} {:>14}", "benchmark", "median");
    for (id, ns) in &rows {
        println!("{id:<70} {:>14}", human(*ns));
    }
    let find = |id: &str| rows.iter().find(|(r, _)| r == id).map(|(_, ns)| *ns);
    println!(
        "\n{:<84} {:>8} {:>10}",
        "ratio (same run)", "value", "target"
    );
    for (id, base, target) in RATIOS {
        if let (Some(a), Some(b)) = (find(id), find(base)) {
            println!(
                "{:<84} {:>7.2}x {:>10}",
                format!("{id} / {base}"),
                a / b,
                target
            );
        }
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
