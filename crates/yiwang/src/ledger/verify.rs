//! `yiwang ledger verify`: recompute the whole log from its stored leaves and compare everything
//! stored — leaf hashes, every interior node, the size, every checkpoint and its signature.
//!
//! Leaves and nodes are streamed in the order an append creates them, so memory stays small at
//! any size.

use futures_util::TryStreamExt;
use yiwang_ledger::{Hash, LeafV1, NodeId, VerifierKey};

use super::Frontier;
use crate::store::Store;

#[derive(Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub leaves: u64,
    pub checkpoints: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyFailure {
    #[error("leaf {index}: {reason}")]
    Leaf { index: u64, reason: String },
    #[error("checkpoint at size {size}: {reason}")]
    Checkpoint { size: u64, reason: String },
    #[error("the log state says {stored} leaves, but {found} are stored")]
    Size { stored: u64, found: u64 },
    #[error("database: {0}")]
    Database(String),
}

impl VerifyFailure {
    /// The first leaf index at which the log stops being what it should be.
    pub fn first_bad_index(&self) -> Option<u64> {
        match self {
            VerifyFailure::Leaf { index, .. } => Some(*index),
            VerifyFailure::Checkpoint { size, .. } => size.checked_sub(1),
            VerifyFailure::Size { stored, found } => Some((*stored).min(*found)),
            VerifyFailure::Database(_) => None,
        }
    }
}

fn db(e: sqlx::Error) -> VerifyFailure {
    VerifyFailure::Database(e.to_string())
}

fn leaf_failure(index: u64, reason: impl Into<String>) -> VerifyFailure {
    VerifyFailure::Leaf { index, reason: reason.into() }
}

pub async fn verify(store: &Store, verifier: &VerifierKey) -> Result<VerifyReport, VerifyFailure> {
    let verifier_text = verifier.to_string();
    let mut conn = store.pool().acquire().await.map_err(db)?;
    let stored_size = super::store::size(&mut conn).await.map_err(db)?;
    let checkpoints = super::store::all_checkpoints(&mut conn).await.map_err(db)?;
    drop(conn);

    let mut leaf_conn = store.pool().acquire().await.map_err(db)?;
    let mut node_conn = store.pool().acquire().await.map_err(db)?;
    let mut leaves =
        sqlx::query_as::<_, (i64, Vec<u8>)>("SELECT idx, data FROM ledger_leaves ORDER BY idx").fetch(&mut *leaf_conn);
    // Nodes in creation order: a node (l, i) is created with leaf (i + 1) * 2^l - 1, lowest level first.
    let mut nodes = sqlx::query_as::<_, (i64, i64, Vec<u8>)>(
        "SELECT level, idx, hash FROM ledger_nodes ORDER BY (idx + 1) * (CAST(1 AS BIGINT) << CAST(level AS INTEGER)), level",
    )
    .fetch(&mut *node_conn);

    let mut frontier = Frontier::empty();
    let mut pending_checkpoints = checkpoints.iter().peekable();
    while let Some((idx, data)) = leaves.try_next().await.map_err(db)? {
        let index = frontier.size();
        if idx as u64 != index {
            return Err(leaf_failure(index, format!("missing or out of order (found index {idx} next)")));
        }
        LeafV1::decode(&data).map_err(|e| leaf_failure(index, format!("malformed leaf: {e}")))?;
        let created =
            frontier.append(yiwang_ledger::leaf_hash(&data)).map_err(|e| leaf_failure(index, e.to_string()))?;
        for (id, hash) in created {
            let stored = nodes.try_next().await.map_err(db)?;
            check_node(index, id, hash, stored)?;
        }
        while let Some((size, root, note)) = pending_checkpoints.next_if(|(size, _, _)| *size as u64 == frontier.size())
        {
            check_checkpoint(*size as u64, root, note, &frontier, &verifier_text)?;
        }
    }
    let found = frontier.size();
    if let Some((level, idx, _)) = nodes.try_next().await.map_err(db)? {
        let first = ((idx as u64) + 1) << level as u64;
        return Err(leaf_failure(
            first.saturating_sub(1).min(found),
            format!("a node (level {level}, index {idx}) has no leaves"),
        ));
    }
    if let Some((size, _, _)) = pending_checkpoints.next() {
        return Err(VerifyFailure::Checkpoint {
            size: *size as u64,
            reason: format!("signed for {size} leaves, but only {found} are stored (leaves from {found} on are gone)"),
        });
    }
    if stored_size != found {
        return Err(VerifyFailure::Size { stored: stored_size, found });
    }
    Ok(VerifyReport { leaves: found, checkpoints: checkpoints.len() })
}

fn check_node(
    index: u64,
    expected_id: NodeId,
    expected: Hash,
    stored: Option<(i64, i64, Vec<u8>)>,
) -> Result<(), VerifyFailure> {
    let Some((level, idx, hash)) = stored else {
        return Err(leaf_failure(index, format!("node {expected_id} is missing")));
    };
    if (level as u8, idx as u64) != (expected_id.level, expected_id.index) {
        return Err(leaf_failure(index, format!("expected node {expected_id}, found (level {level}, index {idx})")));
    }
    if hash.as_slice() != expected.as_bytes() {
        let what = if level == 0 {
            "the leaf's data does not match its stored hash".to_owned()
        } else {
            format!("node {expected_id} was altered")
        };
        return Err(leaf_failure(index, what));
    }
    Ok(())
}

fn check_checkpoint(
    size: u64,
    root: &[u8],
    note: &str,
    frontier: &Frontier,
    verifier: &str,
) -> Result<(), VerifyFailure> {
    let failure = |reason: String| VerifyFailure::Checkpoint { size, reason };
    let computed = frontier.root().map_err(|e| failure(e.to_string()))?;
    if root != computed.as_bytes() {
        return Err(failure(format!("stored root differs from the recomputed root {computed}")));
    }
    let signed = yiwang_ledger::verify_checkpoint(note, verifier).map_err(|e| failure(format!("signature: {e}")))?;
    if signed.size != size || signed.root != computed {
        return Err(failure("the signed note names another size or root".into()));
    }
    Ok(())
}
