//! What a live run reports.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::live::config::LiveConfig;
use crate::output::table::Table;
use crate::summary::{HistogramBin, Summary};

/// Read latency as the callers saw it, in milliseconds (reported, never asserted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Latency {
    /// Percentiles of a sample (sorted in place).
    pub fn of(sample: &mut [Duration]) -> Latency {
        if sample.is_empty() {
            return Latency::default();
        }
        sample.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let at = |q: f64| ms(sample[((sample.len() - 1) as f64 * q).round() as usize]);
        let mean = sample.iter().map(|&d| ms(d)).sum::<f64>() / sample.len() as f64;
        Latency {
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: at(1.0),
            mean_ms: mean,
        }
    }
}

/// The outcome of one live run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveReport {
    /// What ran.
    pub config: LiveConfig,
    /// Reads issued during the load.
    pub reads: u64,
    /// Reads that returned an error.
    pub read_errors: u64,
    /// Expiry cycles seen (after the warm-up value); the last may be cut short by the end of the run.
    pub cycles: usize,
    /// Computations per cycle.
    pub computes_per_cycle: Summary,
    /// How many cycles had each number of computations.
    pub histogram: Vec<HistogramBin>,
    /// Most computations running at once, across the fleet.
    pub peak_concurrent_computes: usize,
    /// Seconds between a value's expiry and the first computation of the next cycle (negative:
    /// after expiry).
    pub first_refresh_lead: Summary,
    /// The instances' counters during the load, summed over the fleet.
    pub counters: BTreeMap<String, u64>,
    /// The same counters divided by [`cycles`](Self::cycles).
    pub per_cycle: BTreeMap<String, f64>,
    /// Read latency.
    pub latency: Latency,
    /// How long the load ran, in seconds.
    pub wall_seconds: f64,
}

impl LiveReport {
    /// Summed counter `name` (0 if the cache has no such counter).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

/// Renders live runs side by side.
pub fn render_live(reports: &[LiveReport]) -> String {
    let mut out = String::new();
    if let Some(c) = reports.first().map(|r| &r.config) {
        out.push_str(&format!(
            "Live fleet: {} SmartCache instances on {}, λ = {} reads/s, Δ = {}, T = {} s, grace {} s, β = {}, {} s\n\n",
            c.instances,
            c.backend.describe(),
            c.read_rate,
            c.recompute,
            c.ttl,
            c.grace,
            c.beta,
            c.duration
        ));
    }
    let mut table = Table::new(&[
        "fleet lock",
        "reads",
        "cycles",
        "computes",
        "computes/cycle",
        "max",
        "misses/cycle",
        "early refreshes/cycle",
        "coalesced/cycle",
        "lock waits/cycle",
        "peak computing",
        "1st compute before expiry (s)",
        "p50 ms",
        "p99 ms",
        "max ms",
    ]);
    for r in reports {
        let per = |name: &str| format!("{:.2}", r.per_cycle.get(name).copied().unwrap_or(0.0));
        table.row(vec![
            if r.config.fleet_lock { "on" } else { "off" }.to_string(),
            r.reads.to_string(),
            r.cycles.to_string(),
            r.counter("computes").to_string(),
            format!(
                "{:.2} ± {:.2}",
                r.computes_per_cycle.mean, r.computes_per_cycle.sd
            ),
            format!("{}", r.computes_per_cycle.max),
            per("misses"),
            per("early_refreshes"),
            per("coalesced_waits"),
            per("lock_waits"),
            r.peak_concurrent_computes.to_string(),
            format!(
                "{:.3} ± {:.3}",
                r.first_refresh_lead.mean, r.first_refresh_lead.sd
            ),
            format!("{:.3}", r.latency.p50_ms),
            format!("{:.3}", r.latency.p99_ms),
            format!("{:.3}", r.latency.max_ms),
        ]);
    }
    out.push_str(&table.render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let mut sample: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let l = Latency::of(&mut sample);
        assert_eq!((l.p50_ms, l.p99_ms, l.max_ms), (51.0, 99.0, 100.0));
        assert!((l.mean_ms - 50.5).abs() < 1e-9);
        assert_eq!(Latency::of(&mut []), Latency::default());
    }
}
