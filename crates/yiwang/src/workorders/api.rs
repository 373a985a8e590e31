//! JSON handlers for work orders, their categories, the supervisor's board, grids and sensor
//! readings. Open311 has its own handlers in [`super::open311`].

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{Action, Channel};
use super::routing::Category;
use super::sensors::{Reading, ReadingOutcome};
use super::settings::{DispatchEntry, NewDispatchEntry, TimeLimit};
use super::{Board, Context, Intake, ListQuery, NewWorkOrder, Step, Summary, WorkOrder};
use crate::AppState;
use crate::http::auth::{Actor, MaybeActor};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Json, Path, Query, page_bounds};
use crate::identity::Role;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(board))
        .routes(routes!(statistics))
        .routes(routes!(categories))
        .routes(routes!(grids))
        .routes(routes!(get))
        .routes(routes!(act))
        .routes(routes!(photo))
        .routes(routes!(sensor_reading))
        .routes(routes!(time_limits, set_time_limits))
        .routes(routes!(dispatch_catalogue))
        .routes(routes!(set_dispatch))
}

/// Time limits per request type and requester kind (supervisors, dispatchers, auditors, admins).
#[utoipa::path(get, path = "/api/workorders/settings/time-limits", operation_id = "workorder_time_limits", tag = "workorders",
    responses((status = 200, description = "OK", body = [TimeLimit]), (status = 403, description = "No supervising role", body = ErrorBody)))]
async fn time_limits(State(state): State<AppState>, actor: Actor) -> Result<axum::Json<Vec<TimeLimit>>, ApiError> {
    Ok(axum::Json(super::settings::time_limits(&state.store, &actor.principal).await?))
}

/// Sets time limits (a platform admin of the city); limits not listed stay as they are. Orders
/// taken in from then on count by them.
#[utoipa::path(put, path = "/api/workorders/settings/time-limits", operation_id = "set_workorder_time_limits", tag = "workorders",
    request_body = [TimeLimit],
    responses((status = 200, description = "Every limit as it now is", body = [TimeLimit]),
              (status = 403, description = "Not a platform admin of the city", body = ErrorBody),
              (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn set_time_limits(
    State(state): State<AppState>,
    actor: Actor,
    Json(limits): Json<Vec<TimeLimit>>,
) -> Result<axum::Json<Vec<TimeLimit>>, ApiError> {
    let set = super::settings::set_time_limits(&state.store, &state.workorders, &actor.principal, limits).await?;
    Ok(axum::Json(set))
}

/// The dispatch catalogue (派单目录): each category's competent department, or a matter of the
/// place; a category without an entry takes its parent's.
#[utoipa::path(get, path = "/api/workorders/settings/dispatch", operation_id = "workorder_dispatch_catalogue", tag = "workorders",
    responses((status = 200, description = "OK", body = [DispatchEntry]), (status = 403, description = "No supervising role", body = ErrorBody)))]
