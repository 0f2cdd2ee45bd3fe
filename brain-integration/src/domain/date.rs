//! Match days are [`jiff::civil::Date`]s (a calendar day, no time zone): this module only reads
//! the layouts the data comes in and does the day arithmetic the engine needs.
//!
//! jiff rather than chrono or time: its civil `Date` is exactly "a day on the calendar" with
//! serde, `strptime` and day spans built in, and it needs no time zone database for that
//! (default features off), while chrono's `NaiveDate` drags an older API and `time` needs
//! macros/feature juggling for parsing.

pub use jiff::civil::Date;

/// Why a date string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {input:?}: {reason} (expected dd/mm/yy, dd/mm/yyyy or yyyy-mm-dd)")]
pub struct DateError {
    input: String,
    reason: String,
}

fn date_error(input: &str, reason: impl ToString) -> DateError {
    DateError {
        input: input.to_owned(),
        reason: reason.to_string(),
    }
}

/// Parses the football-data layouts `dd/mm/yy` and `dd/mm/yyyy` (two-digit years are
/// 1969–2068, football-data files start in 1993).
///
/// ```
/// use brain_integration::domain::parse_day_first;
/// assert_eq!(parse_day_first("19/08/00").unwrap().to_string(), "2000-08-19");
/// assert_eq!(parse_day_first("14/08/1993").unwrap().to_string(), "1993-08-14");
/// assert!(parse_day_first("31/02/2024").is_err());
/// ```
pub fn parse_day_first(input: &str) -> Result<Date, DateError> {
    let text = input.trim();
    if text.split('/').count() != 3 {
        return Err(date_error(input, "not three fields separated by '/'"));
    }
    let format = match text.rsplit('/').next().map(str::len) {
        Some(2) => "%d/%m/%y",
        Some(4) => "%d/%m/%Y",
        _ => return Err(date_error(input, "year must have 2 or 4 digits")),
    };
    Date::strptime(format, text).map_err(|e| date_error(input, e))
}

/// Parses ISO 8601 `yyyy-mm-dd` or, with a `/`, a day-first layout.
pub fn parse_date(input: &str) -> Result<Date, DateError> {
    if input.contains('/') {
        return parse_day_first(input);
    }
    let text = input.trim();
    // jiff reads whole ISO 8601 datetimes too: a result is recorded for a day, nothing more.
    if text.len() != 10 {
        return Err(date_error(input, "not yyyy-mm-dd"));
    }
    text.parse::<Date>().map_err(|e| date_error(input, e))
}

/// Whole days from `from` to `to` (negative when `to` is earlier).
pub fn days_between(from: Date, to: Date) -> i32 {
    // A civil date difference is at most ~7.3 million days: always representable.
    to.since(from).map_or(0, |span| span.get_days())
}

/// `date` moved by `days` (negative moves back), saturating at jiff's calendar bounds.
pub fn add_days(date: Date, days: i32) -> Date {
    match jiff::Span::new().try_days(days) {
        Ok(span) => date.saturating_add(span),
        // More days than any span holds: beyond the calendar either way.
        Err(_) if days > 0 => Date::MAX,
        Err(_) => Date::MIN,
    }
}

/// Days since 1970-01-01: a stable number for fingerprints.
pub fn days_since_epoch(date: Date) -> i32 {
    days_between(jiff::civil::date(1970, 1, 1), date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn epoch_and_day_arithmetic() {
        assert_eq!(days_since_epoch(date(1970, 1, 1)), 0);
        assert_eq!(days_since_epoch(date(2000, 3, 1)), 11_017);
        assert_eq!(days_since_epoch(date(1969, 12, 31)), -1);
        assert_eq!(add_days(date(2024, 2, 28), 1), date(2024, 2, 29));
        assert_eq!(add_days(date(2024, 3, 1), -1), date(2024, 2, 29));
        assert_eq!(days_between(date(2024, 3, 1), date(2023, 3, 1)), -366);
        assert_eq!(add_days(date(2024, 1, 1), i32::MAX), Date::MAX, "saturates");
        assert_eq!(add_days(date(2024, 1, 1), i32::MIN), Date::MIN);
        assert_eq!(add_days(date(2024, 1, 1), 5_000_000), Date::MAX);
    }

    #[test]
    fn day_first_layouts() {
        for (text, want) in [
            ("1/2/24", "2024-02-01"),
            ("01/02/68", "2068-02-01"),
            ("01/02/69", "1969-02-01"),
            ("16/08/2024", "2024-08-16"),
            (" 29/02/2000 ", "2000-02-29"),
        ] {
            assert_eq!(parse_day_first(text).unwrap().to_string(), want, "{text}");
        }
        for bad in [
            "",
            "1/2",
            "1/2/3/4",
            "aa/02/2024",
            "01/13/2024",
            "00/01/2024",
            "01/01/202",
            "-1/01/2024",
            "29/02/1900",
        ] {
            let err = parse_day_first(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn iso_layout_and_serde() {
        assert_eq!(parse_date("2025-08-16").unwrap(), date(2025, 8, 16));
        assert_eq!(parse_date("16/08/2025").unwrap(), date(2025, 8, 16));
        for bad in ["2025-8-16", "2025-02-30", "2025-08-16T10:00", "soon"] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
        let d: Date = serde_json::from_str("\"2025-08-16\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2025-08-16\"");
    }
}
