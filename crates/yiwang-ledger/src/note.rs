//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::LedgerError;

/// Signature type byte of Ed25519 keys.
const ALG_ED25519: u8 = 0x01;
/// Start of every signature line: an em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// Start of every signer (private) key string.
const SIGNER_KEY_PREFIX: &str = "PRIVATE+KEY+";
/// Most signature lines a note may carry, as in the reference implementation.
const MAX_SIGNATURES: usize = 100;

/// The 4-byte key hash that identifies an Ed25519 key in signatures: the first
/// bytes of `SHA-256(name || 0x0A || 0x01 || public key)`.
pub fn key_hash(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let digest =
        Sha256::new().chain_update(name).chain_update([b'\n', ALG_ED25519]).chain_update(key.as_bytes()).finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A public key that verifies notes, with its name.
///
/// Its string form is `<name>+<hex key hash>+<base64(0x01 || public key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key: VerifyingKey,
}

impl VerifierKey {
    /// Names `key`; the name must be non-empty without whitespace or `+`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, LedgerError> {
        check_key_name(name)?;
        Ok(Self { name: name.to_owned(), key })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The key hash that signature lines carry.
    pub fn key_hash(&self) -> [u8; 4] {
        key_hash(&self.name, &self.key)
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{:08x}+{}", self.name, u32::from_be_bytes(self.key_hash()), encode_key(self.key.as_bytes()))
    }
}

impl FromStr for VerifierKey {
    type Err = LedgerError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, hash, key) = split_key(text)?;
        let key = VerifyingKey::from_bytes(&decode_key(key)?)
            .map_err(|_| LedgerError::MalformedKey("invalid Ed25519 public key"))?;
        let verifier = Self::new(name, key)?;
        check_key_hash(hash, verifier.key_hash())?;
        Ok(verifier)
    }
}

/// A private key that signs notes, with its name.
///
/// Its string form is `PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 || seed)>`;
/// it is a secret, so it is only available through
/// [`SignerKey::to_key_string`] and never printed by `Debug`.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    key: SigningKey,
}

impl SignerKey {
    /// Names `key`; the name must be non-empty without whitespace or `+`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, LedgerError> {
        check_key_name(name)?;
        Ok(Self { name: name.to_owned(), key })
    }

    /// A fresh key from the operating system's random number generator.
    pub fn generate(name: &str) -> Result<Self, LedgerError> {
        Self::new(name, SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Ed25519 private key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The matching public key.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey { name: self.name.clone(), key: self.key.verifying_key() }
    }

    /// The secret string form, to keep in a secret store.
    pub fn to_key_string(&self) -> String {
        format!(
            "{SIGNER_KEY_PREFIX}{}+{:08x}+{}",
            self.name,
            u32::from_be_bytes(self.verifier_key().key_hash()),
            encode_key(self.key.as_bytes())
        )
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey").field("verifier_key", &self.verifier_key().to_string()).finish_non_exhaustive()
    }
}

impl FromStr for SignerKey {
    type Err = LedgerError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let rest =
            text.strip_prefix(SIGNER_KEY_PREFIX).ok_or(LedgerError::MalformedKey("missing PRIVATE+KEY+ prefix"))?;
        let (name, hash, seed) = split_key(rest)?;
        let signer = Self::new(name, SigningKey::from_bytes(&decode_key(seed)?))?;
        check_key_hash(hash, signer.verifier_key().key_hash())?;
        Ok(signer)
    }
}

/// Checks the signed-note rules for key names.
pub(crate) fn check_key_name(name: &str) -> Result<(), LedgerError> {
    if name.is_empty() || name.contains('+') || name.contains(char::is_whitespace) {
        return Err(LedgerError::InvalidKeyName(name.to_owned()));
    }
    Ok(())
}

/// Signs `text`, which must end in a newline and hold no other control
/// characters, with a key whose name passed [`check_key_name`].
pub fn sign_note(text: &str, name: &str, key: &SigningKey) -> String {
    let mut signature = Vec::with_capacity(4 + Signature::BYTE_SIZE);
    signature.extend_from_slice(&key_hash(name, &key.verifying_key()));
    signature.extend_from_slice(&key.sign(text.as_bytes()).to_bytes());
    format!("{text}\n{SIGNATURE_PREFIX}{name} {}\n", STANDARD.encode(signature))
}

