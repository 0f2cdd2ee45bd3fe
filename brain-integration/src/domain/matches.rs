//! Matches: fixtures to predict, played results, and the indexed data set a model is fitted on.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use super::date::{Date, days_since_epoch};

/// The competition of data that names none (a football-data CSV without a `Div` column).
pub const DEFAULT_COMPETITION: &str = "league";

fn default_competition() -> String {
    DEFAULT_COMPETITION.to_owned()
}

/// A match to predict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fixture {
    /// Identifier used in URLs and cache keys (any string; glob characters are escaped in keys).
    pub id: String,
    /// The competition (league) it is played in: its model is fitted on that competition's
    /// results only.
    #[serde(default = "default_competition")]
    pub competition: String,
    /// Match day.
    pub date: Date,
    /// Home team name.
    pub home: String,
    /// Away team name.
    pub away: String,
}

/// A played match with its full-time score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayedMatch {
    /// The competition (league) it was played in.
    #[serde(default = "default_competition")]
    pub competition: String,
    /// Match day.
    pub date: Date,
    /// Home team name.
    pub home: String,
    /// Away team name.
    pub away: String,
    /// Full-time home goals.
    pub home_goals: u16,
    /// Full-time away goals.
    pub away_goals: u16,
}

/// A played match with team indices into [`Dataset::teams`]: what the engine iterates over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedResult {
    /// Index of the competition in [`Dataset::competitions`].
    pub competition: u32,
    /// Match day.
    pub date: Date,
    /// Index of the home team.
    pub home: u32,
    /// Index of the away team.
    pub away: u32,
    /// Full-time home goals.
    pub home_goals: u16,
    /// Full-time away goals.
    pub away_goals: u16,
}

/// An immutable snapshot of the played results, with a version that changes whenever a result
/// is added. Shared by `Arc`, so a fit never holds a lock.
///
/// Besides the per-process counter ([`version`](Dataset::version)) it keeps a
/// [`fingerprint`](Dataset::fingerprint) of its content, for keys that outlive the process.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    version: u64,
    fingerprint: u64,
    teams: Vec<String>,
    index: HashMap<String, u32>,
    results: Vec<IndexedResult>,
    competitions: Vec<String>,
    /// Each competition's own fingerprint: what its predictions depend on (see
    /// [`competition_fingerprint`](Dataset::competition_fingerprint)).
    competition_fingerprints: Vec<u64>,
    competition_index: HashMap<String, u32>,
    /// Each competition's teams (indices into `teams`), in order of first appearance there.
    competition_teams: Vec<Vec<u32>>,
    /// `(competition, team)` pairs present in `competition_teams`.
    membership: HashSet<(u32, u32)>,
    /// Each competition's data, built on first use and shared by every fit of this snapshot
    /// (emptied by any change).
    subsets: Vec<OnceLock<Dataset>>,
}

