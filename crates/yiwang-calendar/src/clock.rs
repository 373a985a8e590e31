//! Time-limit clocks that can be paused and resumed.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::china_time::{china_date, end_of_china_day};
use crate::{Calendar, CalendarError};

/// The length of a time limit.
///
/// Serialized as `{"unit": "working_days", "amount": 20}` or
/// `{"unit": "clock_hours", "amount": 1}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "unit", content = "amount", rename_all = "snake_case")]
pub enum LimitUnit {
    /// A number of working days, counted with a [`Calendar`].
    WorkingDays(u32),
    /// A number of natural hours, weekends and holidays included.
    ClockHours(u32),
}

/// A completed pause of a [`LimitClock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// When the clock was stopped.
    pub paused_at: DateTime<Utc>,
    /// When the clock was started again.
    pub resumed_at: DateTime<Utc>,
}

impl Pause {
    /// Whether the pause excludes `day` from a working-day count: the days
    /// after the pause date up to and including the resume date (CST).
    fn excludes(&self, day: NaiveDate) -> bool {
        china_date(self.paused_at) < day && day <= china_date(self.resumed_at)
    }

    /// How much of the pause lies before `until`.
    fn duration_before(&self, until: DateTime<Utc>) -> TimeDelta {
        (self.resumed_at.min(until) - self.paused_at).max(TimeDelta::zero())
    }
}

/// A statutory time-limit clock that can be paused, e.g. while the applicant
/// is asked to supplement the application (补正): the time spent waiting for
/// the applicant does not count against the limit.
///
/// # Pause rules
///
/// * **Clock hours**: the natural time between pause and resume is not
///   counted; the deadline moves by the paused duration.
/// * **Working days**: days are counted whole, on China Standard Time dates.
///   The day on which the clock is paused still counts (it was running that
///   day); the working days after it, up to and including the day on which the
///   clock resumes, do not — the resume day is treated like the start day,
///   which never counts. A pause from Tuesday to Thursday of an ordinary week
///   therefore moves the deadline by two working days (Wednesday and
///   Thursday), a pause and resume on the same day does not move it, and a
///   pause from Friday to Monday moves it by one.
///
/// In both cases only the counting time before the deadline is extended: a
/// pause that begins at or after the deadline (for working days: on or after
/// the last day of the limit) does not move it, so pausing cannot revive a
/// limit that has already run out.
///
/// The clock serializes to JSON so that it can be stored with the case it
/// belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitClock {
    started_at: DateTime<Utc>,
    limit: LimitUnit,
    pauses: Vec<Pause>,
    paused_since: Option<DateTime<Utc>>,
}

impl LimitClock {
    /// A running clock for `limit`, started at `at`.
    pub fn start(at: DateTime<Utc>, limit: LimitUnit) -> Self {
        LimitClock { started_at: at, limit, pauses: Vec::new(), paused_since: None }
    }

    /// When the clock was started.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// The length of the limit.
    pub fn limit(&self) -> LimitUnit {
        self.limit
    }

    /// The completed pauses, oldest first.
    pub fn pauses(&self) -> &[Pause] {
        &self.pauses
    }

    /// When the current pause began, if the clock is paused.
    pub fn paused_since(&self) -> Option<DateTime<Utc>> {
        self.paused_since
    }

    /// Whether the clock is paused.
    pub fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// Stops the clock at `at`.
    ///
    /// # Errors
    ///
    /// [`CalendarError::AlreadyPaused`] when the clock is paused, and
    /// [`CalendarError::OutOfOrder`] when `at` is before the start or the
    /// last resume.
    pub fn pause(&mut self, at: DateTime<Utc>) -> Result<(), CalendarError> {
        if self.is_paused() {
            return Err(CalendarError::AlreadyPaused);
        }
        self.check_order(at)?;
        self.paused_since = Some(at);
        Ok(())
    }

