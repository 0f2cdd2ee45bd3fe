//! Engine validation against a league generated with known strengths.

use super::*;
use crate::domain::{Date, PlayedMatch, SyntheticLeague, SyntheticLeagueConfig, synthetic_league};

fn league(teams: usize, seasons: usize, rho: f64, seed: u64) -> SyntheticLeague {
    synthetic_league(&SyntheticLeagueConfig {
        teams,
        seasons,
        rho,
        seed,
        ..Default::default()
    })
    .unwrap()
}

fn far_future() -> Date {
    jiff::civil::date(2100, 1, 1)
}

/// Asserts every fitted strength lies within 4.5 of its own standard errors of the truth.
/// With ≈ 40 parameters, P(any |z| > 4.5) ≈ 40 · 6.8e-6 ≈ 3e-4.
fn assert_recovers(model: ModelKind, league: &SyntheticLeague) {
    let data = Dataset::from_results(&league.results);
    let truth = &league.truth;
    let (fitted, se) =
        fit_with_standard_errors(&data, &FitOptions::new(model, 0.0, far_future())).unwrap();
    assert!(
        fitted.converged,
        "{model}: not converged after {} iterations",
        fitted.iterations
    );
    assert!(
        fitted.iterations <= 20,
        "{model}: {} iterations",
        fitted.iterations
    );
    let check = |what: String, got: f64, want: f64, sd: f64| {
        assert!(
            sd > 0.0 && sd < 0.2,
            "{what}: implausible standard error {sd}"
        );
        assert!(
            (got - want).abs() <= 4.5 * sd,
            "{what}: fitted {got:.4}, true {want:.4}, sd {sd:.4}"
        );
    };
    for (t, team) in truth.teams.iter().enumerate() {
        let i = data.team_index(team).unwrap() as usize;
        check(
            format!("{model} attack {team}"),
            fitted.attack[i],
            truth.attack[t],
            se.attack[i],
        );
        check(
            format!("{model} defence {team}"),
            fitted.defence[i],
            truth.defence[t],
            se.defence[i],
        );
    }
    check(
        format!("{model} home advantage"),
        fitted.home_advantage,
        truth.home_advantage,
        se.home_advantage,
    );
    if model == ModelKind::DixonColes {
        check(format!("{model} rho"), fitted.rho, truth.rho, se.rho);
    }
    assert!(fitted.attack.iter().sum::<f64>().abs() < 1e-12);
    assert!(fitted.defence.iter().sum::<f64>().abs() < 1e-12);
    // A stated absolute tolerance as well: RMS error of the strengths below 0.1 on the log scale
    // (the standard errors here are ≈ 0.05).
    let rms = (truth.attack.iter().zip(&truth.teams))
        .chain(truth.defence.iter().zip(&truth.teams))
        .enumerate()
        .map(|(k, (want, team))| {
            let i = data.team_index(team).unwrap() as usize;
            let got = if k < truth.teams.len() {
                fitted.attack[i]
            } else {
                fitted.defence[i]
            };
            (got - want).powi(2)
        })
        .sum::<f64>()
        / (2 * truth.teams.len()) as f64;
    assert!(
        rms.sqrt() < 0.1,
        "{model}: RMS strength error {}",
        rms.sqrt()
    );
}

#[test]
fn dixon_coles_recovers_true_strengths_and_rho() {
    assert_recovers(ModelKind::DixonColes, &league(16, 8, -0.1, 11));
}

#[test]
fn poisson_recovers_true_strengths() {
    assert_recovers(ModelKind::Poisson, &league(16, 8, 0.0, 12));
}

