//! The printed report: one row per scenario, then the checks that did not hold.

use std::fmt::Write;

use crate::measure::{COMPUTE_ALLOWANCE, ScenarioReport, ms};
use crate::service::COMMAND_TIMEOUT;

/// The table of all reports, and below it every failed check with its numbers.
pub fn render(reports: &[ScenarioReport]) -> String {
    let mut out = String::new();
    let header = [
        "scenario",
        "requests",
        "failed",
        "wrong",
        "p99 base",
        "compute p99/max",
        "p99 fault",
        "max fault",
        "recovery",
        "warn/inst",
        "stale>bound",
        "worst stale",
        "result",
    ];
    let rows: Vec<[String; 13]> = reports
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.requests.to_string(),
                r.failed.to_string(),
                r.wrong.to_string(),
                ms(r.baseline_p99),
                format!("{} / {}", ms(r.control_p99), ms(r.control_max)),
                ms(r.fault_p99),
                ms(r.fault_max),
                r.recovery
                    .map_or_else(|| format!("none in {}", ms(r.observed_after)), ms),
                r.warn_lines.to_string(),
                r.staleness.violations.len().to_string(),
                ms(r.staleness.worst),
                verdict(r),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    out.push_str(&line(header.to_vec()));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(rule.iter().map(String::as_str).collect()));
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    let _ = writeln!(
        out,
        "\np99 base: the second before the fault. compute: an uncached request (the control \
         instance) in the fault window.\nlimits: failed 0, wrong 0, p99/max during the fault and \
         1 s after ≤ {} (command timeout) + compute p99/max (at least {}), recovery (Redis accepting connections again → a hit on every instance, on the keys the fault took away) ≤ 1 s, WARN/ERROR \
         lines per instance ≤ 10, stale>bound 0 (and the checker's L1 served)",
        ms(COMMAND_TIMEOUT),
        ms(COMPUTE_ALLOWANCE)
    );
    let _ = writeln!(
        out,
        "stale>bound: reads of the staleness checker (3 SmartCache instances with an L1 on the \
         scenario's Redis, through its proxy where the services go through it; 2 write and \
         delete, 1 reads — in 5-partition it is black-holed with instance a) that returned a \
         value replaced by an acknowledged write more than the L1's staleness bound before the \
         read began; worst stale: the stalest such read, within the bound or not (fail-safe \
         answers excluded)"
    );
    let _ = writeln!(
        out,
        "run n: runs 1..n-1 failed while the control instance (no cache) stalled too — the \
         machine — and were run again; stalled: so did the last one"
    );
    for r in reports {
        let _ = writeln!(out, "{}: {}", r.name, r.fault);
        for c in r.checks.iter().filter(|c| !c.pass) {
            let _ = writeln!(
                out,
                "  FAILED {}: {} (limit {})",
                c.name, c.measured, c.limit
            );
        }
        if let Some((at, outcome)) = &r.slowest {
            let _ = writeln!(
                out,
                "  slowest: due {} after the fault began, {outcome:?}",
                ms(*at)
            );
        }
        if !r.failure_reasons.is_empty() {
            let _ = writeln!(out, "  failures: {}", r.failure_reasons.join("; "));
        }
        let st = &r.staleness;
        let _ = writeln!(
            out,
            "  staleness: {} reads checked ({} from L1), {} stale ({} beyond the bound {}), worst {}; \
             {} writes ({} not acknowledged), {} read errors, {} fail-safe answers (worst {})",
            st.reads,
            st.l1_reads,
            st.stale_reads,
            st.violations.len(),
            ms(st.bound),
            ms(st.worst),
            st.writes,
            st.failed_writes,
            st.read_errors,
            st.fail_safe,
            ms(st.fail_safe_worst)
        );
        for violation in st.violations.iter().take(5) {
            let _ = writeln!(out, "  stale: {violation}");
        }
        for (count, message) in &r.warn_messages {
            let _ = writeln!(out, "  log: {count} × {message}");
        }
    }
    out
}

fn verdict(r: &ScenarioReport) -> String {
    let verdict = match r.checks.iter().filter(|c| !c.pass).count() {
        0 => "ok".to_owned(),
        n => format!("FAIL ({n})"),
    };
    match (r.runs, r.stalled && !r.passed()) {
        (1, false) => verdict,
        (1, true) => format!("{verdict}, stalled"),
        (n, false) => format!("{verdict}, run {n}"),
        (n, true) => format!("{verdict}, run {n}, stalled"),
    }
}
