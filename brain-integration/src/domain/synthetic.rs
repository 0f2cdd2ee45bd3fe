//! A seeded synthetic league, so the service runs with no data file and the engine can be checked
//! against known truth.
//!
//! The generating model is the one the engine fits (Dixon–Coles):
//!
//! - home goals `X ~ Poisson(λ)`, `ln λ = intercept + home_advantage + attack[home] − defence[away]`;
//! - away goals `Y ~ Poisson(μ)`, `ln μ = intercept + attack[away] − defence[home]`;
//! - the pair is drawn from the Poisson product reweighted by the low-score factor `τ(x, y; ρ)`
//!   (rejection sampling, exact);
//! - `attack` and `defence` are drawn `Normal(0, sd)` and then centred (they sum to zero, the
//!   engine's identifiability constraint), so [`TrueStrengths`] is directly comparable to a fit.
//!
//! Each season is a double round robin (circle method), one round a week; the played seasons are
//! results, the season after them is the fixture list (ids `1`, `2`, … in date order within a
//! competition, one competition after the other). Each competition has its own teams and its own
//! strengths (competition `k` draws from seed `seed + k`).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Poisson, Uniform};

use super::date::{Date, add_days};
use super::matches::{Fixture, PlayedMatch};
use crate::engine::dixon_coles_tau;

/// How to generate a league. [`Default`] is one competition; the service starts with two
/// (`BRAIN_COMPETITIONS`).
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticLeagueConfig {
    /// Number of competitions, each with `teams` teams of its own (1 to 8).
    pub competitions: usize,
    /// Number of teams per competition (even, at least 2).
    pub teams: usize,
    /// Played seasons (results); the season after them becomes the fixtures.
    pub seasons: usize,
    /// RNG seed: the same seed gives the same league.
    pub seed: u64,
    /// Log-scale intercept (an average away side scores `e^intercept` goals).
    pub intercept: f64,
    /// Log-scale home advantage.
    pub home_advantage: f64,
    /// Standard deviation of the attack strengths.
    pub attack_sd: f64,
    /// Standard deviation of the defence strengths.
    pub defence_sd: f64,
    /// Dixon–Coles low-score dependence ρ (0: independent Poisson).
    pub rho: f64,
    /// First match day of the first season.
    pub first_match_day: Date,
}

impl Default for SyntheticLeagueConfig {
    /// 24 teams, 4 played seasons (2,208 results) and 552 fixtures, seed 2025, intercept 0.15,
    /// home advantage 0.25, strength sd 0.3, ρ = −0.08, first match day 2021-08-14.
    fn default() -> Self {
        SyntheticLeagueConfig {
            competitions: 1,
            teams: 24,
            seasons: 4,
            seed: 2025,
            intercept: 0.15,
            home_advantage: 0.25,
            attack_sd: 0.3,
            defence_sd: 0.3,
            rho: -0.08,
            first_match_day: jiff::civil::date(2021, 8, 14), // a Saturday
        }
    }
}

/// The parameters a synthetic league was generated with.
#[derive(Debug, Clone, PartialEq)]
pub struct TrueStrengths {
    /// The competition.
    pub competition: String,
    /// Team names; index `i` is team `i` in `attack` and `defence`.
    pub teams: Vec<String>,
    /// Attack strengths (centred: they sum to zero).
    pub attack: Vec<f64>,
    /// Defence strengths (centred; higher concedes fewer).
    pub defence: Vec<f64>,
    /// Log-scale home advantage.
    pub home_advantage: f64,
    /// Log-scale intercept.
    pub intercept: f64,
    /// Low-score dependence ρ.
    pub rho: f64,
}

/// A generated league: the truth, the played results and the fixtures.
#[derive(Debug, Clone)]
pub struct SyntheticLeague {
    /// The generating parameters of the first competition.
    pub truth: TrueStrengths,
    /// The generating parameters of every competition, in order (the first is `truth`).
    pub truths: Vec<TrueStrengths>,
    /// Played matches, in date order.
    pub results: Vec<PlayedMatch>,
    /// Matches to predict (the season after the results).
    pub fixtures: Vec<Fixture>,
}

/// Why a configuration cannot generate a league.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid synthetic league: {0}")]
pub struct SyntheticLeagueError(String);

