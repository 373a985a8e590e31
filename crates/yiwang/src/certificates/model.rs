//! What an e-certificate (电子证照) is: its identifier (GB/T 36904), the holder codes of GB/T 36903
//! and the body that is signed. Pure rules, tested here.

use serde::{Deserialize, Serialize};

/// The root of every e-certificate identifier (GB/T 36904).
pub const IDENTIFIER_ROOT: &str = "1.2.156.3005.2";
/// Holder code types (GB/T 36903): a resident ID number, a unified social credit code.
pub const HOLDER_RESIDENT_ID: &str = "111";
pub const HOLDER_CREDIT_CODE: &str = "001";

const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn value(c: char) -> Option<u32> {
    ALPHABET.find(c.to_ascii_uppercase()).map(|v| v as u32)
}

/// The ISO/IEC 7064 MOD 37,36 check character (hybrid system, M = 36) of the identifier's
/// letters and digits, the dots left out.
pub fn check_character(body: &str) -> Option<char> {
    let mut p = 36;
    for c in body.chars().filter(|c| *c != '.') {
        let mut s = (p + value(c)?) % 36;
        if s == 0 {
            s = 36;
        }
        p = (s * 2) % 37;
    }
    let check = (37 - p) % 36;
    ALPHABET.chars().nth(check as usize)
}

/// `1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>`.
pub fn identifier(type_code: &str, issuer_code: &str, serial: i64, version: u16) -> Option<String> {
    let body = format!("{IDENTIFIER_ROOT}.{type_code}.{issuer_code}.{serial}.{version:03}");
    let check = check_character(&body)?;
    Some(format!("{body}.{check}"))
}

/// Whether an identifier is well formed and its check character right.
pub fn valid_identifier(id: &str) -> bool {
    let Some((body, check)) = id.rsplit_once('.') else { return false };
    body.starts_with(IDENTIFIER_ROOT)
        && body.split('.').count() == 9
        && check.len() == 1
        && check_character(body).is_some_and(|c| check.starts_with(c))
}

/// What the issuer signs: everything a verifier needs to read the certificate offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateBody {
    /// `yiwang-certificate/v1`
    pub format: String,
    pub id: String,
    pub type_code: String,
    pub type_name: String,
    pub issuer_code: String,
    pub issuer_name: String,
    /// `111` resident ID number, `001` unified social credit code (GB/T 36903).
    pub holder_code_type: String,
    pub holder_code: String,
    pub holder_name: String,
    /// The certificate's own fields (照面信息).
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
    pub issued_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub const BODY_FORMAT: &str = "yiwang-certificate/v1";

#[cfg(test)]
mod tests {
    use super::*;

    /// The hybrid MOD 37,36 system checks itself: run over the full code, a valid check
    /// character leaves the running value at 1 before the last doubling.
    fn verifies(full: &str) -> bool {
        let mut p = 36;
        let mut last = 0;
        for c in full.chars().filter(|c| *c != '.') {
            let mut s = (p + value(c).unwrap()) % 36;
            if s == 0 {
                s = 36;
            }
            last = s;
            p = (s * 2) % 37;
        }
        last == 1
    }

    #[test]
    fn check_characters_satisfy_the_iso_7064_hybrid_rule() {
        for serial in 0..2000 {
            let id = identifier("11100000000013338W001", "11440400007027396L", serial, 1).unwrap();
            assert!(verifies(&id), "{id}");
            assert!(valid_identifier(&id), "{id}");
        }
    }

    #[test]
    fn every_single_character_change_is_caught() {
        let id = identifier("11100000000013338W001", "11440400007027396L", 42, 1).unwrap();
        let chars: Vec<char> = id.chars().collect();
        for (i, original) in chars.iter().enumerate().filter(|(_, c)| **c != '.') {
            for replacement in ALPHABET.chars().filter(|c| c != original) {
                let mut changed = chars.clone();
                changed[i] = replacement;
                let changed: String = changed.into_iter().collect();
                assert!(!valid_identifier(&changed), "{changed} passes");
            }
        }
    }

    #[test]
    fn identifiers_have_the_standard_shape() {
        let id = identifier("11100000000013338W001", "11440400007027396L", 7, 1).unwrap();
        assert!(id.starts_with("1.2.156.3005.2.11100000000013338W001.11440400007027396L.7.001."), "{id}");
        assert!(!valid_identifier("1.2.156.3005.2.X.Y"));
        assert_eq!(identifier("bad-code", "X", 1, 1), None, "only letters and digits");
    }
}
