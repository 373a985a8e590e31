//! Merkle tree maths over stored perfect subtrees (RFC 9162 §2.1).
//!
//! The log stores the hash of every *perfect* subtree: node `(level, index)`
//! covers leaves `[index * 2^level, (index + 1) * 2^level)`, and level 0 holds
//! the leaf hashes. Such a node never changes once its last leaf is appended,
//! so the rows are insert-only.
//!
//! Every operation comes in two phases so that it fits asynchronous database
//! code: a *plan* lists the `O(log n)` stored nodes the operation reads, the
//! caller fetches them (one `SELECT ... WHERE (level, index) IN (...)`), and
//! the *assembly* computes the result from them. Subtrees on the right edge of
//! a tree that are not perfect are computed from their perfect parts.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::LedgerError;
use crate::hash::{Hash, empty_root, node_hash};

/// Position of a perfect subtree: it covers the `2^level` leaves starting at
/// leaf `index * 2^level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId {
    /// Height above the leaves; 0 for a leaf.
    pub level: u8,
    /// Position among the nodes of the same level, from the left.
    pub index: u64,
}

impl NodeId {
    /// The node at `level` and `index`.
    pub const fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    /// The node holding the hash of leaf `index`.
    pub const fn leaf(index: u64) -> Self {
        Self::new(0, index)
    }

    /// The node one level up that covers this one.
    pub const fn parent(self) -> Self {
        Self::new(self.level + 1, self.index >> 1)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(level {}, index {})", self.level, self.index)
    }
}

/// Stored node hashes fetched for a plan.
pub trait NodeSource {
    /// The hash of node `id`, if it was fetched.
    fn node(&self, id: NodeId) -> Option<Hash>;
}

impl<S: BuildHasher> NodeSource for HashMap<NodeId, Hash, S> {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.get(&id).copied()
    }
}

impl NodeSource for BTreeMap<NodeId, Hash> {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.get(&id).copied()
    }
}

/// Stored left siblings needed to append leaf `leaf_index` (the current tree
/// size): one per level at which the new leaf's subtree becomes a right child.
pub fn append_plan(leaf_index: u64) -> Vec<NodeId> {
    (0..leaf_index.trailing_ones()).map(|level| NodeId::new(level as u8, (leaf_index >> level) - 1)).collect()
}

/// Nodes completed by appending leaf `leaf_index` with hash `leaf_hash`, from
/// the leaf itself upwards; the caller inserts them all.
///
/// `nodes` must hold the nodes listed by [`append_plan`]. Appends must be
/// serialized: leaf `n` is appended only once leaves `0..n` are stored.
pub fn append_nodes(
    leaf_index: u64,
    leaf_hash: Hash,
    nodes: &impl NodeSource,
) -> Result<Vec<(NodeId, Hash)>, LedgerError> {
    let mut completed = vec![(NodeId::leaf(leaf_index), leaf_hash)];
    let mut hash = leaf_hash;
    for sibling in append_plan(leaf_index) {
        hash = node_hash(&fetch(nodes, sibling)?, &hash);
        completed.push((sibling.parent(), hash));
    }
    Ok(completed)
}

/// Stored nodes needed to compute the root of the tree of `tree_size` leaves.
pub fn root_plan(tree_size: u64) -> Vec<NodeId> {
    perfect_subtrees(0..tree_size).collect()
}

/// Root hash of the tree of `tree_size` leaves (`MTH(D[tree_size])`).
///
/// `nodes` must hold the nodes listed by [`root_plan`].
pub fn root(tree_size: u64, nodes: &impl NodeSource) -> Result<Hash, LedgerError> {
    range_hash(0..tree_size, nodes)
}

/// Stored nodes needed for the inclusion proof of leaf `leaf_index` in the
/// tree of `tree_size` leaves.
pub fn inclusion_proof_plan(leaf_index: u64, tree_size: u64) -> Result<Vec<NodeId>, LedgerError> {
    Ok(plan(inclusion_ranges(leaf_index, tree_size)?))
}

