//! The service's metrics through the `metrics` facade, exported in the Prometheus text format by
//! `metrics-exporter-prometheus` (render only: `GET /metrics` is one of our routes).
//!
//! Each [`Telemetry`] is its own recorder rather than the process-wide one, so two services in
//! one process (the tests) count apart. Whatever registers inside [`Telemetry::scope`] — the
//! service's own counters, and the cache's when it is built there — reports to it.

use std::sync::Arc;
use std::time::Duration;

use cache_core::{BreakerState, FeedState};
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// Upper bounds of the latency buckets, in seconds (50 µs to 10 s).
const LATENCY_BUCKETS: [f64; 17] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

const REQUESTS: &str = "brain_http_requests_total";
const REQUEST_SECONDS: &str = "brain_http_request_duration_seconds";
const PREDICTIONS: &str = "brain_predictions_total";
const PREDICTION_COMPUTE_SECONDS: &str = "brain_prediction_compute_seconds";
const BREAKER_STATE: &str = "smartcache_breaker_state";
const L1_FEED_STATE: &str = "smartcache_l1_feed_state";

/// The service's recorder and the handle that renders it.
#[derive(Clone)]
pub struct Telemetry {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// A recorder whose `_seconds` metrics are histograms with latency buckets.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            // Only an empty bucket list is refused, and ours is a constant.
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        let telemetry = Telemetry {
            recorder: Arc::new(recorder),
            handle,
        };
        telemetry.scope(|| {
            describe_counter!(
                REQUESTS,
                Unit::Count,
                "HTTP requests by route template and status."
            );
            describe_histogram!(
                REQUEST_SECONDS,
                Unit::Seconds,
                "Request latency by route template."
            );
            describe_counter!(
                PREDICTIONS,
                Unit::Count,
                "Predictions served, by cache source (x-cache)."
            );
            describe_histogram!(
                PREDICTION_COMPUTE_SECONDS,
                Unit::Seconds,
                "Time to compute one prediction (fit + markets)."
            );
            describe_gauge!(
                BREAKER_STATE,
                "Circuit breaker state (1 for the current one)."
            );
            describe_gauge!(
                L1_FEED_STATE,
                "State of the change feed that keeps the L1 coherent (1 for the current one)."
            );
        });
        telemetry
    }

    /// Runs `f` with this recorder as the `metrics` recorder: build the cache inside it so that
    /// its counters report here.
    pub fn scope<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(self.recorder.as_ref(), f)
    }

    /// Records a finished request under its route template (never the raw path: ids would make
    /// the label set unbounded).
    pub fn record_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.scope(|| {
            let route = route.to_owned();
            counter!(REQUESTS, "route" => route.clone(), "status" => status.to_string())
                .increment(1);
            histogram!(REQUEST_SECONDS, "route" => route).record(elapsed.as_secs_f64());
        });
    }

    /// Records where a prediction came from (the `x-cache` value) and its compute time.
    pub fn record_prediction(&self, source: &'static str, compute: Option<Duration>) {
        self.scope(|| {
            counter!(PREDICTIONS, "source" => source).increment(1);
            if let Some(d) = compute {
                histogram!(PREDICTION_COMPUTE_SECONDS).record(d.as_secs_f64());
            }
        });
    }

    /// The Prometheus text, with the breaker state of the cache called `cache` as of now, and
    /// the state of its L1's change feed when it has an L1.
    pub fn render(&self, cache: &str, breaker: BreakerState, l1_feed: Option<FeedState>) -> String {
        self.scope(|| {
            if let Some(feed) = &l1_feed {
                for state in ["starting", "live", "down", "unavailable"] {
                    let on = if feed.as_str() == state { 1.0 } else { 0.0 };
                    gauge!(L1_FEED_STATE, "cache" => cache.to_owned(), "state" => state).set(on);
                }
            }
            for state in [
                BreakerState::Closed,
                BreakerState::Open,
                BreakerState::HalfOpen,
            ] {
                let on = if breaker == state { 1.0 } else { 0.0 };
                gauge!(BREAKER_STATE, "cache" => cache.to_owned(), "state" => state.as_str())
                    .set(on);
            }
        });
        self.handle.render()
    }

    /// Drains histogram samples into their buckets; run it now and then so that memory stays
    /// flat when nobody scrapes.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}
