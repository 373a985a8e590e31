//! What time it is for time limits: the system clock, or a time set by a test of deadlines that
//! cross holidays (which cannot wait for the calendar to come round).

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

#[derive(Clone, Default)]
pub struct Clock {
    set_to: Arc<RwLock<Option<DateTime<Utc>>>>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        self.set_to.read().map(|t| *t).unwrap_or(None).unwrap_or_else(Utc::now)
    }

    /// Sets the time (`None`: back to the system clock).
    pub fn set(&self, time: Option<DateTime<Utc>>) {
        if let Ok(mut t) = self.set_to.write() {
            *t = time;
        }
    }
}