#[test]
fn every_market_sums_to_one_for_every_fixture_and_config() {
    let league = league(8, 2, -0.08, 3);
    let data = Dataset::from_results(&league.results);
    let engine = DixonColesEngine::default();
    let configs = [
        ModelConfig::default(),
        ModelConfig {
            model: ModelKind::Poisson,
            max_goals: 3,
            xi: 0.0,
            top_scores: 1,
        },
        ModelConfig {
            model: ModelKind::DixonColes,
            max_goals: 25,
            xi: 0.05,
            top_scores: 20,
        },
    ];
    for config in &configs {
        for fixture in league.fixtures.iter().take(12) {
            let p = engine.predict(&data, fixture, config).unwrap();
            for sum in p.markets.sums() {
                assert!(
                    (sum - 1.0).abs() < 1e-9,
                    "{sum} for {} {config:?}",
                    fixture.id
                );
            }
            // The cut mass is the Poisson tail outside the grid (τ only moves mass inside it).
            let cdf = |l: f64| {
                let mut term = (-l).exp();
                let mut sum = term;
                for k in 1..=u32::from(config.max_goals) {
                    term *= l / f64::from(k);
                    sum += term;
                }
                sum
            };
            let tail = 1.0 - cdf(p.expected_goals.home) * cdf(p.expected_goals.away);
            assert!(
                (p.truncated_mass - tail).abs() < 1e-9,
                "{} vs {tail}",
                p.truncated_mass
            );
            assert_eq!(
                (p.match_id.as_str(), p.config),
                (fixture.id.as_str(), *config)
            );
            assert!(p.model.converged);
        }
    }
}

#[test]
fn prediction_round_trips_through_json_bit_exact() {
    let league = league(6, 1, -0.05, 5);
    let data = Dataset::from_results(&league.results);
    let p = DixonColesEngine::default()
        .predict(&data, &league.fixtures[3], &ModelConfig::default())
        .unwrap();
    let text = serde_json::to_string(&p).unwrap();
    let back: Prediction = serde_json::from_str(&text).unwrap();
    assert_eq!(back, p);
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
}

#[test]
fn time_decay_follows_recent_form() {
    // "A" lost everything long ago and won everything recently; decay must raise its attack.
    let day = |d: i32| crate::domain::add_days(jiff::civil::date(2024, 1, 1), d);
    let mut results = Vec::new();
    for k in 0..40 {
        let (old, recent) = (day(k), day(600 + k));
        let opp = if k % 2 == 0 { "B" } else { "C" };
        results.push(PlayedMatch {
            competition: crate::domain::DEFAULT_COMPETITION.to_owned(),
            date: old,
            home: "A".into(),
            away: opp.into(),
            home_goals: 0,
            away_goals: 2,
        });
        results.push(PlayedMatch {
            competition: crate::domain::DEFAULT_COMPETITION.to_owned(),
            date: recent,
            home: "A".into(),
            away: opp.into(),
            home_goals: 3,
            away_goals: 0,
        });
        results.push(PlayedMatch {
            competition: crate::domain::DEFAULT_COMPETITION.to_owned(),
            date: old,
            home: "B".into(),
            away: "C".into(),
            home_goals: 1,
            away_goals: 1,
        });
    }
    let data = Dataset::from_results(&results);
    let a = data.team_index("A").unwrap() as usize;
    let at = |xi: f64| fit(&data, &FitOptions::new(ModelKind::Poisson, xi, day(650))).unwrap();
    let (flat, decayed) = (at(0.0), at(0.01));
    // The MLE matches A's (weighted) goals: 1.5 a match unweighted; with ξ = 0.01 the old games
    // weigh e^-6 ≈ 0.0025 against ≈ 0.7, so almost only the recent 3-0s count.
    let home_mean = |m: &FittedModel| {
        let (b, c) = (
            data.team_index("B").unwrap() as usize,
            data.team_index("C").unwrap() as usize,
        );
        (m.expected_goals(a, b).0 + m.expected_goals(a, c).0) / 2.0
    };
    assert!(
        (home_mean(&flat) - 1.5).abs() < 0.01,
        "{}",
        home_mean(&flat)
    );
    assert!(
        home_mean(&decayed) > 2.9 && home_mean(&decayed) < 3.0,
        "{}",
        home_mean(&decayed)
    );
    assert!(decayed.attack[a] > flat.attack[a]);
    assert_eq!(flat.effective_matches, 120.0);
    assert!(decayed.effective_matches < 60.0);
}

