//! Sample statistics: mean, standard deviation, standard error, histogram.

use std::collections::BTreeMap;

use serde::Serialize;

/// Mean, spread and range of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of observations.
    pub count: usize,
    /// Sample mean (0 when empty).
    pub mean: f64,
    /// Sample standard deviation (n − 1 denominator; 0 with fewer than two observations).
    pub sd: f64,
    /// Standard error of the mean: `sd / √count`.
    pub std_error: f64,
    /// Smallest observation (0 when empty).
    pub min: f64,
    /// Largest observation (0 when empty).
    pub max: f64,
}

impl Summary {
    /// Summarizes a sample (Welford's algorithm, stable for large counts).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Summary {
        let (mut count, mut mean, mut m2) = (0usize, 0.0f64, 0.0f64);
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for x in values {
            count += 1;
            let d = x - mean;
            mean += d / count as f64;
            m2 += d * (x - mean);
            min = min.min(x);
            max = max.max(x);
        }
        if count == 0 {
            return Summary {
                count,
                mean: 0.0,
                sd: 0.0,
                std_error: 0.0,
                min: 0.0,
                max: 0.0,
            };
        }
        let sd = if count > 1 {
            (m2 / (count - 1) as f64).sqrt()
        } else {
            0.0
        };
        Summary {
            count,
            mean,
            sd,
            std_error: sd / (count as f64).sqrt(),
            min,
            max,
        }
    }
}

/// One bar of a histogram of counts: how many cycles had exactly `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HistogramBin {
    /// The observed count (e.g. recomputations in a cycle).
    pub value: u64,
    /// How many cycles had it.
    pub cycles: u64,
}

/// Histogram of integer observations, sorted by value, empty values left out.
pub fn histogram(values: impl IntoIterator<Item = u64>) -> Vec<HistogramBin> {
    let mut bins = BTreeMap::new();
    for v in values {
        *bins.entry(v).or_insert(0u64) += 1;
    }
    bins.into_iter()
        .map(|(value, cycles)| HistogramBin { value, cycles })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_sample() {
        let s = Summary::of([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.count, 8);
        assert!((s.mean - 5.0).abs() < 1e-12);
        // Sum of squared deviations is 32; n - 1 = 7.
        assert!((s.sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert!((s.std_error - s.sd / 8f64.sqrt()).abs() < 1e-12);
        assert_eq!((s.min, s.max), (2.0, 9.0));
    }

    #[test]
    fn empty_and_single_samples() {
        assert_eq!(Summary::of([]).count, 0);
        let one = Summary::of([3.5]);
        assert_eq!((one.mean, one.sd, one.min, one.max), (3.5, 0.0, 3.5, 3.5));
    }

    #[test]
    fn histogram_counts_and_sorts() {
        let h = histogram([3, 1, 3, 2, 3]);
        let pairs: Vec<_> = h.iter().map(|b| (b.value, b.cycles)).collect();
        assert_eq!(pairs, vec![(1, 1), (2, 1), (3, 3)]);
    }
}
