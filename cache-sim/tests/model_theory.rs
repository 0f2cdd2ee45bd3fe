//! The model against the theory (issue 6): seeded, deterministic.
//!
//! Each bound is 4.5 standard errors of a mean over C cycles, with the standard deviation derived
//! from the distribution (see `cache_sim::model::theory` for the derivations):
//! - plain TTL: `1 + Poisson(λΔ)` per cycle, sd `√(λΔ)`;
//! - X-Fetch(β): `1 + Poisson(a·E)`, `E ~ Exp(1)`, `a = e^(1/β) − 1`, sd `√(a + a²)`;
//! - lead of the first early refresh: `βΔ·ln(λβΔ/E)`, sd `βΔ·π/√6`.

use cache_sim::model::{ModelConfig, RecomputeTime, Strategy, StrategyReport, run_strategy};

const CYCLES: usize = 500;
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

fn config(read_rate: f64, delta: f64, ttl: f64, seed: u64) -> ModelConfig {
    ModelConfig {
        read_rate,
        recompute: RecomputeTime::Fixed { seconds: delta },
        ttl,
        cycles: CYCLES,
        seed,
    }
}

/// Expected lead of the first X-Fetch refresh before expiry: the "refresh gap".
fn xfetch_gap(read_rate: f64, delta: f64, beta: f64) -> f64 {
    beta * delta * ((read_rate * beta * delta).ln() + EULER_GAMMA)
}

/// T = ten times the refresh gap (and at least ten recompute times).
fn ttl_for(read_rate: f64, delta: f64, beta: f64) -> f64 {
    10.0 * xfetch_gap(read_rate, delta, beta).max(delta)
}

fn assert_mean(report: &StrategyReport, expected: f64, sd: f64, what: &str) {
    let s = &report.recomputes_per_cycle;
    assert_eq!(s.count, CYCLES, "{what}: cycles");
    let bound = 4.5 * sd / (CYCLES as f64).sqrt();
    assert!(
        (s.mean - expected).abs() <= bound,
        "{what}: {:.3} recomputations per cycle (sample sd {:.3}), expected {expected:.3} ± {bound:.3}",
        s.mean,
        s.sd
    );
}

#[test]
fn plain_ttl_stampedes_one_plus_lambda_delta() {
    for (i, (lambda, delta)) in [(100.0, 0.5), (1000.0, 0.1), (10_000.0, 0.02)]
        .into_iter()
        .enumerate()
    {
        let lambda_delta: f64 = lambda * delta;
        let report = run_strategy(
            &config(lambda, delta, 10.0 * delta, 100 + i as u64),
            &Strategy::PlainTtl,
        )
        .unwrap();
        let what = format!("plain TTL λ={lambda} Δ={delta}");
        assert_mean(&report, 1.0 + lambda_delta, lambda_delta.sqrt(), &what);
        // Every recomputation of plain TTL is made by a read that found nothing.
        assert_eq!(
            report.missing_reads,
            (report.recomputes_per_cycle.mean * CYCLES as f64).round() as u64,
            "{what}"
        );
        assert!(
            report.first_refresh_lead.max <= 0.0,
            "{what}: plain TTL never refreshes before expiry"
        );
    }
}

#[test]
fn xfetch_recomputes_e_to_the_one_over_beta_whatever_lambda() {
    // λΔ = 50, 100 and 200: a plain TTL would stampede 51, 101 and 201 times.
    let loads = [(100.0, 0.5), (1000.0, 0.1), (10_000.0, 0.02)];
    for (i, (lambda, delta)) in loads.into_iter().enumerate() {
        for (j, beta) in [1.0f64, 1.5, 2.0].into_iter().enumerate() {
            let seed = 200 + 10 * i as u64 + j as u64;
            let report = run_strategy(
                &config(lambda, delta, ttl_for(lambda, delta, beta), seed),
                &Strategy::XFetch { beta },
            )
            .unwrap();
            let a = (1.0 / beta).exp() - 1.0;
            assert_mean(
                &report,
                (1.0 / beta).exp(),
                (a + a * a).sqrt(),
                &format!("X-Fetch β={beta} λ={lambda} Δ={delta}"),
            );
        }
    }
}

