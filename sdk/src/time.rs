//! Dates and times as Huế lives them: one zone, `Asia/Ho_Chi_Minh` (UTC+7,
//! no daylight saving since 1975), dates shown `dd/mm/yyyy` and times
//! `HH:MM` on a 24-hour clock, HTML date inputs read as `yyyy-mm-dd`.
//!
//! Apps store moments as Unix milliseconds ([`now_ms`]) and turn them into
//! Huế's civil date or time only to compare days or to show them. Built on
//! [`jiff`], re-exported here so apps can reach for the rest of it directly
//! (spans, rounding, other formats); this module must not grow a second
//! calendar of its own.
//!
//! Size: what an app calls of this module costs it 5–15 KB of component.
//! Formatting a `jiff::Error` (`to_string`, `{}`) pulls in all of jiff's
//! error texts, ~95 KB: map jiff's errors to your own words instead.

pub use crate::ids::now_ms;
pub use jiff;
pub use jiff::civil::{Date, DateTime, Weekday};

use jiff::tz::{self, TimeZone};
use jiff::{Span, Timestamp, ZonedDateTime};
use std::fmt;

/// Huế's time zone, `Asia/Ho_Chi_Minh`: UTC+7 with no daylight saving,
/// as it has been since 13/06/1975, so a fixed offset is exact for every
/// moment the apps handle (before that date the South, Huế included, kept
/// UTC+8). The tz database's rules for the zone (`jiff::tz::get!`, feature
/// `static`) would cost every app using this module ~20 KB more.
pub static HUE: TimeZone = TimeZone::fixed(tz::offset(7));

/// Unix milliseconds as a [`Timestamp`]; moments past jiff's range (year
/// 9999) are clamped to its end.
fn timestamp(unix_ms: u64) -> Timestamp {
    i64::try_from(unix_ms)
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .unwrap_or(Timestamp::MAX)
}

/// Now, in Huế's zone.
pub fn now() -> ZonedDateTime {
    at(now_ms())
}

/// Today's date in Huế.
pub fn today() -> Date {
    date_of(now_ms())
}

/// The moment `unix_ms` in Huế's zone.
pub fn at(unix_ms: u64) -> ZonedDateTime {
    timestamp(unix_ms).to_zoned_datetime(HUE.clone())
}

/// Huế's wall-clock date and time at `unix_ms`.
pub fn datetime_of(unix_ms: u64) -> DateTime {
    HUE.to_datetime(timestamp(unix_ms))
}

/// Huế's date at `unix_ms` (a moment just after 17:00 UTC is already the
/// next day in Huế).
pub fn date_of(unix_ms: u64) -> Date {
    datetime_of(unix_ms).date()
}

/// Unix milliseconds of 00:00 on `date` in Huế.
pub fn start_of_day_ms(date: Date) -> u64 {
    date.to_zoned_datetime(HUE.clone())
        .map_or(0, |z| z.timestamp().as_millisecond().max(0) as u64)
}

/// `dd/mm/yyyy`, as Vietnam writes dates.
pub fn format_date(date: Date) -> String {
    format!("{:02}/{:02}/{:04}", date.day(), date.month(), date.year())
}

/// `dd/mm/yyyy HH:MM`, 24-hour.
pub fn format_datetime(datetime: DateTime) -> String {
    format!(
        "{} {:02}:{:02}",
        format_date(datetime.date()),
        datetime.hour(),
        datetime.minute()
    )
}

/// Unix milliseconds as `dd/mm/yyyy` in Huế.
pub fn date_text(unix_ms: u64) -> String {
    format_date(date_of(unix_ms))
}

/// Unix milliseconds as `dd/mm/yyyy HH:MM` in Huế.
pub fn datetime_text(unix_ms: u64) -> String {
    format_datetime(datetime_of(unix_ms))
}

/// Unix milliseconds as ISO 8601 in Huế, to the second, e.g.
/// `2026-10-20T09:15:00+07:00` (its first 10 characters are the date), for
/// JSON and machines; citizens get [`datetime_text`].
pub fn iso(unix_ms: u64) -> String {
    let moment = timestamp(unix_ms);
    let dt = HUE.to_datetime(moment);
    let offset = HUE.to_offset(moment).seconds();
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.unsigned_abs();
    format!(
        "{}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        dt.date(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        offset / 3600,
        offset % 3600 / 60
    )
}

