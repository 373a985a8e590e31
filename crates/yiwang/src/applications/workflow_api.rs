//! JSON handlers for review workflows per item.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::workflow::ReviewStep;
use crate::AppState;
use crate::http::auth::Actor;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Json, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_workflow, set_workflow))
}

/// The review steps of an item's applications (one decision step by its department by default).
#[utoipa::path(get, path = "/api/workflows/{item}", tag = "applications", params(("item" = String, Path, description = "implementation code")),
    responses((status = 200, description = "OK", body = [ReviewStep]), (status = 404, description = "No such item", body = ErrorBody)))]
async fn get_workflow(
    State(state): State<AppState>,
    _actor: Actor,
    Path(item): Path<String>,
) -> Result<axum::Json<Vec<ReviewStep>>, ApiError> {
    let (document, _) = crate::catalog::published(&state.store, &item).await?;
    let mut conn = state.store.pool().acquire().await.map_err(ApiError::from)?;
    Ok(axum::Json(super::workflow::steps(&mut conn, &item, &document.department_code).await?))
}

/// Sets the review steps of an item (a catalogue editor of its department, or a platform admin
/// over it); `all` makes a step a joint sign-off (会签) by every listed department.
#[utoipa::path(put, path = "/api/workflows/{item}", tag = "applications", params(("item" = String, Path, description = "implementation code")),
    request_body = [ReviewStep],
    responses((status = 204, description = "Set"), (status = 403, description = "Not allowed", body = ErrorBody),
              (status = 404, description = "No such item", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn set_workflow(
    State(state): State<AppState>,
    actor: Actor,
    Path(item): Path<String>,
    Json(steps): Json<Vec<ReviewStep>>,
) -> Result<StatusCode, ApiError> {
    super::workflow::set(&state.store, &state.items, &actor.principal, &item, steps).await?;
    Ok(StatusCode::NO_CONTENT)
}
