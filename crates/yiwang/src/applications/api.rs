//! JSON handlers for applications and uploads.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::Action;
use super::{Application, NewApplication, Step};
use crate::AppState;
use crate::http::auth::Actor;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Json, Path, Query, page_bounds};

pub fn router() -> OpenApiRouter<AppState> {
    let uploads =
        OpenApiRouter::new().routes(routes!(upload)).layer(DefaultBodyLimit::max(super::files::MAX_FILE_BYTES));
    OpenApiRouter::new()
        .routes(routes!(list, submit))
        .routes(routes!(get))
        .routes(routes!(act))
        .routes(routes!(receipt))
        .routes(routes!(material_file))
        .merge(uploads)
        .merge(super::rules_api::router())
        .merge(super::workflow_api::router())
}

#[derive(Serialize, ToSchema)]
pub struct Uploaded {
    /// Name the file by this in an application's materials.
    pub sha256: String,
    /// Read from the file's bytes.
    pub content_type: String,
}

/// Uploads a material file (PDF, JPEG or PNG, at most 10 MiB; the type is read from the bytes).
/// The file is kept by its content and only its uploader may use it.
#[utoipa::path(post, path = "/api/files", tag = "applications",
    params(("x-file-name" = Option<String>, Header, description = "The file's name, percent-encoded")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, description = "Stored", body = Uploaded), (status = 401, description = "Not signed in", body = ErrorBody),
              (status = 413, description = "Larger than 10 MiB"), (status = 415, description = "Not PDF, JPEG or PNG", body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<Uploaded>), ApiError> {
    let name = headers.get("x-file-name").and_then(|v| v.to_str().ok()).map(percent_decode).unwrap_or_default();
    let (sha256, content_type) =
        super::upload(&state.store, &state.config.data_dir, &actor.principal, &name, body.to_vec()).await?;
    Ok((StatusCode::CREATED, axum::Json(Uploaded { sha256, content_type: content_type.to_owned() })))
}

fn percent_decode(value: &str) -> String {
    form_urlencoded::parse(format!("n={value}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// Applies for an item: the situation, the item's form and each material (a file uploaded
/// before, or consent to fetch it by data sharing where the item allows).
#[utoipa::path(post, path = "/api/applications", tag = "applications", request_body = NewApplication,
    responses((status = 201, description = "Submitted", body = Application), (status = 401, description = "Not signed in", body = ErrorBody),
              (status = 403, description = "Staff cannot apply", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn submit(
    State(state): State<AppState>,
    actor: Actor,
    Json(new): Json<NewApplication>,
) -> Result<(StatusCode, axum::Json<Application>), ApiError> {
    let submitted = super::submit(&state.store, &super::Deciding::now(&state), &actor.principal, new).await?;
    Ok((StatusCode::CREATED, axum::Json(submitted)))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Staff: the department whose applications to list (required for staff).
    pub department: Option<String>,
    /// At most 200; default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// An applicant's own applications, or a department's for its staff; newest first.
#[utoipa::path(get, path = "/api/applications", operation_id = "list_applications", tag = "applications", params(ListQuery),
    responses((status = 200, description = "OK", body = [Application]), (status = 401, description = "Not signed in", body = ErrorBody),
              (status = 403, description = "Not your department", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Vec<Application>>, ApiError> {
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    Ok(axum::Json(super::list(&state.store, &actor.principal, q.department.as_deref(), limit, offset).await?))
}

/// One application with its materials, deadline and every step taken.
#[utoipa::path(get, path = "/api/applications/{number}", operation_id = "get_application", tag = "applications", params(("number" = String, Path)),
    responses((status = 200, description = "OK", body = Application), (status = 404, description = "No such application of yours", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    actor: Actor,
    Path(number): Path<String>,
) -> Result<axum::Json<Application>, ApiError> {
    Ok(axum::Json(super::get(&state.store, &actor.principal, &number).await?))
}

/// Takes a step: `accept`, `refuse`, `request_supplement`, `supplement`, `approve`, `reject`,
/// `complete` or `withdraw`. Refusals, rejections and supplement requests need a reason; a
/// rejection its legal basis; a supplement request lists every material at once.
#[utoipa::path(post, path = "/api/applications/{number}/actions/{action}", tag = "applications",
    params(("number" = String, Path), ("action" = String, Path, description = "accept, refuse, request_supplement, supplement, approve, reject, complete or withdraw")), request_body = Step,
    responses((status = 200, description = "OK", body = Application), (status = 403, description = "Not your step", body = ErrorBody),
              (status = 404, description = "No such application of yours", body = ErrorBody),
              (status = 409, description = "Not in a state for this step", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn act(
    State(state): State<AppState>,
    actor: Actor,
    Path((number, action)): Path<(String, String)>,
    Json(step): Json<Step>,
) -> Result<axum::Json<Application>, ApiError> {
    let action = Action::parse(&action).ok_or_else(|| {
        ApiError::invalid("action", "unknown_action", "未知操作 / unknown action; see the API document for the steps")
    })?;
    let at = super::Deciding::now(&state);
    Ok(axum::Json(super::act(&state.store, &at, &actor.principal, &number, action, step).await?))
}

/// A receipt for the application's latest step, verifiable offline against the evidence log.
#[utoipa::path(get, path = "/api/applications/{number}/receipt", operation_id = "application_receipt", tag = "applications", params(("number" = String, Path)),
    responses((status = 200, description = "OK", body = crate::ledger::Receipt), (status = 404, description = "No such application of yours", body = ErrorBody)))]
async fn receipt(
    State(state): State<AppState>,
    actor: Actor,
    Path(number): Path<String>,
) -> Result<axum::Json<crate::ledger::Receipt>, ApiError> {
    Ok(axum::Json(super::receipt(&state.store, &state.signer, &actor.principal, &number).await?))
}

/// The file supplied for a material, for the applicant and the staff handling the application.
#[utoipa::path(get, path = "/api/applications/{number}/materials/{material}/file", tag = "applications",
    params(("number" = String, Path), ("material" = String, Path)),
    responses((status = 200, description = "The file"), (status = 404, description = "No such file", body = ErrorBody)))]
async fn material_file(
    State(state): State<AppState>,
    actor: Actor,
    Path((number, material)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let (content_type, bytes) =
        super::material_file(&state.store, &state.config.data_dir, &actor.principal, &number, &material).await?;
    Ok(([(header::CONTENT_TYPE, content_type), (header::CONTENT_DISPOSITION, "attachment".to_owned())], bytes))
}
