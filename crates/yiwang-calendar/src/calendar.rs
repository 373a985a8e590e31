//! Special days and the working-day calendar built from them.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::CalendarError;
use crate::china_time::{china_date, end_of_china_day};

/// The embedded holiday-cn year files (see `data/README.md`), oldest first.
const BUILTIN_FILES: [&str; 21] = [
    include_str!("../data/2007.json"),
    include_str!("../data/2008.json"),
    include_str!("../data/2009.json"),
    include_str!("../data/2010.json"),
    include_str!("../data/2011.json"),
    include_str!("../data/2012.json"),
    include_str!("../data/2013.json"),
    include_str!("../data/2014.json"),
    include_str!("../data/2015.json"),
    include_str!("../data/2016.json"),
    include_str!("../data/2017.json"),
    include_str!("../data/2018.json"),
    include_str!("../data/2019.json"),
    include_str!("../data/2020.json"),
    include_str!("../data/2021.json"),
    include_str!("../data/2022.json"),
    include_str!("../data/2023.json"),
    include_str!("../data/2024.json"),
    include_str!("../data/2025.json"),
    include_str!("../data/2026.json"),
    include_str!("../data/2027.json"),
];

/// How a listed date departs from the Monday–Friday rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// A public-holiday off day (放假), even when it falls on a weekday.
    Holiday,
    /// A make-up working day (调休上班), a weekend day declared a working day.
    MakeUpWorkday,
}

/// A date on which the State Council's holiday notice overrides the
/// Monday–Friday rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialDay {
    /// The calendar date in China.
    pub date: NaiveDate,
    /// Whether the date is a holiday or a make-up working day.
    pub kind: DayKind,
    /// The festival the date belongs to, e.g. `春节`.
    pub name: String,
}

/// One year file of the holiday-cn project.
#[derive(Deserialize)]
struct HolidayCnFile {
    year: i32,
    days: Vec<HolidayCnDay>,
}

/// One entry of a holiday-cn year file.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HolidayCnDay {
    name: String,
    date: NaiveDate,
    is_off_day: bool,
}

/// The working-day calendar of mainland China.
///
/// A date is a working day when it is listed as a
/// [make-up working day](DayKind::MakeUpWorkday), or when it is a Monday to
/// Friday that is not listed as a [holiday](DayKind::Holiday). Dates that are
/// not listed follow the Monday–Friday rule, including every date of a year
/// for which no holiday data is known (see [`Calendar::covered_years`]).
#[derive(Clone, Debug)]
pub struct Calendar {
    days: BTreeMap<NaiveDate, SpecialDay>,
}

impl Calendar {
    /// The calendar of every embedded year (2007 up to the latest published
    /// State Council notice).
    pub fn builtin() -> Calendar {
        static BUILTIN: LazyLock<Calendar> = LazyLock::new(|| Calendar::from_days(Calendar::builtin_days()));
        BUILTIN.clone()
    }

    /// The embedded holiday data as a list, in file order (oldest year first).
    ///
    /// No date appears twice.
    pub fn builtin_days() -> Vec<SpecialDay> {
        BUILTIN_FILES
            .iter()
            .flat_map(|json| Calendar::parse_holiday_cn(json).expect("embedded holiday data is valid"))
            .collect()
    }

    /// Parses one year file of the [holiday-cn](https://github.com/NateScarlet/holiday-cn)
    /// project: `{"year": 2024, "days": [{"name": "春节", "date": "2024-02-04",
    /// "isOffDay": false}, ...]}`. `isOffDay: true` marks a holiday, `false` a
    /// make-up working day; other fields (`papers`, `$schema`, ...) are ignored.
    ///
    /// # Errors
    ///
    /// [`CalendarError::InvalidData`] when the text is not such a file, when a
    /// date is listed twice, or when a date lies outside the file's year and
    /// its neighbours (a notice may list the last days of the previous year).
    pub fn parse_holiday_cn(json: &str) -> Result<Vec<SpecialDay>, CalendarError> {
        let file: HolidayCnFile = serde_json::from_str(json).map_err(|e| CalendarError::InvalidData(e.to_string()))?;
        let plausible_years = file.year.saturating_sub(1)..=file.year.saturating_add(1);
        let mut seen = BTreeSet::new();
        file.days
            .into_iter()
            .map(|day| {
                if !plausible_years.contains(&day.date.year()) {
                    return Err(CalendarError::InvalidData(format!(
                        "{} is listed in the file for {}",
                        day.date, file.year
                    )));
                }
                if !seen.insert(day.date) {
                    return Err(CalendarError::InvalidData(format!("{} is listed twice", day.date)));
                }
                let kind = if day.is_off_day { DayKind::Holiday } else { DayKind::MakeUpWorkday };
                Ok(SpecialDay { date: day.date, kind, name: day.name })
            })
            .collect()
    }

