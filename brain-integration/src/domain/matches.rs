//! Matches: fixtures to predict, played results, and the indexed data set a model is fitted on.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use super::date::{Date, days_since_epoch};

/// A match to predict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fixture {
    /// Identifier used in URLs and cache keys (any string; glob characters are escaped in keys).
    pub id: String,
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

    /// `fingerprint' = xxh3(fingerprint || tag || fields)`; strings are length-prefixed so
    /// that no two items hash the same bytes.
    fn mix(&mut self, tag: u8, strings: &[&str], numbers: &[i64]) {
        let mut h = Xxh3::new();
        h.update(&self.fingerprint.to_le_bytes());
        h.update(&[tag]);
        for s in strings {
            h.update(&(s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        for n in numbers {
            h.update(&n.to_le_bytes());
        }
        self.fingerprint = h.digest();
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

    /// Registers a team (no result needed, e.g. one that only appears in fixtures so far).
    pub fn ensure_team(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.teams.len() as u32;
        self.mix(b'T', &[name], &[]);
        self.teams.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        i
    }

    /// Registers a fixture's teams and mixes the fixture into the fingerprint (a prediction of
    /// a match id depends on what that id denotes).
    pub fn register_fixture(&mut self, fixture: &Fixture) {
        self.ensure_team(&fixture.home);
        self.ensure_team(&fixture.away);
        self.mix(
            b'F',
            &[&fixture.id, &fixture.home, &fixture.away],
            &[days_since_epoch(fixture.date).into()],
        );
    }

    /// Adds a result without changing the version (loading); the fingerprint changes.
    pub fn push(&mut self, result: &PlayedMatch) {
        let home = self.ensure_team(&result.home);
        let away = self.ensure_team(&result.away);
        self.mix(
            b'R',
            &[&result.home, &result.away],
            &[
                days_since_epoch(result.date).into(),
                result.home_goals.into(),
                result.away_goals.into(),
            ],
        );
        self.results.push(IndexedResult {
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
