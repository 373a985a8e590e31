//! SHA-256 hashes and the RFC 9162 §2.1 Merkle tree hash functions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::LedgerError;

/// Domain separation prefix of leaf hashes (RFC 9162 §2.1.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain separation prefix of interior node hashes (RFC 9162 §2.1.1).
const NODE_PREFIX: u8 = 0x01;

/// A SHA-256 digest.
///
/// Displayed, parsed and serialized as 64 lowercase hex digits; stored in a
/// database as its 32 raw bytes ([`Hash::as_bytes`], [`Hash::from_slice`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Number of bytes in a hash.
    pub const LEN: usize = 32;

    /// SHA-256 of `data`, e.g. the payload hash of a leaf.
    pub fn sha256(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads a hash from exactly 32 raw bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, LedgerError> {
        bytes.try_into().map(Self).map_err(|_| LedgerError::MalformedHash("expected 32 bytes"))
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = LedgerError;

    /// Parses 64 lowercase hex digits.
    fn from_str(hex: &str) -> Result<Self, Self::Err> {
        if hex.len() != 2 * Self::LEN {
            return Err(LedgerError::MalformedHash("expected 64 hex digits"));
        }
        let mut bytes = [0; Self::LEN];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            *byte = hex_digit(pair[0])? << 4 | hex_digit(pair[1])?;
        }
        Ok(Self(bytes))
    }
}

fn hex_digit(digit: u8) -> Result<u8, LedgerError> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        _ => Err(LedgerError::MalformedHash("expected lowercase hex digits")),
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(deserializer)?;
        hex.parse().map_err(serde::de::Error::custom)
    }
}

/// Hash of a leaf: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Hash(Sha256::new().chain_update([LEAF_PREFIX]).chain_update(data).finalize().into())
}

/// Hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash(Sha256::new().chain_update([NODE_PREFIX]).chain_update(left.0).chain_update(right.0).finalize().into())
}

/// Root hash of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Hash::sha256(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(empty_root().to_string(), EMPTY);
    }

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        let leaf = leaf_hash(b"");
        assert_ne!(leaf, empty_root());
        // Known RFC 6962 value of the hash of the empty leaf.
        assert_eq!(leaf.to_string(), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
        let mut concatenation = Vec::from(*leaf.as_bytes());
        concatenation.extend_from_slice(leaf.as_bytes());
        assert_ne!(node_hash(&leaf, &leaf), leaf_hash(&concatenation));
    }

    #[test]
    fn hex_round_trip_and_rejections() {
        let hash: Hash = EMPTY.parse().unwrap();
        assert_eq!(hash, empty_root());
        assert_eq!(format!("{hash:?}"), format!("Hash({EMPTY})"));
        assert!(EMPTY[1..].parse::<Hash>().is_err());
        assert!(format!("{EMPTY}0").parse::<Hash>().is_err());
        assert!(EMPTY.to_uppercase().parse::<Hash>().is_err());
        assert!(EMPTY.replace('e', "g").parse::<Hash>().is_err());
    }

    #[test]
    fn raw_bytes_round_trip() {
        let hash = Hash::sha256(b"payload");
        assert_eq!(Hash::from_slice(hash.as_bytes()), Ok(hash));
        assert_eq!(hash.as_ref(), hash.as_bytes());
        assert_eq!(Hash::from(hash.0), hash);
        assert!(Hash::from_slice(&hash.as_bytes()[1..]).is_err());
        assert!(Hash::from_slice(&[0; 33]).is_err());
    }

    #[test]
    fn serde_uses_lowercase_hex() {
        let json = serde_json::to_string(&empty_root()).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), empty_root());
        assert!(serde_json::from_str::<Hash>("\"00\"").is_err());
    }
}
