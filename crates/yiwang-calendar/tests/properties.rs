//! Property tests of working-day arithmetic on the embedded calendar.

use std::sync::LazyLock;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, Utc};
use proptest::prelude::*;
use yiwang_calendar::{Calendar, LimitClock, LimitUnit, add_clock_hours, china_date};

static CAL: LazyLock<Calendar> = LazyLock::new(Calendar::builtin);

/// Any date from 2007-01-01 to 2027-12-31.
fn any_date() -> impl Strategy<Value = NaiveDate> {
    let first = NaiveDate::from_ymd_opt(2007, 1, 1).unwrap();
    let last = NaiveDate::from_ymd_opt(2027, 12, 31).unwrap();
    let span = u64::try_from((last - first).num_days()).unwrap();
    (0..=span).prop_map(move |offset| first + Days::new(offset))
}

/// Any instant within `any_date`, to the second.
fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    (any_date(), 0..86_400u32).prop_map(|(date, secs)| {
        date.and_time(NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).unwrap()).and_utc()
    })
}

proptest! {
    #[test]
    fn between_inverts_add(d in any_date(), n in 0..400u32) {
        let end = CAL.add_working_days(d, n);
        prop_assert_eq!(CAL.working_days_between(d, end), i64::from(n));
        prop_assert_eq!(CAL.working_days_between(end, d), -i64::from(n));
    }

    #[test]
    fn add_ends_on_a_working_day(d in any_date(), n in 1..400u32) {
        let end = CAL.add_working_days(d, n);
        prop_assert!(end > d);
        prop_assert!(CAL.is_working_day(end));
    }

    #[test]
    fn add_is_strictly_monotonic(d in any_date(), n in 0..400u32) {
        prop_assert!(CAL.add_working_days(d, n) < CAL.add_working_days(d, n + 1));
    }

    #[test]
    fn add_is_additive(d in any_date(), n in 0..400u32, m in 0..400u32) {
        prop_assert_eq!(
            CAL.add_working_days(d, n + m),
            CAL.add_working_days(CAL.add_working_days(d, n), m)
        );
    }

    #[test]
    fn between_is_additive(a in any_date(), b in any_date(), c in any_date()) {
        prop_assert_eq!(
            CAL.working_days_between(a, b) + CAL.working_days_between(b, c),
            CAL.working_days_between(a, c)
        );
    }

    #[test]
    fn deadline_is_the_end_of_a_cst_day(start in any_instant(), n in 0..400u32) {
        let deadline = CAL.working_day_deadline(start, n);
        let last_day = CAL.add_working_days(china_date(start), n);
        // The deadline is the first instant of the day after the last day.
        prop_assert_eq!(china_date(deadline), last_day.succ_opt().unwrap());
        prop_assert_eq!(china_date(deadline - TimeDelta::nanoseconds(1)), last_day);
    }

    /// A pause that ends before the deadline day moves the deadline by the
    /// working days in (pause date, resume date].
    #[test]
    fn early_pause_adds_back_its_working_days(
        start in any_instant(),
        n in 1..200u32,
        pause_after_secs in 0..30 * 86_400i64,
        pause_secs in 0..30 * 86_400i64,
    ) {
        let paused_at = start + TimeDelta::seconds(pause_after_secs);
        let resumed_at = paused_at + TimeDelta::seconds(pause_secs);
        prop_assume!(china_date(paused_at) < CAL.add_working_days(china_date(start), n));

        let mut clock = LimitClock::start(start, LimitUnit::WorkingDays(n));
        clock.pause(paused_at).unwrap();
        prop_assert_eq!(clock.deadline(&CAL), None);
        clock.resume(resumed_at).unwrap();
        let added = CAL.working_days_between(china_date(paused_at), china_date(resumed_at));
        let expected = CAL.working_day_deadline(start, n + u32::try_from(added).unwrap());
        prop_assert_eq!(clock.deadline(&CAL), Some(expected));
        prop_assert!((clock.elapsed_fraction(&CAL, expected) - 1.0).abs() < 1e-9);
    }

    /// Clock-hour deadlines move by the paused duration when the pause starts
    /// before the deadline.
    #[test]
    fn clock_hour_pause_adds_back_its_duration(
        start in any_instant(),
        hours in 1..200u32,
        pause_after_secs in 0..86_400i64,
        pause_secs in 0..30 * 86_400i64,
    ) {
        prop_assume!(pause_after_secs < i64::from(hours) * 3600);
        let paused_at = start + TimeDelta::seconds(pause_after_secs);
        let pause = TimeDelta::seconds(pause_secs);
        let mut clock = LimitClock::start(start, LimitUnit::ClockHours(hours));
        clock.pause(paused_at).unwrap();
        clock.resume(paused_at + pause).unwrap();
        let expected = add_clock_hours(start, hours) + pause;
        prop_assert_eq!(clock.deadline(&CAL), Some(expected));
    }
}
