//! Known-answer tests from certificate-transparency's `merkle_tree_test.cc` and
//! transparency-dev/merkle's test data: the classic eight-leaf tree.

use std::collections::BTreeMap;

use yiwang_ledger::tree::{self, NodeId};
use yiwang_ledger::{Hash, LedgerError, MemoryTree, empty_root, leaf_hash, verify_consistency, verify_inclusion};

const LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];

/// Roots of the trees of 1 to 8 leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Every perfect subtree of the eight-leaf tree, by level then index.
const NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// Inclusion proofs as (0-based leaf index, tree size, audit path).
const INCLUSION_PROOFS: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// Consistency proofs as (old size, new size, proof).
const CONSISTENCY_PROOFS: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(hex: &str) -> Hash {
    hex.parse().unwrap()
}

fn hashes(hexes: &[&str]) -> Vec<Hash> {
    hexes.iter().map(|hex| h(hex)).collect()
}

fn root(size: u64) -> Hash {
    match size {
        0 => empty_root(),
        _ => h(ROOTS[size as usize - 1]),
    }
}

fn reference_tree() -> MemoryTree {
    let mut tree = MemoryTree::new();
    for leaf in LEAVES {
        tree.append(leaf);
    }
    tree
}

fn flip_bit(hash: Hash, bit: usize) -> Hash {
    let mut bytes = hash.0;
    bytes[bit / 8] ^= 1 << (bit % 8);
    Hash(bytes)
}

#[test]
fn roots_of_every_prefix() {
    let mut tree = MemoryTree::new();
    assert_eq!(tree.root(), empty_root());
    for (size, leaf) in (1..).zip(LEAVES) {
        tree.append(leaf);
        assert_eq!(tree.root(), root(size), "size {size}");
        for earlier in 0..=size {
            assert_eq!(tree.root_at(earlier), Ok(root(earlier)), "size {earlier}");
        }
    }
}

#[test]
fn stored_nodes_are_the_perfect_subtrees() {
    let tree = reference_tree();
    for (level, nodes) in (0..).zip(NODES) {
        for (index, hash) in (0..).zip(nodes) {
            assert_eq!(tree.node(NodeId::new(level, index)), Some(h(hash)));
        }
        assert_eq!(tree.node(NodeId::new(level, nodes.len() as u64)), None);
    }
}

#[test]
fn node_hashes_are_rfc6962_hashes() {
    for (leaf, hash) in LEAVES.iter().zip(NODES[0]) {
        assert_eq!(leaf_hash(leaf), h(hash));
    }
}

#[test]
fn plans_and_assemblies_work_with_any_node_source() {
    let tree = reference_tree();
    let fetch = |plan: Vec<NodeId>| -> BTreeMap<NodeId, Hash> {
        plan.into_iter().map(|id| (id, tree.node(id).unwrap())).collect()
    };
    let nodes = fetch(tree::root_plan(7));
    assert_eq!(tree::root(7, &nodes), Ok(root(7)));
    let nodes = fetch(tree::inclusion_proof_plan(5, 8).unwrap());
    assert_eq!(tree::inclusion_proof(5, 8, &nodes), Ok(hashes(INCLUSION_PROOFS[2].2)));
    let nodes = fetch(tree::consistency_proof_plan(6, 7).unwrap());
    assert_eq!(tree::consistency_proof(6, 7, &nodes), Ok(hashes(CONSISTENCY_PROOFS[4].2)));
}

#[test]
fn plans_list_exactly_the_nodes_the_assembly_reads() {
    let tree = reference_tree();
    for (index, size, _) in INCLUSION_PROOFS {
        let plan = tree::inclusion_proof_plan(index, size).unwrap();
        for missing in &plan {
            let nodes: BTreeMap<_, _> =
                plan.iter().filter(|id| *id != missing).map(|&id| (id, tree.node(id).unwrap())).collect();
            assert_eq!(tree::inclusion_proof(index, size, &nodes), Err(LedgerError::MissingNode(*missing)));
        }
    }
}

#[test]
fn inclusion_proofs() {
    let tree = reference_tree();
    for (index, size, path) in INCLUSION_PROOFS {
        let expected = hashes(path);
        assert_eq!(tree.inclusion_proof(index, size), Ok(expected.clone()));
        let leaf = leaf_hash(LEAVES[index as usize]);
        assert_eq!(verify_inclusion(leaf, index, size, &expected, root(size)), Ok(()));
    }
}

