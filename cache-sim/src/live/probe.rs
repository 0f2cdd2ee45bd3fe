//! The compute the live instances run, instrumented: when each computation started and ended,
//! and how many ran at once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One computation: when it started and ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start.
    pub start: Instant,
    /// End.
    pub end: Instant,
}

/// Counts and times the computations of a run.
#[derive(Debug, Default)]
pub struct ComputeProbe {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    produced: AtomicU64,
    spans: Mutex<Vec<Span>>,
}

impl ComputeProbe {
    /// The compute: takes `delta` (a tokio sleep) and returns a new number each time.
    pub async fn compute(&self, delta: Duration) -> Result<u64, std::io::Error> {
        let start = Instant::now();
        let now_running = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now_running, Ordering::SeqCst);
        tokio::time::sleep(delta).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let value = self.produced.fetch_add(1, Ordering::SeqCst);
        let span = Span {
            start,
            end: Instant::now(),
        };
        self.spans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(span);
        Ok(value)
    }

    /// Most computations that ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Every finished computation, by start time.
    pub fn spans(&self) -> Vec<Span> {
        let mut spans = self.spans.lock().unwrap_or_else(|p| p.into_inner()).clone();
        spans.sort_by_key(|s| s.start);
        spans
    }
}

/// Computations grouped into expiry cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct Cycles {
    /// Computations per cycle, in order.
    pub computes: Vec<u64>,
    /// Seconds between the expiry of the previous cycle's last write and the first computation of
    /// each cycle after the first (negative: after expiry).
    pub leads: Vec<f64>,
}

/// Groups computations (sorted by start) into cycles: a computation more than `ttl / 2` after the
/// first one of the current cycle opens a new cycle. The computations of one cycle all start
/// between its first trigger and the first write, about Δ, and the next cycle cannot start before
/// the value written nears its expiry, so with `ttl ≥ 4Δ` the gap tells them apart.
pub fn group_cycles(spans: &[Span], ttl: Duration) -> Cycles {
    let mut computes = Vec::new();
    let mut leads = Vec::new();
    let mut current: Option<(Instant, Instant)> = None; // (first start, last end)
    for span in spans {
        match &mut current {
            Some((first, last_end)) if span.start.duration_since(*first) <= ttl / 2 => {
                *last_end = (*last_end).max(span.end);
                if let Some(n) = computes.last_mut() {
                    *n += 1;
                }
            }
            _ => {
                if let Some((_, last_end)) = current {
                    let expiry = last_end + ttl;
                    let lead = if expiry >= span.start {
                        expiry.duration_since(span.start).as_secs_f64()
                    } else {
                        -span.start.duration_since(expiry).as_secs_f64()
                    };
                    leads.push(lead);
                }
                current = Some((span.start, span.end));
                computes.push(1);
            }
        }
    }
    Cycles { computes, leads }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_half_ttl_gaps() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let span = |s: u64, e: u64| Span {
            start: ms(s),
            end: ms(e),
        };
        // TTL 1 s: cycle A = three computes around t = 0, cycle B = two around t = 900 ms.
        let spans = [
            span(0, 50),
            span(10, 60),
            span(40, 90),
            span(900, 950),
            span(920, 970),
        ];
        let cycles = group_cycles(&spans, Duration::from_secs(1));
        assert_eq!(cycles.computes, vec![3, 2]);
        // Last write of A ends at 90 ms, so it expires at 1090 ms; B starts at 900 ms: 0.19 s early.
        assert_eq!(cycles.leads.len(), 1);
        assert!((cycles.leads[0] - 0.19).abs() < 1e-9);
        assert_eq!(
            group_cycles(&[], Duration::from_secs(1)).computes,
            Vec::<u64>::new()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn probe_counts_and_times_computes() {
        let probe = std::sync::Arc::new(ComputeProbe::default());
        let (a, b) = (probe.clone(), probe.clone());
        let (x, y) = tokio::join!(
            a.compute(Duration::from_millis(5)),
            b.compute(Duration::from_millis(5))
        );
        assert_eq!((x.unwrap() + y.unwrap()), 1, "values 0 and 1");
        assert_eq!(probe.peak(), 2);
        assert_eq!(probe.spans().len(), 2);
    }
}