/// Why a text is not a `yyyy-mm-dd` date; shown to whoever typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateError {
    input: String,
    reason: String,
}

impl DateError {
    fn new(input: &str, reason: impl Into<String>) -> DateError {
        DateError {
            input: input.chars().take(40).collect(),
            reason: reason.into(),
        }
    }

    /// What was wrong, without the advice.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a date: {}; write it as yyyy-mm-dd, e.g. 2026-11-24",
            self.input, self.reason
        )
    }
}

impl std::error::Error for DateError {}

impl From<DateError> for crate::Error {
    fn from(e: DateError) -> Self {
        crate::Error::new(422, "invalid_date", e.to_string())
    }
}

/// `digits` ASCII digits as a number; none for anything else.
fn number(text: &str, digits: usize) -> Option<i16> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// A `yyyy-mm-dd` date (what `<input type="date">` sends), strictly: four,
/// two and two digits, and a day that exists.
pub fn parse_date(text: &str) -> Result<Date, DateError> {
    let shape = || DateError::new(text, "expected four digits, two and two, with dashes");
    let mut parts = text.split('-');
    let (Some(year), Some(month), Some(day), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(shape());
    };
    let (Some(year), Some(month), Some(day)) = (number(year, 4), number(month, 2), number(day, 2))
    else {
        return Err(shape());
    };
    let month = i8::try_from(month).unwrap_or(0);
    let Some(length) = days_in_month(year, month) else {
        return Err(DateError::new(text, "the month must be 01 to 12"));
    };
    if !(1..=i16::from(length)).contains(&day) {
        return Err(DateError::new(
            text,
            format!("there is no day {day:02} in {month:02}/{year:04}, which has {length} days"),
        ));
    }
    // Checked above: this cannot fail (and jiff's error text stays out of
    // the component).
    Date::new(year, month, day as i8).map_err(|_| DateError::new(text, "no such day"))
}

/// `date` moved by `days` (negative: back), clamped to jiff's range.
pub fn add_days(date: Date, days: i64) -> Date {
    Span::new()
        .try_days(days)
        .ok()
        .and_then(|span| date.checked_add(span).ok())
        .unwrap_or(if days < 0 { Date::MIN } else { Date::MAX })
}

/// The day of the week of `date`.
pub fn weekday(date: Date) -> Weekday {
    date.weekday()
}

/// How many days `month` (1–12) of `year` has; none for a month that does
/// not exist.
pub fn days_in_month(year: i16, month: i8) -> Option<i8> {
    Date::new(year, month, 1).ok().map(Date::days_in_month)
}

