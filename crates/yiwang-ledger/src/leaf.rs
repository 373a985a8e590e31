//! The canonical, versioned byte encoding of log entries.

use serde::{Deserialize, Serialize};

use crate::LedgerError;
use crate::hash::{Hash, leaf_hash};

/// An evidence record, version 1.
///
/// The payload itself is never logged, only its SHA-256
/// ([`Hash::sha256`]), so personal data stays out of the append-only log.
///
/// Encoding (all integers big-endian):
///
/// ```text
/// 0x01                           version
/// u32 length || UTF-8 bytes      kind
/// u32 length || UTF-8 bytes      subject
/// u32 length || UTF-8 bytes      actor
/// i64                            at_unix_ms
/// 32 bytes                       payload_hash
/// ```
///
/// Every field is length-prefixed or fixed-size, so distinct records never
/// share an encoding, and the decoder accepts nothing but the encoder's
/// output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafV1 {
    /// What happened, e.g. `"permit.issued"`.
    pub kind: String,
    /// What it happened to, e.g. a case or document identifier.
    pub subject: String,
    /// Who did it.
    pub actor: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: i64,
    /// SHA-256 of the record's payload.
    pub payload_hash: Hash,
}

impl LeafV1 {
    /// The version byte that starts the encoding.
    pub const VERSION: u8 = 0x01;

    /// The canonical encoding; fails only for a field longer than
    /// `u32::MAX` bytes.
    pub fn encode(&self) -> Result<Vec<u8>, LedgerError> {
        let strings = [&self.kind, &self.subject, &self.actor];
        let capacity = 1 + strings.iter().map(|s| 4 + s.len()).sum::<usize>() + 8 + Hash::LEN;
        let mut bytes = Vec::with_capacity(capacity);
        bytes.push(Self::VERSION);
        for field in strings {
            let len = u32::try_from(field.len()).map_err(|_| LedgerError::LeafFieldTooLong(field.len()))?;
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(field.as_bytes());
        }
        bytes.extend_from_slice(&self.at_unix_ms.to_be_bytes());
        bytes.extend_from_slice(self.payload_hash.as_bytes());
        Ok(bytes)
    }

    /// Decodes the canonical encoding, rejecting any other version, truncated
    /// input, invalid UTF-8 and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, LedgerError> {
        let mut reader = Reader(bytes);
        if reader.take_array::<1>()? != [Self::VERSION] {
            return Err(LedgerError::MalformedLeaf("unknown version"));
        }
        let kind = reader.take_string()?;
        let subject = reader.take_string()?;
        let actor = reader.take_string()?;
        let at_unix_ms = i64::from_be_bytes(reader.take_array()?);
        let payload_hash = Hash(reader.take_array()?);
        if !reader.0.is_empty() {
            return Err(LedgerError::MalformedLeaf("trailing bytes"));
        }
        Ok(Self { kind, subject, actor, at_unix_ms, payload_hash })
    }

    /// The Merkle leaf hash of the encoding.
    pub fn leaf_hash(&self) -> Result<Hash, LedgerError> {
        Ok(leaf_hash(&self.encode()?))
    }
}

/// Consumes an encoding from the front.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], LedgerError> {
        let (head, rest) = self.0.split_at_checked(len).ok_or(LedgerError::MalformedLeaf("truncated"))?;
        self.0 = rest;
        Ok(head)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], LedgerError> {
        Ok(self.take(N)?.try_into().expect("took exactly N bytes"))
    }

    fn take_string(&mut self) -> Result<String, LedgerError> {
        let len = u32::from_be_bytes(self.take_array()?);
        let len = usize::try_from(len).map_err(|_| LedgerError::MalformedLeaf("truncated"))?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| LedgerError::MalformedLeaf("invalid UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LeafV1 {
        LeafV1 {
            kind: "permit.issued".into(),
            subject: "case/2025-000042".into(),
            actor: "官员:张三".into(),
            at_unix_ms: 1_750_000_000_123,
            payload_hash: Hash::sha256(b"{\"name\":\"Li Si\"}"),
        }
    }

    #[test]
    fn encoding_is_the_documented_layout() {
        let leaf = LeafV1 {
            kind: "k".into(),
            subject: "".into(),
            actor: "ab".into(),
            at_unix_ms: -2,
            payload_hash: Hash([7; 32]),
        };
        let mut expected = vec![0x01, 0, 0, 0, 1, b'k', 0, 0, 0, 0, 0, 0, 0, 2, b'a', b'b'];
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
        expected.extend_from_slice(&[7; 32]);
        assert_eq!(leaf.encode().unwrap(), expected);
    }

    #[test]
    fn round_trips() {
        for leaf in [
            sample(),
            LeafV1 {
                kind: String::new(),
                subject: String::new(),
                actor: String::new(),
                at_unix_ms: i64::MIN,
                payload_hash: Hash::default(),
            },
        ] {
            let bytes = leaf.encode().unwrap();
            assert_eq!(LeafV1::decode(&bytes), Ok(leaf));
        }
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let mut a = sample();
        let mut b = sample();
        a.kind = "ab".into();
        a.subject = "c".into();
        b.kind = "a".into();
        b.subject = "bc".into();
        assert_ne!(a.encode().unwrap(), b.encode().unwrap());
        assert_ne!(a.leaf_hash().unwrap(), b.leaf_hash().unwrap());
    }

    #[test]
    fn leaf_hash_covers_the_encoding() {
        let leaf = sample();
        assert_eq!(leaf.leaf_hash(), Ok(leaf_hash(&leaf.encode().unwrap())));
        let mut later = leaf.clone();
        later.at_unix_ms += 1;
        assert_ne!(leaf.leaf_hash(), later.leaf_hash());
    }

    #[test]
    fn rejects_every_truncation_and_extension() {
        let bytes = sample().encode().unwrap();
        for len in 0..bytes.len() {
            assert_eq!(
                LeafV1::decode(&bytes[..len]),
                Err(LedgerError::MalformedLeaf("truncated")),
                "prefix of {len} bytes"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(LeafV1::decode(&longer), Err(LedgerError::MalformedLeaf("trailing bytes")));
    }

    #[test]
    fn rejects_other_versions() {
        let mut bytes = sample().encode().unwrap();
        for version in [0x00, 0x02, 0xff] {
            bytes[0] = version;
            assert_eq!(LeafV1::decode(&bytes), Err(LedgerError::MalformedLeaf("unknown version")));
        }
    }

    #[test]
    fn rejects_invalid_utf8_and_overlong_lengths() {
        let mut bytes = sample().encode().unwrap();
        bytes[5] = 0xff;
        assert_eq!(LeafV1::decode(&bytes), Err(LedgerError::MalformedLeaf("invalid UTF-8")));
        let mut bytes = sample().encode().unwrap();
        bytes[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(LeafV1::decode(&bytes), Err(LedgerError::MalformedLeaf("truncated")));
    }

    #[test]
    fn serde_round_trip_uses_hex_payload_hash() {
        let leaf = sample();
        let json = serde_json::to_value(&leaf).unwrap();
        assert_eq!(json["payload_hash"], leaf.payload_hash.to_string());
        assert_eq!(serde_json::from_value::<LeafV1>(json).unwrap(), leaf);
    }
}
