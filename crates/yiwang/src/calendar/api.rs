//! JSON handlers for the working-day calendar.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use yiwang_calendar::{DayKind, SpecialDay};

use super::{CalendarAdminError, parse_date, parse_kind};
use crate::AppState;
use crate::http::auth::Actor;
use crate::http::error::ApiError;
use crate::http::extract::{Json, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_days))
        .routes(routes!(set_day, delete_day))
        .routes(routes!(deadline))
        .routes(routes!(working_days_between))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CalendarDay {
    /// YYYY-MM-DD
    pub date: String,
    /// `holiday` (放假) or `make_up_workday` (调休上班)
    pub kind: String,
    pub name: String,
}

impl From<SpecialDay> for CalendarDay {
    fn from(d: SpecialDay) -> Self {
        CalendarDay {
            date: d.date.format("%Y-%m-%d").to_string(),
            kind: match d.kind {
                DayKind::Holiday => "holiday",
                DayKind::MakeUpWorkday => "make_up_workday",
            }
            .into(),
            name: d.name,
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct YearQuery {
    /// The year, e.g. 2024.
    pub year: i32,
}

/// Holidays and make-up working days of a year.
#[utoipa::path(get, path = "/api/calendar/days", tag = "calendar", params(YearQuery),
    responses((status = 200, description = "OK", body = [CalendarDay]), (status = 400, description = "The request could not be read", body = crate::http::error::ErrorBody)))]
async fn list_days(
    State(state): State<AppState>,
    Query(q): Query<YearQuery>,
) -> Result<axum::Json<Vec<CalendarDay>>, ApiError> {
    if !(1900..=2200).contains(&q.year) {
        return Err(ApiError::invalid("year", "invalid_year", "年份应在1900-2200之间 / 1900-2200"));
    }
    let calendar = state.calendar.get();
    Ok(axum::Json(super::days_of_year(&calendar, q.year).into_iter().map(CalendarDay::from).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct SetDay {
    /// `holiday` or `make_up_workday`
    pub kind: String,
    pub name: String,
}

/// Marks a date as a holiday or make-up working day (a city-wide platform admin, when the State
/// Council publishes next year's notice).
#[utoipa::path(put, path = "/api/calendar/days/{date}", tag = "calendar", params(("date" = String, Path, description = "YYYY-MM-DD")),
    request_body = SetDay,
    responses((status = 200, description = "OK", body = CalendarDay), (status = 401, description = "Not signed in", body = crate::http::error::ErrorBody),
              (status = 403, description = "Not allowed", body = crate::http::error::ErrorBody), (status = 422, description = "A field is invalid", body = crate::http::error::ErrorBody)))]
async fn set_day(
    State(state): State<AppState>,
    actor: Actor,
    Path(date): Path<String>,
    Json(body): Json<SetDay>,
) -> Result<axum::Json<CalendarDay>, ApiError> {
    let day = SpecialDay {
        date: parse_date("date", &date)?,
        kind: parse_kind(&body.kind)?,
        name: body.name.trim().to_owned(),
    };
    super::set_day(&state.store, &state.calendar, &actor.principal, day.clone()).await?;
    Ok(axum::Json(day.into()))
}

/// Removes a date's exception, so the Monday–Friday rule applies to it again.
#[utoipa::path(delete, path = "/api/calendar/days/{date}", tag = "calendar", params(("date" = String, Path, description = "YYYY-MM-DD")),
    responses((status = 204, description = "Done, no content"), (status = 403, description = "Not allowed", body = crate::http::error::ErrorBody), (status = 404, description = "Not found (or not visible to the caller)", body = crate::http::error::ErrorBody)))]
async fn delete_day(
    State(state): State<AppState>,
    actor: Actor,
    Path(date): Path<String>,
) -> Result<StatusCode, ApiError> {
    let date = parse_date("date", &date)?;
    super::remove_day(&state.store, &state.calendar, &actor.principal, date).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
pub struct DeadlineQuery {
    /// Start instant (RFC 3339) or date (YYYY-MM-DD, taken as 00:00 China time).
    pub start: String,
    /// Number of working days.
    pub working_days: u32,
}

#[derive(Serialize, ToSchema)]
pub struct Deadline {
    pub start: DateTime<Utc>,
    pub working_days: u32,
    /// The last working day of the limit (China time).
    pub due_date: String,
    /// The instant the limit ends.
    pub due_at: DateTime<Utc>,
}

fn parse_start(value: &str) -> Result<DateTime<Utc>, CalendarAdminError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    let date = parse_date("start", value)?;
    // 00:00 in China Standard Time (UTC+8, no daylight saving).
    Ok(date.and_time(chrono::NaiveTime::MIN).and_utc() - chrono::Duration::hours(8))
}

/// When a limit of N working days started at `start` ends.
#[utoipa::path(get, path = "/api/calendar/deadline", tag = "calendar", params(DeadlineQuery),
    responses((status = 200, description = "OK", body = Deadline), (status = 422, description = "A field is invalid", body = crate::http::error::ErrorBody)))]
async fn deadline(
    State(state): State<AppState>,
    Query(q): Query<DeadlineQuery>,
) -> Result<axum::Json<Deadline>, ApiError> {
    let start = parse_start(&q.start)?;
    if q.working_days > 3650 {
        return Err(ApiError::invalid("working_days", "out_of_range", "最多3650个工作日 / at most 3650"));
    }
    let calendar = state.calendar.get();
    let due_at = calendar.working_day_deadline(start, q.working_days);
    let due_date = calendar.add_working_days(yiwang_calendar::china_date(start), q.working_days);
    Ok(axum::Json(Deadline {
        start,
        working_days: q.working_days,
        due_date: due_date.format("%Y-%m-%d").to_string(),
        due_at,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct BetweenQuery {
    /// YYYY-MM-DD (not counted)
    pub from: String,
    /// YYYY-MM-DD (counted)
    pub to: String,
}

#[derive(Serialize, ToSchema)]
pub struct WorkingDays {
    pub from: String,
    pub to: String,
    /// Working days after `from` up to and including `to`; negative when `to` is earlier.
    pub working_days: i64,
}

/// Counts the working days between two dates.
#[utoipa::path(get, path = "/api/calendar/working-days", tag = "calendar", params(BetweenQuery),
    responses((status = 200, description = "OK", body = WorkingDays), (status = 422, description = "A field is invalid", body = crate::http::error::ErrorBody)))]
async fn working_days_between(
    State(state): State<AppState>,
    Query(q): Query<BetweenQuery>,
) -> Result<axum::Json<WorkingDays>, ApiError> {
    let from: NaiveDate = parse_date("from", &q.from)?;
    let to: NaiveDate = parse_date("to", &q.to)?;
    if (to - from).num_days().abs() > 36_600 {
        return Err(ApiError::invalid("to", "out_of_range", "区间不超过100年 / at most 100 years"));
    }
    let working_days = state.calendar.get().working_days_between(from, to);
    Ok(axum::Json(WorkingDays { from: q.from, to: q.to, working_days }))
}
