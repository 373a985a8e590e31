use thiserror::Error;

use crate::tree::NodeId;

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    /// A leaf index is not smaller than the tree size it is used with.
    #[error("leaf index {index} is out of range for tree size {tree_size}")]
    IndexOutOfRange { index: u64, tree_size: u64 },
    /// A consistency proof was asked for between a larger and a smaller tree.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizeOrder { old_size: u64, new_size: u64 },
    /// A tree size beyond the number of leaves a tree holds.
    #[error("tree size {requested} exceeds the {available} leaves in the tree")]
    SizeOutOfRange { requested: u64, available: u64 },
    /// A node listed by a plan was not supplied to the matching assembly.
    #[error("stored node {0} was not supplied")]
    MissingNode(NodeId),
    /// A proof has too many or too few hashes for the sizes it is checked with.
    #[error("proof has the wrong number of hashes")]
    ProofLength,
    /// A proof recomputes to a different root than the expected one.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    /// A hash given as text or bytes is not 32 bytes of lowercase hex or raw data.
    #[error("malformed hash: {0}")]
    MalformedHash(&'static str),
    /// A leaf field does not fit the encoding's 32-bit length prefix.
    #[error("leaf field is too long: {0} bytes")]
    LeafFieldTooLong(usize),
    /// Bytes that are not a canonical leaf encoding.
    #[error("malformed leaf encoding: {0}")]
    MalformedLeaf(&'static str),
    /// A tlog-tiles tile path that is not in the spec's canonical form.
    #[error("malformed tile path: {0}")]
    MalformedTilePath(&'static str),
    /// An entry longer than an entry bundle's 16-bit length prefix allows.
    #[error("entry is too long for an entry bundle: {0} bytes")]
    EntryTooLong(usize),
    /// A checkpoint body that does not follow the tlog-checkpoint format.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// Text that does not follow the signed-note format.
    #[error("malformed signed note: {0}")]
    MalformedNote(&'static str),
    /// A verifier or signer key string that does not follow the signed-note format.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    /// A key name that is empty or contains whitespace or `+`.
    #[error("invalid key name {0:?}")]
    InvalidKeyName(String),
    /// The note has no signature by the verifier key.
    #[error("note has no signature by key {0:?}")]
    SignatureMissing(String),
    /// A signature by the verifier key does not verify.
    #[error("signature by key {0:?} does not verify")]
    SignatureInvalid(String),
}
