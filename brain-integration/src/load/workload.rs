//! The workload: request paths for `fixtures × configs`, ranked by a seeded shuffle, drawn
//! from a Zipf distribution over the ranks.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Zipf};

use super::LoadError;

/// The request paths, in popularity order, and the Zipf distribution over their ranks.
#[derive(Debug, Clone)]
pub struct Workload {
    paths: Vec<String>,
    zipf: Zipf<f64>,
}

impl Workload {
    /// Keys `ids × configs`, shuffled with `seed` into popularity ranks.
    pub fn new(
        ids: &[String],
        configs: &[String],
        exponent: f64,
        seed: u64,
    ) -> Result<Workload, LoadError> {
        if ids.is_empty() || configs.is_empty() {
            return Err(LoadError::Options(
                "need at least one fixture and one configuration".into(),
            ));
        }
        let mut paths: Vec<String> = ids
            .iter()
            .flat_map(|id| {
                configs
                    .iter()
                    .map(move |q| format!("/v1/matches/{}/predictions?{q}", encode_segment(id)))
            })
            .collect();
        paths.shuffle(&mut StdRng::seed_from_u64(seed));
        let zipf = Zipf::new(paths.len() as f64, exponent)
            .map_err(|e| LoadError::Options(format!("zipf: {e}")))?;
        Ok(Workload { paths, zipf })
    }

    /// Number of distinct keys.
    pub fn keys(&self) -> usize {
        self.paths.len()
    }

    /// Draws a path.
    pub fn sample(&self, rng: &mut StdRng) -> &str {
        let rank = self.zipf.sample(rng) as usize;
        &self.paths[rank.clamp(1, self.paths.len()) - 1]
    }
}

/// Percent-encodes a path segment (everything but unreserved characters).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn workload_covers_keys_with_zipf_frequencies() {
        let ids: Vec<String> = (1..=50).map(|i| i.to_string()).collect();
        let configs = vec!["model=poisson".to_owned(), "model=dc".to_owned()];
        let w = Workload::new(&ids, &configs, 1.0, 7).unwrap();
        assert_eq!(w.keys(), 100);
        let mut rng = StdRng::seed_from_u64(1);
        let n = 200_000;
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for _ in 0..n {
            *counts.entry(w.sample(&mut rng)).or_default() += 1;
        }
        // Rank 1 has probability 1/H(100) ≈ 0.1928; binomial bound of 4.5 sd.
        let h: f64 = (1..=100).map(|k| 1.0 / k as f64).sum();
        let p = 1.0 / h;
        let top = counts[w.paths[0].as_str()] as f64;
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (top - n as f64 * p).abs() <= 4.5 * sd,
            "{top} vs {}",
            n as f64 * p
        );
        assert!(
            w.paths
                .iter()
                .all(|p| p.starts_with("/v1/matches/") && p.contains("/predictions?model="))
        );
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("12"), "12");
        assert_eq!(encode_segment("a b/c*"), "a%20b%2Fc%2A");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }
}