/// Checks that `note` is a well-formed signed note with a valid signature by
/// `verifier`, and returns its text (which ends in a newline).
///
/// Signatures by other keys are ignored, as the format requires.
pub fn open_note<'a>(note: &'a str, verifier: &VerifierKey) -> Result<&'a str, LedgerError> {
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(LedgerError::MalformedNote("control character"));
    }
    let split = note.rfind("\n\n").ok_or(LedgerError::MalformedNote("no blank line before signatures"))?;
    let (text, signatures) = (&note[..=split], &note[split + 2..]);
    if signatures.is_empty() || !signatures.ends_with('\n') {
        return Err(LedgerError::MalformedNote("signatures must be newline-terminated lines"));
    }
    let expected_hash = verifier.key_hash();
    let mut verified = false;
    for (count, line) in signatures.split_terminator('\n').enumerate() {
        if count == MAX_SIGNATURES {
            return Err(LedgerError::MalformedNote("too many signatures"));
        }
        let (name, signature) = parse_signature_line(line)?;
        let Some(signature) = signature.strip_prefix(&expected_hash) else {
            continue;
        };
        if name != verifier.name {
            continue;
        }
        if verified {
            return Err(LedgerError::MalformedNote("repeated signature"));
        }
        Signature::from_slice(signature)
            .and_then(|signature| verifier.key.verify_strict(text.as_bytes(), &signature))
            .map_err(|_| LedgerError::SignatureInvalid(name.to_owned()))?;
        verified = true;
    }
    if !verified {
        return Err(LedgerError::SignatureMissing(verifier.name.clone()));
    }
    Ok(text)
}

/// Splits `— <name> <base64(key hash || signature)>` into the name and the
/// decoded bytes.
fn parse_signature_line(line: &str) -> Result<(&str, Vec<u8>), LedgerError> {
    let (name, signature) = line
        .strip_prefix(SIGNATURE_PREFIX)
        .and_then(|rest| rest.split_once(' '))
        .ok_or(LedgerError::MalformedNote("malformed signature line"))?;
    check_key_name(name).map_err(|_| LedgerError::MalformedNote("invalid key name in signature"))?;
    let signature = STANDARD.decode(signature).map_err(|_| LedgerError::MalformedNote("signature is not base64"))?;
    if signature.len() < 5 {
        return Err(LedgerError::MalformedNote("signature too short"));
    }
    Ok((name, signature))
}

/// Splits `<name>+<hash>+<key>`; the base64 key may itself contain `+`.
fn split_key(text: &str) -> Result<(&str, &str, &str), LedgerError> {
    let mut parts = text.splitn(3, '+');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), Some(hash), Some(key)) => Ok((name, hash, key)),
        _ => Err(LedgerError::MalformedKey("expected <name>+<hash>+<key>")),
    }
}

fn encode_key(key: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(33);
    bytes.push(ALG_ED25519);
    bytes.extend_from_slice(key);
    STANDARD.encode(bytes)
}

fn decode_key(text: &str) -> Result<[u8; 32], LedgerError> {
    let bytes = STANDARD.decode(text).map_err(|_| LedgerError::MalformedKey("key is not base64"))?;
    match bytes.split_first() {
        Some((&ALG_ED25519, key)) => {
            key.try_into().map_err(|_| LedgerError::MalformedKey("Ed25519 key must be 32 bytes"))
        }
        _ => Err(LedgerError::MalformedKey("unsupported key type")),
    }
}

