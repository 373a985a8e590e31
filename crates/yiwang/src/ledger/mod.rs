//! The evidence log (存证) as the platform keeps it: a Merkle log (RFC 9162) in the database,
//! appended in the same transaction as the change it records, with signed checkpoints, proofs and
//! receipts that anyone can check offline. The maths is in the `yiwang-ledger` crate.
//!
//! Errors are [`LedgerError`]; `http::error` maps them.

pub mod api;
pub mod store;
mod verify;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use yiwang_ledger::tiles::Tile;
use yiwang_ledger::tree;
use yiwang_ledger::{Checkpoint, Hash, LeafV1, NodeId, SignerKey, VerifierKey};

use crate::store::{Conn, Store, WriteTx, now_ms};
pub use verify::{VerifyFailure, VerifyReport, verify};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("not found")]
    NotFound,
    #[error("signing key: {0}")]
    Key(String),
    /// Stored log data that does not add up (a missing node, an undecodable leaf): a bug or
    /// tampering, which `yiwang ledger verify` locates.
    #[error("evidence log data: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What a change tells the log. Personal data never goes in: subjects and actors are internal
/// ids ("resident:12", "account:3"), and the payload is only hashed.
pub struct Entry<'a> {
    /// What happened, e.g. `identity.staff_created`.
    pub kind: &'a str,
    /// What it happened to, e.g. `account:12`.
    pub subject: String,
    /// Who did it: `account:N`, or `system`.
    pub actor: String,
    /// The record of the change; only its SHA-256 enters the leaf.
    pub payload: &'a [u8],
}

/// Appends a leaf whose payload is `record` as JSON; the usual way a module logs a change.
pub fn record(
    tx: &mut WriteTx,
    kind: &str,
    subject: String,
    actor: String,
    record: &impl Serialize,
) -> Result<(), LedgerError> {
    let payload =
        serde_json::to_vec(record).map_err(|e| LedgerError::Invalid { field: "record", message: e.to_string() })?;
    append(tx, Entry { kind, subject, actor, payload: &payload })
}

/// The actor string for an account, or `system` for the host's command line.
pub fn actor(account_id: Option<i64>) -> String {
    account_id.map_or_else(|| "system".to_owned(), |id| format!("account:{id}"))
}

/// A leaf waiting in a transaction for its index, given at commit.
pub struct PendingLeaf {
    pub kind: String,
    pub subject: String,
    pub at_ms: i64,
    pub data: Vec<u8>,
    pub leaf_hash: Hash,
}

/// Appends a leaf in the caller's transaction: it is in the log exactly when the change is.
pub fn append(tx: &mut WriteTx, entry: Entry<'_>) -> Result<(), LedgerError> {
    for (field, value) in [("kind", entry.kind), ("subject", &entry.subject), ("actor", &entry.actor)] {
        if value.is_empty() || value.len() > 200 {
            return Err(LedgerError::Invalid { field, message: "1-200 bytes".into() });
        }
    }
    let at_ms = now_ms();
    let leaf = LeafV1 {
        kind: entry.kind.to_owned(),
        subject: entry.subject.clone(),
        actor: entry.actor,
        at_unix_ms: at_ms,
        payload_hash: Hash(Sha256::digest(entry.payload).into()),
    };
    let data = leaf.encode().map_err(|e| LedgerError::Invalid { field: "entry", message: e.to_string() })?;
    let leaf_hash = yiwang_ledger::leaf_hash(&data);
    tx.push_leaf(PendingLeaf { kind: leaf.kind, subject: entry.subject, at_ms, data, leaf_hash });
    Ok(())
}

/// The right edge of the tree: the roots of the perfect subtrees that make up a tree of `size`
/// leaves. It is all an append needs, and the tree's root is computed from it.
#[derive(Debug, Clone)]
pub struct Frontier {
    size: u64,
    nodes: BTreeMap<NodeId, Hash>,
}

impl Frontier {
    pub fn empty() -> Self {
        Frontier { size: 0, nodes: BTreeMap::new() }
    }