#[test]
fn degenerate_data_gives_errors_not_panics() {
    let engine = DixonColesEngine::default();
    let fixture = |home: &str, away: &str| Fixture {
        competition: crate::domain::DEFAULT_COMPETITION.to_owned(),
        id: "1".into(),
        date: far_future(),
        home: home.into(),
        away: away.into(),
    };
    let empty = Dataset::new();
    assert!(matches!(
        engine.predict(&empty, &fixture("A", "B"), &ModelConfig::default()),
        Err(EngineError::UnknownTeam(_))
    ));
    let mut teams_only = Dataset::new();
    teams_only.ensure_team("A", crate::domain::DEFAULT_COMPETITION);
    teams_only.ensure_team("B", crate::domain::DEFAULT_COMPETITION);
    assert!(matches!(
        engine.predict(&teams_only, &fixture("A", "B"), &ModelConfig::default()),
        Err(EngineError::Fit(FitError::NoData))
    ));
    // A team that never scored, and a goalless league: finite thanks to the weak prior.
    let d = crate::domain::add_days(far_future(), -10);
    let goalless = [("A", "B"), ("B", "C"), ("C", "A")].map(|(h, a)| PlayedMatch {
        competition: crate::domain::DEFAULT_COMPETITION.to_owned(),
        date: d,
        home: h.into(),
        away: a.into(),
        home_goals: 0,
        away_goals: 0,
    });
    let data = Dataset::from_results(&goalless);
    let p = engine
        .predict(&data, &fixture("A", "C"), &ModelConfig::default())
        .unwrap();
    assert!(p.expected_goals.home.is_finite() && p.markets.match_result.draw > 0.5);
    let bad = ModelConfig {
        max_goals: 0,
        ..Default::default()
    };
    assert!(matches!(
        engine.predict(&data, &fixture("A", "C"), &bad),
        Err(EngineError::InvalidConfig(_))
    ));
}

#[test]
fn a_result_in_one_competition_changes_no_prediction_of_another() {
    let league = synthetic_league(&SyntheticLeagueConfig {
        competitions: 2,
        teams: 6,
        seasons: 2,
        ..Default::default()
    })
    .unwrap();
    let mut data = Dataset::from_results(&league.results);
    for f in &league.fixtures {
        data.register_fixture(f);
    }
    let in_competition = |name: &str| {
        league
            .fixtures
            .iter()
            .find(|f| f.competition == name)
            .unwrap()
            .clone()
    };
    let (premier, northern) = (
        in_competition("Premier Division"),
        in_competition("Northern League"),
    );
    let engine = DixonColesEngine::default();
    let config = ModelConfig::default();
    let before_p = engine.predict(&data, &premier, &config).unwrap();
    let before_n = engine.predict(&data, &northern, &config).unwrap();

    // The Premier Division fixture's home side wins 9-0 the day before.
    let result = PlayedMatch {
        competition: premier.competition.clone(),
        date: crate::domain::add_days(premier.date, -1),
        home: premier.home.clone(),
        away: premier.away.clone(),
        home_goals: 9,
        away_goals: 0,
    };
    let after = data.with_result(&result);
    let after_p = engine.predict(&after, &premier, &config).unwrap();
    let after_n = engine.predict(&after, &northern, &config).unwrap();
    assert!(
        after_p.model.home_team.attack > before_p.model.home_team.attack,
        "the result counts in its own competition"
    );
    assert_eq!(after_p.model.matches_used, before_p.model.matches_used + 1);
    // Not one number of the other competition's prediction moves (only the data version).
    assert_eq!(after_n.data_version, before_n.data_version + 1);
    assert_eq!(
        Prediction {
            data_version: before_n.data_version,
            ..after_n
        },
        before_n
    );
    // The fit of a competition is the fit of its results alone.
    let alone = Dataset::from_results(
        league
            .results
            .iter()
            .filter(|r| r.competition == "Northern League"),
    );
    let solo = engine.predict(&alone, &northern, &config).unwrap();
    assert_eq!(solo.markets, before_n.markets);
    assert_eq!(solo.model, before_n.model);
    assert_eq!(before_n.model.matches_used, alone.results().len());
}