impl Dataset {
    /// An empty data set at version 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A data set holding `results` (teams indexed in order of first appearance), version 0.
    pub fn from_results<'a>(results: impl IntoIterator<Item = &'a PlayedMatch>) -> Self {
        let mut data = Dataset::new();
        for r in results {
            data.push(r);
        }
        data
    }

    /// The version: 0 for the initial data, plus one for each added result. A counter of this
    /// process: another process (or a restart) with other data has the same versions.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// A hash of everything added so far (teams, results and registered fixtures, in order),
    /// chained: each addition hashes the previous fingerprint with the new item. Equal data gives
    /// an equal fingerprint in every process, so it can key entries in a shared store.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The fingerprint of one competition's data alone: its name, its teams, its results and
    /// its registered fixtures, chained in order. A result in another competition leaves it
    /// unchanged — as it leaves the competition's predictions (one model per competition) — so
    /// it can key a competition's entries in a shared store. An unknown competition gives the
    /// whole data set's [`fingerprint`](Self::fingerprint).
    pub fn competition_fingerprint(&self, name: &str) -> u64 {
        self.competition_index
            .get(name)
            .and_then(|&c| self.competition_fingerprints.get(c as usize))
            .copied()
            .unwrap_or(self.fingerprint)
    }

    /// `fingerprint' = xxh3(fingerprint || tag || fields)`; strings are length-prefixed so
    /// that no two items hash the same bytes.
    fn mix(&mut self, tag: u8, strings: &[&str], numbers: &[i64]) {
        self.fingerprint = chain(self.fingerprint, tag, strings, numbers);
        self.changed();
    }

    /// [`mix`](Self::mix), into competition `c`'s own fingerprint as well.
    fn mix_in(&mut self, c: u32, tag: u8, strings: &[&str], numbers: &[i64]) {
        if let Some(own) = self.competition_fingerprints.get_mut(c as usize) {
            *own = chain(*own, tag, strings, numbers);
        }
        self.mix(tag, strings, numbers);
    }

    /// Forgets the competition subsets built for the data as it was.
    fn changed(&mut self) {
        self.subsets.clear();
        if self.competitions.len() > 1 {
            self.subsets
                .resize_with(self.competitions.len(), OnceLock::new);
        }
    }

    /// Team names; a team's index is its position here.
    pub fn teams(&self) -> &[String] {
        &self.teams
    }

    /// The index of a team, if it appears in the data.
    pub fn team_index(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// The played results.
    pub fn results(&self) -> &[IndexedResult] {
        &self.results
    }

    /// Competition names; a competition's index is its position here.
    pub fn competitions(&self) -> &[String] {
        &self.competitions
    }

    /// Whether `team` has a result or a fixture in `competition`.
    pub fn plays_in(&self, team: &str, competition: &str) -> bool {
        match (
            self.index.get(team),
            self.competition_index.get(competition),
        ) {
            (Some(&t), Some(&c)) => self.membership.contains(&(c, t)),
            _ => false,
        }
    }

    /// The competitions `team` has a result or a fixture in.
    pub fn competitions_of(&self, team: &str) -> Vec<&str> {
        let Some(&t) = self.index.get(team) else {
            return Vec::new();
        };
        self.competitions
            .iter()
            .enumerate()
            .filter(|(c, _)| self.membership.contains(&(*c as u32, t)))
            .map(|(_, name)| name.as_str())
            .collect()
    }

    /// The data of one competition: its teams (re-indexed in order of first appearance there)
    /// and its results only, same version and fingerprint. Built once per snapshot and
    /// competition; the data set itself when it holds one competition. An unknown competition
    /// gives an empty data set.
    pub fn competition(&self, name: &str) -> Cow<'_, Dataset> {
        let Some(&c) = self.competition_index.get(name) else {
            return Cow::Owned(Dataset {
                version: self.version,
                fingerprint: self.fingerprint,
                ..Dataset::default()
            });
        };
        if self.competitions.len() == 1 {
            return Cow::Borrowed(self);
        }
        match self.subsets.get(c as usize) {
            Some(cell) => Cow::Borrowed(cell.get_or_init(|| self.restricted_to(c, name))),
            None => Cow::Owned(self.restricted_to(c, name)),
        }
    }

    fn restricted_to(&self, c: u32, name: &str) -> Dataset {
        let members = &self.competition_teams[c as usize];
        let mut local = vec![u32::MAX; self.teams.len()];
        let mut teams = Vec::with_capacity(members.len());
        let mut index = HashMap::with_capacity(members.len());
        for (i, &t) in members.iter().enumerate() {
            local[t as usize] = i as u32;
            teams.push(self.teams[t as usize].clone());
            index.insert(self.teams[t as usize].clone(), i as u32);
        }
        let results = self
            .results
            .iter()
            .filter(|r| r.competition == c)
            .map(|r| IndexedResult {
                competition: 0,
                home: local[r.home as usize],
                away: local[r.away as usize],
                ..*r
            })
            .collect();
        Dataset {
            version: self.version,
            fingerprint: self.fingerprint,
            teams,
            index,
            results,
            competitions: vec![name.to_owned()],
            competition_fingerprints: vec![self.competition_fingerprints[c as usize]],
            competition_index: HashMap::from([(name.to_owned(), 0)]),
            competition_teams: vec![(0..members.len() as u32).collect()],
            membership: (0..members.len() as u32).map(|t| (0, t)).collect(),
            subsets: Vec::new(),
        }
    }

    fn ensure_competition(&mut self, name: &str) -> u32 {
        if let Some(&c) = self.competition_index.get(name) {
            return c;
        }
        let c = self.competitions.len() as u32;
        self.mix(b'C', &[name], &[]);
        self.competition_fingerprints
            .push(chain(0, b'C', &[name], &[]));
        self.competitions.push(name.to_owned());
        self.competition_index.insert(name.to_owned(), c);
        self.competition_teams.push(Vec::new());
        c
    }

    /// Registers a team in a competition (no result needed, e.g. one that only appears in
    /// fixtures so far).
    pub fn ensure_team(&mut self, name: &str, competition: &str) -> u32 {
        let c = self.ensure_competition(competition);
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                let i = self.teams.len() as u32;
                self.mix(b'T', &[name], &[]);
                self.teams.push(name.to_owned());
                self.index.insert(name.to_owned(), i);
                i
            }
        };
        if self.membership.insert((c, i)) {
            self.competition_teams[c as usize].push(i);
            if let Some(own) = self.competition_fingerprints.get_mut(c as usize) {
                *own = chain(*own, b'M', &[name], &[]);
            }
            self.changed();
        }
        i
    }

    /// Registers a fixture's teams and mixes the fixture into the fingerprint (a prediction of
    /// a match id depends on what that id denotes).
    pub fn register_fixture(&mut self, fixture: &Fixture) {
        self.ensure_team(&fixture.home, &fixture.competition);
        self.ensure_team(&fixture.away, &fixture.competition);
        let c = self.ensure_competition(&fixture.competition);
        self.mix_in(
            c,
            b'F',
            &[
                &fixture.id,
                &fixture.competition,
                &fixture.home,
                &fixture.away,
            ],
            &[days_since_epoch(fixture.date).into()],
        );
    }

    /// Adds a result without changing the version (loading); the fingerprint changes.
    pub fn push(&mut self, result: &PlayedMatch) {
        let competition = self.ensure_competition(&result.competition);
        let home = self.ensure_team(&result.home, &result.competition);
        let away = self.ensure_team(&result.away, &result.competition);
        self.mix_in(
            competition,
            b'R',
            &[&result.competition, &result.home, &result.away],
            &[
                days_since_epoch(result.date).into(),
                result.home_goals.into(),
                result.away_goals.into(),
            ],
        );
        self.results.push(IndexedResult {
            competition,
            date: result.date,
            home,
            away,
            home_goals: result.home_goals,
            away_goals: result.away_goals,
        });
    }

    /// A copy with `result` added (fingerprint chained) and the version increased by one.
    pub fn with_result(&self, result: &PlayedMatch) -> Arc<Dataset> {
        let mut next = self.clone();
        next.push(result);
        next.version = self.version + 1;
        Arc::new(next)
    }
}