    /// Starts the paused clock again at `at`.
    ///
    /// # Errors
    ///
    /// [`CalendarError::NotPaused`] when the clock is running, and
    /// [`CalendarError::OutOfOrder`] when `at` is before the pause.
    pub fn resume(&mut self, at: DateTime<Utc>) -> Result<(), CalendarError> {
        let Some(paused_at) = self.paused_since else {
            return Err(CalendarError::NotPaused);
        };
        self.check_order(at)?;
        self.pauses.push(Pause { paused_at, resumed_at: at });
        self.paused_since = None;
        Ok(())
    }

    /// The current deadline (exclusive, as in
    /// [`Calendar::working_day_deadline`]), taking the completed pauses into
    /// account as described in the [pause rules](LimitClock#pause-rules);
    /// `None` while the clock is paused, since the deadline then depends on
    /// when it resumes.
    pub fn deadline(&self, cal: &Calendar) -> Option<DateTime<Utc>> {
        (!self.is_paused()).then(|| self.deadline_after_completed_pauses(cal))
    }

    /// The fraction of the allowed time used at `now`: `0.0` at the start,
    /// exactly `1.0` at the deadline and above `1.0` once it has passed.
    ///
    /// The fraction is the running (not paused) natural time from the start
    /// to `now`, divided by the running natural time from the start to the
    /// deadline. For working-day limits weekends and holidays inside the limit
    /// therefore advance it too, which keeps it continuous. While the clock is
    /// paused the fraction stays at its value at the pause; when the clock
    /// resumes it can shift a little, because the deadline moves by whole
    /// working days rather than by the paused time. Before the start it is
    /// `0.0`; a limit with no running time at all (`ClockHours(0)`) gives
    /// `0.0` until its deadline and infinity after it.
    pub fn elapsed_fraction(&self, cal: &Calendar, now: DateTime<Utc>) -> f64 {
        let now = self.paused_since.map_or(now, |paused_at| now.min(paused_at));
        let used = self.running_time_until(now);
        let allowed = self.running_time_until(self.deadline_after_completed_pauses(cal));
        if allowed > TimeDelta::zero() {
            used.as_seconds_f64() / allowed.as_seconds_f64()
        } else if used > TimeDelta::zero() {
            f64::INFINITY
        } else {
            0.0
        }
    }

    /// The time of the clock's latest event.
    fn last_event(&self) -> DateTime<Utc> {
        self.paused_since.or_else(|| self.pauses.last().map(|pause| pause.resumed_at)).unwrap_or(self.started_at)
    }

    fn check_order(&self, at: DateTime<Utc>) -> Result<(), CalendarError> {
        let previous = self.last_event();
        if at < previous {
            return Err(CalendarError::OutOfOrder { at, previous });
        }
        Ok(())
    }

    /// The deadline as if the clock were running, ignoring a current pause.
    fn deadline_after_completed_pauses(&self, cal: &Calendar) -> DateTime<Utc> {
        match self.limit {
            LimitUnit::WorkingDays(n) => {
                let last_day = cal.nth_counted_day(china_date(self.started_at), n, |day| {
                    self.pauses.iter().any(|pause| pause.excludes(day))
                });
                end_of_china_day(last_day)
            }
            LimitUnit::ClockHours(hours) => {
                let mut remaining = TimeDelta::hours(hours.into());
                let mut running_since = self.started_at;
                for pause in &self.pauses {
                    let run = pause.paused_at - running_since;
                    if run >= remaining {
                        break;
                    }
                    remaining -= run;
                    running_since = pause.resumed_at;
                }
                running_since + remaining
            }
        }
    }