/// Whether `year` has a 29 February.
pub fn is_leap_year(year: i16) -> bool {
    days_in_month(year, 2) == Some(29)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    /// 2026-11-23T17:30:00Z.
    const NEAR_MIDNIGHT_UTC: u64 = 1_795_455_000_000;

    #[test]
    fn hue_is_seven_hours_ahead() {
        assert_eq!(at(NEAR_MIDNIGHT_UTC).offset().seconds(), 7 * 3600);
    }

    #[test]
    fn an_evening_in_utc_is_already_the_next_day_in_hue() {
        assert_eq!(date_of(NEAR_MIDNIGHT_UTC), date(2026, 11, 24));
        assert_eq!(date_of(NEAR_MIDNIGHT_UTC - 1_800_001), date(2026, 11, 23));
        assert_eq!(datetime_text(NEAR_MIDNIGHT_UTC), "24/11/2026 00:30");
        assert_eq!(date_text(NEAR_MIDNIGHT_UTC), "24/11/2026");
        assert_eq!(iso(NEAR_MIDNIGHT_UTC), "2026-11-24T00:30:00+07:00");
        assert_eq!(iso(NEAR_MIDNIGHT_UTC + 999), "2026-11-24T00:30:00+07:00");
        assert_eq!(datetime_text(0), "01/01/1970 07:00");
        assert_eq!(
            start_of_day_ms(date(2026, 11, 24)),
            NEAR_MIDNIGHT_UTC - 1_800_000
        );
    }

    #[test]
    fn dates_and_times_are_written_the_vietnamese_way() {
        assert_eq!(format_date(date(2026, 3, 5)), "05/03/2026");
        assert_eq!(
            format_datetime(date(2026, 3, 5).at(21, 7, 59, 0)),
            "05/03/2026 21:07"
        );
        assert_eq!(
            format_datetime(date(2026, 3, 5).at(0, 0, 0, 0)),
            "05/03/2026 00:00"
        );
    }

    #[test]
    fn leap_years_follow_the_gregorian_rules() {
        assert!(is_leap_year(2024));
        assert!(is_leap_year(2000));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2026));
        assert_eq!(days_in_month(2024, 2), Some(29));
        assert_eq!(days_in_month(2026, 2), Some(28));
    }

    #[test]
    fn months_end_where_they_should() {
        let lengths: Vec<i8> = (1..=12).map(|m| days_in_month(2026, m).unwrap()).collect();
        assert_eq!(lengths, [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]);
        assert_eq!(days_in_month(2026, 0), None);
        assert_eq!(days_in_month(2026, 13), None);
    }

    #[test]
    fn days_add_across_months_years_and_leap_days() {
        assert_eq!(add_days(date(2026, 1, 31), 1), date(2026, 2, 1));
        assert_eq!(add_days(date(2024, 2, 28), 1), date(2024, 2, 29));
        assert_eq!(add_days(date(2026, 12, 31), 1), date(2027, 1, 1));
        assert_eq!(add_days(date(2026, 3, 1), -1), date(2026, 2, 28));
        assert_eq!(add_days(date(2026, 11, 24), 90), date(2027, 2, 22));
        assert_eq!(add_days(date(2026, 11, 24), i64::MAX), Date::MAX);
        assert_eq!(add_days(date(2026, 11, 24), i64::MIN), Date::MIN);
    }

    #[test]
    fn weekdays_are_right() {
        assert_eq!(weekday(date(1970, 1, 1)), Weekday::Thursday);
        assert_eq!(weekday(date(2026, 11, 24)), Weekday::Tuesday);
        assert_eq!(weekday(date(2026, 9, 2)).to_monday_zero_offset(), 2);
    }

    #[test]
    fn html_date_inputs_parse_strictly() {
        assert_eq!(parse_date("2026-11-24"), Ok(date(2026, 11, 24)));
        assert_eq!(parse_date("2024-02-29"), Ok(date(2024, 2, 29)));
        for bad in [
            "",
            "tomorrow",
            "24/11/2026",
            "2026-11",
            "2026-11-24-1",
            "2026-1-24",
            "26-11-24",
            "2026-11-24T10:00",
            " 2026-11-24",
            "+026-11-24",
            "2026-11-2x",
        ] {
            let e = parse_date(bad).unwrap_err();
            assert!(e.to_string().contains("yyyy-mm-dd"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_day_that_does_not_exist_says_why() {
        let e = parse_date("2026-02-29").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`2026-02-29` is not a date: there is no day 29 in 02/2026, which has 28 days; \
             write it as yyyy-mm-dd, e.g. 2026-11-24"
        );
        assert_eq!(
            parse_date("2026-04-31").unwrap_err().reason(),
            "there is no day 31 in 04/2026, which has 30 days"
        );
        assert_eq!(
            parse_date("2026-11-00").unwrap_err().reason(),
            "there is no day 00 in 11/2026, which has 30 days"
        );
        assert_eq!(
            parse_date("2026-13-01").unwrap_err().reason(),
            "the month must be 01 to 12"
        );
        let error: crate::Error = parse_date("2026-00-10").unwrap_err().into();
        assert_eq!((error.status(), error.code()), (422, "invalid_date"));
    }

    #[test]
    fn moments_past_the_calendar_do_not_panic() {
        assert_eq!(
            date_of(u64::MAX),
            Timestamp::MAX.to_zoned_datetime(HUE.clone()).date()
        );
    }
}