/// `xxh3(previous || tag || fields)`; strings are length-prefixed so that no two items hash the
/// same bytes.
fn chain(previous: u64, tag: u8, strings: &[&str], numbers: &[i64]) -> u64 {
    let mut h = Xxh3::new();
    h.update(&previous.to_le_bytes());
    h.update(&[tag]);
    for s in strings {
        h.update(&(s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    for n in numbers {
        h.update(&n.to_le_bytes());
    }
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn played(competition: &str, home: &str, away: &str, goals: u16) -> PlayedMatch {
        PlayedMatch {
            competition: competition.into(),
            date: jiff::civil::date(2024, 1, 1),
            home: home.into(),
            away: away.into(),
            home_goals: goals,
            away_goals: 0,
        }
    }

    #[test]
    fn a_competitions_fingerprint_moves_with_its_own_data_only() {
        let data = Dataset::from_results(&[played("L1", "A", "B", 1), played("L2", "C", "D", 2)]);
        let (l1, l2) = (
            data.competition_fingerprint("L1"),
            data.competition_fingerprint("L2"),
        );
        assert_ne!(l1, l2);
        assert_eq!(data.competition("L1").competition_fingerprint("L1"), l1);

        let next = data.with_result(&played("L2", "D", "C", 5));
        assert_ne!(next.fingerprint(), data.fingerprint());
        assert_eq!(
            next.competition_fingerprint("L1"),
            l1,
            "L1's data did not change"
        );
        assert_ne!(next.competition_fingerprint("L2"), l2);
        // A team joining a competition changes it too (its model has one more team).
        let mut joined = Dataset::clone(&next);
        joined.ensure_team("E", "L1");
        assert_ne!(joined.competition_fingerprint("L1"), l1);
        // Equal data, equal fingerprints, in any process.
        let again = Dataset::from_results(&[played("L1", "A", "B", 1), played("L2", "C", "D", 2)]);
        assert_eq!(again.competition_fingerprint("L2"), l2);
        assert_eq!(
            data.competition_fingerprint("Friendlies"),
            data.fingerprint()
        );
    }

    #[test]
    fn a_competition_subset_has_its_own_teams_and_results_built_once_per_snapshot() {
        let data = Dataset::from_results(&[
            played("L1", "A", "B", 1),
            played("L2", "C", "D", 2),
            played("L1", "B", "A", 3),
            played("Cup", "A", "D", 4),
        ]);
        assert_eq!(data.competitions(), ["L1", "L2", "Cup"]);
        assert_eq!(data.competitions_of("A"), ["L1", "Cup"]);
        assert!(data.plays_in("D", "Cup") && !data.plays_in("D", "L1"));
        let l1 = data.competition("L1");
        assert_eq!(l1.teams(), ["A", "B"]);
        let goals: Vec<u16> = l1.results().iter().map(|r| r.home_goals).collect();
        assert_eq!(goals, [1, 3]);
        assert_eq!(
            (l1.version(), l1.fingerprint()),
            (data.version(), data.fingerprint())
        );
        let cup = data.competition("Cup");
        assert_eq!(cup.teams(), ["A", "D"]);
        assert_eq!((cup.results()[0].home, cup.results()[0].away), (0, 1));
        assert!(
            std::ptr::eq(&*data.competition("L1"), &*l1),
            "built once per snapshot"
        );
        assert!(data.competition("Friendlies").results().is_empty());

        let next = data.with_result(&played("L2", "D", "C", 5));
        let l2 = next.competition("L2");
        assert_eq!(l2.results().len(), 2);
        assert_eq!(l2.version(), 1);
        assert_eq!(
            data.competition("L2").results().len(),
            1,
            "the old snapshot is unchanged"
        );
        // One competition: the data set itself.
        let single = Dataset::from_results(&[played("L1", "A", "B", 1)]);
        assert!(std::ptr::eq(&*single.competition("L1"), &single));
    }
}
