//! Loads the common football-data CSV layout: `Date,HomeTeam,AwayTeam,FTHG,FTAG`.
//!
//! The `Div` column, when there is one, names each row's competition (default
//! `league`); other extra columns are ignored and columns may come in any order; the older names `Home`, `Away`,
//! `HG`, `AG` are accepted. Dates are `dd/mm/yy` or `dd/mm/yyyy`. A row whose two goal fields
//! are empty — or a file without goal columns, like football-data's `fixtures.csv` — is a fixture
//! to predict; fixtures get the ids `1`, `2`, … in file order. Rows with every field empty are
//! skipped. Every error names its line (1 is the header). Reading is the `csv` crate's.

use std::path::Path;

use super::date::parse_day_first;
use super::matches::{DEFAULT_COMPETITION, Fixture, PlayedMatch};

/// Results and fixtures read from a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeagueData {
    /// Played matches.
    pub results: Vec<PlayedMatch>,
    /// Matches to predict.
    pub fixtures: Vec<Fixture>,
}

/// A CSV that could not be read, with the line at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// The file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The path given.
        path: String,
        /// What the OS said.
        message: String,
    },
    /// A line is malformed.
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number (the header is line 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn line_error(line: usize, message: impl Into<String>) -> CsvError {
    CsvError::Line {
        line,
        message: message.into(),
    }
}

struct Columns {
    competition: Option<usize>,
    date: usize,
    home: usize,
    away: usize,
    goals: Option<(usize, usize)>,
}

impl Columns {
    fn from_header(header: &[String]) -> Result<Self, CsvError> {
        let find = |names: &[&str]| header.iter().position(|h| names.contains(&h.trim()));
        let need = |names: &[&str]| {
            find(names).ok_or_else(|| line_error(1, format!("missing column {:?}", names[0])))
        };
        let goals = match (find(&["FTHG", "HG"]), find(&["FTAG", "AG"])) {
            (Some(h), Some(a)) => Some((h, a)),
            (None, None) => None,
            (Some(_), None) => return Err(line_error(1, "column \"FTHG\" without \"FTAG\"")),
            (None, Some(_)) => return Err(line_error(1, "column \"FTAG\" without \"FTHG\"")),
        };
        Ok(Columns {
            competition: find(&["Div"]),
            date: need(&["Date"])?,
            home: need(&["HomeTeam", "Home"])?,
            away: need(&["AwayTeam", "Away"])?,
            goals,
        })
    }
}

/// Reads a football-data CSV file.
pub fn load_csv_file(path: &Path) -> Result<LeagueData, CsvError> {
    let text = std::fs::read_to_string(path).map_err(|e| CsvError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_csv(&text)
}

/// Parses football-data CSV text (with the `csv` crate: quoting, `\r\n`, a byte-order mark).
///
/// ```
/// let csv = "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,B365H\n\
///            E0,16/08/24,Man United,Fulham,1,0,1.6\n\
///            E0,17/08/2024,Ipswich,Liverpool,,,5.0\n";
/// let data = brain_integration::domain::parse_csv(csv).unwrap();
/// assert_eq!(data.results.len(), 1);
/// assert_eq!(data.fixtures[0].away, "Liverpool");
///
/// let err = brain_integration::domain::parse_csv("Date,HomeTeam,AwayTeam,FTHG,FTAG\n32/01/24,A,B,1,0\n");
/// assert!(err.unwrap_err().to_string().starts_with("line 2:"));
/// ```
pub fn parse_csv(text: &str) -> Result<LeagueData, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(line_error(1, "empty file: expected a header line"));
    }
    let mut reader = ::csv::ReaderBuilder::new()
        .flexible(true) // short rows get our own error, which names the line
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(&e, 1))?
        .iter()
        .map(str::to_owned)
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(line_error(1, "empty header line"));
    }
    let cols = Columns::from_header(&header)?;
    let needed = [cols.date, cols.home, cols.away]
        .into_iter()
        .chain(cols.goals.iter().flat_map(|&(h, a)| [h, a]))
        .max()
        .unwrap_or(0)
        + 1;
    let mut data = LeagueData::default();
    let mut record = ::csv::StringRecord::new();
    loop {
        let n = reader.position().line() as usize;
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(&e, n)),
        }
        let n = record.position().map_or(n, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() < needed {
            return Err(line_error(
                n,
                format!("expected at least {needed} fields, found {}", record.len()),
            ));
        }
        let field = |i: usize| record.get(i).unwrap_or("");
        let competition = match cols.competition.map(field) {
            Some("") | None => DEFAULT_COMPETITION.to_owned(),
            Some(div) => div.to_owned(),
        };
        let date = parse_day_first(field(cols.date)).map_err(|e| line_error(n, e.to_string()))?;
        let home = team(field(cols.home), "HomeTeam", n)?;
        let away = team(field(cols.away), "AwayTeam", n)?;
        if home == away {
            return Err(line_error(n, format!("team {home:?} plays itself")));
        }
        let score = match cols.goals {
            None => None,
            Some((h, a)) => match (field(h), field(a)) {
                ("", "") => None,
                (hg, ag) => Some((goals(hg, "FTHG", n)?, goals(ag, "FTAG", n)?)),
            },
        };
        match score {
            Some((home_goals, away_goals)) => data.results.push(PlayedMatch {
                competition,
                date,
                home,
                away,
                home_goals,
                away_goals,
            }),
            None => {
                let id = (data.fixtures.len() + 1).to_string();
                data.fixtures.push(Fixture {
                    id,
                    competition,
                    date,
                    home,
                    away,
                });
            }
        }
    }
    Ok(data)
}

