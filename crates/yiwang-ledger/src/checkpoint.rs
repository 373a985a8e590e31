//! Signed tree heads in the C2SP tlog-checkpoint format
//! (<https://c2sp.org/tlog-checkpoint>), carried in signed notes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::LedgerError;
use crate::hash::Hash;
use crate::note::{VerifierKey, check_key_name, open_note, sign_note};

/// A tree head: the log named `origin` had `size` leaves with root `root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Unique name of the log, conventionally a schema-less URL.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// Root hash of the tree of `size` leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text `<origin>\n<size>\n<base64 root>\n`; the origin must be
    /// non-empty without control characters.
    pub fn body(&self) -> Result<String, LedgerError> {
        if self.origin.is_empty() || self.origin.contains(char::is_control) {
            return Err(LedgerError::MalformedCheckpoint("origin must be non-empty without control characters"));
        }
        Ok(format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root.as_bytes())))
    }

    /// Parses a note text in exactly the form [`Checkpoint::body`] produces.
    ///
    /// Extension lines after the root are rejected: this log never writes
    /// them, and a caller could not see what they claim.
    pub fn parse_body(body: &str) -> Result<Self, LedgerError> {
        let lines: Vec<&str> = body
            .strip_suffix('\n')
            .ok_or(LedgerError::MalformedCheckpoint("must end in a newline"))?
            .split('\n')
            .collect();
        let [origin, size, root] = lines[..] else {
            return Err(LedgerError::MalformedCheckpoint("expected exactly origin, size and root lines"));
        };
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|parsed| parsed.to_string() == size)
            .ok_or(LedgerError::MalformedCheckpoint("size must be a decimal without leading zeros or sign"))?;
        let root = STANDARD
            .decode(root)
            .ok()
            .and_then(|bytes| Hash::from_slice(&bytes).ok())
            .ok_or(LedgerError::MalformedCheckpoint("root must be 32 bytes of padded standard base64"))?;
        let checkpoint = Self { origin: origin.to_owned(), size, root };
        checkpoint.body()?;
        Ok(checkpoint)
    }
}

/// Signs `checkpoint` as a signed note by the Ed25519 `key` named `key_name`.
pub fn sign_checkpoint(checkpoint: &Checkpoint, key: &SigningKey, key_name: &str) -> Result<String, LedgerError> {
    check_key_name(key_name)?;
    Ok(sign_note(&checkpoint.body()?, key_name, key))
}

