//! JSON handlers for data exchange: the catalogue, uploads, apps, grants, the gateway, call logs,
//! a resident's lookups and alerts. The open-data (CKAN) API is in [`super::ckan`].

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::alerts::Alert;
use super::gateway::{Answer, Ask, Call};
use super::model::ResourceInput;
use super::{AppView, CallView, DataFormat, GrantDecision, GrantRequest, GrantView, LookupView, NewApp, ResourceView};
use crate::AppState;
use crate::http::auth::Actor;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Json, Path, Query, page_bounds};

/// Datasets may be larger than the default body limit.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    let upload = OpenApiRouter::new().routes(routes!(upload)).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    OpenApiRouter::new()
        .routes(routes!(list_resources, register))
        .routes(routes!(get_resource, update_resource))
        .routes(routes!(resource_calls))
        .routes(routes!(list_apps, create_app))
        .routes(routes!(revoke_app))
        .routes(routes!(list_grants, apply))
        .routes(routes!(get_grant))
        .routes(routes!(decide))
        .routes(routes!(lookup))
        .routes(routes!(query))
        .routes(routes!(my_lookups))
        .routes(routes!(alerts))
        .merge(upload)
}

/// The data catalogue (政务信息资源目录): every department's resources, for staff.
#[utoipa::path(get, path = "/api/exchange/resources", tag = "exchange",
    responses((status = 200, description = "OK", body = [ResourceView]), (status = 403, description = "Not staff", body = ErrorBody)))]
