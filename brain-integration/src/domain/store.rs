//! The match store port (fixtures and played results) and its in-memory adapter.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde::Serialize;

use super::date::Date;
use super::matches::{Dataset, Fixture, PlayedMatch};

/// What can go wrong in a match store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No fixture has this id.
    #[error("unknown match {0:?}")]
    UnknownMatch(String),
    /// A result names a team the store does not know (a typo would otherwise create a team).
    #[error("unknown team {0:?}")]
    UnknownTeam(String),
    /// A result or fixture where a team plays itself.
    #[error("a team cannot play itself ({0:?})")]
    SameTeam(String),
    /// Two fixtures share an id.
    #[error("duplicate match id {0:?}")]
    DuplicateId(String),
    /// A result's competition is unknown, or cannot be told from its teams.
    #[error("{0}")]
    Competition(String),
    /// The store itself failed (a database adapter would say why).
    #[error("match store unavailable: {0}")]
    Unavailable(String),
}

/// A result to record: either the score of a known fixture (which then leaves the fixture list),
/// or a match given in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewResult {
    /// Settles fixture `match_id` with this score.
    Fixture {
        /// Id of the fixture that was played.
        match_id: String,
        /// Full-time home goals.
        home_goals: u16,
        /// Full-time away goals.
        away_goals: u16,
    },
    /// A played match given in full (its teams must be known).
    Match {
        /// The competition; `None`: the one competition both teams play in.
        competition: Option<String>,
        /// Match day.
        date: Date,
        /// Home team.
        home: String,
        /// Away team.
        away: String,
        /// Full-time home goals.
        home_goals: u16,
        /// Full-time away goals.
        away_goals: u16,
    },
}

/// What recording a result did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedResult {
    /// The result as stored.
    pub result: PlayedMatch,
    /// The data version after the change.
    pub data_version: u64,
    /// The fixture it settled, if any.
    pub settled_fixture: Option<String>,
}

/// The match store port: fixtures to predict and the played results models are fitted on.
///
/// Async so that a database adapter fits; the in-memory adapter answers at once.
#[async_trait]
pub trait MatchStore: Send + Sync + Debug + 'static {
    /// Every fixture still to be played, in date order.
    async fn fixtures(&self) -> Result<Arc<Vec<Fixture>>, StoreError>;

    /// One fixture by id.
    async fn fixture(&self, id: &str) -> Result<Option<Fixture>, StoreError>;

    /// Whether a fixture has this id (on every request's path: adapters can answer without
    /// building the fixture).
    async fn contains_fixture(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.fixture(id).await?.is_some())
    }

    /// The current results snapshot (its version and fingerprint change with every added
    /// result).
    async fn dataset(&self) -> Result<Arc<Dataset>, StoreError>;

    /// Records a played match; the data version goes up by one.
    async fn record_result(&self, result: NewResult) -> Result<RecordedResult, StoreError>;
}

#[derive(Debug)]
struct State {
    dataset: Arc<Dataset>,
    fixtures: Arc<Vec<Fixture>>,
    /// Fixture id → position in `fixtures` (lookups are on every request's path).
    by_id: HashMap<String, usize>,
}

impl State {
    fn new(dataset: Arc<Dataset>, fixtures: Vec<Fixture>) -> Self {
        let by_id = fixtures
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id.clone(), i))
            .collect();
        State {
            dataset,
            fixtures: Arc::new(fixtures),
            by_id,
        }
    }
}

/// The in-memory adapter: a snapshot behind a lock, replaced (copy-on-write) on each result.
#[derive(Debug)]
pub struct InMemoryMatchStore {
    state: RwLock<State>,
}

