//! What can go wrong training a model or reading one.

/// An error of this crate.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ClassifierError {
    #[error("no training samples")]
    NoSamples,
    #[error("a training sample has an empty label")]
    EmptyLabel,
    #[error("training needs at least two labels, got {0}")]
    TooFewLabels(usize),
    #[error("invalid training option: {0}")]
    InvalidOption(&'static str),
    #[error("not a classifier model (bad magic bytes)")]
    BadMagic,
    #[error("unsupported model format version {0}")]
    UnsupportedVersion(u8),
    #[error("corrupt model: {0}")]
    Corrupt(&'static str),
}
