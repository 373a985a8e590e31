//! Proof verification, following RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.

use crate::LedgerError;
use crate::hash::{Hash, empty_root, node_hash};

/// Checks that `proof` shows the leaf with hash `leaf_hash` at `leaf_index`
/// in the tree of `tree_size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
///
/// The hashes commit to the shape of the audit path, not to `tree_size`
/// itself: take `tree_size` and `root` together from one verified checkpoint.
pub fn verify_inclusion(
    leaf_hash: Hash,
    leaf_index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: Hash,
) -> Result<(), LedgerError> {
    // 1. The index must lie inside the tree.
    if leaf_index >= tree_size {
        return Err(LedgerError::IndexOutOfRange { index: leaf_index, tree_size });
    }
    // 2.-3. (`fn_` and `sn` are the RFC's `fn` and `sn`.)
    let (mut fn_, mut sn) = (leaf_index, tree_size - 1);
    let mut r = leaf_hash;
    // 4.
    for p in proof {
        if sn == 0 {
            return Err(LedgerError::ProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5.
    if sn != 0 {
        return Err(LedgerError::ProofLength);
    }
    if r != root {
        return Err(LedgerError::RootMismatch);
    }
    Ok(())
}

/// Checks that `proof` shows the tree of `new_size` leaves with root
/// `new_root` to extend the tree of `old_size` leaves with root `old_root`
/// (RFC 9162 §2.1.4.2).
///
/// Beyond the RFC, which covers `0 < old_size < new_size`: equal sizes need an
/// empty proof and equal roots, and the empty tree (whose root must be
/// `SHA-256("")`) is a prefix of every tree with an empty proof.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: Hash,
    new_root: Hash,
    proof: &[Hash],
) -> Result<(), LedgerError> {
    if old_size > new_size {
        return Err(LedgerError::SizeOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(LedgerError::ProofLength);
        }
        let expected_old = if old_size == 0 { empty_root() } else { new_root };
        return if old_root == expected_old { Ok(()) } else { Err(LedgerError::RootMismatch) };
    }
    // 1.
    let Some((first, rest)) = proof.split_first() else {
        return Err(LedgerError::ProofLength);
    };
    // 2. A power-of-two old tree is a node of the new one: its root starts
    // the path instead of being sent.
    let (start, path) = if old_size.is_power_of_two() { (old_root, proof) } else { (*first, rest) };
    // 3.
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    // 4.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5.
    let (mut fr, mut sr) = (start, start);
    // 6.
    for c in path {
        if sn == 0 {
            return Err(LedgerError::ProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7.
    if sn != 0 {
        return Err(LedgerError::ProofLength);
    }
    if fr != old_root || sr != new_root {
        return Err(LedgerError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn single_leaf_tree_has_an_empty_proof() {
        let leaf = leaf_hash(b"data");
        assert_eq!(verify_inclusion(leaf, 0, 1, &[], leaf), Ok(()));
        assert_eq!(verify_inclusion(leaf, 0, 1, &[], empty_root()), Err(LedgerError::RootMismatch));
        assert_eq!(verify_inclusion(leaf, 0, 1, &[leaf], leaf), Err(LedgerError::ProofLength));
        assert_eq!(
            verify_inclusion(leaf, 1, 1, &[], leaf),
            Err(LedgerError::IndexOutOfRange { index: 1, tree_size: 1 })
        );
        assert!(verify_inclusion(leaf, 0, 0, &[], leaf).is_err());
    }

    #[test]
    fn too_short_inclusion_proof_is_rejected() {
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let root = node_hash(&a, &b);
        assert_eq!(verify_inclusion(a, 0, 2, &[b], root), Ok(()));
        assert_eq!(verify_inclusion(b, 1, 2, &[a], root), Ok(()));
        assert_eq!(verify_inclusion(a, 0, 2, &[], root), Err(LedgerError::ProofLength));
    }

    #[test]
    fn trivial_consistency_cases() {
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        assert_eq!(verify_consistency(0, 0, empty_root(), empty_root(), &[]), Ok(()));
        assert_eq!(verify_consistency(0, 5, empty_root(), a, &[]), Ok(()));
        assert_eq!(verify_consistency(0, 5, a, a, &[]), Err(LedgerError::RootMismatch));
        assert_eq!(verify_consistency(0, 5, empty_root(), a, &[a]), Err(LedgerError::ProofLength));
        assert_eq!(verify_consistency(3, 3, a, a, &[]), Ok(()));
        assert_eq!(verify_consistency(3, 3, a, b, &[]), Err(LedgerError::RootMismatch));
        assert_eq!(verify_consistency(3, 3, a, a, &[a]), Err(LedgerError::ProofLength));
        assert_eq!(verify_consistency(4, 3, a, b, &[]), Err(LedgerError::SizeOrder { old_size: 4, new_size: 3 }));
        assert_eq!(verify_consistency(1, 2, a, node_hash(&a, &b), &[]), Err(LedgerError::ProofLength));
        assert_eq!(verify_consistency(1, 2, a, node_hash(&a, &b), &[b]), Ok(()));
        assert_eq!(verify_consistency(1, 2, a, node_hash(&a, &b), &[b, b]), Err(LedgerError::ProofLength));
    }
}