    /// The natural time from the start to `until` during which the clock ran,
    /// counting completed pauses only.
    fn running_time_until(&self, until: DateTime<Utc>) -> TimeDelta {
        if until <= self.started_at {
            return TimeDelta::zero();
        }
        let paused: TimeDelta = self.pauses.iter().map(|pause| pause.duration_before(until)).sum();
        until - self.started_at - paused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    /// A clock of `limit` started at `start`, paused and resumed at the given
    /// pairs of instants.
    fn clock(start: &str, limit: LimitUnit, pauses: &[(&str, &str)]) -> LimitClock {
        let mut clock = LimitClock::start(utc(start), limit);
        for &(paused_at, resumed_at) in pauses {
            clock.pause(utc(paused_at)).unwrap();
            clock.resume(utc(resumed_at)).unwrap();
        }
        clock
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-9, "{actual} is not {expected}");
    }

    // Monday 2024-03-04 10:00 CST; March 2024 has no holidays.
    const MONDAY: &str = "2024-03-04T02:00:00Z";
    // The end of Monday 2024-03-11 (CST): 5 working days after MONDAY.
    const FIVE_DAYS_LATER: &str = "2024-03-11T16:00:00Z";

    #[test]
    fn unpaused_clock_matches_the_calendar() {
        let cal = Calendar::builtin();
        let clock = clock(MONDAY, LimitUnit::WorkingDays(5), &[]);
        assert_eq!(clock.deadline(&cal), Some(utc(FIVE_DAYS_LATER)));
        assert_eq!(clock.deadline(&cal), Some(cal.working_day_deadline(utc(MONDAY), 5)));
    }

    #[test]
    fn pause_adds_back_the_paused_working_days() {
        let cal = Calendar::builtin();
        // Paused Tuesday 10:00 CST, resumed Thursday 10:00 CST: Wednesday and
        // Thursday do not count, so Tue, Fri, Mon, Tue, Wed are the five days.
        let clock = clock(MONDAY, LimitUnit::WorkingDays(5), &[("2024-03-05T02:00:00Z", "2024-03-07T02:00:00Z")]);
        assert_eq!(clock.deadline(&cal), Some(utc("2024-03-13T16:00:00Z")));
    }

    #[test]
    fn pause_over_a_weekend_adds_back_one_day() {
        let cal = Calendar::builtin();
        // Paused Friday 17:00 CST, resumed Monday 09:00 CST: only Monday is
        // a working day after the pause date.
        let clock = clock(MONDAY, LimitUnit::WorkingDays(5), &[("2024-03-08T09:00:00Z", "2024-03-11T01:00:00Z")]);
        assert_eq!(clock.deadline(&cal), Some(utc("2024-03-12T16:00:00Z")));
    }

    #[test]
    fn pause_within_one_day_moves_nothing() {
        let cal = Calendar::builtin();
        let clock = clock(MONDAY, LimitUnit::WorkingDays(5), &[("2024-03-05T01:00:00Z", "2024-03-05T09:00:00Z")]);
        assert_eq!(clock.deadline(&cal), Some(utc(FIVE_DAYS_LATER)));
    }

    #[test]
    fn pause_over_a_holiday_counts_only_working_days() {
        let cal = Calendar::builtin();
        // Started Friday 2024-09-27, 3 working days: make-up Sunday Sep 29,
        // Monday Sep 30 and Tuesday Oct 8.
        let unpaused = clock("2024-09-27T02:00:00Z", LimitUnit::WorkingDays(3), &[]);
        assert_eq!(unpaused.deadline(&cal), Some(utc("2024-10-08T16:00:00Z")));
        // Paused on Sep 29, resumed on Oct 9: Sep 30, Oct 8 and Oct 9 are
        // excluded, so the days are Sep 29, Oct 10 and Oct 11.
        let paused = clock(
            "2024-09-27T02:00:00Z",
            LimitUnit::WorkingDays(3),
            &[("2024-09-29T02:00:00Z", "2024-10-09T02:00:00Z")],
        );
        assert_eq!(paused.deadline(&cal), Some(utc("2024-10-11T16:00:00Z")));
    }

