//! A calendar date (proleptic Gregorian), enough for match days: parsing the football-data
//! layouts, ISO 8601, and day differences for time decay. No time zones, no clock.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar day, stored as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    days: i32,
}

/// Why a date string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {input:?}: {reason} (expected dd/mm/yy, dd/mm/yyyy or yyyy-mm-dd)")]
pub struct DateError {
    input: String,
    reason: &'static str,
}

/// Two-digit years below this pivot are 20yy, the others 19yy (football-data files start in 1993).
const TWO_DIGIT_YEAR_PIVOT: i32 = 70;

impl Date {
    /// The date `year-month-day`, or `None` when no such day exists.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        if !(-100_000..=100_000).contains(&year) {
            return None;
        }
        Some(Date {
            days: days_from_civil(year, month, day),
        })
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days_since_epoch(days: i32) -> Date {
        Date { days }
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i32 {
        self.days
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.days)
    }

    /// This date moved by `days` (negative moves back).
    pub fn add_days(self, days: i32) -> Date {
        Date {
            days: self.days.saturating_add(days),
        }
    }

    /// Signed number of days from `self` to `later`.
    pub fn days_until(self, later: Date) -> i32 {
        later.days - self.days
    }

    /// Parses the football-data layouts `dd/mm/yy` and `dd/mm/yyyy` (two-digit years below 70
    /// are 20yy, the others 19yy).
    ///
    /// ```
    /// use brain_integration::domain::Date;
    /// assert_eq!(Date::parse_day_first("19/08/00").unwrap().to_string(), "2000-08-19");
    /// assert_eq!(Date::parse_day_first("14/08/1993").unwrap().to_string(), "1993-08-14");
    /// assert!(Date::parse_day_first("31/02/2024").is_err());
    /// ```
    pub fn parse_day_first(input: &str) -> Result<Date, DateError> {
        let err = |reason| DateError {
            input: input.to_owned(),
            reason,
        };
        let mut parts = input.trim().split('/');
        let (Some(d), Some(m), Some(y), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err("not three fields separated by '/'"));
        };
        let day = parse_number(d, 1, 2).ok_or_else(|| err("day is not a 1-2 digit number"))?;
        let month = parse_number(m, 1, 2).ok_or_else(|| err("month is not a 1-2 digit number"))?;
        let year = match y.len() {
            2 => {
                let yy = parse_number(y, 2, 2).ok_or_else(|| err("year is not a number"))? as i32;
                if yy < TWO_DIGIT_YEAR_PIVOT {
                    2000 + yy
                } else {
                    1900 + yy
                }
            }
            4 => parse_number(y, 4, 4).ok_or_else(|| err("year is not a number"))? as i32,
            _ => return Err(err("year must have 2 or 4 digits")),
        };
        Date::from_ymd(year, month, day).ok_or_else(|| err("no such day"))
    }

    /// Parses ISO 8601 `yyyy-mm-dd`.
    pub fn parse_iso(input: &str) -> Result<Date, DateError> {
        let err = |reason| DateError {
            input: input.to_owned(),
            reason,
        };
        let mut parts = input.trim().split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err("not three fields separated by '-'"));
        };
        let year = parse_number(y, 4, 4).ok_or_else(|| err("year is not a 4 digit number"))? as i32;
        let month = parse_number(m, 2, 2).ok_or_else(|| err("month is not a 2 digit number"))?;
        let day = parse_number(d, 2, 2).ok_or_else(|| err("day is not a 2 digit number"))?;
        Date::from_ymd(year, month, day).ok_or_else(|| err("no such day"))
    }
}

impl FromStr for Date {
    type Err = DateError;

    /// Accepts ISO 8601 (`2024-05-19`) and the day-first layouts (`19/05/24`, `19/05/2024`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains('/') {
            Date::parse_day_first(s)
        } else {
            Date::parse_iso(s)
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn parse_number(s: &str, min_len: usize, max_len: usize) -> Option<u32> {
    if s.len() < min_len || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (public-domain algorithms).
fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i32::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_day_for_centuries() {
        let start = Date::from_ymd(1899, 12, 25).unwrap();
        let mut previous = start;
        for offset in 1..(366 * 250) {
            let date = start.add_days(offset);
            let (y, m, d) = date.ymd();
            assert_eq!(Date::from_ymd(y, m, d), Some(date));
            assert_eq!(previous.days_until(date), 1);
            assert_eq!(date.to_string().parse::<Date>().unwrap(), date);
            previous = date;
        }
    }

    #[test]
    fn epoch_and_known_days() {
        assert_eq!(Date::from_ymd(1970, 1, 1).unwrap().days_since_epoch(), 0);
        assert_eq!(
            Date::from_ymd(2000, 3, 1).unwrap().days_since_epoch(),
            11_017
        );
        assert_eq!(
            Date::from_ymd(2024, 2, 29).unwrap().to_string(),
            "2024-02-29"
        );
        assert!(Date::from_ymd(2023, 2, 29).is_none());
        assert!(Date::from_ymd(1900, 2, 29).is_none());
        assert!(Date::from_ymd(2000, 2, 29).is_some());
    }

    #[test]
    fn day_first_layouts() {
        assert_eq!(
            Date::parse_day_first("1/2/24").unwrap().to_string(),
            "2024-02-01"
        );
        assert_eq!(
            Date::parse_day_first("01/02/69").unwrap().to_string(),
            "2069-02-01"
        );
        assert_eq!(
            Date::parse_day_first("01/02/70").unwrap().to_string(),
            "1970-02-01"
        );
        for bad in [
            "",
            "1/2",
            "1/2/3/4",
            "aa/02/2024",
            "01/13/2024",
            "00/01/2024",
            "01/01/202",
            "-1/01/2024",
        ] {
            assert!(Date::parse_day_first(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn iso_layout_and_serde() {
        let d: Date = serde_json::from_str("\"2025-08-16\"").unwrap();
        assert_eq!(d.ymd(), (2025, 8, 16));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2025-08-16\"");
        let err = serde_json::from_str::<Date>("\"2025-8-16\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("2025-8-16"), "{err}");
    }
}
