//! JSON handlers for certificates: the holder's wallet, uses, revocation and public verification.

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{CertificateView, UseView, Verification};
use crate::AppState;
use crate::http::auth::Actor;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Json, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(wallet))
        .routes(routes!(types))
        .routes(routes!(key))
        .routes(routes!(sm2_key))
        .routes(routes!(verify))
        .routes(routes!(get))
        .routes(routes!(uses))
        .routes(routes!(revoke))
}

/// The signed-in holder's certificates (电子证照夹), newest first.
#[utoipa::path(get, path = "/api/certificates", tag = "certificates",
    responses((status = 200, description = "OK", body = [CertificateView]), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn wallet(State(state): State<AppState>, actor: Actor) -> Result<axum::Json<Vec<CertificateView>>, ApiError> {
    Ok(axum::Json(super::wallet(&state.store, &actor.principal).await?))
}

/// The catalogue of certificate types: name, issuing department, holder type, fields, validity.
#[utoipa::path(get, path = "/api/certificates/types", tag = "certificates",
    responses((status = 200, description = "OK", body = [super::CertificateType])))]
async fn types(State(state): State<AppState>) -> Result<axum::Json<Vec<super::CertificateType>>, ApiError> {
    Ok(axum::Json(super::types(&state.store).await?))
}

/// The verifier key that checks certificate signatures offline (C2SP note verifier key).
#[utoipa::path(get, path = "/api/certificates/key", tag = "certificates",
    responses((status = 200, description = "OK", body = String, content_type = "text/plain")))]
async fn key(State(state): State<AppState>) -> String {
    state.issuer.verifier_key().to_string()
}

#[derive(serde::Serialize, ToSchema)]
pub struct Sm2Key {
    /// Uncompressed SEC1 public key, hex.
    pub public_key: String,
    /// The distinguishing identifier signatures use.
    pub distid: String,
    /// `SM3`
    pub hash: String,
}

/// The SM2 public key that checks certificates' second, national-standard signature.
#[utoipa::path(get, path = "/api/certificates/sm2-key", tag = "certificates",
    responses((status = 200, description = "OK", body = Sm2Key)))]
async fn sm2_key(State(state): State<AppState>) -> axum::Json<Sm2Key> {
    axum::Json(Sm2Key {
        public_key: state.issuer.sm2_public_key(),
        distid: super::SM2_DISTID.into(),
        hash: "SM3".into(),
    })
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// The token a certificate's QR code carries (base64url of its signed note).
    pub token: String,
}

/// Checks a shown certificate: its signature, and that it is neither revoked nor expired.
#[utoipa::path(post, path = "/api/certificates/verify", tag = "certificates", request_body = VerifyRequest,
    responses((status = 200, description = "The finding; `valid` says whether to trust it", body = Verification)))]
async fn verify(
    State(state): State<AppState>,
    Json(request): Json<VerifyRequest>,
) -> Result<axum::Json<Verification>, ApiError> {
    Ok(axum::Json(super::verify(&state.store, &state.issuer, &request.token).await?))
}

/// One certificate, for its holder or the issuing department.
#[utoipa::path(get, path = "/api/certificates/{id}", operation_id = "get_certificate", tag = "certificates", params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = CertificateView), (status = 404, description = "No such certificate of yours", body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<axum::Json<CertificateView>, ApiError> {
    Ok(axum::Json(super::get(&state.store, &actor.principal, &id).await?))
}

/// Every use of the certificate by a department: who, when, for which application and why.
#[utoipa::path(get, path = "/api/certificates/{id}/uses", tag = "certificates", params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = [UseView]), (status = 404, description = "No such certificate of yours", body = ErrorBody)))]
async fn uses(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<UseView>>, ApiError> {
    Ok(axum::Json(super::uses(&state.store, &actor.principal, &id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct RevokeRequest {
    pub reason: String,
}

/// Revokes a certificate (its issuing department); verification fails from then on.
#[utoipa::path(post, path = "/api/certificates/{id}/revoke", tag = "certificates", params(("id" = String, Path)), request_body = RevokeRequest,
    responses((status = 200, description = "Revoked", body = CertificateView), (status = 403, description = "Not the issuer", body = ErrorBody),
              (status = 404, description = "No such certificate", body = ErrorBody), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn revoke(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(request): Json<RevokeRequest>,
) -> Result<axum::Json<CertificateView>, ApiError> {
    Ok(axum::Json(super::revoke(&state.store, &actor.principal, &id, &request.reason).await?))
}