    #[test]
    fn several_pauses_add_up() {
        let cal = Calendar::builtin();
        // Tue→Wed excludes Wednesday, Thu→Fri excludes Friday: + 2 days.
        let clock = clock(
            MONDAY,
            LimitUnit::WorkingDays(5),
            &[("2024-03-05T02:00:00Z", "2024-03-06T02:00:00Z"), ("2024-03-07T02:00:00Z", "2024-03-08T02:00:00Z")],
        );
        assert_eq!(clock.deadline(&cal), Some(utc("2024-03-13T16:00:00Z")));
    }

    #[test]
    fn pause_on_the_last_day_does_not_extend_the_limit() {
        let cal = Calendar::builtin();
        // Paused during Monday 2024-03-11, the last day, resumed Wednesday.
        let clock = clock(MONDAY, LimitUnit::WorkingDays(5), &[("2024-03-11T02:00:00Z", "2024-03-13T02:00:00Z")]);
        assert_eq!(clock.deadline(&cal), Some(utc(FIVE_DAYS_LATER)));
    }

    #[test]
    fn no_deadline_while_paused() {
        let cal = Calendar::builtin();
        let mut clock = clock(MONDAY, LimitUnit::WorkingDays(5), &[]);
        clock.pause(utc("2024-03-05T02:00:00Z")).unwrap();
        assert!(clock.is_paused());
        assert_eq!(clock.paused_since(), Some(utc("2024-03-05T02:00:00Z")));
        assert_eq!(clock.deadline(&cal), None);
        clock.resume(utc("2024-03-05T03:00:00Z")).unwrap();
        assert!(!clock.is_paused());
        assert_eq!(clock.deadline(&cal), Some(utc(FIVE_DAYS_LATER)));
        assert_eq!(
            clock.pauses(),
            [Pause { paused_at: utc("2024-03-05T02:00:00Z"), resumed_at: utc("2024-03-05T03:00:00Z") }]
        );
    }

    #[test]
    fn pause_and_resume_errors() {
        let mut clock = LimitClock::start(utc(MONDAY), LimitUnit::WorkingDays(5));
        assert_eq!(clock.resume(utc("2024-03-05T00:00:00Z")), Err(CalendarError::NotPaused));
        assert_eq!(
            clock.pause(utc("2024-03-04T01:59:59Z")),
            Err(CalendarError::OutOfOrder { at: utc("2024-03-04T01:59:59Z"), previous: utc(MONDAY) })
        );
        clock.pause(utc("2024-03-05T00:00:00Z")).unwrap();
        assert_eq!(clock.pause(utc("2024-03-06T00:00:00Z")), Err(CalendarError::AlreadyPaused));
        assert!(matches!(clock.resume(utc("2024-03-04T23:00:00Z")), Err(CalendarError::OutOfOrder { .. })));
        clock.resume(utc("2024-03-06T00:00:00Z")).unwrap();
        assert!(matches!(clock.pause(utc("2024-03-05T12:00:00Z")), Err(CalendarError::OutOfOrder { .. })));
        // Failed calls leave the clock unchanged.
        assert!(!clock.is_paused());
        assert_eq!(clock.pauses().len(), 1);
    }

    #[test]
    fn clock_hours_move_by_the_paused_duration() {
        let cal = Calendar::builtin();
        // Saturday 2024-03-09 22:00 CST: clock hours ignore the weekend.
        let start = "2024-03-09T14:00:00Z";
        let unpaused = clock(start, LimitUnit::ClockHours(1), &[]);
        assert_eq!(unpaused.deadline(&cal), Some(utc("2024-03-09T15:00:00Z")));
        // Paused after 20 minutes for 2 hours 30 minutes.
        let paused = clock(start, LimitUnit::ClockHours(1), &[("2024-03-09T14:20:00Z", "2024-03-09T16:50:00Z")]);
        assert_eq!(paused.deadline(&cal), Some(utc("2024-03-09T17:30:00Z")));
        // A pause that begins at the deadline does not move it.
        let late = clock(start, LimitUnit::ClockHours(1), &[("2024-03-09T15:00:00Z", "2024-03-09T18:00:00Z")]);
        assert_eq!(late.deadline(&cal), Some(utc("2024-03-09T15:00:00Z")));
    }

