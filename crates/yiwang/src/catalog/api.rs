//! JSON handlers for the public catalogue.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ItemSummary;
use super::search::MAX_LIMIT;
use super::search::index::Hit;
use crate::AppState;
use crate::http::auth::Actor;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Json, Path, Query};
use crate::identity::{self, Role};

/// Imports carry the whole catalogue, larger than the default body limit.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    let import = OpenApiRouter::new()
        .routes(routes!(import))
        .routes(routes!(import_csv))
        .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES));
    OpenApiRouter::new()
        .routes(routes!(list_items))
        .routes(routes!(search))
        .routes(routes!(suggest))
        .routes(routes!(get_item))
        .routes(routes!(versions))
        .routes(routes!(version))
        .routes(routes!(export))
        .routes(routes!(export_csv))
        .merge(import)
        .merge(super::draft_api::router())
}

#[derive(Deserialize, IntoParams)]
pub struct ItemQuery {
    /// A department code, e.g. `440400-GAJ`.
    pub department: Option<String>,
    /// At most 200; default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Published service items, optionally of one department.
#[utoipa::path(get, path = "/api/catalog/items", tag = "catalog", params(ItemQuery),
    responses((status = 200, description = "OK", body = [ItemSummary]), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn list_items(
    State(state): State<AppState>,
    Query(q): Query<ItemQuery>,
) -> Result<axum::Json<Vec<ItemSummary>>, ApiError> {
    let (limit, offset) = crate::http::extract::page_bounds(q.limit, q.offset)?;
    Ok(axum::Json(super::summaries(&state.store, q.department.as_deref(), limit, offset).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct SearchQuery {
    /// What the resident typed, in their own words (1-100 characters).
    pub q: String,
    /// At most 50; default 10.
    pub limit: Option<usize>,
}

/// The query text, trimmed, if it is of a searchable length.
pub fn query_text(q: &str) -> Result<&str, ApiError> {
    let q = q.trim();
    if q.is_empty() || q.chars().count() > 100 {
        return Err(ApiError::invalid("q", "out_of_range", "请输入1-100个字 / 1-100 characters"));
    }
    Ok(q)
}

/// Guide search (智能导办): the items that best serve what the resident typed, best first, with
/// a relevance score.
#[utoipa::path(get, path = "/api/catalog/search", tag = "catalog", params(SearchQuery),
    responses((status = 200, description = "OK", body = [Hit]), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn search(State(state): State<AppState>, Query(q): Query<SearchQuery>) -> Result<axum::Json<Vec<Hit>>, ApiError> {
    let limit = q.limit.unwrap_or(10);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid("limit", "out_of_range", "limit 应在1-50之间 / 1-50"));
    }
    Ok(axum::Json(state.search.search(query_text(&q.q)?, limit)?))
}

#[derive(Deserialize, IntoParams)]
pub struct SuggestQuery {
    /// What the resident has typed so far (1-100 characters).
    pub q: String,
}

#[derive(Serialize, ToSchema)]
pub struct Suggestion {
    /// Implementation code.
    pub code: String,
    pub name: String,
}

/// The number of suggestions shown as the resident types.
pub const SUGGESTIONS: usize = 8;

/// Suggestions as the resident types: item names for a partial query.
#[utoipa::path(get, path = "/api/catalog/suggest", tag = "catalog", params(SuggestQuery),
    responses((status = 200, description = "OK", body = [Suggestion]), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn suggest(
    State(state): State<AppState>,
    Query(q): Query<SuggestQuery>,
) -> Result<axum::Json<Vec<Suggestion>>, ApiError> {
    let hits = state.search.search(query_text(&q.q)?, SUGGESTIONS)?;
    Ok(axum::Json(hits.into_iter().map(|h| Suggestion { code: h.code, name: h.name }).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct PublishedItem {
    pub version: i64,
    /// The item document with every GB/T 39046 element (see the README).
    #[schema(value_type = Object)]
    pub item: super::model::ItemDocument,
}

/// The published guide of one item, by implementation code.
#[utoipa::path(get, path = "/api/catalog/items/{code}", tag = "catalog", params(("code" = String, Path, description = "implementation code")),
    responses((status = 200, description = "OK", body = PublishedItem), (status = 404, description = "No such item", body = ErrorBody)))]
async fn get_item(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<axum::Json<PublishedItem>, ApiError> {
    let (item, version) = super::published(&state.store, &code).await?;
    Ok(axum::Json(PublishedItem { version, item }))
}

/// The history of an item: every published version with its author and time, newest first.
#[utoipa::path(get, path = "/api/catalog/items/{code}/versions", tag = "catalog", params(("code" = String, Path)),
    responses((status = 200, description = "OK", body = [super::VersionInfo]), (status = 404, description = "No such item", body = ErrorBody)))]
async fn versions(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<axum::Json<Vec<super::VersionInfo>>, ApiError> {
    Ok(axum::Json(super::versions(&state.store, &code).await?))
}

/// One published version of an item, current or earlier.
#[utoipa::path(get, path = "/api/catalog/items/{code}/versions/{version}", tag = "catalog",
    params(("code" = String, Path), ("version" = i64, Path)),
    responses((status = 200, description = "OK", body = PublishedItem), (status = 404, description = "No such version", body = ErrorBody)))]
async fn version(
    State(state): State<AppState>,
    Path((code, version)): Path<(String, i64)>,
) -> Result<axum::Json<PublishedItem>, ApiError> {
    let item = super::version(&state.store, &code, version).await?;
    Ok(axum::Json(PublishedItem { version, item }))
}

/// The whole published catalogue as JSON, in the form import takes.
#[utoipa::path(get, path = "/api/catalog/export", tag = "catalog", responses((status = 200, description = "OK", body = [Object])))]
async fn export(State(state): State<AppState>) -> Result<axum::Json<Vec<super::model::ItemDocument>>, ApiError> {
    Ok(axum::Json(super::export(&state.store).await?))
}

/// Imports items (a JSON array of item documents): new items are created, changed ones get a new
/// version, identical ones are left alone. One invalid item (named `items[i].field`) or one item
/// of a department outside the caller's admin scope, and nothing is imported.
#[utoipa::path(post, path = "/api/catalog/import", tag = "catalog", request_body = [Object],
    responses((status = 200, description = "OK", body = super::PublishReport), (status = 401, description = "Not signed in", body = ErrorBody),
              (status = 403, description = "Not allowed", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn import(
    State(state): State<AppState>,
    actor: Actor,
    Json(items): Json<Vec<super::model::ItemDocument>>,
) -> Result<axum::Json<super::PublishReport>, ApiError> {
    publish_import(&state, &actor, items).await
}

/// The whole published catalogue as CSV (UTF-8 with a byte-order mark), one item a row; lists
/// and nested elements are JSON in their cell. Import takes it back unchanged.
#[utoipa::path(get, path = "/api/catalog/export.csv", tag = "catalog",
    responses((status = 200, description = "OK", content_type = "text/csv", body = String)))]
async fn export_csv(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let text = super::csv::to_csv(&super::export(&state.store).await?)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"catalogue.csv\""),
        ],
        text,
    ))
}

