//! Property tests of the CSV loader (the fuzz target `csv_loader` checks the same on inputs
//! libFuzzer grows): any text gives data or a line-numbered error, never a panic; and any
//! league written as football-data CSV — names with commas, quotes and spaces included —
//! loads back unchanged.

use brain_integration::domain::{CsvError, Date, Fixture, LeagueData, PlayedMatch, parse_csv};
use proptest::prelude::*;

fn field(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn day(d: Date) -> String {
    let (y, m, d) = (d.year(), d.month(), d.day());
    format!("{d:02}/{m:02}/{y:04}")
}

fn write(data: &LeagueData) -> String {
    let mut out = String::from("Div,Date,HomeTeam,AwayTeam,FTHG,FTAG\n");
    for r in &data.results {
        let (h, a) = (field(&r.home), field(&r.away));
        let (hg, ag) = (r.home_goals, r.away_goals);
        out += &format!("E0,{},{h},{a},{hg},{ag}\n", day(r.date));
    }
    for f in &data.fixtures {
        out += &format!(
            "E0,{},{},{},,\n",
            day(f.date),
            field(&f.home),
            field(&f.away)
        );
    }
    out
}

fn team() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z ,\"'.&-]{0,14}[A-Za-z.]|\\PC{1,6}"
        .prop_map(|t| t.trim().to_owned())
        .prop_filter("a team has a name", |t| !t.is_empty())
}

fn date() -> impl Strategy<Value = Date> {
    (1900i16..2100, 1i8..=12, 1i8..=28).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
}

fn league() -> impl Strategy<Value = LeagueData> {
    let pair = || (team(), team()).prop_filter("no team plays itself", |(h, a)| h != a);
    let result = (date(), pair(), 0u16..=99, 0u16..=99).prop_map(|(date, (home, away), hg, ag)| {
        PlayedMatch {
            competition: "E0".to_owned(),
            date,
            home,
            away,
            home_goals: hg,
            away_goals: ag,
        }
    });
    let fixture = (date(), pair());
    (
        prop::collection::vec(result, 0..8),
        prop::collection::vec(fixture, 0..4),
    )
        .prop_map(|(results, fixtures)| LeagueData {
            results,
            fixtures: fixtures
                .into_iter()
                .enumerate()
                .map(|(i, (date, (home, away)))| Fixture {
                    competition: "E0".to_owned(),
                    id: (i + 1).to_string(),
                    date,
                    home,
                    away,
                })
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_league_written_as_csv_loads_back(data in league()) {
        prop_assert_eq!(parse_csv(&write(&data)).unwrap(), data);
    }

    /// Text built from the characters CSV parsing branches on: data, or an error naming a line
    /// of the text.
    #[test]
    fn any_text_gives_data_or_a_line_numbered_error(
        text in "(Date,HomeTeam,AwayTeam,FTHG,FTAG\n)?[0-9/,\"\n\r a-c\u{feff}-]{0,80}|\\PC{0,40}",
    ) {
        let lines = text.lines().count().max(1);
        match parse_csv(&text) {
            Ok(data) => {
                prop_assert!(data.results.len() + data.fixtures.len() < lines);
                for r in &data.results {
                    prop_assert!(r.home != r.away && r.home_goals <= 99 && r.away_goals <= 99);
                }
            }
            Err(CsvError::Line { line, .. }) => prop_assert!((1..=lines).contains(&line), "line {line} of {lines}"),
            Err(other) => prop_assert!(false, "{other:?}"),
        }
    }
}