    #[test]
    fn elapsed_fraction_of_clock_hours_skips_pauses() {
        let cal = Calendar::builtin();
        let mut clock = LimitClock::start(utc("2024-03-09T00:00:00Z"), LimitUnit::ClockHours(10));
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-08T23:00:00Z")), 0.0);
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-09T00:00:00Z")), 0.0);
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-09T04:00:00Z")), 0.4);
        clock.pause(utc("2024-03-09T04:00:00Z")).unwrap();
        // Frozen while paused.
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-09T06:00:00Z")), 0.4);
        clock.resume(utc("2024-03-09T07:00:00Z")).unwrap();
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-09T05:00:00Z")), 0.4);
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-09T09:00:00Z")), 0.6);
        // The deadline is 13:00 after the 3-hour pause.
        assert_eq!(clock.deadline(&cal), Some(utc("2024-03-09T13:00:00Z")));
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-09T13:00:00Z")), 1.0);
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-09T14:00:00Z")), 1.1);
    }

    #[test]
    fn elapsed_fraction_of_working_days() {
        let cal = Calendar::builtin();
        // Friday 2024-03-08 00:00 CST + 1 working day: the end of Monday
        // 2024-03-11, i.e. 4 natural days of allowed time.
        let mut clock = LimitClock::start(utc("2024-03-07T16:00:00Z"), LimitUnit::WorkingDays(1));
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-08T16:00:00Z")), 0.25);
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-10T16:00:00Z")), 0.75);
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-11T16:00:00Z")), 1.0);
        assert!(clock.elapsed_fraction(&cal, utc("2024-03-11T16:00:01Z")) > 1.0);
        // Paused for the whole of Saturday (CST), resumed at Sunday 00:00: no
        // working day is excluded, so the deadline stays, but the paused day
        // leaves 3 running days, of which Friday is used when it resumes.
        // While paused, the fraction stays at its value at the pause.
        clock.pause(utc("2024-03-08T16:00:00Z")).unwrap();
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-09T12:00:00Z")), 0.25);
        clock.resume(utc("2024-03-09T16:00:00Z")).unwrap();
        assert_eq!(clock.deadline(&cal), Some(utc("2024-03-11T16:00:00Z")));
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-09T16:00:00Z")), 1.0 / 3.0);
        assert_close(clock.elapsed_fraction(&cal, utc("2024-03-11T16:00:00Z")), 1.0);
    }

    #[test]
    fn elapsed_fraction_of_an_empty_limit() {
        let cal = Calendar::builtin();
        let clock = LimitClock::start(utc(MONDAY), LimitUnit::ClockHours(0));
        assert_eq!(clock.elapsed_fraction(&cal, utc(MONDAY)), 0.0);
        assert_eq!(clock.elapsed_fraction(&cal, utc("2024-03-04T02:00:01Z")), f64::INFINITY);
    }

    #[test]
    fn clock_round_trips_through_json() {
        let mut clock = clock(MONDAY, LimitUnit::WorkingDays(5), &[("2024-03-05T02:00:00Z", "2024-03-07T02:00:00Z")]);
        clock.pause(utc("2024-03-08T02:00:00Z")).unwrap();
        let json = serde_json::to_value(&clock).unwrap();
        assert_eq!(json["limit"], serde_json::json!({"unit": "working_days", "amount": 5}));
        assert_eq!(json["paused_since"], "2024-03-08T02:00:00Z");
        let back: LimitClock = serde_json::from_value(json).unwrap();
        assert_eq!(back, clock);
        assert_eq!(serde_json::to_string(&LimitUnit::ClockHours(1)).unwrap(), r#"{"unit":"clock_hours","amount":1}"#);
    }
}