impl InMemoryMatchStore {
    /// A store holding `results` and `fixtures` (teams appearing only in fixtures are registered,
    /// so they can be predicted from the prior alone).
    pub fn new(results: &[PlayedMatch], mut fixtures: Vec<Fixture>) -> Result<Self, StoreError> {
        let mut dataset = Dataset::new();
        for r in results {
            if r.home == r.away {
                return Err(StoreError::SameTeam(r.home.clone()));
            }
            dataset.push(r);
        }
        let mut seen = HashMap::with_capacity(fixtures.len());
        for f in &fixtures {
            if f.home == f.away {
                return Err(StoreError::SameTeam(f.home.clone()));
            }
            if seen.insert(f.id.as_str(), ()).is_some() {
                return Err(StoreError::DuplicateId(f.id.clone()));
            }
            dataset.register_fixture(f);
        }
        fixtures.sort_by_key(|f| f.date);
        Ok(InMemoryMatchStore {
            state: RwLock::new(State::new(Arc::new(dataset), fixtures)),
        })
    }

    fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        // A poisoned lock only means a panic elsewhere mid-read; the snapshot itself is immutable.
        let guard = self.state.read().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }
}

#[async_trait]
impl MatchStore for InMemoryMatchStore {
    async fn fixtures(&self) -> Result<Arc<Vec<Fixture>>, StoreError> {
        Ok(self.read(|s| s.fixtures.clone()))
    }

    async fn fixture(&self, id: &str) -> Result<Option<Fixture>, StoreError> {
        Ok(self.read(|s| s.by_id.get(id).map(|&i| s.fixtures[i].clone())))
    }