    pub fn from_parts(size: u64, nodes: BTreeMap<NodeId, Hash>) -> Self {
        Frontier { size, nodes }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> Result<Hash, yiwang_ledger::LedgerError> {
        tree::root(self.size, &self.nodes)
    }

    /// Adds a leaf; returns every node it creates (the leaf's own and the subtrees it completes).
    pub fn append(&mut self, leaf_hash: Hash) -> Result<Vec<(NodeId, Hash)>, yiwang_ledger::LedgerError> {
        let created = tree::append_nodes(self.size, leaf_hash, &self.nodes)?;
        self.nodes.extend(created.iter().copied());
        self.size += 1;
        // Keep the perfect-subtree roots of the new size: one per set bit, the last at its level.
        let size = self.size;
        self.nodes.retain(|id, _| {
            let at_level = size >> id.level;
            at_level & 1 == 1 && id.index == at_level - 1
        });
        Ok(created)
    }
}

/// The log's signing key and the origin line of its checkpoints (the key's name).
pub struct Signer {
    key: SignerKey,
}

impl Signer {
    /// Reads the key from `data_dir/ledger.key`, creating it (readable by the owner only) on first
    /// start. A new origin needs a new key: the name is part of the key.
    pub fn load_or_create(data_dir: &Path, origin: &str) -> Result<Self, LedgerError> {
        let key = key_file(&data_dir.join("ledger.key"), origin).map_err(LedgerError::Key)?;
        Ok(Signer { key })
    }

    pub fn origin(&self) -> &str {
        self.key.name()
    }

    pub fn verifier_key(&self) -> VerifierKey {
        self.key.verifier_key()
    }

