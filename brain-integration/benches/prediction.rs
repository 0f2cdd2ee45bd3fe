//! What one prediction costs: the full fit plus the markets, on the league the service starts
//! with (24 teams, 2,208 results), and the score matrix and markets alone.
//!
//! IDs: `prediction/dixon-coles`, `prediction/poisson`, `prediction/dixon-coles-no-decay`,
//! `markets/max_goals_10`.

use std::hint::black_box;

use brain_integration::domain::{Dataset, SyntheticLeagueConfig, synthetic_league};
use brain_integration::engine::{
    DixonColesEngine, Markets, ModelConfig, ModelKind, PredictionEngine, ScoreMatrix,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn prediction(c: &mut Criterion) {
    let league = synthetic_league(&SyntheticLeagueConfig::default()).unwrap();
    let data = Dataset::from_results(&league.results);
    let fixture = &league.fixtures[0];
    let engine = DixonColesEngine::default();
    let mut group = c.benchmark_group("prediction");
    for (name, config) in [
        ("dixon-coles", ModelConfig::default()),
        (
            "poisson",
            ModelConfig {
                model: ModelKind::Poisson,
                ..ModelConfig::default()
            },
        ),
        (
            "dixon-coles-no-decay",
            ModelConfig {
                xi: 0.0,
                ..ModelConfig::default()
            },
        ),
    ] {
        let p = engine.predict(&data, fixture, &config).unwrap();
        assert!(p.model.converged, "{name} did not converge");
        group.bench_function(name, |b| {
            b.iter(|| engine.predict(black_box(&data), fixture, &config).unwrap())
        });
    }
    group.finish();
    c.bench_function("markets/max_goals_10", |b| {
        b.iter(|| {
            Markets::from_matrix(
                &ScoreMatrix::new(black_box(1.6), black_box(1.1), -0.08, 10),
                5,
            )
        })
    });
}

criterion_group!(benches, prediction);
criterion_main!(benches);
