//! The football-data CSV loader on any text: a line-numbered error or data that keeps its
//! promises (non-empty trimmed team names, no team playing itself, goals 0–99, fixtures numbered
//! 1, 2, … in order), and that data written back as CSV loads to the same data.
#![no_main]

use brain_integration::domain::{CsvError, LeagueData, parse_csv};
use libfuzzer_sys::fuzz_target;
use smartcache_fuzz::csv_field;

fn write_back(data: &LeagueData) -> String {
    let mut out = String::from("Date,HomeTeam,AwayTeam,FTHG,FTAG\n");
    let date = |d: brain_integration::domain::Date| {
        format!("{:02}/{:02}/{:04}", d.day(), d.month(), d.year())
    };
    for r in &data.results {
        out += &format!(
            "{},{},{},{},{}\n",
            date(r.date),
            csv_field(&r.home),
            csv_field(&r.away),
            r.home_goals,
            r.away_goals
        );
    }
    for f in &data.fixtures {
        out += &format!(
            "{},{},{},,\n",
            date(f.date),
            csv_field(&f.home),
            csv_field(&f.away)
        );
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count().max(1);
    let league = match parse_csv(text) {
        Ok(league) => league,
        Err(CsvError::Line { line, message }) => {
            assert!(
                (1..=lines).contains(&line),
                "line {line} of {lines}: {message}"
            );
            return;
        }
        Err(other) => panic!("parsing text gave {other:?}"),
    };
    assert!(league.results.len() + league.fixtures.len() < lines);
    for r in &league.results {
        for team in [&r.home, &r.away] {
            assert!(!team.is_empty() && team.trim() == team.as_str(), "{team:?}");
        }
        assert_ne!(r.home, r.away);
        assert!(r.home_goals <= 99 && r.away_goals <= 99);
    }
    for (i, f) in league.fixtures.iter().enumerate() {
        assert_eq!(f.id, (i + 1).to_string());
        assert!(!f.home.is_empty() && !f.away.is_empty() && f.home != f.away);
    }
    let again = parse_csv(&write_back(&league)).expect("written-back data loads");
    assert_eq!(again, league);
});