fn check_key_hash(hex: &str, expected: [u8; 4]) -> Result<(), LedgerError> {
    let parsed = (hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u32::from_str_radix(hex, 16).ok())
        .flatten()
        .ok_or(LedgerError::MalformedKey("key hash must be 8 hex digits"))?;
    if parsed != u32::from_be_bytes(expected) {
        return Err(LedgerError::MalformedKey("key hash does not match the key"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example key and note of the Go reference implementation,
    // golang.org/x/mod/sumdb/note.
    const GO_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_SIGNER: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
        then you don't know what your problem is.\n\
        \n\
        \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    // The example of the C2SP signed-note specification.
    const SPEC_VERIFIER: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo \
        Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    #[test]
    fn reference_keys_round_trip() {
        let signer: SignerKey = GO_SIGNER.parse().unwrap();
        assert_eq!(signer.name(), "PeterNeumann");
        assert_eq!(signer.to_key_string(), GO_SIGNER);
        assert_eq!(signer.verifier_key().to_string(), GO_VERIFIER);
        let verifier: VerifierKey = GO_VERIFIER.parse().unwrap();
        assert_eq!(verifier, signer.verifier_key());
        assert_eq!(verifier.key_hash(), [0xc7, 0x4f, 0x20, 0xa3]);
        let spec: VerifierKey = SPEC_VERIFIER.parse().unwrap();
        assert_eq!(spec.to_string(), SPEC_VERIFIER);
    }

    #[test]
    fn signs_like_the_reference_implementation() {
        let signer: SignerKey = GO_SIGNER.parse().unwrap();
        assert_eq!(sign_note(GO_TEXT, signer.name(), signer.signing_key()), GO_NOTE);
        assert_eq!(open_note(GO_NOTE, &GO_VERIFIER.parse().unwrap()), Ok(GO_TEXT));
        assert_eq!(open_note(SPEC_NOTE, &SPEC_VERIFIER.parse().unwrap()), Ok("This is an example message.\n"));
    }

    #[test]
    fn ignores_signatures_by_other_keys() {
        let other = SignerKey::generate("other.example/log").unwrap();
        let other_note = sign_note(GO_TEXT, other.name(), other.signing_key());
        let other_line = other_note.strip_prefix(GO_TEXT).unwrap().trim_start_matches('\n');
        let cosigned = format!("{GO_NOTE}{other_line}");
        assert_eq!(open_note(&cosigned, &GO_VERIFIER.parse().unwrap()), Ok(GO_TEXT));
        assert_eq!(open_note(&cosigned, &other.verifier_key()), Ok(GO_TEXT));
        assert_eq!(
            open_note(GO_NOTE, &other.verifier_key()),
            Err(LedgerError::SignatureMissing(other.name().to_owned()))
        );
    }

    #[test]
    fn rejects_malformed_notes() {
        let verifier: VerifierKey = GO_VERIFIER.parse().unwrap();
        let (text, line) = GO_NOTE.split_once("\n\n").unwrap();
        let cases = [
            GO_TEXT.to_owned(),
            GO_NOTE.trim_end_matches('\n').to_owned(),
            format!("{text}\n\n"),
            GO_NOTE.replace('\u{2014}', "-"),
            GO_NOTE.replace("PeterNeumann x08", "PeterNeumann  x08"),
            GO_NOTE.replace("AM=\n", "AM\n"),
            format!("{text}\r\n\n{line}"),
            format!("{text}\n\n{line}{line}"),
            format!("{text}\n\n\u{2014} PeterNeumann AAAA\n{line}"),
        ];
        for note in cases {
            assert!(matches!(open_note(&note, &verifier), Err(LedgerError::MalformedNote(_))), "accepted {note:?}");
        }
        let many = format!("{text}\n\n{}", "\u{2014} x AAAAAAAA\n".repeat(MAX_SIGNATURES));
        assert_eq!(
            open_note(&format!("{many}{line}"), &verifier),
            Err(LedgerError::MalformedNote("too many signatures"))
        );
    }

    #[test]
    fn rejects_tampered_text_and_signature() {
        let verifier: VerifierKey = GO_VERIFIER.parse().unwrap();
        let renamed = GO_NOTE.replace("PeterNeumann x08", "Peter x08");
        assert_eq!(open_note(&renamed, &verifier), Err(LedgerError::SignatureMissing("PeterNeumann".into())));
        let invalid = Err(LedgerError::SignatureInvalid("PeterNeumann".into()));
        assert_eq!(open_note(&GO_NOTE.replace("answer", "Answer"), &verifier), invalid);
        assert_eq!(open_note(&GO_NOTE.replace("qfqdng", "qfqdnh"), &verifier), invalid);
    }

    #[test]
    fn rejects_malformed_keys() {
        let bad_verifiers = [
            "",
            "PeterNeumann",
            "PeterNeumann+c74f20a3",
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann++c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "Peter+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW=",
        ];
        for text in bad_verifiers {
            assert!(text.parse::<VerifierKey>().is_err(), "accepted {text:?}");
        }
        let bad_signers = [
            GO_VERIFIER,
            "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PRIVATE+KEY+Other+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDF",
        ];
        for text in bad_signers {
            assert!(text.parse::<SignerKey>().is_err(), "accepted {text:?}");
        }
    }

    #[test]
    fn key_names_follow_the_spec() {
        for name in ["", "a b", "a+b", "tab\there", "nbsp\u{a0}"] {
            assert_eq!(SignerKey::generate(name).unwrap_err(), LedgerError::InvalidKeyName(name.to_owned()));
        }
        let key = SignerKey::generate("ledger.example.gov.cn/evidence").unwrap();
        assert_eq!(key.to_key_string().parse::<SignerKey>().unwrap().verifier_key(), key.verifier_key());
        assert_eq!(key.verifier_key().to_string().parse::<VerifierKey>(), Ok(key.verifier_key()));
        assert!(!format!("{key:?}").contains(&key.to_key_string()));
    }
}