/// Checks that `note` is a checkpoint signed by `verifier_key` (in the
/// `<name>+<hex key hash>+<base64 key>` form) and returns it. Signatures by
/// other keys, such as witness cosignatures, are ignored.
pub fn verify_checkpoint(note: &str, verifier_key: &str) -> Result<Checkpoint, LedgerError> {
    let verifier: VerifierKey = verifier_key.parse()?;
    Checkpoint::parse_body(open_note(note, &verifier)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::empty_root;
    use crate::note::SignerKey;

    const ORIGIN: &str = "ledger.example.gov.cn/evidence";

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.into(),
            size: 8,
            root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328".parse().unwrap(),
        }
    }

    fn signed(key: &SignerKey) -> String {
        sign_checkpoint(&checkpoint(), key.signing_key(), key.name()).unwrap()
    }

    #[test]
    fn body_is_origin_size_and_base64_root() {
        assert_eq!(
            checkpoint().body().unwrap(),
            format!("{ORIGIN}\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n")
        );
        let empty = Checkpoint { origin: ORIGIN.into(), size: 0, root: empty_root() };
        assert_eq!(Checkpoint::parse_body(&empty.body().unwrap()), Ok(empty));
    }

    #[test]
    fn sign_verify_round_trip() {
        let key = SignerKey::generate(ORIGIN).unwrap();
        let note = signed(&key);
        let (body, signature) = note.split_once("\n\n").unwrap();
        assert_eq!(format!("{body}\n"), checkpoint().body().unwrap());
        assert!(signature.starts_with(&format!("\u{2014} {ORIGIN} ")));
        assert!(signature.ends_with('\n') && signature.lines().count() == 1);
        assert_eq!(verify_checkpoint(&note, &key.verifier_key().to_string()), Ok(checkpoint()));
    }

    #[test]
    fn tampered_checkpoints_are_rejected() {
        let key = SignerKey::generate(ORIGIN).unwrap();
        let verifier = key.verifier_key().to_string();
        let note = signed(&key);
        let invalid = Err(LedgerError::SignatureInvalid(ORIGIN.into()));
        let tampered_size = note.replacen("\n8\n", "\n9\n", 1);
        assert_eq!(verify_checkpoint(&tampered_size, &verifier), invalid);
        let tampered_root = note.replacen("XcnaeacGWam", "XcnaeacGWan", 1);
        assert_eq!(verify_checkpoint(&tampered_root, &verifier), invalid);
        let tampered_origin = note.replacen("evidence\n", "evidenc3\n", 1);
        assert_eq!(verify_checkpoint(&tampered_origin, &verifier), invalid);
        let (body, line) = note.rsplit_once(' ').unwrap();
        let mut signature = STANDARD.decode(line.trim_end()).unwrap();
        signature[40] ^= 1;
        let tampered_signature = format!("{body} {}\n", STANDARD.encode(signature));
        assert_eq!(verify_checkpoint(&tampered_signature, &verifier), invalid);
    }

    #[test]
    fn wrong_key_is_rejected() {
        let key = SignerKey::generate(ORIGIN).unwrap();
        let note = signed(&key);
        let same_name = SignerKey::generate(ORIGIN).unwrap().verifier_key();
        assert_eq!(verify_checkpoint(&note, &same_name.to_string()), Err(LedgerError::SignatureMissing(ORIGIN.into())));
        let renamed = VerifierKey::new("other.example/log", *key.verifier_key().verifying_key()).unwrap();
        assert_eq!(
            verify_checkpoint(&note, &renamed.to_string()),
            Err(LedgerError::SignatureMissing("other.example/log".into()))
        );
        assert!(matches!(verify_checkpoint(&note, "not a key"), Err(LedgerError::MalformedKey(_))));
    }

    #[test]
    fn signing_validates_names() {
        let key = SignerKey::generate(ORIGIN).unwrap();
        assert_eq!(
            sign_checkpoint(&checkpoint(), key.signing_key(), "bad name"),
            Err(LedgerError::InvalidKeyName("bad name".into()))
        );
        for origin in ["", "two\nlines", "tab\there"] {
            let checkpoint = Checkpoint { origin: origin.into(), ..checkpoint() };
            assert!(matches!(
                sign_checkpoint(&checkpoint, key.signing_key(), key.name()),
                Err(LedgerError::MalformedCheckpoint(_))
            ));
        }
    }

    #[test]
    fn rejects_non_canonical_bodies() {
        let root = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
        let bodies = [
            format!("{ORIGIN}\n8\n{root}"),
            format!("{ORIGIN}\n8\n{root}\nextension\n"),
            format!("{ORIGIN}\n8\n"),
            format!("\n8\n{root}\n"),
            format!("{ORIGIN}\n08\n{root}\n"),
            format!("{ORIGIN}\n+8\n{root}\n"),
            format!("{ORIGIN}\n-8\n{root}\n"),
            format!("{ORIGIN}\n18446744073709551616\n{root}\n"),
            format!("{ORIGIN}\n8\n{}\n", root.trim_end_matches('=')),
            format!("{ORIGIN}\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=\n"),
            format!("{ORIGIN}\n8\n{}\n", STANDARD.encode([0; 31])),
        ];
        for body in bodies {
            assert!(
                matches!(Checkpoint::parse_body(&body), Err(LedgerError::MalformedCheckpoint(_))),
                "accepted {body:?}"
            );
        }
        assert_eq!(Checkpoint::parse_body(&format!("{ORIGIN}\n8\n{root}\n")), Ok(checkpoint()));
    }

    #[test]
    fn verifies_a_cosigned_checkpoint() {
        let log = SignerKey::generate(ORIGIN).unwrap();
        let witness = SignerKey::generate("witness.example").unwrap();
        let body = checkpoint().body().unwrap();
        let witness_note = sign_note(&body, witness.name(), witness.signing_key());
        let witness_line = witness_note.strip_prefix(&body).unwrap().trim_start_matches('\n');
        let cosigned = format!("{}{witness_line}", signed(&log));
        for key in [log.verifier_key(), witness.verifier_key()] {
            assert_eq!(verify_checkpoint(&cosigned, &key.to_string()), Ok(checkpoint()));
        }
    }
}