const NAMES: [&str; 24] = [
    "Ashford Athletic",
    "Barrow Rovers",
    "Castleton City",
    "Dunmore United",
    "Eastbridge Town",
    "Fenwick Wanderers",
    "Glenhaven Albion",
    "Harrowgate Harriers",
    "Ironford Forest",
    "Jesmond Park",
    "Kingsmere Rangers",
    "Longmoor Villa",
    "Millbrook County",
    "Northvale Orient",
    "Oakridge Argyle",
    "Portsea Borough",
    "Queensbury Alexandra",
    "Redcliffe Rovers",
    "Stanmore Sporting",
    "Thornbury Town",
    "Upton Wednesday",
    "Valeford Vale",
    "Westhaven Hotspur",
    "Yarmouth Academicals",
];

/// The second competition's teams.
const NAMES_2: [&str; 24] = [
    "Abbotsley Alliance",
    "Brackwood Borough",
    "Colnbrook Colliery",
    "Dalesford Dynamo",
    "Elmstead Excelsior",
    "Foxley Forge",
    "Greystone Granite",
    "Hollins Heath",
    "Ivybridge Iron",
    "Juniper Vale",
    "Kelmscott Corinthians",
    "Lydford Lions",
    "Marlow Mariners",
    "Netherby Nomads",
    "Ormsby Olympic",
    "Penrith Pilgrims",
    "Quarrybank Quakers",
    "Rushden Railway",
    "Sedgefield Swifts",
    "Tamworth Tigers",
    "Ullswater United",
    "Ventnor Victoria",
    "Whitby Wolves",
    "Yeadon Yeomen",
];

/// Competition names, in order.
const COMPETITIONS: [&str; 2] = ["Premier Division", "Northern League"];

fn competition_name(k: usize) -> String {
    COMPETITIONS
        .get(k)
        .map_or_else(|| format!("Division {}", k + 1), |s| (*s).to_owned())
}

fn team_name(competition: usize, i: usize) -> String {
    let names: &[&str] = match competition {
        0 => &NAMES,
        1 => &NAMES_2,
        _ => &[],
    };
    names.get(i).map_or_else(
        || format!("Team {}-{}", competition + 1, i + 1),
        |s| (*s).to_owned(),
    )
}

/// Generates a league (deterministic for a given configuration).
///
/// ```
/// use brain_integration::domain::{SyntheticLeagueConfig, synthetic_league};
/// let league = synthetic_league(&SyntheticLeagueConfig { teams: 4, seasons: 1, ..Default::default() }).unwrap();
/// assert_eq!(league.results.len(), 12);
/// assert_eq!(league.fixtures.len(), 12);
/// assert!(league.truth.attack.iter().sum::<f64>().abs() < 1e-12);
/// ```
pub fn synthetic_league(
    config: &SyntheticLeagueConfig,
) -> Result<SyntheticLeague, SyntheticLeagueError> {
    let n = config.teams;
    if n < 2 || n % 2 != 0 {
        return Err(SyntheticLeagueError(format!(
            "teams must be even and at least 2, got {n}"
        )));
    }
    if n > 1000 || config.seasons > 100 {
        return Err(SyntheticLeagueError(
            "at most 1000 teams and 100 seasons".into(),
        ));
    }
    if !(1..=8).contains(&config.competitions) {
        return Err(SyntheticLeagueError(format!(
            "competitions must be from 1 to 8, got {}",
            config.competitions
        )));
    }
    let finite = [
        config.intercept,
        config.home_advantage,
        config.attack_sd,
        config.defence_sd,
        config.rho,
    ];
    if finite.iter().any(|x| !x.is_finite()) || config.attack_sd < 0.0 || config.defence_sd < 0.0 {
        return Err(SyntheticLeagueError(
            "parameters must be finite, sds non-negative".into(),
        ));
    }
    let rounds = double_round_robin(n);
    let mut truths = Vec::with_capacity(config.competitions);
    let mut results = Vec::with_capacity(config.competitions * config.seasons * n * (n - 1));
    let mut fixtures = Vec::with_capacity(config.competitions * n * (n - 1));
    for k in 0..config.competitions {
        let mut rng = StdRng::seed_from_u64(config.seed.wrapping_add(k as u64));
        let competition = competition_name(k);
        let attack = centred(n, config.attack_sd, &mut rng)?;
        let defence = centred(n, config.defence_sd, &mut rng)?;
        let truth = TrueStrengths {
            competition: competition.clone(),
            teams: (0..n).map(|i| team_name(k, i)).collect(),
            attack,
            defence,
            home_advantage: config.home_advantage,
            intercept: config.intercept,
            rho: config.rho,
        };
        for season in 0..=config.seasons {
            let season_start = add_days(config.first_match_day, 364 * season as i32);
            for (round, pairs) in rounds.iter().enumerate() {
                let date = add_days(season_start, 7 * round as i32);
                for &(h, a) in pairs {
                    let (home, away) = (truth.teams[h].clone(), truth.teams[a].clone());
                    let competition = competition.clone();
                    if season == config.seasons {
                        let id = (fixtures.len() + 1).to_string();
                        fixtures.push(Fixture {
                            id,
                            competition,
                            date,
                            home,
                            away,
                        });
                    } else {
                        let (home_goals, away_goals) = draw_score(&truth, h, a, &mut rng)?;
                        results.push(PlayedMatch {
                            competition,
                            date,
                            home,
                            away,
                            home_goals,
                            away_goals,
                        });
                    }
                }
            }
        }
        truths.push(truth);
    }
    // Competitions play on the same days: one time line (stable: each competition's order kept).
    results.sort_by_key(|r| r.date);
    Ok(SyntheticLeague {
        truth: truths[0].clone(),
        truths,
        results,
        fixtures,
    })
}