/// The RFC 9162 §2.1.3.1 inclusion proof (audit path, leaf to root) of leaf
/// `leaf_index` in the tree of `tree_size` leaves.
///
/// `nodes` must hold the nodes listed by [`inclusion_proof_plan`].
pub fn inclusion_proof(leaf_index: u64, tree_size: u64, nodes: &impl NodeSource) -> Result<Vec<Hash>, LedgerError> {
    assemble(inclusion_ranges(leaf_index, tree_size)?, nodes)
}

/// Stored nodes needed for the consistency proof between the trees of
/// `old_size` and `new_size` leaves.
pub fn consistency_proof_plan(old_size: u64, new_size: u64) -> Result<Vec<NodeId>, LedgerError> {
    Ok(plan(consistency_ranges(old_size, new_size)?))
}

/// The RFC 9162 §2.1.4.1 consistency proof between the trees of `old_size`
/// and `new_size` leaves; empty when `old_size` is 0 or equals `new_size`.
///
/// `nodes` must hold the nodes listed by [`consistency_proof_plan`].
pub fn consistency_proof(old_size: u64, new_size: u64, nodes: &impl NodeSource) -> Result<Vec<Hash>, LedgerError> {
    assemble(consistency_ranges(old_size, new_size)?, nodes)
}

/// Leaf ranges whose tree hashes make up the audit path, leaf to root: the
/// `PATH(m, D[n])` recursion of RFC 9162 §2.1.3.1, unrolled from the root down.
fn inclusion_ranges(leaf_index: u64, tree_size: u64) -> Result<Vec<Range<u64>>, LedgerError> {
    if leaf_index >= tree_size {
        return Err(LedgerError::IndexOutOfRange { index: leaf_index, tree_size });
    }
    let mut ranges = Vec::new();
    let (mut start, mut end) = (0, tree_size);
    while end - start > 1 {
        let mid = start + split_point(end - start);
        if leaf_index < mid {
            ranges.push(mid..end);
            end = mid;
        } else {
            ranges.push(start..mid);
            start = mid;
        }
    }
    ranges.reverse();
    Ok(ranges)
}

/// Leaf ranges whose tree hashes make up the consistency proof: the
/// `SUBPROOF(m, D[n], b)` recursion of RFC 9162 §2.1.4.1, unrolled from the
/// root down.
fn consistency_ranges(old_size: u64, new_size: u64) -> Result<Vec<Range<u64>>, LedgerError> {
    if old_size > new_size {
        return Err(LedgerError::SizeOrder { old_size, new_size });
    }
    let mut ranges = Vec::new();
    if old_size == 0 || old_size == new_size {
        return Ok(ranges);
    }
    let (mut start, mut end) = (0, new_size);
    // `b` in the RFC: whether the old tree's root is the subtree's left edge
    // all the way up, so that the verifier already knows its hash.
    let mut known_to_verifier = true;
    // Invariant: start < old_size <= end.
    while old_size != end {
        let mid = start + split_point(end - start);
        if old_size <= mid {
            ranges.push(mid..end);
            end = mid;
        } else {
            ranges.push(start..mid);
            start = mid;
            known_to_verifier = false;
        }
    }
    if !known_to_verifier {
        ranges.push(start..end);
    }
    ranges.reverse();
    Ok(ranges)
}

/// The largest power of two strictly smaller than `size` (which is at least 2).
fn split_point(size: u64) -> u64 {
    1 << (size - 1).ilog2()
}

/// Splits a range of leaves into perfect subtrees, largest (leftmost) first.
///
/// Every range produced by the recursions above starts at a multiple of the
/// smallest power of two not below its length, so each piece is aligned and
/// therefore a stored node.
fn perfect_subtrees(range: Range<u64>) -> impl Iterator<Item = NodeId> {
    let Range { mut start, end } = range;
    std::iter::from_fn(move || {
        (start < end).then(|| {
            let level = (end - start).ilog2();
            debug_assert_eq!(start % (1 << level), 0, "unaligned subtree");
            let node = NodeId::new(level as u8, start >> level);
            start += 1 << level;
            node
        })
    })
}

/// Tree hash `MTH` of a range of leaves built from its perfect subtrees: the
/// right edge is folded from the smallest subtree up.
fn range_hash(range: Range<u64>, nodes: &impl NodeSource) -> Result<Hash, LedgerError> {
    let hashes = perfect_subtrees(range).map(|id| fetch(nodes, id)).collect::<Result<Vec<_>, _>>()?;
    Ok(hashes.into_iter().rev().reduce(|right, left| node_hash(&left, &right)).unwrap_or_else(empty_root))
}