    async fn contains_fixture(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.read(|s| s.by_id.contains_key(id)))
    }

    async fn dataset(&self) -> Result<Arc<Dataset>, StoreError> {
        Ok(self.read(|s| s.dataset.clone()))
    }

    async fn record_result(&self, result: NewResult) -> Result<RecordedResult, StoreError> {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let (played, settled) = match result {
            NewResult::Fixture {
                match_id,
                home_goals,
                away_goals,
            } => {
                let Some(&pos) = state.by_id.get(&match_id) else {
                    return Err(StoreError::UnknownMatch(match_id));
                };
                let f = &state.fixtures[pos];
                let played = PlayedMatch {
                    competition: f.competition.clone(),
                    date: f.date,
                    home: f.home.clone(),
                    away: f.away.clone(),
                    home_goals,
                    away_goals,
                };
                (played, Some(pos))
            }
            NewResult::Match {
                competition,
                date,
                home,
                away,
                home_goals,
                away_goals,
            } => {
                let data = &state.dataset;
                for team in [&home, &away] {
                    if data.team_index(team).is_none() {
                        return Err(StoreError::UnknownTeam(team.clone()));
                    }
                }
                if home == away {
                    return Err(StoreError::SameTeam(home));
                }
                let competition = match competition {
                    Some(c) => {
                        if !data.competitions().contains(&c) {
                            return Err(StoreError::Competition(format!(
                                "unknown competition {c:?}"
                            )));
                        }
                        if let Some(team) =
                            [&home, &away].into_iter().find(|t| !data.plays_in(t, &c))
                        {
                            return Err(StoreError::Competition(format!(
                                "{team:?} does not play in {c:?}"
                            )));
                        }
                        c
                    }
                    None => {
                        let away_in = data.competitions_of(&away);
                        let shared: Vec<&str> = data
                            .competitions_of(&home)
                            .into_iter()
                            .filter(|c| away_in.contains(c))
                            .collect();
                        match shared[..] {
                            [one] => one.to_owned(),
                            [] => {
                                return Err(StoreError::Competition(format!(
                                    "{home:?} and {away:?} play in no common competition"
                                )));
                            }
                            _ => {
                                return Err(StoreError::Competition(format!(
                                    "{home:?} and {away:?} meet in {}: give `competition`",
                                    shared.join(", ")
                                )));
                            }
                        }
                    }
                };
                (
                    PlayedMatch {
                        competition,
                        date,
                        home,
                        away,
                        home_goals,
                        away_goals,
                    },
                    None,
                )
            }
        };
        let dataset = state.dataset.with_result(&played);
        let settled_fixture = match settled {
            Some(pos) => {
                let mut fixtures = state.fixtures.as_ref().clone();
                let f = fixtures.remove(pos);
                *state = State::new(dataset, fixtures);
                Some(f.id)
            }
            None => {
                state.dataset = dataset;
                None
            }
        };
        Ok(RecordedResult {
            result: played,
            data_version: state.dataset.version(),
            settled_fixture,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn store() -> InMemoryMatchStore {
        let results = vec![PlayedMatch {
            competition: crate::domain::DEFAULT_COMPETITION.to_owned(),
            date: day("2024-08-10"),
            home: "A".into(),
            away: "B".into(),
            home_goals: 2,
            away_goals: 1,
        }];
        let fixtures = vec![
            Fixture {
                competition: crate::domain::DEFAULT_COMPETITION.to_owned(),
                id: "2".into(),
                date: day("2024-08-20"),
                home: "C".into(),
                away: "A".into(),
            },
            Fixture {
                competition: crate::domain::DEFAULT_COMPETITION.to_owned(),
                id: "1".into(),
                date: day("2024-08-17"),
                home: "B".into(),
                away: "A".into(),
            },
        ];
        InMemoryMatchStore::new(&results, fixtures).unwrap()
    }

    #[tokio::test]
    async fn fixtures_sorted_and_fixture_only_teams_registered() {
        let s = store();
        let ids: Vec<_> = s
            .fixtures()
            .await
            .unwrap()
            .iter()
            .map(|f| f.id.clone())
            .collect();
        assert_eq!(ids, ["1", "2"]);
        let data = s.dataset().await.unwrap();
        assert_eq!(data.teams(), ["A", "B", "C"]);
        assert_eq!(data.results().len(), 1);
        assert_eq!(s.fixture("2").await.unwrap().unwrap().home, "C");
        assert!(s.fixture("3").await.unwrap().is_none());
        assert!(s.contains_fixture("2").await.unwrap());
        assert!(!s.contains_fixture("3").await.unwrap());
    }

    #[tokio::test]
    async fn settling_a_fixture_bumps_the_version_and_removes_it() {
        let s = store();
        let rec = s
            .record_result(NewResult::Fixture {
                match_id: "1".into(),
                home_goals: 0,
                away_goals: 3,
            })
            .await
            .unwrap();
        assert_eq!(rec.data_version, 1);
        assert_eq!(rec.settled_fixture.as_deref(), Some("1"));
        assert_eq!((rec.result.home.as_str(), rec.result.away_goals), ("B", 3));
        assert!(s.fixture("1").await.unwrap().is_none());
        assert_eq!(s.dataset().await.unwrap().results().len(), 2);
        let again = s
            .record_result(NewResult::Fixture {
                match_id: "1".into(),
                home_goals: 0,
                away_goals: 3,
            })
            .await;
        assert_eq!(again, Err(StoreError::UnknownMatch("1".into())));
    }

    #[tokio::test]
    async fn full_results_need_known_distinct_teams() {
        let s = store();
        let full = |home: &str, away: &str| NewResult::Match {
            competition: None,
            date: day("2024-08-12"),
            home: home.into(),
            away: away.into(),
            home_goals: 1,
            away_goals: 1,
        };
        assert_eq!(
            s.record_result(full("A", "Zed")).await,
            Err(StoreError::UnknownTeam("Zed".into()))
        );
        assert_eq!(
            s.record_result(full("A", "A")).await,
            Err(StoreError::SameTeam("A".into()))
        );
        assert_eq!(
            s.record_result(full("C", "B")).await.unwrap().data_version,
            1
        );
        assert_eq!(s.dataset().await.unwrap().version(), 1);
    }

    #[test]
    fn duplicate_ids_rejected() {
        let f = Fixture {
            competition: crate::domain::DEFAULT_COMPETITION.to_owned(),
            id: "x".into(),
            date: day("2024-01-01"),
            home: "A".into(),
            away: "B".into(),
        };
        let err = InMemoryMatchStore::new(&[], vec![f.clone(), f]).unwrap_err();
        assert_eq!(err, StoreError::DuplicateId("x".into()));
    }
}