fn centred(n: usize, sd: f64, rng: &mut StdRng) -> Result<Vec<f64>, SyntheticLeagueError> {
    let normal = Normal::new(0.0, sd).map_err(|e| SyntheticLeagueError(e.to_string()))?;
    let mut v: Vec<f64> = (0..n).map(|_| normal.sample(rng)).collect();
    let mean = v.iter().sum::<f64>() / n as f64;
    v.iter_mut().for_each(|x| *x -= mean);
    Ok(v)
}

/// Draws one score from the Dixon–Coles distribution by rejection from the Poisson product.
fn draw_score(
    truth: &TrueStrengths,
    home: usize,
    away: usize,
    rng: &mut StdRng,
) -> Result<(u16, u16), SyntheticLeagueError> {
    let lambda =
        (truth.intercept + truth.home_advantage + truth.attack[home] - truth.defence[away]).exp();
    let mu = (truth.intercept + truth.attack[away] - truth.defence[home]).exp();
    let rho = truth.rho;
    let cells =
        [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(x, y)| dixon_coles_tau(x, y, lambda, mu, rho));
    if cells.iter().any(|&t| t < 0.0) {
        return Err(SyntheticLeagueError(format!(
            "rho {rho} gives a negative probability"
        )));
    }
    let bound = cells.iter().fold(1.0f64, |m, &t| m.max(t));
    let bad = |e: rand_distr::PoissonError| SyntheticLeagueError(e.to_string());
    let (px, py) = (
        Poisson::new(lambda).map_err(bad)?,
        Poisson::new(mu).map_err(bad)?,
    );
    let accept = Uniform::new(0.0, bound).map_err(|e| SyntheticLeagueError(e.to_string()))?;
    loop {
        let x = px.sample(rng).min(99.0) as u32;
        let y = py.sample(rng).min(99.0) as u32;
        if accept.sample(rng) < dixon_coles_tau(x, y, lambda, mu, rho) {
            return Ok((x as u16, y as u16));
        }
    }
}

