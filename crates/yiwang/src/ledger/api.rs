//! JSON handlers for the evidence log. Everything here is public: the log holds no personal data,
//! and anyone must be able to check it.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{LeafView, Receipt, SignedCheckpoint};
use crate::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkpoint))
        .routes(routes!(public_key))
        .routes(routes!(leaf))
        .routes(routes!(inclusion))
        .routes(routes!(consistency))
        .routes(routes!(receipt))
}

/// The latest signed checkpoint (signing one first if the log grew since).
#[utoipa::path(get, path = "/api/ledger/checkpoint", tag = "ledger",
    responses((status = 200, description = "OK", body = SignedCheckpoint), (status = 404, description = "The log is empty", body = ErrorBody)))]
async fn checkpoint(State(state): State<AppState>) -> Result<axum::Json<SignedCheckpoint>, ApiError> {
    super::checkpoint_if_grown(&state.store, &state.signer).await?;
    super::latest_checkpoint(&state.store).await?.map(axum::Json).ok_or(ApiError::NotFound)
}

#[derive(Serialize, ToSchema)]
pub struct PublicKey {
    /// The checkpoint origin and key name.
    pub origin: String,
    /// `ed25519`
    pub algorithm: &'static str,
    /// C2SP signed-note verifier key: `<name>+<key hash>+<base64(0x01 || public key)>`.
    pub verifier_key: String,
}

/// The key that signs checkpoints, in the signed-note verifier-key format.
#[utoipa::path(get, path = "/api/ledger/key", tag = "ledger", responses((status = 200, description = "OK", body = PublicKey)))]
async fn public_key(State(state): State<AppState>) -> axum::Json<PublicKey> {
    axum::Json(PublicKey {
        origin: state.signer.origin().to_owned(),
        algorithm: "ed25519",
        verifier_key: state.signer.verifier_key().to_string(),
    })
}

/// One leaf, decoded.
#[utoipa::path(get, path = "/api/ledger/leaves/{index}", tag = "ledger", params(("index" = u64, Path)),
    responses((status = 200, description = "OK", body = LeafView), (status = 404, description = "No such leaf", body = ErrorBody)))]
async fn leaf(State(state): State<AppState>, Path(index): Path<u64>) -> Result<axum::Json<LeafView>, ApiError> {
    Ok(axum::Json(super::leaf(&state.store, index).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct InclusionQuery {
    pub index: u64,
    pub tree_size: u64,
}

#[derive(Serialize, ToSchema)]
pub struct InclusionProof {
    pub index: u64,
    pub tree_size: u64,
    /// RFC 9162 audit path, lowercase hex, from the leaf upwards.
    pub audit_path: Vec<String>,
}

/// The inclusion proof of a leaf in the tree of `tree_size` leaves (RFC 9162 §2.1.3).
#[utoipa::path(get, path = "/api/ledger/proofs/inclusion", tag = "ledger", params(InclusionQuery),
    responses((status = 200, description = "OK", body = InclusionProof), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn inclusion(
    State(state): State<AppState>,
    Query(q): Query<InclusionQuery>,
) -> Result<axum::Json<InclusionProof>, ApiError> {
    let audit_path = super::inclusion_proof(&state.store, q.index, q.tree_size).await?;
    Ok(axum::Json(InclusionProof { index: q.index, tree_size: q.tree_size, audit_path }))
}

#[derive(Deserialize, IntoParams)]
pub struct ConsistencyQuery {
    pub old_size: u64,
    pub new_size: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    /// RFC 9162 consistency proof, lowercase hex.
    pub proof: Vec<String>,
}

/// The proof that one tree size is a prefix of a later one (RFC 9162 §2.1.4).
#[utoipa::path(get, path = "/api/ledger/proofs/consistency", tag = "ledger", params(ConsistencyQuery),
    responses((status = 200, description = "OK", body = ConsistencyProof), (status = 422, description = "A field is invalid", body = ErrorBody)))]
async fn consistency(
    State(state): State<AppState>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<axum::Json<ConsistencyProof>, ApiError> {
    let proof = super::consistency_proof(&state.store, q.old_size, q.new_size).await?;
    Ok(axum::Json(ConsistencyProof { old_size: q.old_size, new_size: q.new_size, proof }))
}

/// A receipt for a leaf: the leaf, a signed checkpoint covering it and the inclusion proof; check
/// it offline with `yiwang receipt verify`.
#[utoipa::path(get, path = "/api/ledger/receipts/{index}", tag = "ledger", params(("index" = u64, Path)),
    responses((status = 200, description = "OK", body = Receipt), (status = 404, description = "No such leaf", body = ErrorBody)))]
async fn receipt(State(state): State<AppState>, Path(index): Path<u64>) -> Result<axum::Json<Receipt>, ApiError> {
    Ok(axum::Json(super::receipt(&state.store, &state.signer, index).await?))
}
