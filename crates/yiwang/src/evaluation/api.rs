//! JSON handlers for ratings, window visits, rulings, rectifications and the panorama. There is
//! no route to change or delete a rating: a rating once given stays as given.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{EventKind, RectificationStep};
use super::panorama::{Figures, Filter, ListedRating};
use super::{NewRating, NewRuling, NewVisit, RatedService, Rating, StepInput, Task, Visit};
use crate::AppState;
use crate::http::auth::{Actor, MaybeActor};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Json, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_visit))
        .routes(routes!(by_token))
        .routes(routes!(rate_by_token))
        .routes(routes!(get))
        .routes(routes!(rate))
        .routes(routes!(rule))
        .routes(routes!(rectifications))
        .routes(routes!(rectification_step))
        .routes(routes!(panorama))
        .routes(routes!(panorama_ratings))
        .routes(routes!(panorama_csv))
}

fn kind(kind: &str) -> Result<EventKind, ApiError> {
    EventKind::parse(kind)
        .ok_or_else(|| ApiError::invalid("kind", "invalid_evaluation", "应为 application、workorder 或 window"))
}

/// The rating context of a request: the configured periods, the app calendar and clock.
fn rating_context(
    state: &AppState,
) -> (super::Settings, std::sync::Arc<yiwang_calendar::Calendar>, chrono::DateTime<chrono::Utc>) {
    (state.config.evaluation, state.calendar.get(), state.clock.now())
}

/// Records a window visit (a window clerk, for their department) and answers its one-time rating
/// token, to print or show as a QR code.
#[utoipa::path(post, path = "/api/evaluations/visits", operation_id = "record_window_visit", tag = "evaluation",
    request_body = NewVisit,
    responses((status = 201, description = "Recorded", body = Visit), (status = 403, description = "Not a window clerk", body = ErrorBody),
              (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn record_visit(
    State(state): State<AppState>,
    actor: Actor,
    Json(visit): Json<NewVisit>,
) -> Result<(StatusCode, axum::Json<Visit>), ApiError> {
    let visit = super::record_visit(&state.store, &actor.principal, state.clock.now(), visit).await?;
    Ok((StatusCode::CREATED, axum::Json(visit)))
}

/// The window visit a QR token rates (no sign-in; no texts).
#[utoipa::path(get, path = "/api/evaluations/tokens/{token}", operation_id = "evaluation_by_token", tag = "evaluation",
    params(("token" = String, Path)),
    responses((status = 200, description = "OK", body = RatedService), (status = 404, description = "No such token", body = ErrorBody)))]
async fn by_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<axum::Json<RatedService>, ApiError> {
    Ok(axum::Json(super::get_by_token(&state.store, &token).await?))
}