/// Rounds of a double round robin for `n` (even) teams: `(home, away)` index pairs. The second
/// half repeats the first with venues swapped; home and away alternate for the rotating teams.
fn double_round_robin(n: usize) -> Vec<Vec<(usize, usize)>> {
    let mut ring: Vec<usize> = (0..n).collect();
    let mut first_half = Vec::with_capacity(n - 1);
    for round in 0..n - 1 {
        let pairs = (0..n / 2)
            .map(|i| {
                let (a, b) = (ring[i], ring[n - 1 - i]);
                if (round + i) % 2 == 0 { (a, b) } else { (b, a) }
            })
            .collect();
        first_half.push(pairs);
        ring[1..].rotate_right(1);
    }
    let second_half: Vec<Vec<(usize, usize)>> = first_half
        .iter()
        .map(|r: &Vec<(usize, usize)>| r.iter().map(|&(h, a)| (a, h)).collect())
        .collect();
    first_half.into_iter().chain(second_half).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn schedule_is_a_double_round_robin() {
        for n in [2, 4, 6, 20] {
            let rounds = double_round_robin(n);
            assert_eq!(rounds.len(), 2 * (n - 1));
            let mut seen = HashSet::new();
            for round in &rounds {
                let mut playing = HashSet::new();
                for &(h, a) in round {
                    assert_ne!(h, a);
                    assert!(
                        playing.insert(h) && playing.insert(a),
                        "team twice in a round"
                    );
                    assert!(seen.insert((h, a)), "pairing repeated");
                }
                assert_eq!(playing.len(), n);
            }
            assert_eq!(seen.len(), n * (n - 1), "every ordered pair once");
        }
    }

    #[test]
    fn same_seed_same_league_and_defaults_shape() {
        let cfg = SyntheticLeagueConfig::default();
        let a = synthetic_league(&cfg).unwrap();
        let b = synthetic_league(&cfg).unwrap();
        assert_eq!(a.results, b.results);
        assert_eq!(a.truth, b.truth);
        assert_eq!(a.results.len(), 4 * 24 * 23);
        assert_eq!(a.fixtures.len(), 24 * 23);
        assert!(a.results.last().unwrap().date < a.fixtures[0].date);
        assert_eq!(a.fixtures[0].date.to_string(), "2025-08-09");
        let other = synthetic_league(&SyntheticLeagueConfig {
            seed: 7,
            ..cfg.clone()
        })
        .unwrap();
        assert_ne!(a.results, other.results);
    }

    #[test]
    fn two_competitions_have_their_own_teams_and_keep_the_first_as_it_was() {
        let one = synthetic_league(&SyntheticLeagueConfig::default()).unwrap();
        let two = synthetic_league(&SyntheticLeagueConfig {
            competitions: 2,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(two.truths.len(), 2);
        assert_eq!(two.truth, one.truth, "the first competition is unchanged");
        assert_eq!(two.results.len(), 2 * one.results.len());
        assert_eq!(two.fixtures.len(), 2 * one.fixtures.len());
        assert!(two.results.windows(2).all(|w| w[0].date <= w[1].date));
        let first: Vec<&PlayedMatch> = two
            .results
            .iter()
            .filter(|r| r.competition == "Premier Division")
            .collect();
        assert_eq!(first.len(), one.results.len());
        assert!(first.iter().zip(&one.results).all(|(a, b)| *a == b));
        let second = &two.truths[1];
        assert_eq!(second.competition, "Northern League");
        assert!(second.teams.iter().all(|t| !one.truth.teams.contains(t)));
        assert_ne!(second.attack, one.truth.attack);
        let ids: HashSet<&str> = two.fixtures.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids.len(), two.fixtures.len(), "fixture ids are unique");
        assert_eq!(two.fixtures[552].competition, "Northern League");
    }

    #[test]
    fn mean_goals_match_the_model() {
        // With ρ = 0 the home goals are plain Poisson: their total has mean Σλ and variance Σλ.
        let cfg = SyntheticLeagueConfig {
            rho: 0.0,
            seasons: 10,
            ..Default::default()
        };
        let league = synthetic_league(&cfg).unwrap();
        let t = &league.truth;
        let idx = |name: &str| t.teams.iter().position(|n| n == name).unwrap();
        let (mut expected, mut observed) = (0.0, 0.0);
        for r in &league.results {
            let (h, a) = (idx(&r.home), idx(&r.away));
            expected += (t.intercept + t.home_advantage + t.attack[h] - t.defence[a]).exp();
            observed += f64::from(r.home_goals);
        }
        let bound = 4.5 * expected.sqrt();
        assert!(
            (observed - expected).abs() <= bound,
            "{observed} vs {expected} ± {bound}"
        );
    }

    #[test]
    fn rejects_bad_configs() {
        for cfg in [
            SyntheticLeagueConfig {
                teams: 3,
                ..Default::default()
            },
            SyntheticLeagueConfig {
                teams: 0,
                ..Default::default()
            },
            SyntheticLeagueConfig {
                attack_sd: f64::NAN,
                ..Default::default()
            },
            SyntheticLeagueConfig {
                competitions: 0,
                ..Default::default()
            },
            SyntheticLeagueConfig {
                competitions: 9,
                ..Default::default()
            },
            SyntheticLeagueConfig {
                rho: 5.0,
                seasons: 1,
                teams: 4,
                ..Default::default()
            },
        ] {
            assert!(synthetic_league(&cfg).is_err(), "{cfg:?}");
        }
    }
}
