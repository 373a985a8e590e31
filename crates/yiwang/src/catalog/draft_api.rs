//! JSON handlers for drafts: the back office's way to change an item (see [`super::drafts`]).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::CatalogError;
use super::drafts::{self, Draft, DraftSummary};
use super::model::ItemDocument;
use crate::AppState;
use crate::http::auth::Actor;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Json, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, save, discard))
        .routes(routes!(open))
        .routes(routes!(publish))
}

/// A draft is one item: its problems are named by field alone, without an item index.
fn single(err: CatalogError) -> ApiError {
    match err {
        CatalogError::Invalid { problem, .. } => ApiError::invalid(problem.field, "invalid_item", problem.message),
        other => other.into(),
    }
}

/// The drafts of the departments the caller may edit, most recently changed first.
#[utoipa::path(get, path = "/api/catalog/drafts", operation_id = "list_drafts", tag = "catalog",
    responses((status = 200, description = "OK", body = [DraftSummary]), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn list(State(state): State<AppState>, actor: Actor) -> Result<axum::Json<Vec<DraftSummary>>, ApiError> {
    Ok(axum::Json(drafts::list(&state.store, &actor.principal).await?))
}

/// Starts a draft of a new item (not yet in the catalogue), of a department the caller may edit.
#[utoipa::path(post, path = "/api/catalog/drafts", tag = "catalog", request_body = Object,
    responses((status = 201, description = "Created", body = Draft), (status = 401, description = "Not signed in", body = ErrorBody),
              (status = 403, description = "Not allowed", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Json(item): Json<ItemDocument>,
) -> Result<(StatusCode, axum::Json<Draft>), ApiError> {
    let code = item.implementation_code.clone();
    if drafts::get(&state.store, &actor.principal, &code).await.is_ok() {
        return Err(single(CatalogError::Duplicate(code)));
    }
    let draft = drafts::save(&state.store, &actor.principal, &code, item).await.map_err(single)?;
    Ok((StatusCode::CREATED, axum::Json(draft)))
}

/// One draft, with what must be fixed before it can be published.
#[utoipa::path(get, path = "/api/catalog/drafts/{code}", operation_id = "get_draft", tag = "catalog", params(("code" = String, Path)),
    responses((status = 200, description = "OK", body = Draft), (status = 404, description = "No such draft", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    actor: Actor,
    Path(code): Path<String>,
) -> Result<axum::Json<Draft>, ApiError> {
    Ok(axum::Json(drafts::get(&state.store, &actor.principal, &code).await?))
}

/// Saves the edited document of a draft. Broken rules do not stop a save; they are listed.
#[utoipa::path(put, path = "/api/catalog/drafts/{code}", tag = "catalog", params(("code" = String, Path)), request_body = Object,
    responses((status = 200, description = "OK", body = Draft), (status = 403, description = "Not allowed", body = ErrorBody),
              (status = 404, description = "No such draft", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn save(
    State(state): State<AppState>,
    actor: Actor,
    Path(code): Path<String>,
    Json(item): Json<ItemDocument>,
) -> Result<axum::Json<Draft>, ApiError> {
    drafts::get(&state.store, &actor.principal, &code).await?;
    Ok(axum::Json(drafts::save(&state.store, &actor.principal, &code, item).await.map_err(single)?))
}

/// Discards a draft; the published item is unchanged.
#[utoipa::path(delete, path = "/api/catalog/drafts/{code}", tag = "catalog", params(("code" = String, Path)),
    responses((status = 204, description = "Discarded"), (status = 404, description = "No such draft", body = ErrorBody)))]
async fn discard(
    State(state): State<AppState>,
    actor: Actor,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    drafts::discard(&state.store, &actor.principal, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Opens a draft of a published item (or returns the one already open).
#[utoipa::path(post, path = "/api/catalog/items/{code}/draft", tag = "catalog", params(("code" = String, Path)),
    responses((status = 200, description = "OK", body = Draft), (status = 403, description = "Not allowed", body = ErrorBody),
              (status = 404, description = "No such item", body = ErrorBody)))]
async fn open(
    State(state): State<AppState>,
    actor: Actor,
    Path(code): Path<String>,
) -> Result<axum::Json<Draft>, ApiError> {
    Ok(axum::Json(drafts::open(&state.store, &actor.principal, &code).await?))
}

#[derive(Serialize, ToSchema)]
pub struct Published {
    pub implementation_code: String,
    pub version: i64,
}

/// Publishes a draft as the item's next version and closes the draft. 422 names the first
/// broken rule; 409 when the item was published by someone else since the draft was opened.
#[utoipa::path(post, path = "/api/catalog/drafts/{code}/publish", operation_id = "publish_draft", tag = "catalog", params(("code" = String, Path)),
    responses((status = 200, description = "Published", body = Published), (status = 404, description = "No such draft", body = ErrorBody),
              (status = 409, description = "The item changed since the draft was opened", body = ErrorBody),
              (status = 422, description = "A rule is broken", body = ErrorBody)))]
async fn publish(
    State(state): State<AppState>,
    actor: Actor,
    Path(code): Path<String>,
) -> Result<axum::Json<Published>, ApiError> {
    drafts::publish_draft(&state.store, &actor.principal, &code).await.map_err(single)?;
    state.catalogue_published().await;
    let (_, version) = super::published(&state.store, &code).await?;
    Ok(axum::Json(Published { implementation_code: code, version }))
}
