//! JSON handlers for sign-in, the caller's own account, API tokens, residents, enterprises,
//! staff, regions and departments.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{CreditCode, PhoneNumber, ResidentIdNumber, Role};
use super::provider::Credentials;
use super::{
    ApiToken, Department, EnterpriseView, IdentityError, NewEnterprise, NewResident, NewStaff, Principal, Region,
    ResidentView, StaffView,
};
use crate::AppState;
use crate::http::auth::{Actor, MaybeActor, SESSION_COOKIE};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Json, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(list_residents, register_resident))
        .routes(routes!(get_resident))
        .routes(routes!(register_enterprise))
        .routes(routes!(get_enterprise))
        .routes(routes!(list_staff, create_staff))
        .routes(routes!(list_regions))
        .routes(routes!(list_departments))
}

fn parse<T: std::str::FromStr<Err = super::InvalidIdentifier>>(
    field: &'static str,
    value: &str,
) -> Result<T, ApiError> {
    value.parse().map_err(|source| IdentityError::Invalid { field, source }.into())
}

fn parse_phone(value: Option<&str>) -> Result<Option<PhoneNumber>, ApiError> {
    value.filter(|p| !p.trim().is_empty()).map(|p| parse("phone", p)).transpose()
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Staff user name, resident ID number or enterprise credit code.
    pub login: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub principal: Principal,
    /// Send it back in `X-CSRF-Token` on every state-changing request made with the session cookie.
    pub csrf_token: String,
}

pub fn session_cookie(state: &AppState, token: String) -> axum_extra::extract::cookie::Cookie<'static> {
    axum_extra::extract::cookie::Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(axum_extra::extract::cookie::SameSite::Lax)
        .secure(state.config.secure_cookies)
        .path("/")
        .max_age(time::Duration::milliseconds(super::SESSION_TTL_MS))
        .build()
}

/// Signs in and sets the session cookie.
#[utoipa::path(post, path = "/api/auth/login", tag = "identity", request_body = LoginRequest,
    responses((status = 200, description = "OK", body = LoginResponse), (status = 422, description = "A field is invalid", body = ErrorBody), (status = 429, description = "Too many failed attempts", body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    Json(body): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let client = peer.ip().to_string();
    let credentials = Credentials { login: &body.login, password: &body.password, client: &client };
    let account_id = state.identity.authenticate(&state.store, credentials).await?;
    let session = super::start_session(&state.store, account_id).await?;
    let principal = super::load_principal(&mut *state.store.pool().acquire().await?, account_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let jar = jar.add(session_cookie(&state, session.token));
    Ok((jar, axum::Json(LoginResponse { principal, csrf_token: session.csrf_token })).into_response())
}

/// Ends the session.
#[utoipa::path(post, path = "/api/auth/logout", tag = "identity", responses((status = 204, description = "Done, no content")))]
async fn logout(State(state): State<AppState>, jar: CookieJar) -> Result<Response, ApiError> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        super::end_session(&state.store, cookie.value()).await?;
    }
    let jar = jar.remove(axum_extra::extract::cookie::Cookie::build(SESSION_COOKIE).path("/"));
    Ok((jar, StatusCode::NO_CONTENT).into_response())
}

/// The signed-in account with its roles and scopes.
#[utoipa::path(get, path = "/api/me", tag = "identity", responses((status = 200, description = "OK", body = Principal), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn me(MaybeActor(actor): MaybeActor) -> Result<axum::Json<Principal>, ApiError> {
    actor.map(|a| axum::Json(a.principal)).ok_or(ApiError::Unauthenticated)
}

