//! Handlers for the evidence log: the JSON API under `/api/ledger`, and the C2SP tlog-tiles read
//! API under `/ledger`. Everything here is public: the log holds no personal data, and anyone must
//! be able to check it.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use yiwang_ledger::tiles::Tile;

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
        .routes(routes!(tlog_checkpoint))
        .routes(routes!(tlog_tile))
        .routes(routes!(tlog_entries))
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

// The C2SP tlog-tiles read API (https://c2sp.org/tlog-tiles) under the prefix `/ledger`, which
// matches the default checkpoint origin `yiwang.local/ledger`. It serves the tree of the latest
// signed checkpoint, so that every tile a client derives from that checkpoint exists.

/// Full tiles and bundles never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// A partial tile's bytes never change either, but the full tile supersedes it.
const PARTIAL: &str = "public, max-age=60";
/// The checkpoint moves on as the job signs (every 5 seconds).
const CHECKPOINT: &str = "public, max-age=5";

/// tlog-tiles: the latest signed checkpoint, as the C2SP signed note itself. Unlike
/// `/api/ledger/checkpoint` it never signs; the job signs within seconds of growth.
#[utoipa::path(get, path = "/ledger/checkpoint", tag = "ledger",
    responses((status = 200, description = "The signed note", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 404, description = "No checkpoint yet", body = ErrorBody)))]
async fn tlog_checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    let checkpoint = super::latest_checkpoint(&state.store).await?.ok_or(ApiError::NotFound)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, CHECKPOINT)], checkpoint.note)
        .into_response())
}

/// tlog-tiles: a Merkle tree tile, `tile/<L>/<N>[.p/<W>]`: the 32-byte hashes at tree height
/// 8·L from index 256·N, 256 of them or W for a partial tile, of the latest checkpoint's tree.
#[utoipa::path(get, path = "/ledger/tile/{level}/{*index}", tag = "ledger",
    params(("level" = String, Path, description = "L: 0 to 63, no leading zeros"),
        ("*index" = String, Path, description = "N in groups of three digits, all but the last prefixed with x (1234067 is `x001/x234/067`), then `.p/<W>` (W 1 to 255) for a partial tile")),
    responses((status = 200, description = "The concatenated hashes", content_type = "application/octet-stream"),
        (status = 400, description = "Not a canonical tile path", body = ErrorBody),
        (status = 404, description = "Beyond the latest checkpoint's tree", body = ErrorBody)))]
async fn tlog_tile(
    State(state): State<AppState>,
    Path((level, index)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let tile = Tile::parse(&level, &index).map_err(bad_tile_path)?;
    Ok(octets(tile, super::hash_tile(&state.store, tile).await?))
}

/// tlog-tiles: an entry bundle, `tile/entries/<N>[.p/<W>]`: the LeafV1 encodings of the leaves
/// of level-0 tile N, each behind its big-endian 16-bit length.
#[utoipa::path(get, path = "/ledger/tile/entries/{*index}", tag = "ledger",
    params(("*index" = String, Path, description = "N and the optional `.p/<W>`, as in tile paths")),
    responses((status = 200, description = "The length-prefixed entries", content_type = "application/octet-stream"),
        (status = 400, description = "Not a canonical tile path", body = ErrorBody),
        (status = 404, description = "Beyond the latest checkpoint's tree", body = ErrorBody)))]
async fn tlog_entries(State(state): State<AppState>, Path(index): Path<String>) -> Result<Response, ApiError> {
    let tile = Tile::parse_entries(&index).map_err(bad_tile_path)?;
    Ok(octets(tile, super::entry_bundle(&state.store, tile).await?))
}

fn octets(tile: Tile, body: Vec<u8>) -> Response {
    let cache = if tile.is_full() { IMMUTABLE } else { PARTIAL };
    ([(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, cache)], body).into_response()
}

fn bad_tile_path(e: yiwang_ledger::LedgerError) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_path",
        message: format!("瓦片路径无效 / invalid tile path: {e}"),
        field: Some("path".into()),
    }
}
