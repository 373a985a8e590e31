//! Canonical JSON and the inputs hash kept in decision records.

use std::fmt::Write;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `value` as compact JSON with object keys sorted by code point at every
/// level.
///
/// Sorting is done here rather than relying on `serde_json::Map` being a
/// `BTreeMap`, because any crate in the build enabling serde_json's
/// `preserve_order` feature turns it into an insertion-ordered map. Strings
/// and numbers keep serde_json's formatting, so `1` and `1.0` differ.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// Lowercase hex SHA-256 of [`canonical_json`] of `input`, identical for
/// inputs that differ only in key order.
pub fn inputs_hash(input: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(input).as_bytes()))
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        // Writing to a String cannot fail.
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's Display escapes exactly as its serializer does.
    let _ = write!(out, "{}", Value::String(s.to_owned()));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn canonical_form() {
        let value = json!({"b": [1, {"z": null, "a": "租金\"\n"}], "a": true, "c": 2.5});
        assert_eq!(canonical_json(&value), r#"{"a":true,"b":[1,{"a":"租金\"\n","z":null}],"c":2.5}"#);
    }

    #[test]
    fn hash_is_hex_sha256() {
        // SHA-256 of the two bytes `{}`.
        assert_eq!(inputs_hash(&json!({})), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    }
}
