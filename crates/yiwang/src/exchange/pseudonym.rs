//! Pseudonyms (假名化) for the personal values the call log keeps: the keys apps look up and the
//! ID numbers of the residents a call returned. They are HMAC-SHA256 under a key kept in the data
//! directory (`pseudonym.key`), never in the database. A plain hash would not hide an ID number:
//! a region code, a birth date and a sequence number make about 10^10 candidates, which a
//! graphics card hashes in seconds, so whoever read the database could reverse every hash. Under
//! a secret key, a copy of the database alone reveals nobody.
//!
//! Every node must hold the same key, as it holds the same signing keys; the database keeps the
//! key's fingerprint and a node with another key refuses to start, instead of writing
//! pseudonyms that no resident's query would ever match.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::store;
use crate::ledger::write_private;
use crate::store::{Store, now_ms};

const FILE: &str = "pseudonym.key";

#[derive(Debug, thiserror::Error)]
pub enum PseudonymError {
    #[error("{0}: {1}")]
    Key(std::path::PathBuf, String),
    #[error(
        "{path} is not the key this database's call log was written with (fingerprint {expected}, this key \
         {found}); copy pseudonym.key from a node of this installation"
    )]
    WrongKey { path: std::path::PathBuf, expected: String, found: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(Clone)]
pub struct Pseudonyms {
    /// HMAC-SHA256 already keyed: each pseudonym clones it instead of hashing the key again.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pseudonyms").field("fingerprint", &self.fingerprint()).finish_non_exhaustive()
    }
}

impl Pseudonyms {
    /// Reads `data_dir/pseudonym.key` (64 hex digits), creating it (readable by the owner only)
    /// on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, PseudonymError> {
        let path = data_dir.join(FILE);
        let failed = |message: String| PseudonymError::Key(path.clone(), message);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut key = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut key)
                    .map_err(|e| failed(format!("not 64 hexadecimal digits ({e})")))?;
                Ok(Pseudonyms::with_key(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                write_private(&path, &hex::encode(key)).map_err(|e| failed(e.to_string()))?;
                tracing::info!(path = %path.display(), "created the call log's pseudonym key");
                Ok(Pseudonyms::with_key(key))
            }
            Err(e) => Err(failed(e.to_string())),
        }
    }

    /// The pseudonym of `value` as a `kind` of value (`key`, `subject`): the same value of another
    /// kind gets another pseudonym.
    pub fn of(&self, kind: &str, value: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Names the key without revealing it.
    pub fn fingerprint(&self) -> String {
        hex::encode(&Sha256::digest(self.of("fingerprint", "yiwang pseudonym key"))[..8])
    }

    /// Records the key's fingerprint in a database that has none, and refuses a key other than
    /// the recorded one.
    pub async fn check(&self, store: &Store, data_dir: &Path) -> Result<(), PseudonymError> {
        let mut tx = store.begin_write().await?;
        let expected = store::pseudonym_key_fingerprint(&mut tx, &self.fingerprint(), now_ms()).await?;
        tx.commit().await?;
        if expected != self.fingerprint() {
            return Err(PseudonymError::WrongKey { path: data_dir.join(FILE), expected, found: self.fingerprint() });
        }
        Ok(())
    }

    fn with_key(key: [u8; 32]) -> Self {
        Pseudonyms { keyed: Hmac::new_from_slice(&key).expect("HMAC takes a key of any length") }
    }
}

/// The plain SHA-256 that pseudonyms were before they were keyed: rows logged then still carry
/// it, and a resident's own lookups must still be found.
pub fn unkeyed(kind: &str, value: &str) -> String {
    hex::encode(Sha256::digest(format!("{kind}:{value}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "440402198503120024";

    #[test]
    fn a_pseudonym_depends_on_the_key_the_kind_and_the_value() {
        let one = Pseudonyms::with_key([1; 32]);
        assert_eq!(one.of("subject", ID), one.of("subject", ID), "the same value, the same pseudonym");
        assert_ne!(one.of("subject", ID), one.of("key", ID), "another kind");
        assert_ne!(one.of("subject", ID), one.of("subject", "440402199207180043"), "another value");
        assert_ne!(one.of("subject", ID), Pseudonyms::with_key([2; 32]).of("subject", ID), "another key");
        assert_ne!(one.of("subject", ID), unkeyed("subject", ID), "not the plain hash anyone can recompute");
        assert_eq!(one.of("subject", ID).len(), 64);
        assert_ne!(one.fingerprint(), Pseudonyms::with_key([2; 32]).fingerprint());
        assert!(!format!("{one:?}").contains(&hex::encode([1u8; 32])), "Debug never shows the key");
    }

    #[test]
    fn the_key_is_created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let created = Pseudonyms::load_or_create(dir.path()).unwrap();
        let read = Pseudonyms::load_or_create(dir.path()).unwrap();
        assert_eq!(created.of("subject", ID), read.of("subject", ID));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = tempfile::tempdir().unwrap();
        assert_ne!(Pseudonyms::load_or_create(other.path()).unwrap().of("subject", ID), created.of("subject", ID));
    }

    #[test]
    fn a_damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "not a key\n").unwrap();
        let refused = Pseudonyms::load_or_create(dir.path()).unwrap_err();
        assert!(refused.to_string().contains("pseudonym.key"), "{refused}");
    }
}