#[test]
fn xfetch_refreshes_before_expiry_by_the_predicted_lead() {
    let (lambda, delta, beta) = (1000.0, 0.1, 1.0);
    let report = run_strategy(
        &config(lambda, delta, ttl_for(lambda, delta, beta), 300),
        &Strategy::XFetch { beta },
    )
    .unwrap();
    assert_eq!(
        report.missing_reads, 0,
        "no read may find the value missing"
    );
    let lead = &report.first_refresh_lead;
    assert_eq!(lead.count, CYCLES);
    let expected = xfetch_gap(lambda, delta, beta); // ≈ 0.518 s
    let bound = 4.5 * beta * delta * std::f64::consts::PI / 6f64.sqrt() / (CYCLES as f64).sqrt();
    assert!(
        (lead.mean - expected).abs() <= bound,
        "first refresh {:.4} s before expiry, expected {expected:.4} ± {bound:.4}",
        lead.mean
    );
}

#[test]
fn xfetch_with_single_flight_recomputes_exactly_once_per_cycle() {
    for (i, (lambda, delta)) in [(100.0, 0.5), (1000.0, 0.1), (10_000.0, 0.02)]
        .into_iter()
        .enumerate()
    {
        let report = run_strategy(
            &config(lambda, delta, ttl_for(lambda, delta, 1.0), 400 + i as u64),
            &Strategy::XFetchSingleFlight { beta: 1.0 },
        )
        .unwrap();
        let bins: Vec<_> = report
            .histogram
            .iter()
            .map(|b| (b.value, b.cycles))
            .collect();
        assert_eq!(
            bins,
            vec![(1, CYCLES as u64)],
            "λ={lambda}: every cycle recomputes exactly once"
        );
        assert_eq!(report.peak_concurrent_recomputes, 1);
        assert!(
            report.coalesced_reads > 0,
            "λ={lambda}: other reads wanted to refresh and joined the flight"
        );
    }
}

#[test]
fn refresh_ahead_stampedes_early_instead_of_late() {
    let (lambda, delta, ttl, fraction) = (1000.0, 0.1, 1.0, 0.8);
    let report = run_strategy(
        &config(lambda, delta, ttl, 500),
        &Strategy::RefreshAhead { fraction },
    )
    .unwrap();
    let lambda_delta: f64 = lambda * delta;
    assert_mean(
        &report,
        1.0 + lambda_delta,
        lambda_delta.sqrt(),
        "refresh-ahead 80%",
    );
    assert_eq!(
        report.missing_reads, 0,
        "the refresh completes 0.1 s before the 0.2 s of TTL left run out"
    );
    // The first read past the mark triggers: lead = (1 − f)·T − Exp(λ), sd 1/λ.
    let expected = (1.0 - fraction) * ttl - 1.0 / lambda;
    let bound = 4.5 / lambda / (CYCLES as f64).sqrt();
    assert!(
        (report.first_refresh_lead.mean - expected).abs() <= bound,
        "{:?}",
        report.first_refresh_lead
    );
}

#[test]
fn xfetch_with_beta_zero_is_plain_ttl_exactly() {
    let c = ModelConfig {
        cycles: 50,
        ..config(1000.0, 0.1, 1.0, 7)
    };
    let plain = run_strategy(&c, &Strategy::PlainTtl).unwrap();
    let zero = run_strategy(&c, &Strategy::XFetch { beta: 0.0 }).unwrap();
    assert_eq!(plain.histogram, zero.histogram);
    assert_eq!(plain.reads, zero.reads);
}

#[test]
fn runs_are_reproducible_from_the_seed() {
    let c = ModelConfig {
        recompute: RecomputeTime::LogNormal {
            median: 0.1,
            sigma: 0.5,
        },
        cycles: 50,
        ..config(1000.0, 0.1, 5.0, 9)
    };
    let s = Strategy::XFetch { beta: 1.0 };
    let a = run_strategy(&c, &s).unwrap();
    assert_eq!(a, run_strategy(&c, &s).unwrap());
    assert_ne!(a, run_strategy(&ModelConfig { seed: 10, ..c }, &s).unwrap());
    assert_eq!(a.recomputes_per_cycle.count, 50);
    assert!(a.recomputes_per_cycle.min >= 1.0);
}

#[test]
fn bad_parameters_are_errors_not_panics() {
    let c = config(1000.0, 0.1, 1.0, 1);
    assert!(
        run_strategy(
            &ModelConfig {
                read_rate: -1.0,
                ..c
            },
            &Strategy::PlainTtl
        )
        .is_err()
    );
    assert!(run_strategy(&c, &Strategy::XFetch { beta: f64::NAN }).is_err());
    assert!(run_strategy(&c, &Strategy::RefreshAhead { fraction: 2.0 }).is_err());
    let huge = ModelConfig {
        read_rate: 1e9,
        ttl: 1e6,
        ..c
    };
    assert!(matches!(
        run_strategy(&huge, &Strategy::PlainTtl),
        Err(cache_sim::SimError::TooLarge { .. })
    ));
}
