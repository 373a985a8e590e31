//! Who is calling: a session cookie (browsers) or a bearer API token (machine clients).
//!
//! A state-changing request made with a session cookie must prove it came from our own page: JSON
//! calls send the session's CSRF token in `X-CSRF-Token`; HTML forms carry it in a hidden field
//! that the page handler checks with [`Actor::check_form_csrf`]. Bearer tokens are not sent by
//! browsers on their own, so they need no CSRF token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum_extra::extract::CookieJar;

use super::error::ApiError;
use crate::AppState;
use crate::identity::{self, Principal};

pub const SESSION_COOKIE: &str = "yiwang_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug, Clone)]
pub enum Credential {
    Session { csrf_token: String },
    ApiToken,
}

/// The signed-in caller; 401 when there is none.
#[derive(Debug, Clone)]
pub struct Actor {
    pub principal: Principal,
    pub credential: Credential,
}

impl Actor {
    /// For HTML form posts: the hidden `csrf_token` field must match the session's.
    pub fn check_form_csrf(&self, submitted: &str) -> Result<(), ApiError> {
        match &self.credential {
            Credential::Session { csrf_token } if constant_time_eq(csrf_token, submitted) => Ok(()),
            Credential::Session { .. } => Err(csrf_error()),
            Credential::ApiToken => Ok(()),
        }
    }

    pub fn csrf_token(&self) -> &str {
        match &self.credential {
            Credential::Session { csrf_token } => csrf_token,
            Credential::ApiToken => "",
        }
    }
}

/// The caller if signed in; never rejects for missing credentials.
pub struct MaybeActor(pub Option<Actor>);

pub fn csrf_error() -> ApiError {
    ApiError::BadRequest {
        code: "csrf_failed",
        message: "页面已过期，请刷新后重试 / the form expired, reload and retry".into(),
        field: Some("csrf_token".into()),
    }
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded") || v.starts_with("multipart/form-data"))
}

async fn resolve(parts: &Parts, state: &AppState) -> Result<Option<Actor>, ApiError> {
    let mut conn = state.store.pool().acquire().await?;
    if let Some(token) = bearer(&parts.headers) {
        let Some(account_id) = identity::account_of_api_token_on(&mut conn, token).await? else {
            return Err(ApiError::Unauthenticated);
        };
        let principal = identity::load_principal(&mut conn, account_id).await?;
        return Ok(principal.map(|principal| Actor { principal, credential: Credential::ApiToken }));
    }
    let jar = CookieJar::from_headers(&parts.headers);
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Ok(None);
    };
    let signed_in = identity::session_principal(&mut conn, cookie.value()).await?;
    Ok(signed_in.map(|(principal, csrf_token)| Actor { principal, credential: Credential::Session { csrf_token } }))
}

impl FromRequestParts<AppState> for MaybeActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        resolve(parts, state).await.map(MaybeActor)
    }
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let actor = resolve(parts, state).await?.ok_or(ApiError::Unauthenticated)?;
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let Credential::Session { csrf_token } = &actor.credential
            && unsafe_method
            && !is_form(&parts.headers)
        {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !constant_time_eq(csrf_token, sent) {
                return Err(csrf_error());
            }
        }
        Ok(actor)
    }
}
