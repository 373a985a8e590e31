//! Work-order time limits. Handling limits count working days on the calendar (Guangdong's
//! defaults: consultation 2, help and suggestion 10, complaint and report 15); an enterprise's
//! request must also be signed for within working hours (Zhuhai's "124": 1 working hour to
//! respond, 2 working days for a consultation, 4 for the rest).
//!
//! Working hours are the government's office hours on working days, 09:00–12:00 and
//! 14:00–18:00 China time.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use yiwang_calendar::{Calendar, china_date};

use super::model::{RequestType, RequesterKind};

/// Office hours (China time) on a working day.
const OFFICE_HOURS: [(u32, u32); 2] = [(9, 12), (14, 18)];
const CST: TimeDelta = TimeDelta::hours(8);

/// The defaults a new installation starts with: (type, requester kind, respond hours, days).
pub const DEFAULTS: &[(RequestType, RequesterKind, Option<i64>, i64)] = &[
    (RequestType::Consult, RequesterKind::Resident, None, 2),
    (RequestType::Help, RequesterKind::Resident, None, 10),
    (RequestType::Suggestion, RequesterKind::Resident, None, 10),
    (RequestType::Praise, RequesterKind::Resident, None, 10),
    (RequestType::Complaint, RequesterKind::Resident, None, 15),
    (RequestType::Report, RequesterKind::Resident, None, 15),
    (RequestType::Consult, RequesterKind::Enterprise, Some(1), 2),
    (RequestType::Help, RequesterKind::Enterprise, Some(1), 4),
    (RequestType::Suggestion, RequesterKind::Enterprise, Some(1), 4),
    (RequestType::Praise, RequesterKind::Enterprise, Some(1), 4),
    (RequestType::Complaint, RequesterKind::Enterprise, Some(1), 4),
    (RequestType::Report, RequesterKind::Enterprise, Some(1), 4),
];

/// The instant `hours` office hours after `start` on the calendar's working days.
pub fn add_working_hours(calendar: &Calendar, start: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
    let mut left = TimeDelta::hours(hours.into());
    let mut local = start.naive_utc() + CST;
    loop {
        let day = local.date();
        if calendar.is_working_day(day) {
            for (from, to) in OFFICE_HOURS {
                let (open, close) = (day.and_time(hm(from)), day.and_time(hm(to)));
                if local >= close {
                    continue;
                }
                let begin = local.max(open);
                let available = close - begin;
                if available >= left {
                    return (begin + left - CST).and_utc();
                }
                left -= available;
                local = close;
            }
        }
        local = (day + TimeDelta::days(1)).and_time(NaiveTime::MIN);
    }
}

fn hm(hour: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// The end of a limit of `days` working days counted from `start`.
pub fn handle_deadline(calendar: &Calendar, start: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    calendar.working_day_deadline(start, days)
}

/// A deadline moved on by `days` more working days (an approved extension, 延期).
pub fn extend(calendar: &Calendar, deadline: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    // The deadline is the exclusive end of its last day: that day is where counting resumes.
    let last_day = china_date(deadline - TimeDelta::milliseconds(1));
    let start = (last_day.and_time(NaiveTime::MIN) - CST).and_utc();
    calendar.working_day_deadline(start, days)
}

/// `red` when overdue (or not signed for within the response limit), `yellow` from 80% of the
/// time used, else `none`.
pub fn alarm(state: &str, created: i64, respond_by: Option<i64>, deadline: i64, now: i64) -> &'static str {
    let unsigned = matches!(state, "pending" | "dispatched");
    if now >= deadline || (unsigned && respond_by.is_some_and(|r| now >= r)) {
        "red"
    } else if (now - created) * 5 >= (deadline - created) * 4 {
        "yellow"
    } else {
        "none"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn working_hours_skip_lunch_nights_and_holidays() {
        let cal = Calendar::builtin();
        // Monday 23 Nov 2026 10:30 CST + 1 h = 11:30.
        assert_eq!(add_working_hours(&cal, utc("2026-11-23T02:30:00Z"), 1), utc("2026-11-23T03:30:00Z"));
        // 11:30 + 1 h: half an hour before lunch, half after: 14:30.
        assert_eq!(add_working_hours(&cal, utc("2026-11-23T03:30:00Z"), 1), utc("2026-11-23T06:30:00Z"));
        // Friday 27 Nov 17:30 + 1 h: Monday 30 Nov 09:30.
        assert_eq!(add_working_hours(&cal, utc("2026-11-27T09:30:00Z"), 1), utc("2026-11-30T01:30:00Z"));
        // Saturday night: Monday 09:00 + 1 h.
        assert_eq!(add_working_hours(&cal, utc("2026-11-28T14:00:00Z"), 1), utc("2026-11-30T02:00:00Z"));
        // Wednesday 30 Sep 2026 17:00 + 2 h: National Day holiday until 7 Oct; 10 Oct is a make-up
        // Saturday but 8 Oct (Thursday) comes first: 8 Oct 10:00.
        assert_eq!(add_working_hours(&cal, utc("2026-09-30T09:00:00Z"), 2), utc("2026-10-08T02:00:00Z"));
    }

    #[test]
    fn extensions_count_on_from_the_last_day() {
        let cal = Calendar::builtin();
        // Created Monday 23 Nov: 2 working days end with Wednesday 25 Nov.
        let deadline = handle_deadline(&cal, utc("2026-11-23T02:00:00Z"), 2);
        assert_eq!(deadline, utc("2026-11-25T16:00:00Z"));
        // 3 more working days: Thursday, Friday, Monday 30 Nov.
        assert_eq!(extend(&cal, deadline, 3), utc("2026-11-30T16:00:00Z"));
    }

    #[test]
    fn alarms_by_share_of_time_used() {
        assert_eq!(alarm("signed", 0, None, 100, 79), "none");
        assert_eq!(alarm("signed", 0, None, 100, 80), "yellow");
        assert_eq!(alarm("signed", 0, None, 100, 100), "red");
        assert_eq!(alarm("dispatched", 0, Some(10), 100, 10), "red");
        assert_eq!(alarm("signed", 0, Some(10), 100, 10), "none");
    }
}
