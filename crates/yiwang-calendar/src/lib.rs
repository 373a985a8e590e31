//! The working-day calendar of mainland China, for statutory time limits.
//!
//! Legal time limits of the platform are counted in working days (工作日):
//! Monday to Friday, except public holidays, plus the make-up working days
//! (调休) on which the State Council moves work to a Saturday or Sunday. This
//! crate knows those days and counts limits with them; it knows nothing about
//! HTTP or databases.
//!
//! # Data
//!
//! [`Calendar::builtin`] embeds the holiday data of the
//! [holiday-cn](https://github.com/NateScarlet/holiday-cn) project (MIT
//! license) for 2007 onwards; every year file links the State Council notice
//! it comes from. The program needs no file at run time. Only the listed
//! dates depart from the Monday–Friday rule, so a year whose notice has not
//! been published yet (2027 at the time of writing) is counted by the plain
//! Monday–Friday rule; [`Calendar::covered_years`] tells which years have
//! data. [`Calendar::builtin_days`] exposes the same data as a list, and
//! [`Calendar::from_days`] builds a calendar from any list, e.g. one read
//! back from a database.
//!
//! # Counting rules
//!
//! * **Dates are China Standard Time** (UTC+8, no daylight saving time).
//!   Instants are mapped to their CST date ([`china_date`]) before counting.
//! * **The start day does not count** (期间开始之日不计算在期间内). Day 1 of a
//!   limit is the first working day *after* the start date, whatever the time
//!   of day or the kind of day the limit started on. A 5-working-day limit
//!   started on a Friday ends on the next Friday when there is no holiday in
//!   between ([`Calendar::add_working_days`]). A limit of 0 working days ends
//!   on its start day.
//! * **Deadlines are exclusive instants**: the deadline of a limit is the end
//!   of its last day, 00:00 CST of the following calendar day (16:00 UTC),
//!   and an act is on time if and only if it happens strictly before it
//!   ([`Calendar::working_day_deadline`]).
//! * [`Calendar::working_days_between`] counts the working days in the
//!   half-open interval (`from`, `to`], the inverse of
//!   [`Calendar::add_working_days`].
//! * **Clock-hour limits** ("respond within 1 hour") are natural hours that
//!   ignore the calendar ([`add_clock_hours`]).
//! * **Pauses** (补正: the clock stops while the applicant supplements the
//!   application) are handled by [`LimitClock`]; the day on which the clock is
//!   paused still counts, the working days after it up to and including the
//!   resume day do not (see [its pause rules](LimitClock#pause-rules)).
//!
//! ```
//! use chrono::NaiveDate;
//! use yiwang_calendar::Calendar;
//!
//! let cal = Calendar::builtin();
//! let monday = NaiveDate::from_ymd_opt(2024, 9, 30).unwrap();
//! // National Day: 1–7 October 2024 are holidays.
//! let tuesday = NaiveDate::from_ymd_opt(2024, 10, 8).unwrap();
//! assert_eq!(cal.add_working_days(monday, 1), tuesday);
//! assert_eq!(cal.working_days_between(monday, tuesday), 1);
//! ```

mod calendar;
mod china_time;
mod clock;
mod error;

pub use calendar::{Calendar, DayKind, SpecialDay};
pub use china_time::{add_clock_hours, china_date};
pub use clock::{LimitClock, LimitUnit, Pause};
pub use error::CalendarError;