    fn sign(&self, size: u64, root: Hash) -> Result<String, LedgerError> {
        let checkpoint = Checkpoint { origin: self.origin().to_owned(), size, root };
        yiwang_ledger::sign_checkpoint(&checkpoint, self.key.signing_key(), self.key.name())
            .map_err(|e| LedgerError::Key(e.to_string()))
    }
}

/// The signing key kept in `path` under `name`, created (readable by the owner only) on first use.
/// A different name needs a different key: the name is part of the key.
pub(crate) fn key_file(path: &Path, name: &str) -> Result<SignerKey, String> {
    let key = match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse::<SignerKey>().map_err(|e| format!("{}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SignerKey::generate(name).map_err(|e| e.to_string())?;
            write_private(path, &key.to_key_string()).map_err(|e| format!("{}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), verifier_key = %key.verifier_key(), "created a signing key");
            key
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if key.name() != name {
        return Err(format!(
            "{} belongs to {:?}, not {name:?}; keep the name or move the key aside",
            path.display(),
            key.name()
        ));
    }
    Ok(key)
}

/// Writes a new file readable by its owner only, synced.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedCheckpoint {
    pub tree_size: u64,
    /// Lowercase hex.
    pub root_hash: String,
    /// The C2SP signed note (tlog-checkpoint body, blank line, signature lines).
    pub note: String,
}

impl SignedCheckpoint {
    fn from_row((size, root, note): store::CheckpointRow) -> Self {
        SignedCheckpoint { tree_size: size as u64, root_hash: hex::encode(root), note }
    }
}

/// Signs and stores a checkpoint if the log grew since the last one; run by a job every few
/// seconds, and on demand when a receipt needs one.
pub async fn checkpoint_if_grown(store: &Store, signer: &Signer) -> Result<Option<SignedCheckpoint>, LedgerError> {
    let mut conn = store.pool().acquire().await?;
    let size = store::size(&mut conn).await?;
    let latest = store::latest_checkpoint(&mut conn).await?;
    if size == 0 || latest.as_ref().is_some_and(|(s, _, _)| *s as u64 >= size) {
        return Ok(None);
    }
    let root = store::frontier(&mut conn, store.backend(), size)
        .await?
        .root()
        .map_err(|e| LedgerError::Corrupt(e.to_string()))?;
    drop(conn);
    let note = signer.sign(size, root)?;
    let mut tx = store.begin_write().await?;
    store::insert_checkpoint(&mut tx, size, &root, &note, now_ms()).await?;
    tx.commit().await?;
    Ok(Some(SignedCheckpoint { tree_size: size, root_hash: root.to_string(), note }))
}

pub async fn latest_checkpoint(store: &Store) -> Result<Option<SignedCheckpoint>, LedgerError> {
    let mut conn = store.pool().acquire().await?;
    Ok(store::latest_checkpoint(&mut conn).await?.map(SignedCheckpoint::from_row))
}

/// The hashes of `tile` in the tree of the latest checkpoint, concatenated (C2SP tlog-tiles);
/// `NotFound` unless that tree holds the whole tile. One range read of the stored nodes.
pub async fn hash_tile(store: &Store, tile: Tile) -> Result<Vec<u8>, LedgerError> {
    let mut conn = store.pool().acquire().await?;
    let (level, range) = checkpointed_nodes(&mut conn, tile).await?;
    let hashes = in_order(store::nodes_in_range(&mut conn, level, range.clone()).await?, &range, "node")?;
    if hashes.iter().any(|h| h.len() != Hash::LEN) {
        return Err(LedgerError::Corrupt(format!("a node hash at level {level} in {range:?} is not 32 bytes")));
    }
    Ok(hashes.concat())
}

/// The entry bundle of the level-0 `tile` in the tree of the latest checkpoint: the encoded
/// leaves whose leaf hashes the tile holds, each behind its big-endian 16-bit length.
pub async fn entry_bundle(store: &Store, tile: Tile) -> Result<Vec<u8>, LedgerError> {
    if tile.level() != 0 {
        return Err(LedgerError::NotFound);
    }
    let mut conn = store.pool().acquire().await?;
    let (_, range) = checkpointed_nodes(&mut conn, tile).await?;
    let leaves = in_order(store::leaf_data(&mut conn, range.clone()).await?, &range, "leaf")?;
    yiwang_ledger::tiles::entry_bundle(leaves.iter().map(Vec::as_slice))
        .map_err(|e| LedgerError::Corrupt(e.to_string()))
}

/// The stored nodes of `tile`, if the latest checkpoint's tree holds them all.
async fn checkpointed_nodes(conn: &mut Conn, tile: Tile) -> Result<(u8, Range<u64>), LedgerError> {
    let size = store::latest_checkpoint(conn).await?.map_or(0, |(size, _, _)| size as u64);
    tile.nodes(size).ok_or(LedgerError::NotFound)
}

/// The values of rows `(idx, value)`, checked to be exactly the indexes of `range` in order.
fn in_order(rows: Vec<(i64, Vec<u8>)>, range: &Range<u64>, what: &str) -> Result<Vec<Vec<u8>>, LedgerError> {
    let complete = rows.len() as u64 == range.end - range.start
        && rows.iter().zip(range.clone()).all(|((idx, _), want)| *idx as u64 == want);
    if !complete {
        return Err(LedgerError::Corrupt(format!("a {what} in {range:?} is missing")));
    }
    Ok(rows.into_iter().map(|(_, value)| value).collect())
}

pub async fn size(store: &Store) -> Result<u64, LedgerError> {
    Ok(store::size(&mut *store.pool().acquire().await?).await?)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeafView {
    pub index: u64,
    /// Standard base64 of the LeafV1 bytes.
    pub data: String,
    /// RFC 9162 leaf hash, lowercase hex.
    pub leaf_hash: String,
    pub kind: String,
    pub subject: String,
    pub actor: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// SHA-256 of the change's record, lowercase hex.
    pub payload_hash: String,
}

pub async fn leaf(store: &Store, index: u64) -> Result<LeafView, LedgerError> {
    let mut conn = store.pool().acquire().await?;
    let (_, _, _, data, stored_hash) = store::leaf(&mut conn, index).await?.ok_or(LedgerError::NotFound)?;
    let decoded = LeafV1::decode(&data).map_err(|e| LedgerError::Corrupt(format!("leaf {index}: {e}")))?;
    let leaf_hash = stored_hash.map(hex::encode).unwrap_or_default();
    Ok(LeafView {
        index,
        data: base64::engine::general_purpose::STANDARD.encode(&data),
        leaf_hash,
        kind: decoded.kind,
        subject: decoded.subject,
        actor: decoded.actor,
        at: crate::store::from_ms(decoded.at_unix_ms),
        payload_hash: decoded.payload_hash.to_string(),
    })
}

/// Leaves about `subject` (e.g. `account:12`), oldest first.
pub async fn leaves_about(store: &Store, subject: &str) -> Result<Vec<u64>, LedgerError> {
    let mut conn = store.pool().acquire().await?;
    Ok(store::leaves_about(&mut conn, subject, 1000).await?.into_iter().map(|i| i as u64).collect())
}

fn bad(field: &'static str, message: impl Into<String>) -> LedgerError {
    LedgerError::Invalid { field, message: message.into() }
}

/// The audit path of leaf `index` in the tree of `tree_size` leaves (hex hashes).
pub async fn inclusion_proof(store: &Store, index: u64, tree_size: u64) -> Result<Vec<String>, LedgerError> {
    if index >= tree_size {
        return Err(bad("index", "应小于 tree_size / must be below tree_size"));
    }
    let plan = tree::inclusion_proof_plan(index, tree_size).map_err(|e| bad("index", e.to_string()))?;
    let mut conn = store.pool().acquire().await?;
    let (size, nodes) = store::size_and_nodes(&mut conn, store.backend(), &plan).await?;
    if tree_size > size {
        return Err(bad("tree_size", format!("应在1到{size}之间 / must be between 1 and {size}")));
    }
    let proof = tree::inclusion_proof(index, tree_size, &nodes).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
    Ok(proof.iter().map(Hash::to_string).collect())
}

/// The proof that the tree of `old_size` leaves is a prefix of the tree of `new_size` leaves.
pub async fn consistency_proof(store: &Store, old_size: u64, new_size: u64) -> Result<Vec<String>, LedgerError> {
    if old_size > new_size {
        return Err(bad("old_size", "不能大于 new_size / must not exceed new_size"));
    }
    let plan = tree::consistency_proof_plan(old_size, new_size).map_err(|e| bad("old_size", e.to_string()))?;
    let mut conn = store.pool().acquire().await?;
    let (size, nodes) = store::size_and_nodes(&mut conn, store.backend(), &plan).await?;
    if new_size > size {
        return Err(bad("new_size", format!("不能大于{size} / must not exceed {size}")));
    }
    let proof = tree::consistency_proof(old_size, new_size, &nodes).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
    Ok(proof.iter().map(Hash::to_string).collect())
}

/// A receipt: everything needed to check offline that a leaf is in the log the operator signed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Receipt {
    /// `yiwang-receipt/v1`
    pub format: String,
    pub leaf_index: u64,
    /// Standard base64 of the LeafV1 bytes.
    pub leaf: String,
    pub leaf_hash: String,
    pub tree_size: u64,
    pub root_hash: String,
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint the proof leads to.
    pub checkpoint: String,
}

pub const RECEIPT_FORMAT: &str = "yiwang-receipt/v1";

/// The receipt for leaf `index`, against the latest checkpoint (signing one now if none covers
/// the leaf yet).
pub async fn receipt(store: &Store, signer: &Signer, index: u64) -> Result<Receipt, LedgerError> {
    let leaf = leaf(store, index).await?;
    let checkpoint = match latest_checkpoint(store).await? {
        Some(c) if c.tree_size > index => c,
        _ => match checkpoint_if_grown(store, signer).await? {
            Some(c) => c,
            // Another node signed one in between.
            None => latest_checkpoint(store).await?.filter(|c| c.tree_size > index).ok_or(LedgerError::NotFound)?,
        },
    };
    let inclusion_proof = inclusion_proof(store, index, checkpoint.tree_size).await?;
    Ok(Receipt {
        format: RECEIPT_FORMAT.into(),
        leaf_index: index,
        leaf: leaf.data,
        leaf_hash: leaf.leaf_hash,
        tree_size: checkpoint.tree_size,
        root_hash: checkpoint.root_hash,
        inclusion_proof,
        checkpoint: checkpoint.note,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error("not a {RECEIPT_FORMAT} receipt")]
    Format,
    #[error("{0} is not valid")]
    Field(&'static str),
    #[error("the checkpoint does not verify with this key: {0}")]
    Checkpoint(String),
    #[error("the checkpoint is for size {0} and root {1}, not the receipt's")]
    Mismatch(u64, String),
    #[error("the leaf is not in the tree: {0}")]
    Inclusion(String),
}

/// Checks a receipt offline against the log's verifier key; returns the leaf it proves.
pub fn verify_receipt(receipt: &Receipt, verifier_key: &str) -> Result<LeafV1, ReceiptError> {
    if receipt.format != RECEIPT_FORMAT {
        return Err(ReceiptError::Format);
    }
    let data =
        base64::engine::general_purpose::STANDARD.decode(&receipt.leaf).map_err(|_| ReceiptError::Field("leaf"))?;
    let leaf = LeafV1::decode(&data).map_err(|_| ReceiptError::Field("leaf"))?;
    let leaf_hash = yiwang_ledger::leaf_hash(&data);
    if receipt.leaf_hash != leaf_hash.to_string() {
        return Err(ReceiptError::Field("leaf_hash"));
    }
    let checkpoint = yiwang_ledger::verify_checkpoint(&receipt.checkpoint, verifier_key)
        .map_err(|e| ReceiptError::Checkpoint(e.to_string()))?;
    if checkpoint.size != receipt.tree_size || checkpoint.root.to_string() != receipt.root_hash {
        return Err(ReceiptError::Mismatch(checkpoint.size, checkpoint.root.to_string()));
    }
    let proof: Vec<Hash> = receipt
        .inclusion_proof
        .iter()
        .map(|h| h.parse::<Hash>().map_err(|_| ReceiptError::Field("inclusion_proof")))
        .collect::<Result<_, _>>()?;
    yiwang_ledger::verify_inclusion(leaf_hash, receipt.leaf_index, checkpoint.size, &proof, checkpoint.root)
        .map_err(|e| ReceiptError::Inclusion(e.to_string()))?;
    Ok(leaf)
}