    /// A calendar with the given special days; when a date occurs more than
    /// once, the last occurrence wins.
    pub fn from_days(days: impl IntoIterator<Item = SpecialDay>) -> Calendar {
        Calendar { days: days.into_iter().map(|day| (day.date, day)).collect() }
    }

    /// The years from the first to the last one in which at least one holiday
    /// is listed, or `None` for a calendar without holidays.
    ///
    /// Holidays rather than all special days are considered because a notice
    /// may declare make-up working days at the end of the previous year (the
    /// 2007 notice lists 2006-12-30 and 2006-12-31). Dates outside this range
    /// follow the plain Monday–Friday rule, so a deadline that falls there may
    /// move once the year's notice is published.
    pub fn covered_years(&self) -> Option<RangeInclusive<i32>> {
        let mut holidays = self.days.values().filter(|day| day.kind == DayKind::Holiday);
        let first = holidays.next()?.date.year();
        let last = holidays.next_back().map_or(first, |day| day.date.year());
        Some(first..=last)
    }

    /// Whether `date` is a working day (工作日).
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        match self.days.get(&date) {
            Some(day) => day.kind == DayKind::MakeUpWorkday,
            None => !matches!(date.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// The special day listed for `date`, if any.
    pub fn special_day(&self, date: NaiveDate) -> Option<&SpecialDay> {
        self.days.get(&date)
    }

    /// The date on which a limit of `n` working days started on `start` ends:
    /// the `n`-th working day after `start`.
    ///
    /// The start day itself never counts, whether or not it is a working day
    /// (期间开始之日不计算在期间内): a 5-working-day limit started on a Friday
    /// ends on the next Friday when there is no holiday in between, and one
    /// started on a Saturday ends on the next Friday too. `n = 0` returns
    /// `start`.
    ///
    /// # Panics
    ///
    /// When the result would lie beyond [`NaiveDate::MAX`].
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        self.nth_counted_day(start, n, |_| false)
    }

    /// The number of working days after `from` up to and including `to`,
    /// i.e. in the half-open interval (`from`, `to`]; negative (the mirror
    /// count) when `to` is before `from`.
    ///
    /// This is the inverse of [`add_working_days`](Self::add_working_days):
    /// `working_days_between(d, add_working_days(d, n)) == n`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        if to < from {
            return -self.working_days_between(to, from);
        }
        let count =
            from.iter_days().skip(1).take_while(|&day| day <= to).filter(|&day| self.is_working_day(day)).count();
        count as i64
    }

    /// The deadline of a limit of `n` working days started at the instant
    /// `start`.
    ///
    /// `start` is mapped to its date in China Standard Time (UTC+8) and the
    /// limit ends with the [`n`-th working day](Self::add_working_days) after
    /// that date. The returned instant is the **exclusive** end of that day,
    /// 00:00 CST of the following calendar day (16:00 UTC): an act is on time
    /// if and only if it happens strictly before the deadline.
    ///
    /// # Panics
    ///
    /// When the deadline would lie beyond the range of [`DateTime<Utc>`].
    pub fn working_day_deadline(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        end_of_china_day(self.add_working_days(china_date(start), n))
    }

    /// The `n`-th working day after `start` that is not `excluded`; `start`
    /// itself when `n` is zero.
    pub(crate) fn nth_counted_day(&self, start: NaiveDate, n: u32, excluded: impl Fn(NaiveDate) -> bool) -> NaiveDate {
        let Some(index) = n.checked_sub(1) else {
            return start;
        };
        start
            .iter_days()
            .skip(1)
            .filter(|&day| self.is_working_day(day) && !excluded(day))
            .nth(index as usize)
            .expect("working-day limit ends within the supported date range")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    fn utc(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    fn invalid_data(json: &str) -> bool {
        matches!(Calendar::parse_holiday_cn(json), Err(CalendarError::InvalidData(_)))
    }

    #[test]
    fn plain_weekdays_work_and_weekends_rest() {
        let cal = Calendar::builtin();
        // 2024-03-04..08 is an ordinary Monday–Friday week, 09/10 its weekend.
        for day in 4..=8 {
            assert!(cal.is_working_day(date(2024, 3, day)), "2024-03-{day}");
        }
        assert!(!cal.is_working_day(date(2024, 3, 9)));
        assert!(!cal.is_working_day(date(2024, 3, 10)));
        assert_eq!(cal.special_day(date(2024, 3, 9)), None);
    }

    #[test]
    fn spring_festival_2024() {
        let cal = Calendar::builtin();
        // Sundays 2024-02-04 and 2024-02-18 are make-up working days.
        assert!(cal.is_working_day(date(2024, 2, 4)));
        assert!(cal.is_working_day(date(2024, 2, 18)));
        assert_eq!(
            cal.special_day(date(2024, 2, 4)),
            Some(&SpecialDay { date: date(2024, 2, 4), kind: DayKind::MakeUpWorkday, name: "春节".to_owned() })
        );
        // Saturday 10th to Saturday 17th are holidays, weekdays included.
        for day in 10..=17 {
            assert!(!cal.is_working_day(date(2024, 2, day)), "2024-02-{day}");
            assert_eq!(cal.special_day(date(2024, 2, day)).map(|d| d.kind), Some(DayKind::Holiday));
        }
        // Friday 9th (New Year's Eve) was not a public holiday in 2024.
        assert!(cal.is_working_day(date(2024, 2, 9)));
    }

    #[test]
    fn new_year_2020_and_national_day_2025() {
        let cal = Calendar::builtin();
        // Wednesday 2020-01-01.
        assert!(!cal.is_working_day(date(2020, 1, 1)));
        // Wednesday 2025-10-01 to Wednesday 2025-10-08.
        for day in 1..=8 {
            assert!(!cal.is_working_day(date(2025, 10, day)), "2025-10-{day}");
        }
        assert!(cal.is_working_day(date(2025, 10, 9)));
        // Sunday 2025-09-28 and Saturday 2025-10-11 are make-up working days.
        assert!(cal.is_working_day(date(2025, 9, 28)));
        assert!(cal.is_working_day(date(2025, 10, 11)));
        // Sunday 2025-10-12 is an ordinary weekend day again.
        assert!(!cal.is_working_day(date(2025, 10, 12)));
    }

    #[test]
    fn spring_festival_2026() {
        let cal = Calendar::builtin();
        // Saturday 2026-02-14 and Saturday 2026-02-28 are make-up working days.
        assert!(cal.is_working_day(date(2026, 2, 14)));
        assert!(cal.is_working_day(date(2026, 2, 28)));
        // Sunday 15th to Monday 23rd are holidays.
        for day in 15..=23 {
            assert!(!cal.is_working_day(date(2026, 2, day)), "2026-02-{day}");
        }
        assert!(cal.is_working_day(date(2026, 2, 24)));
        // New Year 2026: Thursday 1st to Saturday 3rd off, Sunday 4th worked.
        assert!(!cal.is_working_day(date(2026, 1, 1)));
        assert!(!cal.is_working_day(date(2026, 1, 2)));
        assert!(cal.is_working_day(date(2026, 1, 4)));
    }

    #[test]
    fn builtin_days_hold_every_embedded_file() {
        let days = Calendar::builtin_days();
        // 678 distinct dates in the 21 files, 2006-12-30 being the first.
        assert_eq!(days.len(), 678);
        assert_eq!(days.first().map(|d| d.date), Some(date(2006, 12, 30)));
        assert_eq!(days.last().map(|d| d.date), Some(date(2026, 10, 10)));
        let distinct: BTreeSet<_> = days.iter().map(|d| d.date).collect();
        assert_eq!(distinct.len(), days.len());
    }

    #[test]
    fn builtin_covers_2007_to_2026() {
        // 2027 stays uncovered until the State Council publishes its notice.
        assert_eq!(Calendar::builtin().covered_years(), Some(2007..=2026));
        assert_eq!(Calendar::from_days([]).covered_years(), None);
    }

    #[test]
    fn covered_years_ignore_make_up_days() {
        let cal = Calendar::from_days([
            SpecialDay { date: date(2006, 12, 30), kind: DayKind::MakeUpWorkday, name: "元旦".to_owned() },
            SpecialDay { date: date(2007, 1, 1), kind: DayKind::Holiday, name: "元旦".to_owned() },
        ]);
        assert_eq!(cal.covered_years(), Some(2007..=2007));
    }

    #[test]
    fn empty_calendar_follows_monday_to_friday() {
        let cal = Calendar::from_days([]);
        // Monday 2024-10-07 is a holiday in reality, not in an empty calendar.
        assert!(cal.is_working_day(date(2024, 10, 7)));
        assert!(!cal.is_working_day(date(2024, 10, 12)));
        assert_eq!(cal.add_working_days(date(2024, 9, 30), 1), date(2024, 10, 1));
    }

    #[test]
    fn from_days_keeps_the_last_duplicate() {
        let day = |kind| SpecialDay { date: date(2024, 3, 9), kind, name: "test".to_owned() };
        let cal = Calendar::from_days([day(DayKind::Holiday), day(DayKind::MakeUpWorkday)]);
        assert!(cal.is_working_day(date(2024, 3, 9)));
        let cal = Calendar::from_days([day(DayKind::MakeUpWorkday), day(DayKind::Holiday)]);
        assert!(!cal.is_working_day(date(2024, 3, 9)));
    }

    #[test]
    fn add_working_days_without_holidays() {
        let cal = Calendar::builtin();
        // Friday 2024-03-08 + 5: Mon 11 .. Fri 15, no holiday in March 2024.
        assert_eq!(cal.add_working_days(date(2024, 3, 8), 5), date(2024, 3, 15));
        // Saturday 2024-03-09 + 1: Sunday does not count, Monday 11 does.
        assert_eq!(cal.add_working_days(date(2024, 3, 9), 1), date(2024, 3, 11));
        // Zero days: the start date, even on a weekend.
        assert_eq!(cal.add_working_days(date(2024, 3, 9), 0), date(2024, 3, 9));
    }

    #[test]
    fn add_working_days_across_holidays() {
        let cal = Calendar::builtin();
        let cases = [
            // 2020: Spring Festival extended for COVID-19, Jan 24 – Feb 2 off;
            // Monday Feb 3 is listed as a working day again.
            (date(2020, 1, 23), 1, date(2020, 2, 3)),
            // 2020: Friday Jan 17 + 1 is make-up Sunday Jan 19.
            (date(2020, 1, 17), 1, date(2020, 1, 19)),
            // 2021: Friday Sep 17 + 1 is make-up Saturday Sep 18; + 2 skips
            // the Mid-Autumn holiday Sep 19–21 to Wednesday Sep 22.
            (date(2021, 9, 17), 1, date(2021, 9, 18)),
            (date(2021, 9, 17), 2, date(2021, 9, 22)),
            // 2022: Friday Sep 30 + 1 skips National Day Oct 1–7 to make-up
            // Saturday Oct 8; + 2 is make-up Sunday Oct 9.
            (date(2022, 9, 30), 1, date(2022, 10, 8)),
            (date(2022, 9, 30), 2, date(2022, 10, 9)),
            // New Year across files: Saturday 2022-12-31 is a holiday of the
            // 2023 notice, then Sunday Jan 1 and Monday Jan 2; Tuesday counts.
            (date(2022, 12, 30), 1, date(2023, 1, 3)),
            // 2023: Thursday Sep 28 + 3 skips Sep 29 – Oct 6 to the make-up
            // weekend Oct 7/8, then Monday Oct 9.
            (date(2023, 9, 28), 3, date(2023, 10, 9)),
            // 2024: Monday Sep 30 + 1 skips Oct 1–7 to Tuesday Oct 8; + 5 ends
            // on make-up Saturday Oct 12 (Oct 8, 9, 10, 11, 12).
            (date(2024, 9, 30), 1, date(2024, 10, 8)),
            (date(2024, 9, 30), 5, date(2024, 10, 12)),
            // 2024: Thursday Feb 8 + 2 is Friday Feb 9, then make-up Sunday
            // Feb 18 after the Feb 10–17 holiday; + 3 is Monday Feb 19.
            (date(2024, 2, 8), 2, date(2024, 2, 18)),
            (date(2024, 2, 8), 3, date(2024, 2, 19)),
            // 2025: Friday Sep 26 + 1 is make-up Sunday Sep 28; Tuesday Sep 30
            // + 3 skips Oct 1–8 to Oct 9, 10 and make-up Saturday Oct 11.
            (date(2025, 9, 26), 1, date(2025, 9, 28)),
            (date(2025, 9, 30), 3, date(2025, 10, 11)),
            // 2026: Wednesday 2025-12-31 + 1 skips New Year Jan 1–3 to make-up
            // Sunday Jan 4.
            (date(2025, 12, 31), 1, date(2026, 1, 4)),
            // 2026: Friday Feb 13 + 1 is make-up Saturday Feb 14; + 2 skips the
            // Spring Festival Feb 15–23 to Tuesday Feb 24.
            (date(2026, 2, 13), 1, date(2026, 2, 14)),
            (date(2026, 2, 13), 2, date(2026, 2, 24)),
        ];
        for (start, n, expected) in cases {
            assert_eq!(cal.add_working_days(start, n), expected, "{start} + {n}");
        }
    }

    #[test]
    fn working_days_between_counts_half_open_interval() {
        let cal = Calendar::builtin();
        // (2024-09-30, 2024-10-08]: only Tuesday Oct 8.
        assert_eq!(cal.working_days_between(date(2024, 9, 30), date(2024, 10, 8)), 1);
        assert_eq!(cal.working_days_between(date(2024, 10, 8), date(2024, 9, 30)), -1);
        // (2024-09-30, 2024-10-07] lies entirely in the holiday.
        assert_eq!(cal.working_days_between(date(2024, 9, 30), date(2024, 10, 7)), 0);
        // (Friday, Friday] of an ordinary week.
        assert_eq!(cal.working_days_between(date(2024, 3, 8), date(2024, 3, 15)), 5);
        assert_eq!(cal.working_days_between(date(2024, 3, 8), date(2024, 3, 8)), 0);
    }

    #[test]
    fn working_days_per_year() {
        let cal = Calendar::builtin();
        // 2024: 262 weekdays − 19 weekday holidays + 8 make-up days.
        assert_eq!(cal.working_days_between(date(2023, 12, 31), date(2024, 12, 31)), 251);
        // 2025: 261 weekdays − 18 weekday holidays + 5 make-up days.
        assert_eq!(cal.working_days_between(date(2024, 12, 31), date(2025, 12, 31)), 248);
    }

    #[test]
    fn working_day_deadline_uses_china_dates() {
        let cal = Calendar::builtin();
        // 2024-02-08T20:00Z is Friday 2024-02-09 04:00 CST. The first working
        // day after Feb 9 is make-up Sunday Feb 18, which ends at 00:00 CST on
        // Feb 19 = 2024-02-18T16:00Z.
        assert_eq!(cal.working_day_deadline(utc("2024-02-08T20:00:00Z"), 1), utc("2024-02-18T16:00:00Z"));
        // 2024-02-08T10:00Z is still Thursday Feb 8 in CST: + 1 is Friday Feb 9.
        assert_eq!(cal.working_day_deadline(utc("2024-02-08T10:00:00Z"), 1), utc("2024-02-09T16:00:00Z"));
        // Zero days: the end of the start day in CST.
        assert_eq!(cal.working_day_deadline(utc("2024-02-08T20:00:00Z"), 0), utc("2024-02-09T16:00:00Z"));
        // Monday 2024-09-30 09:00 CST + 5: Oct 8–12, ending 2024-10-12T16:00Z.
        assert_eq!(cal.working_day_deadline(utc("2024-09-30T01:00:00Z"), 5), utc("2024-10-12T16:00:00Z"));
    }

    #[test]
    fn parses_a_holiday_cn_file() {
        let json = r#"{
            "$schema": "https://example.org/schema.json",
            "year": 2024,
            "papers": ["https://www.gov.cn/"],
            "days": [
                {"name": "春节", "date": "2024-02-04", "isOffDay": false},
                {"name": "春节", "date": "2024-02-10", "isOffDay": true}
            ]
        }"#;
        let days = Calendar::parse_holiday_cn(json).unwrap();
        assert_eq!(
            days,
            [
                SpecialDay { date: date(2024, 2, 4), kind: DayKind::MakeUpWorkday, name: "春节".to_owned() },
                SpecialDay { date: date(2024, 2, 10), kind: DayKind::Holiday, name: "春节".to_owned() },
            ]
        );
        let empty = r#"{"year": 2027, "papers": [], "days": []}"#;
        assert_eq!(Calendar::parse_holiday_cn(empty).unwrap(), []);
    }

    #[test]
    fn rejects_malformed_holiday_cn_files() {
        // Not JSON at all, or truncated.
        assert!(invalid_data("not json"));
        assert!(invalid_data(r#"{"year": 2024, "days": ["#));
        // Missing fields.
        assert!(invalid_data(r#"{"year": 2024}"#));
        assert!(invalid_data(r#"{"days": []}"#));
        assert!(invalid_data(r#"{"year": 2024, "days": [{"name": "x", "date": "2024-02-04"}]}"#));
        // Wrong types and impossible dates.
        assert!(invalid_data(r#"{"year": 2024, "days": [{"name": "x", "date": "2024-02-04", "isOffDay": "no"}]}"#));
        assert!(invalid_data(r#"{"year": 2024, "days": [{"name": "x", "date": "2024-02-30", "isOffDay": true}]}"#));
    }

    #[test]
    fn rejects_inconsistent_holiday_cn_files() {
        let duplicate = r#"{"year": 2024, "days": [
            {"name": "a", "date": "2024-02-10", "isOffDay": true},
            {"name": "b", "date": "2024-02-10", "isOffDay": false}
        ]}"#;
        assert_eq!(
            Calendar::parse_holiday_cn(duplicate),
            Err(CalendarError::InvalidData("2024-02-10 is listed twice".to_owned()))
        );
        let wrong_year = r#"{"year": 2024, "days": [{"name": "a", "date": "2022-02-10", "isOffDay": true}]}"#;
        assert!(invalid_data(wrong_year));
        // The last days of the previous year are accepted.
        let previous_year = r#"{"year": 2023, "days": [{"name": "a", "date": "2022-12-31", "isOffDay": true}]}"#;
        assert_eq!(Calendar::parse_holiday_cn(previous_year).unwrap().len(), 1);
    }

    #[test]
    fn day_kinds_serialize_in_snake_case() {
        assert_eq!(serde_json::to_string(&DayKind::Holiday).unwrap(), r#""holiday""#);
        assert_eq!(serde_json::to_string(&DayKind::MakeUpWorkday).unwrap(), r#""make_up_workday""#);
        let day = SpecialDay { date: date(2024, 2, 4), kind: DayKind::MakeUpWorkday, name: "春节".to_owned() };
        let json = serde_json::to_string(&day).unwrap();
        assert_eq!(json, r#"{"date":"2024-02-04","kind":"make_up_workday","name":"春节"}"#);
        assert_eq!(serde_json::from_str::<SpecialDay>(&json).unwrap(), day);
    }
}