/// Rates a window visit with its QR token (channel 3), once per round.
#[utoipa::path(post, path = "/api/evaluations/tokens/{token}/ratings", operation_id = "rate_by_token", tag = "evaluation",
    params(("token" = String, Path)), request_body = NewRating,
    responses((status = 201, description = "Rated", body = RatedService), (status = 404, description = "No such token", body = ErrorBody),
              (status = 409, description = "Already rated", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn rate_by_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(rating): Json<NewRating>,
) -> Result<(StatusCode, axum::Json<RatedService>), ApiError> {
    let (settings, calendar, now) = rating_context(&state);
    let at = Rating { settings, calendar: &calendar, now };
    Ok((StatusCode::CREATED, axum::Json(super::rate_with_token(&state.store, &at, &token, rating).await?)))
}

/// A service event with its ratings and rectifications (its requester, staff of its region).
#[utoipa::path(get, path = "/api/evaluations/{kind}/{reference}", operation_id = "get_evaluation", tag = "evaluation",
    params(("kind" = String, Path, description = "application, workorder or window"), ("reference" = String, Path)),
    responses((status = 200, description = "OK", body = RatedService), (status = 404, description = "No such event you may see", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    actor: Actor,
    Path((k, reference)): Path<(String, String)>,
) -> Result<axum::Json<RatedService>, ApiError> {
    Ok(axum::Json(super::get(&state.store, &actor.principal, kind(&k)?, &reference).await?))
}

/// Rates a completed application or a window visit: its requester (channel 1 unless told), or
/// a hotline operator recording the callback (channel 6). Once per round; never changed after.
/// Work orders are rated with their `rate` step.
#[utoipa::path(post, path = "/api/evaluations/{kind}/{reference}/ratings", operation_id = "rate_service", tag = "evaluation",
    params(("kind" = String, Path, description = "application or window"), ("reference" = String, Path)), request_body = NewRating,
    responses((status = 201, description = "Rated", body = RatedService), (status = 403, description = "Not the requester", body = ErrorBody),
              (status = 404, description = "No such event you may see", body = ErrorBody),
              (status = 409, description = "Already rated", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn rate(
    State(state): State<AppState>,
    actor: Actor,
    Path((k, reference)): Path<(String, String)>,
    Json(rating): Json<NewRating>,
) -> Result<(StatusCode, axum::Json<RatedService>), ApiError> {
    let (settings, calendar, now) = rating_context(&state);
    let at = Rating { settings, calendar: &calendar, now };
    let view = super::rate(&state.store, &at, &actor.principal, kind(&k)?, &reference, rating).await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// Rules a rating malicious or unfounded, with reasons (a supervisor of its region); it stays in
/// the record and leaves the figures.
#[utoipa::path(post, path = "/api/evaluations/ratings/{id}/ruling", operation_id = "rule_rating", tag = "evaluation",
    params(("id" = i64, Path)), request_body = NewRuling,
    responses((status = 200, description = "Ruled", body = RatedService), (status = 403, description = "Not a supervisor of its region", body = ErrorBody),
              (status = 404, description = "No such rating", body = ErrorBody), (status = 409, description = "Already ruled", body = ErrorBody),
              (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn rule(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(ruling): Json<NewRuling>,
) -> Result<axum::Json<RatedService>, ApiError> {
    Ok(axum::Json(super::rule(&state.store, &actor.principal, state.clock.now(), id, ruling).await?))
}

/// The rectifications of the caller's departments (handlers) and region (supervisors), open first.
#[utoipa::path(get, path = "/api/rectifications", operation_id = "list_rectifications", tag = "evaluation",
    responses((status = 200, description = "OK", body = [Task]), (status = 403, description = "No handling or supervising role", body = ErrorBody)))]
async fn rectifications(State(state): State<AppState>, actor: Actor) -> Result<axum::Json<Vec<Task>>, ApiError> {
    Ok(axum::Json(super::tasks(&state.store, &actor.principal).await?))
}

/// Takes a rectification's next step (a handler of its department): `verify`, `contact` (the
/// callback to the requester), `rectify`, `reply`; each with a note. The reply opens a second
/// rating.
#[utoipa::path(post, path = "/api/rectifications/{id}/steps/{step}", operation_id = "rectification_step", tag = "evaluation",
    params(("id" = i64, Path), ("step" = String, Path, description = "verify, contact, rectify or reply")), request_body = StepInput,
    responses((status = 200, description = "OK", body = Task), (status = 403, description = "Not a handler of its department", body = ErrorBody),
              (status = 404, description = "No such rectification", body = ErrorBody),
              (status = 409, description = "Not the next step", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn rectification_step(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, step)): Path<(i64, String)>,
    Json(input): Json<StepInput>,
) -> Result<axum::Json<Task>, ApiError> {
    let step = RectificationStep::parse(&step)
        .ok_or_else(|| ApiError::invalid("step", "unknown_step", "应为 verify、contact、rectify 或 reply"))?;
    Ok(axum::Json(super::take_step(&state.store, &actor.principal, state.clock.now(), id, step, input).await?))
}

/// The panorama's figures (public): positive rate, rectification on-time rate, ratings by
/// region, department, item, channel, day and month, the worst-rated items with their tags.
#[utoipa::path(get, path = "/api/panorama", operation_id = "panorama", tag = "evaluation", params(Filter),
    responses((status = 200, description = "OK", body = Figures), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn panorama(
    State(state): State<AppState>,
    Query(filter): Query<Filter>,
) -> Result<axum::Json<Figures>, ApiError> {
    Ok(axum::Json(super::panorama::figures(&state.store, &filter, state.clock.now()).await?))
}

/// The panorama's filter and how many ratings to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ListQuery {
    region: Option<String>,
    department: Option<String>,
    item: Option<String>,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    /// At most this many (1-500, default 100).
    limit: Option<i64>,
}

/// The ratings behind the figures, newest first (public; texts and references for staff of the
/// region).
#[utoipa::path(get, path = "/api/panorama/ratings", operation_id = "panorama_ratings", tag = "evaluation", params(ListQuery),
    responses((status = 200, description = "OK", body = [ListedRating]), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn panorama_ratings(
    State(state): State<AppState>,
    MaybeActor(actor): MaybeActor,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Vec<ListedRating>>, ApiError> {
    let viewer = actor.as_ref().map(|a| &a.principal);
    let filter = Filter { region: q.region, department: q.department, item: q.item, from: q.from, to: q.to };
    Ok(axum::Json(super::panorama::ratings(&state.store, viewer, &filter, q.limit.unwrap_or(100)).await?))
}

/// The panorama's figures as CSV (UTF-8 with BOM, for spreadsheet programs).
#[utoipa::path(get, path = "/api/panorama/export.csv", operation_id = "panorama_csv", tag = "evaluation", params(Filter),
    responses((status = 200, description = "CSV", content_type = "text/csv"), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn panorama_csv(
    State(state): State<AppState>,
    Query(filter): Query<Filter>,
) -> Result<impl IntoResponse, ApiError> {
    let figures = super::panorama::figures(&state.store, &filter, state.clock.now()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"panorama.csv\""),
        ],
        super::panorama::csv(&figures),
    ))
}
