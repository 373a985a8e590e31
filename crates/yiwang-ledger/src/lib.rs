//! The tamper-evident evidence log (存证) of the platform: a transparency log
//! in the style of Certificate Transparency.
//!
//! This crate holds only the maths and formats; the application stores leaves
//! and node hashes in SQL and calls it:
//!
//! - [`leaf_hash`], [`node_hash`], [`empty_root`]: RFC 9162 §2.1 hashing with
//!   SHA-256.
//! - [`tree`]: appends, roots and proofs over stored perfect subtrees, each in
//!   two phases (a plan of the `O(log n)` nodes to fetch, then an assembly),
//!   so no operation loads the tree.
//! - [`verify_inclusion`], [`verify_consistency`]: RFC 9162 §2.1.3.2 and
//!   §2.1.4.2 verification.
//! - [`LeafV1`]: the canonical leaf encoding, which logs only a hash of the
//!   payload.
//! - [`Checkpoint`], [`sign_checkpoint`], [`verify_checkpoint`]: signed tree
//!   heads as C2SP tlog-checkpoints in Ed25519 signed notes.
//! - [`tiles`]: tile paths, the stored nodes a tile is, and entry bundles for
//!   the C2SP tlog-tiles read API.
//! - [`MemoryTree`]: an in-memory log on the same functions, for tests.
//!
//! # Storage
//!
//! Keep a table `ledger_node(level, index, hash)` with primary key
//! `(level, index)`: node `(level, index)` is the hash of the perfect subtree
//! over leaves `[index * 2^level, (index + 1) * 2^level)`, and level 0 holds
//! the leaf hashes. To append leaf `n` (the current size), inside one
//! serialized transaction:
//!
//! ```
//! use std::collections::HashMap;
//! use yiwang_ledger::tree::{self, NodeId};
//! use yiwang_ledger::{Hash, leaf_hash, verify_inclusion};
//!
//! // Stands in for the `ledger_node` table.
//! let mut table: HashMap<NodeId, Hash> = HashMap::new();
//! let select = |table: &HashMap<NodeId, Hash>, plan: Vec<NodeId>| -> HashMap<NodeId, Hash> {
//!     plan.into_iter().map(|id| (id, table[&id])).collect()
//! };
//! for (n, data) in (0..).zip([b"a", b"b", b"c", b"d", b"e"]) {
//!     // SELECT the planned rows: one left sibling per trailing 1-bit of n.
//!     let fetched = select(&table, tree::append_plan(n));
//!     // INSERT every returned row: (0, n) and one parent per fetched sibling.
//!     let rows = tree::append_nodes(n, leaf_hash(data), &fetched)?;
//!     assert_eq!(rows.len() as u32, 1 + n.trailing_ones());
//!     table.extend(rows);
//! }
//! // Reads work the same way: plan, SELECT, assemble.
//! let root = tree::root(5, &select(&table, tree::root_plan(5)))?;
//! let fetched = select(&table, tree::inclusion_proof_plan(2, 5)?);
//! let proof = tree::inclusion_proof(2, 5, &fetched)?;
//! verify_inclusion(leaf_hash(b"c"), 2, 5, &proof, root)?;
//! # Ok::<_, yiwang_ledger::LedgerError>(())
//! ```
//!
//! That is `1 + trailing_ones(n)` rows per leaf, about `2n` rows in all.

mod checkpoint;
mod error;
mod hash;
mod leaf;
mod memory;
mod note;
pub mod tiles;
pub mod tree;
mod verify;

pub use checkpoint::{Checkpoint, sign_checkpoint, verify_checkpoint};
pub use error::LedgerError;
pub use hash::{Hash, empty_root, leaf_hash, node_hash};
pub use leaf::LeafV1;
pub use memory::MemoryTree;
pub use note::{SignerKey, VerifierKey, key_hash, open_note, sign_note};
pub use tree::NodeId;
pub use verify::{verify_consistency, verify_inclusion};
