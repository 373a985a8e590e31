//! Random trees checked against a naive recursive reference implementation of
//! RFC 9162 §2.1, written directly on SHA-256.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use sha2::{Digest, Sha256};
use yiwang_ledger::{Hash, MemoryTree, leaf_hash, verify_consistency, verify_inclusion};

/// Random leaf data for a tree of 1 to 299 leaves.
fn leaves() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(vec(any::<u8>(), 0..8), 1..300)
}

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    Hash(hasher.finalize().into())
}

/// The largest power of two strictly smaller than `n`.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// `MTH(D[n])`.
fn mth(data: &[Vec<u8>]) -> Hash {
    match data {
        [] => sha256(&[]),
        [leaf] => sha256(&[&[0x00], leaf]),
        _ => {
            let k = split(data.len());
            sha256(&[&[0x01], &mth(&data[..k]).0, &mth(&data[k..]).0])
        }
    }
}

/// `PATH(m, D[n])`.
fn path(m: usize, data: &[Vec<u8>]) -> Vec<Hash> {
    if data.len() == 1 {
        return Vec::new();
    }
    let k = split(data.len());
    let (mut path, sibling) =
        if m < k { (path(m, &data[..k]), mth(&data[k..])) } else { (path(m - k, &data[k..]), mth(&data[..k])) };
    path.push(sibling);
    path
}

/// `SUBPROOF(m, D[n], b)`.
fn subproof(m: usize, data: &[Vec<u8>], b: bool) -> Vec<Hash> {
    if m == data.len() {
        return if b { Vec::new() } else { vec![mth(data)] };
    }
    let k = split(data.len());
    let (mut proof, sibling) = if m <= k {
        (subproof(m, &data[..k], b), mth(&data[k..]))
    } else {
        (subproof(m - k, &data[k..], false), mth(&data[..k]))
    };
    proof.push(sibling);
    proof
}

fn build(data: &[Vec<u8>]) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for leaf in data {
        tree.append(leaf);
    }
    tree
}

/// Roots of every prefix, indexed by size.
fn prefix_roots(data: &[Vec<u8>]) -> Vec<Hash> {
    (0..=data.len()).map(|size| mth(&data[..size])).collect()
}

