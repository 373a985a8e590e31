//! The working-day calendar as the platform keeps it: the holiday table (seeded from the State
//! Council notices shipped in `yiwang-calendar`, editable by a platform admin when next year's
//! notice comes out) and the in-memory [`Calendar`] every deadline is computed with.
//!
//! Errors are [`CalendarAdminError`].

pub mod api;
mod store;

use std::sync::{Arc, RwLock};

use chrono::NaiveDate;
use yiwang_calendar::{Calendar, DayKind, SpecialDay};

use crate::identity::Principal;
use crate::ledger;
use crate::store::{Store, now_ms, outbox};

#[derive(Debug, thiserror::Error)]
pub enum CalendarAdminError {
    #[error("{field}: {message}")]
    Invalid { field: &'static str, code: &'static str, message: String },
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The calendar shared by request handlers; replaced whole when the table changes.
#[derive(Clone)]
pub struct SharedCalendar(Arc<RwLock<Arc<Calendar>>>);

impl SharedCalendar {
    pub fn new(calendar: Calendar) -> Self {
        SharedCalendar(Arc::new(RwLock::new(Arc::new(calendar))))
    }

    pub fn get(&self) -> Arc<Calendar> {
        self.0.read().map(|c| c.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    fn set(&self, calendar: Calendar) {
        let mut slot = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Arc::new(calendar);
    }

    /// Reads the table again, so that an edit made on another node is seen here.
    pub async fn reload(&self, store: &Store) -> Result<(), CalendarAdminError> {
        self.set(load(store).await?);
        Ok(())
    }
}

/// Fills an empty holiday table from the shipped notices; an edited table is left alone.
pub async fn seed_if_empty(store: &Store) -> Result<usize, CalendarAdminError> {
    let mut tx = store.begin_write().await?;
    if store::count(&mut tx).await? > 0 {
        return Ok(0);
    }
    let days = Calendar::builtin_days();
    let now = now_ms();
    for day in &days {
        store::upsert(&mut tx, day, None, now).await?;
    }
    tx.commit().await?;
    Ok(days.len())
}

pub async fn load(store: &Store) -> Result<Calendar, CalendarAdminError> {
    let mut conn = store.pool().acquire().await?;
    let days = store::all(&mut conn).await?;
    Ok(Calendar::from_days(days))
}

pub fn days_of_year(calendar: &Calendar, year: i32) -> Vec<SpecialDay> {
    let Some(first) = NaiveDate::from_ymd_opt(year, 1, 1) else {
        return Vec::new();
    };
    first
        .iter_days()
        .take_while(|d| chrono::Datelike::year(d) == year)
        .filter_map(|d| calendar.special_day(d).cloned())
        .collect()
}

/// Only a platform admin at the top of the tree edits the calendar: it is national.
fn check_admin(actor: &Principal) -> Result<(), CalendarAdminError> {
    if actor.is_city_admin() { Ok(()) } else { Err(CalendarAdminError::Forbidden) }
}

pub async fn set_day(
    store: &Store,
    calendar: &SharedCalendar,
    actor: &Principal,
    day: SpecialDay,
) -> Result<(), CalendarAdminError> {
    check_admin(actor)?;
    if day.name.trim().is_empty() || day.name.chars().count() > 50 {
        return Err(CalendarAdminError::Invalid {
            field: "name",
            code: "invalid_name",
            message: "名称应为1-50个字符 / 1-50 characters".into(),
        });
    }
    let mut tx = store.begin_write().await?;
    store::upsert(&mut tx, &day, Some(actor.account_id), now_ms()).await?;
    let event = serde_json::json!({"day": day.date, "kind": day.kind, "name": day.name, "by": actor.account_id});
    outbox::append(&mut tx, "calendar.day_set", &event)?;
    // Legal deadlines follow this table, so every edit is provable.
    ledger::record(
        &mut tx,
        "calendar.day_set",
        format!("calendar:{}", day.date),
        ledger::actor(Some(actor.account_id)),
        &event,
    )?;
    tx.commit().await?;
    calendar.reload(store).await
}

pub async fn remove_day(
    store: &Store,
    calendar: &SharedCalendar,
    actor: &Principal,
    date: NaiveDate,
) -> Result<(), CalendarAdminError> {
    check_admin(actor)?;
    let mut tx = store.begin_write().await?;
    if !store::delete(&mut tx, date).await? {
        return Err(CalendarAdminError::NotFound);
    }
    let event = serde_json::json!({"day": date, "by": actor.account_id});
    outbox::append(&mut tx, "calendar.day_removed", &event)?;
    ledger::record(
        &mut tx,
        "calendar.day_removed",
        format!("calendar:{date}"),
        ledger::actor(Some(actor.account_id)),
        &event,
    )?;
    tx.commit().await?;
    calendar.reload(store).await
}

pub fn parse_kind(kind: &str) -> Result<DayKind, CalendarAdminError> {
    match kind {
        "holiday" => Ok(DayKind::Holiday),
        "make_up_workday" => Ok(DayKind::MakeUpWorkday),
        _ => Err(CalendarAdminError::Invalid {
            field: "kind",
            code: "invalid_day_kind",
            message: "应为 holiday 或 make_up_workday / holiday or make_up_workday".into(),
        }),
    }
}

pub fn parse_date(field: &'static str, value: &str) -> Result<NaiveDate, CalendarAdminError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| CalendarAdminError::Invalid {
        field,
        code: "invalid_date",
        message: "日期格式应为 YYYY-MM-DD / a date like 2024-02-04".into(),
    })
}
