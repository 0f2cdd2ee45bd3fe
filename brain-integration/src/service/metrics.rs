//! Prometheus text exposition, hand-written: request latency histograms per route, prediction
//! counts per cache source, and the cache's own counters.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use cache_core::{BreakerState, StatsSnapshot};

/// Upper bounds of the latency buckets, in seconds (50 µs to 10 s).
const BUCKETS: [f64; 18] = [
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    f64::INFINITY,
];

/// A cumulative-on-render histogram of durations, lock-free to record.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len() - 1);
        self.counts[bucket].fetch_add(1, Relaxed);
        self.sum_nanos
            .fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Relaxed);
            let le = if bound.is_infinite() {
                "+Inf".to_owned()
            } else {
                bound.to_string()
            };
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// Per-route counters: latency histogram and responses by status.
#[derive(Debug, Default)]
struct RouteMetrics {
    latency: Histogram,
    statuses: RwLock<BTreeMap<u16, AtomicU64>>,
}

/// The service's own metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: RwLock<BTreeMap<String, RouteMetrics>>,
    predictions: RwLock<BTreeMap<&'static str, AtomicU64>>,
    compute: Histogram,
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a finished request: its route template, status and latency. Allocation-free
    /// once the route has been seen.
    pub fn record_request(&self, route: &str, status: u16, elapsed: Duration) {
        let record = |r: &RouteMetrics| {
            r.latency.observe(elapsed);
            bump(&r.statuses, status);
        };
        if let Some(r) = read(&self.routes).get(route) {
            return record(r);
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        record(routes.entry(route.to_owned()).or_default());
    }

    /// Records where a prediction came from (the `x-cache` value) and its compute time.
    pub fn record_prediction(&self, source: &'static str, compute: Option<Duration>) {
        bump(&self.predictions, source);
        if let Some(d) = compute {
            self.compute.observe(d);
        }
    }

    /// Renders everything, with the cache's counters, in the Prometheus text format 0.0.4.
    pub fn render(&self, cache: &StatsSnapshot, backend: &str) -> String {
        let mut out = String::with_capacity(8192);
        out.push_str(
            "# HELP brain_http_requests_total HTTP requests by route template and status.\n",
        );
        out.push_str("# TYPE brain_http_requests_total counter\n");
        let routes = read(&self.routes);
        for (route, r) in routes.iter() {
            for (status, n) in read(&r.statuses).iter() {
                let _ = writeln!(
                    out,
                    "brain_http_requests_total{{route=\"{}\",status=\"{status}\"}} {}",
                    escape_label(route),
                    n.load(Relaxed)
                );
            }
        }
        out.push_str(
            "# HELP brain_http_request_duration_seconds Request latency by route template.\n",
        );
        out.push_str("# TYPE brain_http_request_duration_seconds histogram\n");
        for (route, r) in routes.iter() {
            let labels = format!("route=\"{}\"", escape_label(route));
            r.latency
                .render(&mut out, "brain_http_request_duration_seconds", &labels);
        }
        drop(routes);
        out.push_str(
            "# HELP brain_predictions_total Predictions served, by cache source (x-cache).\n",
        );
        out.push_str("# TYPE brain_predictions_total counter\n");
        for (source, n) in read(&self.predictions).iter() {
            let _ = writeln!(
                out,
                "brain_predictions_total{{source=\"{source}\"}} {}",
                n.load(Relaxed)
            );
        }
        out.push_str("# HELP brain_prediction_compute_seconds Time to compute one prediction (fit + markets).\n");
        out.push_str("# TYPE brain_prediction_compute_seconds histogram\n");
        self.compute
            .render(&mut out, "brain_prediction_compute_seconds", "");
        for (name, value) in cache.counters() {
            let _ = writeln!(out, "# TYPE smartcache_{name}_total counter");
            let _ = writeln!(
                out,
                "smartcache_{name}_total{{backend=\"{}\"}} {value}",
                escape_label(backend)
            );
        }
        out.push_str(
            "# HELP smartcache_breaker_state Circuit breaker state (1 for the current one).\n",
        );
        out.push_str("# TYPE smartcache_breaker_state gauge\n");
        for state in [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ] {
            let on = u8::from(cache.breaker == state);
            let _ = writeln!(
                out,
                "smartcache_breaker_state{{state=\"{}\"}} {on}",
                state.as_str()
            );
        }
        out
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere mid-update of a counter map: keep counting.
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn bump<K: Ord>(map: &RwLock<BTreeMap<K, AtomicU64>>, key: K) {
    if let Some(c) = read(map).get(&key) {
        c.fetch_add(1, Relaxed);
        return;
    }
    let mut map = map.write().unwrap_or_else(|e| e.into_inner());
    map.entry(key).or_default().fetch_add(1, Relaxed);
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        for us in [10, 60, 200, 900, 2_000_000, 60_000_000] {
            h.observe(Duration::from_micros(us));
        }
        let mut out = String::new();
        h.render(&mut out, "x", "route=\"/a\"");
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"0.00005\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("x_bucket{route=\"/a\",le=\"0.0001\"} 2\n"));
        assert!(out.contains("x_bucket{route=\"/a\",le=\"0.001\"} 4\n"));
        assert!(out.contains("x_bucket{route=\"/a\",le=\"10\"} 5\n"));
        assert!(out.contains("x_bucket{route=\"/a\",le=\"+Inf\"} 6\n"));
        assert!(out.contains("x_count{route=\"/a\"} 6\n"));
        assert_eq!(h.count(), 6);
    }

    #[test]
    fn render_has_requests_sources_and_cache_counters() {
        let m = Metrics::new();
        m.record_request("/v1/matches", 200, Duration::from_millis(1));
        m.record_request("/v1/matches", 200, Duration::from_millis(1));
        m.record_request(
            "/v1/matches/{id}/predictions",
            404,
            Duration::from_micros(40),
        );
        m.record_prediction("hit", None);
        m.record_prediction("miss", Some(Duration::from_millis(3)));
        let mut stats = StatsSnapshot::default();
        stats.hits = 7;
        let text = m.render(&stats, "memory");
        assert!(
            text.contains("brain_http_requests_total{route=\"/v1/matches\",status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("status=\"404\"} 1\n"));
        assert!(text.contains("brain_predictions_total{source=\"hit\"} 1\n"));
        assert!(text.contains("brain_prediction_compute_seconds_count 1\n"));
        assert!(text.contains("smartcache_hits_total{backend=\"memory\"} 7\n"));
        assert!(text.contains("smartcache_breaker_state{state=\"closed\"} 1\n"));
        assert_eq!(escape_label("a\"b\\"), "a\\\"b\\\\");
    }
}