fn plan(ranges: Vec<Range<u64>>) -> Vec<NodeId> {
    ranges.into_iter().flat_map(perfect_subtrees).collect()
}

fn assemble(ranges: Vec<Range<u64>>, nodes: &impl NodeSource) -> Result<Vec<Hash>, LedgerError> {
    ranges.into_iter().map(|range| range_hash(range, nodes)).collect()
}

fn fetch(nodes: &impl NodeSource, id: NodeId) -> Result<Hash, LedgerError> {
    nodes.node(id).ok_or(LedgerError::MissingNode(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn split_point_is_largest_smaller_power_of_two() {
        let cases = [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1 << 40, 1 << 39)];
        for (size, split) in cases {
            assert_eq!(split_point(size), split, "size {size}");
        }
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn perfect_subtrees_follow_the_binary_digits_of_the_size() {
        let nodes: Vec<_> = perfect_subtrees(0..13).collect();
        assert_eq!(nodes, [NodeId::new(3, 0), NodeId::new(2, 2), NodeId::new(0, 12)]);
        let nodes: Vec<_> = perfect_subtrees(8..14).collect();
        assert_eq!(nodes, [NodeId::new(2, 2), NodeId::new(1, 6)]);
        assert_eq!(perfect_subtrees(5..5).count(), 0);
    }

    #[test]
    fn append_plan_lists_left_siblings_of_completed_nodes() {
        assert!(append_plan(0).is_empty());
        assert_eq!(append_plan(1), [NodeId::new(0, 0)]);
        assert!(append_plan(2).is_empty());
        assert_eq!(append_plan(7), [NodeId::new(0, 6), NodeId::new(1, 2), NodeId::new(2, 0)]);
        assert_eq!(append_plan(11), [NodeId::new(0, 10), NodeId::new(1, 4)]);
        assert_eq!(append_plan(u64::MAX).len(), 64);
    }

    #[test]
    fn append_nodes_hashes_each_completed_parent() {
        let hashes: Vec<_> = (0..4u8).map(|i| leaf_hash(&[i])).collect();
        let left = node_hash(&hashes[0], &hashes[1]);
        let nodes = HashMap::from([(NodeId::new(0, 2), hashes[2]), (NodeId::new(1, 0), left)]);
        let completed = append_nodes(3, hashes[3], &nodes).unwrap();
        let right = node_hash(&hashes[2], &hashes[3]);
        assert_eq!(
            completed,
            [(NodeId::new(0, 3), hashes[3]), (NodeId::new(1, 1), right), (NodeId::new(2, 0), node_hash(&left, &right)),]
        );
    }

    #[test]
    fn assembly_reports_the_first_missing_node() {
        let empty = BTreeMap::new();
        assert_eq!(append_nodes(1, empty_root(), &empty), Err(LedgerError::MissingNode(NodeId::leaf(0))));
        assert_eq!(root(6, &empty), Err(LedgerError::MissingNode(NodeId::new(2, 0))));
        assert_eq!(root(0, &empty), Ok(empty_root()));
    }

    #[test]
    fn plans_reject_invalid_sizes() {
        assert_eq!(inclusion_proof_plan(5, 5), Err(LedgerError::IndexOutOfRange { index: 5, tree_size: 5 }));
        assert!(inclusion_proof_plan(0, 0).is_err());
        assert_eq!(consistency_proof_plan(6, 5), Err(LedgerError::SizeOrder { old_size: 6, new_size: 5 }));
        assert_eq!(consistency_proof_plan(0, 5), Ok(Vec::new()));
        assert_eq!(consistency_proof_plan(5, 5), Ok(Vec::new()));
        assert!(root_plan(0).is_empty());
    }

    #[test]
    fn plans_read_few_nodes_from_huge_trees() {
        let size = (1 << 62) + 12345;
        assert!(root_plan(size).len() <= 64);
        assert!(inclusion_proof_plan(size / 3, size).unwrap().len() <= 2 * 64);
        assert!(consistency_proof_plan(size / 3, size).unwrap().len() <= 2 * 64);
    }
}
