//! Latency percentiles and per-phase reports.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Exact percentiles of a set of latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Percentiles {
    /// Observations.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest.
    pub max: Duration,
}

impl Percentiles {
    /// Percentiles of `nanos` (sorted in place), nearest-rank.
    pub fn from_nanos(nanos: &mut [u64]) -> Percentiles {
        if nanos.is_empty() {
            return Percentiles::default();
        }
        nanos.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * nanos.len() as f64).ceil() as usize).clamp(1, nanos.len());
            Duration::from_nanos(nanos[rank - 1])
        };
        Percentiles {
            count: nanos.len(),
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            p999: at(0.999),
            max: Duration::from_nanos(nanos[nanos.len() - 1]),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}ms", d.as_secs_f64() * 1e3)
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {}  p95 {}  p99 {}  p99.9 {}  max {}  (n={})",
            ms(self.p50),
            ms(self.p95),
            ms(self.p99),
            ms(self.p999),
            ms(self.max),
            self.count
        )
    }
}

/// What one phase of a load run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseReport {
    /// Phase name (`warm-up`, `cached`, `uncached`).
    pub name: String,
    /// Wall time of the phase.
    pub elapsed: Duration,
    /// Requests answered 200.
    pub ok: u64,
    /// Requests that failed (I/O error or non-200).
    pub errors: u64,
    /// 200 answers by `x-cache` value.
    pub sources: BTreeMap<String, u64>,
    /// Latency of every 200 answer.
    pub latency: Percentiles,
    /// Latency of the answers served from the cache (`hit`, `early-refresh`, `stale`).
    pub hit_latency: Percentiles,
}

/// `x-cache` values that mean the answer came from the cache without waiting for a compute.
pub const SERVED_FROM_CACHE: [&str; 3] = ["hit", "early-refresh", "stale"];

impl PhaseReport {
    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Fraction of 200 answers served from the cache.
    pub fn hit_ratio(&self) -> f64 {
        let hits: u64 = SERVED_FROM_CACHE
            .iter()
            .filter_map(|s| self.sources.get(*s))
            .sum();
        if self.ok == 0 {
            0.0
        } else {
            hits as f64 / self.ok as f64
        }
    }
}

impl fmt::Display for PhaseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "[{}] {:.1}s  {} ok  {} errors  {:.0} req/s  hit ratio {:.2}%",
            self.name,
            self.elapsed.as_secs_f64(),
            self.ok,
            self.errors,
            self.throughput(),
            100.0 * self.hit_ratio()
        )?;
        let sources: Vec<String> = self
            .sources
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(f, "  x-cache: {}", sources.join(" "))?;
        writeln!(f, "  latency (all):  {}", self.latency)?;
        if self.hit_latency.count > 0 {
            writeln!(f, "  latency (hits): {}", self.hit_latency)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=1000).rev().collect();
        let p = Percentiles::from_nanos(&mut v);
        assert_eq!(p.p50, Duration::from_nanos(500));
        assert_eq!(p.p95, Duration::from_nanos(950));
        assert_eq!(p.p99, Duration::from_nanos(990));
        assert_eq!(p.p999, Duration::from_nanos(999));
        assert_eq!(p.max, Duration::from_nanos(1000));
        assert_eq!(Percentiles::from_nanos(&mut []), Percentiles::default());
    }

    #[test]
    fn hit_ratio_counts_cache_served_sources() {
        let mut sources = BTreeMap::new();
        sources.insert("hit".to_owned(), 90);
        sources.insert("early-refresh".to_owned(), 5);
        sources.insert("miss".to_owned(), 5);
        let r = PhaseReport {
            name: "cached".into(),
            elapsed: Duration::from_secs(2),
            ok: 100,
            errors: 0,
            sources,
            latency: Percentiles::default(),
            hit_latency: Percentiles::default(),
        };
        assert!((r.hit_ratio() - 0.95).abs() < 1e-12);
        assert!((r.throughput() - 50.0).abs() < 1e-9);
        assert!(r.to_string().contains("hit ratio 95.00%"));
    }
}