async fn list_resources(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<axum::Json<Vec<ResourceView>>, ApiError> {
    Ok(axum::Json(super::list(&state.store, &actor.principal).await?))
}

/// Registers a resource (编目): a data steward of the owning department, or a platform admin
/// over it.
#[utoipa::path(post, path = "/api/exchange/resources", tag = "exchange", request_body = ResourceInput,
    responses((status = 201, description = "Registered", body = ResourceView), (status = 403, description = "Not a steward of the department", body = ErrorBody),
              (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    actor: Actor,
    Json(input): Json<ResourceInput>,
) -> Result<(StatusCode, axum::Json<ResourceView>), ApiError> {
    let view = super::register(&state.store, &state.exchange, &actor.principal, input).await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

#[utoipa::path(get, path = "/api/exchange/resources/{code}", tag = "exchange", params(("code" = String, Path)),
    responses((status = 200, description = "OK", body = ResourceView), (status = 404, description = "No such resource", body = ErrorBody)))]
async fn get_resource(
    State(state): State<AppState>,
    actor: Actor,
    Path(code): Path<String>,
) -> Result<axum::Json<ResourceView>, ApiError> {
    Ok(axum::Json(super::get(&state.store, &actor.principal, &code).await?))
}

/// Edits a resource; stored rows are checked against the new fields (422 naming the row if one
/// no longer fits, and nothing changes).
#[utoipa::path(put, path = "/api/exchange/resources/{code}", tag = "exchange", params(("code" = String, Path)), request_body = ResourceInput,
    responses((status = 200, description = "Saved", body = ResourceView), (status = 403, description = "Not a steward of the department", body = ErrorBody),
              (status = 404, description = "No such resource", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn update_resource(
    State(state): State<AppState>,
    actor: Actor,
    Path(code): Path<String>,
    Json(input): Json<ResourceInput>,
) -> Result<axum::Json<ResourceView>, ApiError> {
    Ok(axum::Json(super::update(&state.store, &state.exchange, &actor.principal, &code, input).await?))
}

/// Loads a dataset into a resource attached to one: `text/csv` (a header of field names) or
/// `application/json` (an array of objects). Every row is checked first; a bad one is answered
/// 422 with `rows[N].field`, and the rows served before stay served.
#[utoipa::path(post, path = "/api/exchange/resources/{code}/data", operation_id = "upload_dataset", tag = "exchange", params(("code" = String, Path)),
    request_body(content = String, content_type = "text/csv", description = "CSV with a header row, or a JSON array of objects"),
    responses((status = 200, description = "Loaded", body = ResourceView), (status = 415, description = "Neither CSV nor JSON", body = ErrorBody),
              (status = 422, description = "A row is invalid", body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    actor: Actor,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<ResourceView>, ApiError> {
    let mime = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let format = match mime.split(';').next().unwrap_or_default().trim() {
        "text/csv" => DataFormat::Csv,
        "application/json" => DataFormat::Json,
        _ => return Err(ApiError::UnsupportedMediaType("text/csv or application/json")),
    };
    Ok(axum::Json(super::upload(&state.store, &state.exchange, &actor.principal, &code, format, body).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1-200, default 50
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The call log of a resource (who, when, which fields, how many rows, why, outcome), newest
/// first: for its department's stewards and auditors.
#[utoipa::path(get, path = "/api/exchange/resources/{code}/calls", tag = "exchange", params(("code" = String, Path), PageQuery),
    responses((status = 200, description = "OK", body = [CallView]), (status = 403, description = "Not the owner", body = ErrorBody)))]
async fn resource_calls(
    State(state): State<AppState>,
    actor: Actor,
    Path(code): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Vec<CallView>>, ApiError> {
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    Ok(axum::Json(super::calls(&state.store, &actor.principal, &code, limit, offset).await?))
}

/// The apps (department systems that call the gateway) of the departments the caller manages.
#[utoipa::path(get, path = "/api/exchange/apps", tag = "exchange", responses((status = 200, description = "OK", body = [AppView])))]
async fn list_apps(State(state): State<AppState>, actor: Actor) -> Result<axum::Json<Vec<AppView>>, ApiError> {
    Ok(axum::Json(super::apps(&state.store, &actor.principal).await?))
}

#[derive(serde::Serialize, ToSchema)]
pub struct NewAppAnswer {
    pub app: AppView,
    /// The app's gateway token (`Authorization: Bearer …`); shown this once only.
    pub token: String,
}

/// Registers an app of a department the caller manages; its token is shown once.
#[utoipa::path(post, path = "/api/exchange/apps", tag = "exchange", request_body = NewApp,
    responses((status = 201, description = "Registered", body = NewAppAnswer), (status = 403, description = "Not a steward of the department", body = ErrorBody),
              (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn create_app(
    State(state): State<AppState>,
    actor: Actor,
    Json(new): Json<NewApp>,
) -> Result<(StatusCode, axum::Json<NewAppAnswer>), ApiError> {
    let (app, token) = super::create_app(&state.store, &actor.principal, new).await?;
    Ok((StatusCode::CREATED, axum::Json(NewAppAnswer { app, token })))
}

/// Revokes an app: its token stops working.
#[utoipa::path(post, path = "/api/exchange/apps/{id}/revoke", tag = "exchange", params(("id" = i64, Path)),
    responses((status = 200, description = "Revoked", body = AppView), (status = 404, description = "No such app", body = ErrorBody)))]
async fn revoke_app(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<axum::Json<AppView>, ApiError> {
    Ok(axum::Json(super::revoke_app(&state.store, &state.exchange, &actor.principal, id).await?))
}

/// The grants of the resources and apps of the departments the caller manages, newest first.
#[utoipa::path(get, path = "/api/exchange/grants", tag = "exchange", responses((status = 200, description = "OK", body = [GrantView])))]
async fn list_grants(State(state): State<AppState>, actor: Actor) -> Result<axum::Json<Vec<GrantView>>, ApiError> {
    Ok(axum::Json(super::grants(&state.store, &actor.principal, state.clock.now()).await?))
}

/// Asks for a grant (共享申请) for an app: unconditional resources are granted at once,
/// conditional ones wait for the owner's steward (10 working days), resources not shared are
/// refused (422 on `resource_code`).
#[utoipa::path(post, path = "/api/exchange/grants", operation_id = "apply_for_grant", tag = "exchange", request_body = GrantRequest,
    responses((status = 201, description = "Granted or pending", body = GrantView), (status = 403, description = "Not a steward of the app's department", body = ErrorBody),
              (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn apply(
    State(state): State<AppState>,
    actor: Actor,
    Json(request): Json<GrantRequest>,
) -> Result<(StatusCode, axum::Json<GrantView>), ApiError> {
    let calendar = state.calendar.get();
    let view =
        super::apply(&state.store, &state.exchange, &calendar, state.clock.now(), &actor.principal, request).await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

#[utoipa::path(get, path = "/api/exchange/grants/{id}", tag = "exchange", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = GrantView), (status = 404, description = "No such grant of yours", body = ErrorBody)))]
async fn get_grant(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<axum::Json<GrantView>, ApiError> {
    Ok(axum::Json(super::grant(&state.store, &actor.principal, id, state.clock.now()).await?))
}

/// The owner's steward approves or refuses a pending request, or revokes a grant; refusing and
/// revoking need reasons.
#[utoipa::path(post, path = "/api/exchange/grants/{id}/decision", operation_id = "decide_grant", tag = "exchange", params(("id" = i64, Path)), request_body = GrantDecision,
    responses((status = 200, description = "Decided", body = GrantView), (status = 403, description = "Not the owner's steward", body = ErrorBody),
              (status = 409, description = "Not in a state for this", body = ErrorBody), (status = 422, description = "Reasons missing", body = ErrorBody)))]
async fn decide(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(decision): Json<GrantDecision>,
) -> Result<axum::Json<GrantView>, ApiError> {
    Ok(axum::Json(
        super::decide(&state.store, &state.exchange, state.clock.now(), &actor.principal, id, decision).await?,
    ))
}

/// An exchange app's token (`Authorization: Bearer yx_…`), taken before the query or body is
/// read: a caller without one gets 401 whatever else is wrong with the request.
struct AppToken(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for AppToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        crate::http::auth::bearer(&parts.headers)
            .map(|token| AppToken(token.to_owned()))
            .ok_or(ApiError::Unauthenticated)
    }
}

#[derive(Deserialize, IntoParams)]
pub struct LookupQuery {
    /// 申请事由: why this call is made (2-200 characters); required.
    pub reason: String,
    /// Comma-separated fields wanted; every granted field when absent.
    pub fields: Option<String>,
}

fn field_list(fields: Option<&str>) -> Option<Vec<String>> {
    fields.map(|f| f.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
}

/// Gateway lookup by key, with the app's token (`Authorization: Bearer yx_…`). 403 without a
/// live grant (`no_grant`, `grant_pending`, `grant_expired`, `field_not_granted`); 429 with
/// `Retry-After` past the app's rate or daily quota. Every call, answered or refused, is logged.
#[utoipa::path(get, path = "/api/exchange/gateway/{code}/records/{key}", operation_id = "gateway_lookup", tag = "exchange",
    params(("code" = String, Path), ("key" = String, Path), LookupQuery),
    responses((status = 200, description = "The record (empty `records` when none has this key)", body = Answer),
              (status = 401, description = "Unknown app token", body = ErrorBody), (status = 403, description = "No live grant", body = ErrorBody),
              (status = 429, description = "Rate limit or quota", body = ErrorBody), (status = 502, description = "The source system failed", body = ErrorBody)))]
async fn lookup(
    State(state): State<AppState>,
    AppToken(token): AppToken,
    Path((code, key)): Path<(String, String)>,
    Query(q): Query<LookupQuery>,
) -> Result<axum::Json<Answer>, ApiError> {
    let call = Call { ask: Ask::Lookup(key), fields: field_list(q.fields.as_deref()), reason: q.reason };
    Ok(axum::Json(state.exchange.call(&state.store, state.clock.now(), &token, &code, call).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayQuery {
    /// 申请事由 (2-200 characters)
    pub reason: String,
    /// Field equal to value; only fields the grant shows in clear.
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    pub fields: Option<Vec<String>>,
    /// 1-200, default 50
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Gateway query: the records whose fields equal the filters, a page at a time, with the app's
/// token. Checked, masked and logged like a lookup.
#[utoipa::path(post, path = "/api/exchange/gateway/{code}/query", operation_id = "gateway_query", tag = "exchange", params(("code" = String, Path)), request_body = GatewayQuery,
    responses((status = 200, description = "A page of records", body = Answer),
              (status = 401, description = "Unknown app token", body = ErrorBody), (status = 403, description = "No live grant", body = ErrorBody),
              (status = 429, description = "Rate limit or quota", body = ErrorBody)))]
async fn query(
    State(state): State<AppState>,
    AppToken(token): AppToken,
    Path(code): Path<String>,
    Json(q): Json<GatewayQuery>,
) -> Result<axum::Json<Answer>, ApiError> {
    let ask = Ask::Query { filters: q.filters, limit: q.limit.unwrap_or(50), offset: q.offset.unwrap_or(0) };
    let call = Call { ask, fields: q.fields, reason: q.reason };
    Ok(axum::Json(state.exchange.call(&state.store, state.clock.now(), &token, &code, call).await?))
}

/// Which departments looked up the signed-in resident's record through the gateway, and why.
#[utoipa::path(get, path = "/api/exchange/my-lookups", tag = "exchange", params(PageQuery),
    responses((status = 200, description = "OK", body = [LookupView]), (status = 403, description = "Not a resident", body = ErrorBody)))]
async fn my_lookups(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Vec<LookupView>>, ApiError> {
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    Ok(axum::Json(super::my_lookups(&state.store, &state.exchange, &actor.principal, limit, offset).await?))
}

/// Alerts on unusual use of the caller's department's resources: volume spikes, bulk
/// enumeration, calls outside working hours.
#[utoipa::path(get, path = "/api/exchange/alerts", operation_id = "exchange_alerts", tag = "exchange",
    responses((status = 200, description = "OK", body = [Alert]), (status = 403, description = "Not a data steward", body = ErrorBody)))]
async fn alerts(State(state): State<AppState>, actor: Actor) -> Result<axum::Json<Vec<Alert>>, ApiError> {
    Ok(axum::Json(super::alerts::alerts(&state.store, &actor.principal).await?))
}