/// Imports items from CSV (as the CSV export writes it), all or nothing as the JSON import. A bad
/// row is named `items[i].column` (the i-th item is on line i + 2).
#[utoipa::path(post, path = "/api/catalog/import.csv", tag = "catalog",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "OK", body = super::PublishReport), (status = 401, description = "Not signed in", body = ErrorBody),
              (status = 403, description = "Not allowed", body = ErrorBody), (status = 415, description = "Not CSV", body = ErrorBody),
              (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn import_csv(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    body: String,
) -> Result<axum::Json<super::PublishReport>, ApiError> {
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("text/csv")));
    if !is_csv {
        return Err(ApiError::UnsupportedMediaType("text/csv"));
    }
    publish_import(&state, &actor, super::csv::from_csv(&body)?).await
}

/// Publishes an import in one transaction, if every item's department is in the caller's
/// platform-admin scope.
async fn publish_import(
    state: &AppState,
    actor: &Actor,
    items: Vec<super::model::ItemDocument>,
) -> Result<axum::Json<super::PublishReport>, ApiError> {
    let reached = identity::departments_reached(&state.store, &actor.principal, Role::PlatformAdmin).await?;
    if reached.is_empty() {
        return Err(ApiError::Forbidden);
    }
    let by = actor.principal.account_id;
    let report = state
        .store
        .write(move |tx| {
            Box::pin(async move { super::publish(tx, &items, Some(by), |code| reached.contains(code)).await })
        })
        .await?;
    state.catalogue_published().await;
    Ok(axum::Json(report))
}