#[derive(Deserialize, ToSchema)]
pub struct NewTokenRequest {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct NewTokenResponse {
    pub token: ApiToken,
    /// Shown once; send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Issues an API token that acts as the caller (for machine clients).
#[utoipa::path(post, path = "/api/tokens", tag = "identity", request_body = NewTokenRequest,
    responses((status = 201, description = "Created", body = NewTokenResponse), (status = 401, description = "Not signed in", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn create_token(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<NewTokenRequest>,
) -> Result<Response, ApiError> {
    let (token, secret) = super::issue_api_token(&state.store, &actor.principal, &body.name).await?;
    Ok((StatusCode::CREATED, axum::Json(NewTokenResponse { token, secret })).into_response())
}

/// The caller's API tokens (never their secrets).
#[utoipa::path(get, path = "/api/tokens", tag = "identity", responses((status = 200, description = "OK", body = [ApiToken]), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn list_tokens(State(state): State<AppState>, actor: Actor) -> Result<axum::Json<Vec<ApiToken>>, ApiError> {
    Ok(axum::Json(super::api_tokens(&state.store, &actor.principal).await?))
}

/// Revokes one of the caller's API tokens.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "identity", params(("id" = i64, Path)),
    responses((status = 204, description = "Done, no content"), (status = 401, description = "Not signed in", body = ErrorBody), (status = 404, description = "Not found (or not visible to the caller)", body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    super::revoke_api_token(&state.store, &actor.principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterResident {
    /// 18-character resident ID number (GB 11643).
    pub id_number: String,
    pub name: String,
    pub phone: Option<String>,
    /// Code of the region of residence.
    pub region_code: String,
    pub password: String,
}

/// Registers a resident account; the login is the ID number.
#[utoipa::path(post, path = "/api/residents", tag = "identity", request_body = RegisterResident,
    responses((status = 201, description = "Created", body = Registered), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn register_resident(
    State(state): State<AppState>,
    Json(body): Json<RegisterResident>,
) -> Result<Response, ApiError> {
    let input = NewResident {
        id_number: parse::<ResidentIdNumber>("id_number", &body.id_number)?,
        name: body.name,
        phone: parse_phone(body.phone.as_deref())?,
        region_code: body.region_code,
    };
    let hash = super::new_password_hash(&body.password).await?;
    let mut tx = state.store.begin_write().await?;
    let id = super::register_resident(&mut tx, input, &hash).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(Registered { id })).into_response())
}

#[derive(Deserialize, IntoParams)]
pub struct Paging {
    /// At most 200; default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl Paging {
    fn bounds(&self) -> Result<(i64, i64), ApiError> {
        crate::http::extract::page_bounds(self.limit, self.offset)
    }
}

/// Residents in the caller's scope (staff only); ID numbers and phones masked.
#[utoipa::path(get, path = "/api/residents", tag = "identity", params(Paging),
    responses((status = 200, description = "OK", body = [ResidentView]), (status = 401, description = "Not signed in", body = ErrorBody), (status = 403, description = "Not allowed", body = ErrorBody)))]
async fn list_residents(
    State(state): State<AppState>,
    actor: Actor,
    Query(paging): Query<Paging>,
) -> Result<axum::Json<Vec<ResidentView>>, ApiError> {
    let (limit, offset) = paging.bounds()?;
    Ok(axum::Json(super::residents(&state.store, &actor.principal, limit, offset).await?))
}

/// One resident: the resident themself, or staff whose scope covers the resident's region.
#[utoipa::path(get, path = "/api/residents/{id}", tag = "identity", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = ResidentView), (status = 401, description = "Not signed in", body = ErrorBody), (status = 404, description = "Not found (or not visible to the caller)", body = ErrorBody)))]
async fn get_resident(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<axum::Json<ResidentView>, ApiError> {
    Ok(axum::Json(super::resident(&state.store, &actor.principal, id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterEnterprise {
    /// 18-character unified social credit code (GB 32100).
    pub credit_code: String,
    pub name: String,
    pub legal_representative: String,
    pub phone: Option<String>,
    pub region_code: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Registered {
    pub id: i64,
}

/// Registers an enterprise account; the login is the credit code.
#[utoipa::path(post, path = "/api/enterprises", tag = "identity", request_body = RegisterEnterprise,
    responses((status = 201, description = "Created", body = Registered), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn register_enterprise(
    State(state): State<AppState>,
    Json(body): Json<RegisterEnterprise>,
) -> Result<Response, ApiError> {
    let input = NewEnterprise {
        credit_code: parse::<CreditCode>("credit_code", &body.credit_code)?,
        name: body.name,
        legal_representative: body.legal_representative,
        phone: parse_phone(body.phone.as_deref())?,
        region_code: body.region_code,
    };
    let hash = super::new_password_hash(&body.password).await?;
    let mut tx = state.store.begin_write().await?;
    let id = super::register_enterprise(&mut tx, input, &hash).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(Registered { id })).into_response())
}

/// One enterprise: the enterprise itself, or staff whose scope covers its region.
#[utoipa::path(get, path = "/api/enterprises/{id}", tag = "identity", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = EnterpriseView), (status = 401, description = "Not signed in", body = ErrorBody), (status = 404, description = "Not found (or not visible to the caller)", body = ErrorBody)))]
async fn get_enterprise(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<axum::Json<EnterpriseView>, ApiError> {
    Ok(axum::Json(super::enterprise(&state.store, &actor.principal, id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct RoleAssignment {
    pub department_id: i64,
    pub role: Role,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateStaff {
    pub login: String,
    pub display_name: String,
    pub password: String,
    pub roles: Vec<RoleAssignment>,
}

/// Staff accounts in the regions where the caller is a platform admin.
#[utoipa::path(get, path = "/api/staff", tag = "identity",
    responses((status = 200, description = "OK", body = [StaffView]), (status = 401, description = "Not signed in", body = ErrorBody), (status = 403, description = "Not allowed", body = ErrorBody)))]
async fn list_staff(State(state): State<AppState>, actor: Actor) -> Result<axum::Json<Vec<StaffView>>, ApiError> {
    Ok(axum::Json(super::staff(&state.store, &actor.principal).await?))
}

/// Creates a staff account with roles in departments within the caller's admin scope.
#[utoipa::path(post, path = "/api/staff", tag = "identity", request_body = CreateStaff,
    responses((status = 201, description = "Created", body = Registered), (status = 401, description = "Not signed in", body = ErrorBody), (status = 403, description = "Not allowed", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn create_staff(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<CreateStaff>,
) -> Result<Response, ApiError> {
    if !actor.principal.has_role(Role::PlatformAdmin) {
        return Err(ApiError::Forbidden);
    }
    let input = NewStaff {
        login: body.login,
        display_name: body.display_name,
        roles: body.roles.into_iter().map(|r| (r.department_id, r.role)).collect(),
    };
    let hash = super::new_password_hash(&body.password).await?;
    let mut tx = state.store.begin_write().await?;
    let id = super::create_staff(&mut tx, Some(&actor.principal), input, &hash).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(Registered { id })).into_response())
}

/// The region tree (市-区-镇街-村居), ordered so that a parent precedes its children.
#[utoipa::path(get, path = "/api/regions", tag = "identity", responses((status = 200, description = "OK", body = [Region])))]
async fn list_regions(State(state): State<AppState>) -> Result<axum::Json<Vec<Region>>, ApiError> {
    Ok(axum::Json(super::regions(&state.store).await?))
}

/// All departments with the region each belongs to.
#[utoipa::path(get, path = "/api/departments", tag = "identity", responses((status = 200, description = "OK", body = [Department])))]
async fn list_departments(State(state): State<AppState>) -> Result<axum::Json<Vec<Department>>, ApiError> {
    Ok(axum::Json(super::departments(&state.store).await?))
}
