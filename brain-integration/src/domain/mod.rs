//! The domain: dates, matches, the match store port and its in-memory adapter, the CSV loader and
//! the synthetic league.

mod csv;
mod date;
mod matches;
mod store;
mod synthetic;

pub use csv::{CsvError, LeagueData, load_csv_file, parse_csv};
pub use date::{
    Date, DateError, add_days, days_between, days_since_epoch, parse_date, parse_day_first,
};
pub use matches::{DEFAULT_COMPETITION, Dataset, Fixture, IndexedResult, PlayedMatch};
pub use store::{InMemoryMatchStore, MatchStore, NewResult, RecordedResult, StoreError};
pub use synthetic::{
    SyntheticLeague, SyntheticLeagueConfig, SyntheticLeagueError, TrueStrengths, synthetic_league,
};