/// A reader error as ours, on the line the reader was at.
fn csv_error(e: &::csv::Error, line: usize) -> CsvError {
    let line = e.position().map_or(line, |p| p.line() as usize);
    line_error(line, e.to_string())
}

fn team(field: &str, column: &str, line: usize) -> Result<String, CsvError> {
    if field.is_empty() {
        return Err(line_error(line, format!("empty {column}")));
    }
    Ok(field.to_owned())
}

fn goals(field: &str, column: &str, line: usize) -> Result<u16, CsvError> {
    match field.parse::<u16>() {
        Ok(g) if g <= 99 => Ok(g),
        _ => Err(line_error(
            line,
            format!("{column} is not a goal count (0-99): {field:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(err: CsvError) -> usize {
        match err {
            CsvError::Line { line, .. } => line,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn reads_results_and_fixtures_with_extra_columns() {
        let csv = "\u{feff}Div,Date,Time,HomeTeam,AwayTeam,FTHG,FTAG,FTR\r\n\
                   E0,16/08/2024,20:00,Man United,Fulham,1,0,H\r\n\
                   E0,17/08/24,12:30,\"Ipswich, Town\",Liverpool,0,2,A\r\n\
                   ,,,,,,,\r\n\
                   E0,24/08/2024,15:00,Fulham,Ipswich,,,\r\n";
        let data = parse_csv(csv).unwrap();
        assert_eq!(data.results.len(), 2);
        assert_eq!(data.results[1].home, "Ipswich, Town");
        assert_eq!(
            (data.results[1].home_goals, data.results[1].away_goals),
            (0, 2)
        );
        assert_eq!(data.results[1].date.to_string(), "2024-08-17");
        assert_eq!(data.fixtures.len(), 1);
        assert_eq!(data.fixtures[0].id, "1");
        assert_eq!(data.fixtures[0].date.to_string(), "2024-08-24");
        assert_eq!(data.fixtures[0].competition, "E0");
        assert!(data.results.iter().all(|r| r.competition == "E0"));
    }

    #[test]
    fn fixture_files_without_goal_columns_and_old_names() {
        let data = parse_csv("Date,Home,Away\n01/09/1995,A,B\n02/09/1995,C,D\n").unwrap();
        assert!(data.results.is_empty());
        assert_eq!(
            data.fixtures
                .iter()
                .map(|f| f.id.as_str())
                .collect::<Vec<_>>(),
            ["1", "2"]
        );
        let old = parse_csv("Date,Home,Away,HG,AG\n01/09/95,A,B,3,3\n").unwrap();
        assert_eq!(old.results[0].home_goals, 3);
        assert_eq!(old.results[0].competition, DEFAULT_COMPETITION);
        let two = parse_csv("Div,Date,Home,Away,HG,AG\nE0,01/09/95,A,B,3,3\nE1,01/09/95,C,D,1,0\n")
            .unwrap();
        assert_eq!(
            two.results
                .iter()
                .map(|r| r.competition.as_str())
                .collect::<Vec<_>>(),
            ["E0", "E1"]
        );
    }

    #[test]
    fn errors_name_their_line() {
        let head = "Date,HomeTeam,AwayTeam,FTHG,FTAG\n";
        let cases = [
            (
                format!("{head}01/08/24,A,B,1,0\n01/08/24,A,B,x,0\n"),
                3,
                "FTHG",
            ),
            (format!("{head}01/08/24,A,B,1,\n"), 2, "FTAG"),
            (format!("{head}2024-08-01,A,B,1,0\n"), 2, "2024-08-01"),
            (format!("{head}01/08/24,A,B\n"), 2, "at least 5 fields"),
            (format!("{head}01/08/24,,B,1,0\n"), 2, "empty HomeTeam"),
            (format!("{head}01/08/24,A,A,1,0\n"), 2, "plays itself"),
            // An unclosed quote swallows the rest of the file into one field.
            (
                format!("{head}01/08/24,\"A,B,1,0\n"),
                2,
                "at least 5 fields",
            ),
            ("Date,HomeTeam,FTHG,FTAG\n".to_owned(), 1, "AwayTeam"),
            ("Date,HomeTeam,AwayTeam,FTHG\n".to_owned(), 1, "FTAG"),
            (String::new(), 1, "empty file"),
        ];
        for (csv, line, needle) in cases {
            let err = parse_csv(&csv).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(needle), "{text:?} lacks {needle:?}");
            assert_eq!(line_of(err), line, "{text}");
        }
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let err = load_csv_file(Path::new("/nonexistent/brain.csv")).unwrap_err();
        assert!(matches!(err, CsvError::Io { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/brain.csv"));
    }
}