#[test]
fn corrupted_inclusion_proofs_fail() {
    let some_hash = h("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (index, size, path) in INCLUSION_PROOFS {
        let proof = hashes(path);
        let leaf = leaf_hash(LEAVES[index as usize]);
        let root = root(size);
        let mut probes = vec![
            (index.wrapping_sub(1), size, leaf, proof.clone(), root),
            (index + 1, size, leaf, proof.clone(), root),
            (index ^ 2, size, leaf, proof.clone(), root),
            (index, size * 2, leaf, proof.clone(), root),
            (index, size / 2, leaf, proof.clone(), root),
            (index, size, leaf_hash(b"WrongLeaf"), proof.clone(), root),
            (index, size, leaf, proof.clone(), empty_root()),
            (index, size, leaf, proof.clone(), some_hash),
            (index, size, leaf, [proof.clone(), vec![root]].concat(), root),
            (index, size, leaf, [vec![root], proof.clone()].concat(), root),
        ];
        for i in 0..proof.len() {
            let mut wrong = proof.clone();
            wrong[i] = flip_bit(wrong[i], 3);
            probes.push((index, size, leaf, wrong, root));
            let mut shorter = proof.clone();
            shorter.remove(i);
            probes.push((index, size, leaf, shorter, root));
        }
        for (index, size, leaf, proof, root) in probes {
            assert!(verify_inclusion(leaf, index, size, &proof, root).is_err(), "verified leaf {index} in size {size}");
        }
    }
}

#[test]
fn consistency_proofs() {
    let tree = reference_tree();
    for (old, new, path) in CONSISTENCY_PROOFS {
        let expected = hashes(path);
        assert_eq!(tree.consistency_proof(old, new), Ok(expected.clone()));
        assert_eq!(verify_consistency(old, new, root(old), root(new), &expected), Ok(()));
    }
}

#[test]
fn corrupted_consistency_proofs_fail() {
    for (old, new, path) in CONSISTENCY_PROOFS.into_iter().filter(|(o, n, _)| o != n) {
        let proof = hashes(path);
        let (old_root, new_root) = (root(old), root(new));
        let mut probes = vec![
            (old - 1, new, old_root, new_root, proof.clone()),
            (old + 1, new, old_root, new_root, proof.clone()),
            (old ^ 2, new, old_root, new_root, proof.clone()),
            (old, new * 2, old_root, new_root, proof.clone()),
            (old, new / 2, old_root, new_root, proof.clone()),
            (old, new, leaf_hash(b"WrongRoot"), new_root, proof.clone()),
            (old, new, old_root, leaf_hash(b"WrongRoot"), proof.clone()),
            (old, new, new_root, old_root, proof.clone()),
            (old, new, old_root, new_root, Vec::new()),
            (old, new, old_root, new_root, [proof.clone(), vec![old_root]].concat()),
            (old, new, old_root, new_root, [proof.clone(), vec![new_root]].concat()),
            (old, new, old_root, new_root, [vec![old_root], proof.clone()].concat()),
            (old, new, old_root, new_root, [vec![new_root], proof.clone()].concat()),
            (old, new, old_root, new_root, [vec![proof[0]], proof.clone()].concat()),
            (old, new, old_root, new_root, proof[..proof.len() - 1].to_vec()),
        ];
        for i in 0..proof.len() {
            let mut wrong = proof.clone();
            wrong[i] = flip_bit(wrong[i], 4);
            probes.push((old, new, old_root, new_root, wrong));
        }
        for (old, new, old_root, new_root, proof) in probes {
            assert!(
                verify_consistency(old, new, old_root, new_root, &proof).is_err(),
                "verified {old} -> {new} with {proof:?}"
            );
        }
    }
}

/// RFC 9162 hashes do not commit to the tree size: a proof verifies for any
/// size whose audit path has the same shape, so a verifier must take the
/// size and root together from one signed checkpoint.
#[test]
fn inclusion_proofs_bind_the_path_shape_not_the_size() {
    let tree = reference_tree();
    let proof = tree.inclusion_proof(0, 3).unwrap();
    let leaf = leaf_hash(LEAVES[0]);
    assert_eq!(verify_inclusion(leaf, 0, 4, &proof, root(3)), Ok(()));
    assert!(verify_inclusion(leaf, 0, 4, &proof, root(4)).is_err());
    assert!(verify_inclusion(leaf, 0, 5, &proof, root(3)).is_err());
}