fn flip(hash: Hash, bit: Index) -> Hash {
    let bit = bit.index(256);
    let mut bytes = hash.0;
    bytes[bit / 8] ^= 1 << (bit % 8);
    Hash(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn every_inclusion_proof_verifies(data in leaves()) {
        let tree = build(&data);
        let roots = prefix_roots(&data);
        for (size, &root) in (0..).zip(&roots).skip(1) {
            prop_assert_eq!(tree.root_at(size), Ok(root));
            for (index, leaf) in (0..size).zip(&data) {
                let proof = tree.inclusion_proof(index, size).unwrap();
                prop_assert_eq!(
                    verify_inclusion(leaf_hash(leaf), index, size, &proof, root),
                    Ok(())
                );
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies(data in leaves()) {
        let tree = build(&data);
        let roots = prefix_roots(&data);
        for new in 1..=data.len() {
            for old in 0..=new {
                let proof = tree.consistency_proof(old as u64, new as u64).unwrap();
                prop_assert_eq!(
                    verify_consistency(old as u64, new as u64, roots[old], roots[new], &proof),
                    Ok(())
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn proofs_follow_the_rfc_definitions(data in vec(vec(any::<u8>(), 0..4), 1..40)) {
        let tree = build(&data);
        for size in 1..=data.len() {
            let prefix = &data[..size];
            for index in 0..size {
                prop_assert_eq!(
                    tree.inclusion_proof(index as u64, size as u64),
                    Ok(path(index, prefix))
                );
            }
            for old in 1..=size {
                prop_assert_eq!(
                    tree.consistency_proof(old as u64, size as u64),
                    Ok(subproof(old, prefix, true))
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn altered_inclusion_claims_fail(
        data in leaves(),
        size in any::<Index>(),
        index in any::<Index>(),
        bits in vec(any::<Index>(), 10),
        other_leaf in vec(any::<u8>(), 8..9),
    ) {
        let tree = build(&data);
        let roots = prefix_roots(&data);
        let size = size.index(data.len()) + 1;
        let index = index.index(size);
        let (n, i) = (size as u64, index as u64);
        let proof = tree.inclusion_proof(i, n).unwrap();
        let leaf = leaf_hash(&data[index]);
        let root = roots[size];
        prop_assert_eq!(verify_inclusion(leaf, i, n, &proof, root), Ok(()));

        for (k, bit) in bits.iter().enumerate().take(proof.len()) {
            let mut altered = proof.clone();
            altered[k] = flip(altered[k], *bit);
            prop_assert!(verify_inclusion(leaf, i, n, &altered, root).is_err());
        }
        if let Some((_, shorter)) = proof.split_last() {
            prop_assert!(verify_inclusion(leaf, i, n, shorter, root).is_err());
        }
        let longer = [proof.clone(), vec![root]].concat();
        prop_assert!(verify_inclusion(leaf, i, n, &longer, root).is_err());
        prop_assert!(verify_inclusion(flip(leaf, bits[0]), i, n, &proof, root).is_err());
        prop_assert!(verify_inclusion(leaf_hash(&other_leaf), i, n, &proof, root).is_err());
        prop_assert!(verify_inclusion(leaf, i, n, &proof, flip(root, bits[1])).is_err());
        // The leaf claimed at another index: the proof holds only where that
        // index holds the same data with the same audit path.
        for other in (0..=size + 1).filter(|&other| other != index) {
            let claim = verify_inclusion(leaf, other as u64, n, &proof, root);
            let same = other < size
                && data[other] == data[index]
                && tree.inclusion_proof(other as u64, n).as_ref() == Ok(&proof);
            prop_assert_eq!(claim.is_ok(), same, "index {}", other);
        }
        // The same leaf claimed in a tree of another size: the proof holds
        // only where that tree's audit path is the same.
        for (other, &other_root) in (0..).zip(&roots).skip(1) {
            let claim = verify_inclusion(leaf, i, other, &proof, other_root);
            let same_path = tree.inclusion_proof(i, other).ok().as_ref() == Some(&proof);
            prop_assert_eq!(claim.is_ok(), same_path, "size {}", other);
        }
    }

    #[test]
    fn altered_consistency_claims_fail(
        data in leaves(),
        new in any::<Index>(),
        old in any::<Index>(),
        bits in vec(any::<Index>(), 10),
    ) {
        let tree = build(&data);
        let roots = prefix_roots(&data);
        let new = new.index(data.len()) + 1;
        let old = old.index(new) + 1;
        let (m, n) = (old as u64, new as u64);
        let proof = tree.consistency_proof(m, n).unwrap();
        let (old_root, new_root) = (roots[old], roots[new]);
        prop_assert_eq!(verify_consistency(m, n, old_root, new_root, &proof), Ok(()));

        for (k, bit) in bits.iter().enumerate().take(proof.len()) {
            let mut altered = proof.clone();
            altered[k] = flip(altered[k], *bit);
            prop_assert!(verify_consistency(m, n, old_root, new_root, &altered).is_err());
        }
        if let Some((_, shorter)) = proof.split_last() {
            prop_assert!(verify_consistency(m, n, old_root, new_root, shorter).is_err());
        }
        let longer = [proof.clone(), vec![new_root]].concat();
        prop_assert!(verify_consistency(m, n, old_root, new_root, &longer).is_err());
        prop_assert!(verify_consistency(m, n, flip(old_root, bits[0]), new_root, &proof).is_err());
        prop_assert!(verify_consistency(m, n, old_root, flip(new_root, bits[1]), &proof).is_err());
        if old_root != new_root {
            prop_assert!(verify_consistency(m, n, new_root, old_root, &proof).is_err());
        }
        // Other sizes with their own roots: the proof holds only where it is
        // that pair's proof too.
        for (other, &other_root) in (0..).zip(&roots) {
            let same_proof =
                |old, new| tree.consistency_proof(old, new).ok().as_ref() == Some(&proof);
            let claim = verify_consistency(other, n, other_root, new_root, &proof);
            prop_assert_eq!(claim.is_ok(), same_proof(other, n), "old size {}", other);
            let claim = verify_consistency(m, other, old_root, other_root, &proof);
            prop_assert_eq!(claim.is_ok(), same_proof(m, other), "new size {}", other);
        }
    }
}
