//! China Standard Time helpers and clock-hour limits.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

/// Offset of China Standard Time (UTC+8) from UTC; China has no daylight saving time.
const CST_OFFSET: TimeDelta = TimeDelta::hours(8);

/// The calendar date of `at` in China Standard Time (UTC+8).
///
/// Working days are calendar days in China, so every instant is mapped to its
/// CST date before the calendar is consulted.
pub fn china_date(at: DateTime<Utc>) -> NaiveDate {
    (at.naive_utc() + CST_OFFSET).date()
}

/// The instant at which `date` begins (00:00) in China Standard Time.
pub(crate) fn start_of_china_day(date: NaiveDate) -> DateTime<Utc> {
    (date.and_time(NaiveTime::MIN) - CST_OFFSET).and_utc()
}

/// The instant at which `date` ends in China Standard Time, i.e. 00:00 CST of
/// the following day (an exclusive bound).
pub(crate) fn end_of_china_day(date: NaiveDate) -> DateTime<Utc> {
    start_of_china_day(date) + TimeDelta::days(1)
}

/// The deadline of a limit of `hours` natural hours started at `start`.
///
/// Clock-hour limits (for example "respond within 1 hour") run through
/// nights, weekends and public holidays alike; the calendar plays no part.
pub fn add_clock_hours(start: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
    start + TimeDelta::hours(hours.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    #[test]
    fn china_date_is_eight_hours_ahead_of_utc() {
        // 15:59:59Z is 23:59:59 CST, still the same date.
        assert_eq!(china_date(utc("2024-02-08T15:59:59Z")), NaiveDate::from_ymd_opt(2024, 2, 8).unwrap());
        // 16:00Z is midnight CST: the next date begins.
        assert_eq!(china_date(utc("2024-02-08T16:00:00Z")), NaiveDate::from_ymd_opt(2024, 2, 9).unwrap());
    }

    #[test]
    fn china_days_begin_and_end_at_cst_midnight() {
        let date = NaiveDate::from_ymd_opt(2024, 2, 9).unwrap();
        assert_eq!(start_of_china_day(date), utc("2024-02-08T16:00:00Z"));
        assert_eq!(end_of_china_day(date), utc("2024-02-09T16:00:00Z"));
        assert_eq!(china_date(start_of_china_day(date)), date);
    }

    #[test]
    fn clock_hours_ignore_weekends_and_holidays() {
        // Monday 2024-09-30 23:30 CST + 2 hours crosses into the National Day holiday.
        assert_eq!(add_clock_hours(utc("2024-09-30T15:30:00Z"), 2), utc("2024-09-30T17:30:00Z"));
        assert_eq!(add_clock_hours(utc("2024-10-01T00:00:00Z"), 72), utc("2024-10-04T00:00:00Z"));
        assert_eq!(add_clock_hours(utc("2024-10-01T00:00:00Z"), 0), utc("2024-10-01T00:00:00Z"));
    }
}
