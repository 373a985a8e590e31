//! The error type of the crate.

use chrono::{DateTime, Utc};
use thiserror::Error;

/// Errors reported by the calendar and by [`LimitClock`](crate::LimitClock).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CalendarError {
    /// Holiday data could not be parsed or is inconsistent.
    #[error("invalid holiday data: {0}")]
    InvalidData(String),
    /// [`LimitClock::pause`](crate::LimitClock::pause) was called on a paused clock.
    #[error("the time-limit clock is already paused")]
    AlreadyPaused,
    /// [`LimitClock::resume`](crate::LimitClock::resume) was called on a running clock.
    #[error("the time-limit clock is not paused")]
    NotPaused,
    /// A clock event was dated before the previous event of the same clock.
    #[error("clock event at {at} precedes the previous event at {previous}")]
    OutOfOrder {
        /// The rejected event time.
        at: DateTime<Utc>,
        /// The time of the clock's latest event (start, pause or resume).
        previous: DateTime<Utc>,
    },
}
