//! An in-memory log built on the same plans and assemblies as a stored one.

use std::collections::HashMap;

use crate::LedgerError;
use crate::hash::{Hash, leaf_hash};
use crate::tree::{self, NodeId};

/// A Merkle tree held in memory, one vector of perfect-subtree hashes per
/// level.
///
/// Each operation fetches exactly the nodes its plan lists, as a database
/// backed log would, so it also exercises the plan/assembly contract.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Appends a leaf with the given data and returns its index.
    pub fn append(&mut self, data: &[u8]) -> u64 {
        self.append_leaf_hash(leaf_hash(data))
    }

    /// Appends a leaf by its hash and returns its index.
    pub fn append_leaf_hash(&mut self, hash: Hash) -> u64 {
        let index = self.size();
        let nodes = self.fetch(tree::append_plan(index));
        let completed = tree::append_nodes(index, hash, &nodes).expect("the left siblings of a new leaf are stored");
        for (id, hash) in completed {
            let level = usize::from(id.level);
            if level == self.levels.len() {
                self.levels.push(Vec::new());
            }
            debug_assert_eq!(self.levels[level].len() as u64, id.index);
            self.levels[level].push(hash);
        }
        index
    }

    /// The stored hash of a perfect subtree, if it is complete.
    pub fn node(&self, id: NodeId) -> Option<Hash> {
        let index = usize::try_from(id.index).ok()?;
        self.levels.get(usize::from(id.level))?.get(index).copied()
    }

    /// Root hash of the whole tree.
    pub fn root(&self) -> Hash {
        self.root_at(self.size()).expect("the current size is within the tree")
    }

    /// Root hash of the tree's first `tree_size` leaves.
    pub fn root_at(&self, tree_size: u64) -> Result<Hash, LedgerError> {
        self.check_size(tree_size)?;
        tree::root(tree_size, &self.fetch(tree::root_plan(tree_size)))
    }

    /// Inclusion proof of leaf `leaf_index` in the tree's first `tree_size`
    /// leaves.
    pub fn inclusion_proof(&self, leaf_index: u64, tree_size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(tree_size)?;
        let nodes = self.fetch(tree::inclusion_proof_plan(leaf_index, tree_size)?);
        tree::inclusion_proof(leaf_index, tree_size, &nodes)
    }

    /// Consistency proof between the tree's first `old_size` and first
    /// `new_size` leaves.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(new_size)?;
        let nodes = self.fetch(tree::consistency_proof_plan(old_size, new_size)?);
        tree::consistency_proof(old_size, new_size, &nodes)
    }

    fn check_size(&self, requested: u64) -> Result<(), LedgerError> {
        let available = self.size();
        if requested > available {
            return Err(LedgerError::SizeOutOfRange { requested, available });
        }
        Ok(())
    }

    /// Looks up the planned nodes, as a database query would.
    fn fetch(&self, plan: Vec<NodeId>) -> HashMap<NodeId, Hash> {
        plan.into_iter().filter_map(|id| Some((id, self.node(id)?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{empty_root, node_hash};

    #[test]
    fn stores_every_perfect_subtree() {
        let mut tree = MemoryTree::new();
        assert_eq!(tree.root(), empty_root());
        let leaves: Vec<_> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
        for (i, &hash) in leaves.iter().enumerate() {
            assert_eq!(tree.append_leaf_hash(hash), i as u64);
        }
        assert_eq!(tree.size(), 5);
        let left = node_hash(&leaves[0], &leaves[1]);
        let right = node_hash(&leaves[2], &leaves[3]);
        assert_eq!(tree.node(NodeId::new(1, 0)), Some(left));
        assert_eq!(tree.node(NodeId::new(1, 1)), Some(right));
        assert_eq!(tree.node(NodeId::new(2, 0)), Some(node_hash(&left, &right)));
        assert_eq!(tree.node(NodeId::leaf(4)), Some(leaves[4]));
        assert_eq!(tree.node(NodeId::new(1, 2)), None);
        assert_eq!(tree.node(NodeId::new(3, 0)), None);
        assert_eq!(tree.root(), node_hash(&node_hash(&left, &right), &leaves[4]));
    }

    #[test]
    fn rejects_sizes_beyond_the_tree() {
        let mut tree = MemoryTree::new();
        tree.append(b"a");
        tree.append(b"b");
        let beyond = LedgerError::SizeOutOfRange { requested: 3, available: 2 };
        assert_eq!(tree.root_at(3), Err(beyond.clone()));
        assert_eq!(tree.inclusion_proof(0, 3), Err(beyond.clone()));
        assert_eq!(tree.consistency_proof(1, 3), Err(beyond));
        assert!(tree.inclusion_proof(2, 2).is_err());
        assert!(tree.consistency_proof(2, 1).is_err());
    }
}