async fn dispatch_catalogue(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<axum::Json<Vec<DispatchEntry>>, ApiError> {
    Ok(axum::Json(super::settings::dispatch_catalogue(&state.store, &state.workorders, &actor.principal).await?))
}

/// Sets a category's entry in the dispatch catalogue (a platform admin of the city).
#[utoipa::path(put, path = "/api/workorders/settings/dispatch/{category}", operation_id = "set_workorder_dispatch", tag = "workorders",
    params(("category" = String, Path, description = "Category code")), request_body = NewDispatchEntry,
    responses((status = 200, description = "The entry", body = DispatchEntry),
              (status = 403, description = "Not a platform admin of the city", body = ErrorBody),
              (status = 404, description = "No such category", body = ErrorBody),
              (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn set_dispatch(
    State(state): State<AppState>,
    actor: Actor,
    Path(category): Path<String>,
    Json(entry): Json<NewDispatchEntry>,
) -> Result<axum::Json<DispatchEntry>, ApiError> {
    let principal = &actor.principal;
    Ok(axum::Json(super::settings::set_dispatch(&state.store, &state.workorders, principal, &category, entry).await?))
}

/// Takes in a work order. Hotline operators record the caller (and may close a consultation
/// answered on the call); grid workers report patrol findings; residents and enterprises report
/// for themselves; anyone may report without signing in. An emergency is answered with the
/// number to call instead (state `redirected`).
#[utoipa::path(post, path = "/api/workorders", operation_id = "create_workorder", tag = "workorders", request_body = NewWorkOrder,
    responses((status = 201, description = "Taken in", body = WorkOrder), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    MaybeActor(actor): MaybeActor,
    Json(new): Json<NewWorkOrder>,
) -> Result<(StatusCode, axum::Json<WorkOrder>), ApiError> {
    let principal = actor.as_ref().map(|a| &a.principal);
    let channel = match principal {
        Some(p) if p.has_role(Role::HotlineOperator) => Channel::Hotline,
        Some(p) if p.has_role(Role::GridWorker) => Channel::Grid,
        _ => Channel::Web,
    };
    let order = super::intake(&state.store, &Context::now(&state), principal, Intake::channel(channel), new).await?;
    Ok((StatusCode::CREATED, axum::Json(order)))
}

/// The orders the caller may see, newest first: their own; their department's; their grid's;
/// their region's for operators, dispatchers, supervisors and auditors. Operators may look up a
/// caller's history by phone.
#[utoipa::path(get, path = "/api/workorders", operation_id = "list_workorders", tag = "workorders", params(ListQuery),
    responses((status = 200, description = "OK", body = [Summary]), (status = 401, description = "Not signed in", body = ErrorBody),
              (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Vec<Summary>>, ApiError> {
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    Ok(axum::Json(super::list(&state.store, &state.workorders, &actor.principal, &q, limit, offset).await?))
}

/// The supervisor's board: near-due, overdue, returned and re-opened orders and extension
/// requests, most urgent first.
#[utoipa::path(get, path = "/api/workorders/board", operation_id = "workorder_board", tag = "workorders",
    responses((status = 200, description = "OK", body = Board), (status = 403, description = "Not a supervisor", body = ErrorBody)))]
async fn board(State(state): State<AppState>, actor: Actor) -> Result<axum::Json<Board>, ApiError> {
    Ok(axum::Json(super::board(&state.store, &state.workorders, &actor.principal).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct PeriodQuery {
    /// First day (China time), `YYYY-MM-DD`; default 29 days before `to`.
    pub from: Option<chrono::NaiveDate>,
    /// Last day, inclusive; default today.
    pub to: Option<chrono::NaiveDate>,
}

impl PeriodQuery {
    pub fn days(&self, today: chrono::NaiveDate) -> (chrono::NaiveDate, chrono::NaiveDate) {
        let to = self.to.unwrap_or(today);
        (self.from.unwrap_or(to - chrono::TimeDelta::days(29)), to)
    }
}

/// Statistics of the orders taken in during a period in the caller's region: volume by channel,
/// category, department and day, on-time rate, average handling time, satisfaction, open orders
/// by grid and their points.
#[utoipa::path(get, path = "/api/workorders/stats", operation_id = "workorder_stats", tag = "workorders", params(PeriodQuery),
    responses((status = 200, description = "OK", body = super::stats::Stats), (status = 403, description = "No supervising role", body = ErrorBody),
              (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn statistics(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<PeriodQuery>,
) -> Result<axum::Json<super::stats::Stats>, ApiError> {
    let (from, to) = q.days(yiwang_calendar::china_date(state.clock.now()));
    Ok(axum::Json(super::stats::compute(&state.store, &state.workorders, &actor.principal, from, to).await?))
}

/// The three-level category tree.
#[utoipa::path(get, path = "/api/workorders/categories", operation_id = "workorder_categories", tag = "workorders",
    responses((status = 200, description = "OK", body = [Category])))]
async fn categories(State(state): State<AppState>) -> axum::Json<Vec<Category>> {
    axum::Json(state.workorders.categories())
}

/// Every grid as a GeoJSON FeatureCollection (WGS84).
#[utoipa::path(get, path = "/api/grids", tag = "workorders",
    responses((status = 200, description = "GeoJSON", content_type = "application/geo+json", body = Object)))]
async fn grids(State(state): State<AppState>) -> impl IntoResponse {
    let features: Vec<serde_json::Value> = state
        .workorders
        .grids
        .grids()
        .into_iter()
        .map(|g| {
            serde_json::json!({"type": "Feature", "id": g.code, "geometry": g.geometry,
                "properties": {"code": g.code, "name": g.name, "community": g.community_code}})
        })
        .collect();
    let collection = serde_json::json!({"type": "FeatureCollection", "features": features});
    ([(header::CONTENT_TYPE, "application/geo+json")], collection.to_string())
}

/// One order with its full timeline. The requester's name and phone are masked for those
/// without the grant (and from the handling department for a report, 举报).
#[utoipa::path(get, path = "/api/workorders/{number}", operation_id = "get_workorder", tag = "workorders", params(("number" = String, Path)),
    responses((status = 200, description = "OK", body = WorkOrder), (status = 404, description = "No such order you may see", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    actor: Actor,
    Path(number): Path<String>,
) -> Result<axum::Json<WorkOrder>, ApiError> {
    Ok(axum::Json(super::get(&state.store, &state.workorders, Some(&actor.principal), &number).await?))
}

/// Takes a step: `dispatch` (dispatcher; department, optional category), `sign`, `return`
/// (reason), `co_handle` (department), `progress` (note), `difficult` (on_site or joint_meeting),
/// `reply` (the result), `close`, `rate` (satisfaction), `reopen` (once, after a dissatisfied
/// rating), `request_extension` (days, reason), `approve_extension`, `refuse_extension`,
/// `supervise`, `escalate` (supervisor; note) or `merge` (into: the order it duplicates).
#[utoipa::path(post, path = "/api/workorders/{number}/actions/{action}", operation_id = "act_on_workorder", tag = "workorders",
    params(("number" = String, Path), ("action" = String, Path, description = "dispatch, sign, return, co_handle, progress, difficult, reply, close, rate, reopen, request_extension, approve_extension, refuse_extension, supervise, escalate or merge")),
    request_body = Step,
    responses((status = 200, description = "OK", body = WorkOrder), (status = 403, description = "Not your step", body = ErrorBody),
              (status = 404, description = "No such order you may see", body = ErrorBody),
              (status = 409, description = "Not in a state for this step", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn act(
    State(state): State<AppState>,
    actor: Actor,
    Path((number, action)): Path<(String, String)>,
    Json(step): Json<Step>,
) -> Result<axum::Json<WorkOrder>, ApiError> {
    let action = Action::parse(&action).ok_or_else(|| {
        ApiError::invalid("action", "unknown_action", "未知操作 / unknown action; see the API document for the steps")
    })?;
    let at = Context::now(&state);
    Ok(axum::Json(super::act(&state.store, &at, &actor.principal, &number, action, step).await?))
}

/// A photo of an order, for those who may see the order.
#[utoipa::path(get, path = "/api/workorders/{number}/photos/{sha256}", operation_id = "workorder_photo", tag = "workorders",
    params(("number" = String, Path), ("sha256" = String, Path)),
    responses((status = 200, description = "The photo"), (status = 404, description = "No such photo", body = ErrorBody)))]
async fn photo(
    State(state): State<AppState>,
    actor: Actor,
    Path((number, sha256)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let order = super::get(&state.store, &state.workorders, Some(&actor.principal), &number).await?;
    if !order.photos.contains(&sha256) {
        return Err(ApiError::NotFound);
    }
    let dir = state.config.data_dir.clone();
    let bytes = tokio::task::spawn_blocking(move || crate::applications::files::read(&dir, &sha256))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|_| ApiError::NotFound)?;
    let content_type = crate::applications::files::sniff(&bytes).unwrap_or("application/octet-stream");
    Ok(([(header::CONTENT_TYPE, content_type)], bytes))
}

/// A sensor reading from a registered device (its API client's token). At or above the
/// threshold of its type it opens a work order, once per continuing alarm.
#[utoipa::path(post, path = "/api/sensors/readings", tag = "workorders", request_body = Reading,
    responses((status = 200, description = "Recorded", body = ReadingOutcome), (status = 401, description = "Not signed in", body = ErrorBody),
              (status = 403, description = "Not this device's client", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn sensor_reading(
    State(state): State<AppState>,
    actor: Actor,
    Json(reading): Json<Reading>,
) -> Result<axum::Json<ReadingOutcome>, ApiError> {
    Ok(axum::Json(super::sensors::report(&state.store, &Context::now(&state), &actor.principal, reading).await?))
}
