//! Dotted paths (`facts.fund_account.balance`) into JSON values.

use serde_json::{Map, Value};

/// Whether `path` is non-empty segments of plain keys joined by dots.
///
/// JDM lets a field be any expression (`len(items)`); rejecting those keeps a
/// table imported from the GoRules editor from silently reading a key named
/// `len(items)` here.
pub(crate) fn is_valid(path: &str) -> bool {
    path.split('.')
        .all(|segment| !segment.is_empty() && segment.chars().all(|c| c.is_alphanumeric() || "_-$".contains(c)))
}

/// The value at `path`, indexing arrays by numeric segments; `None` when any
/// step is absent.
pub(crate) fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |value, segment| match value {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|index| items.get(index)),
        _ => None,
    })
}

/// Stores `value` at `path`, creating intermediate objects.
pub(crate) fn insert(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let slot = map.entry(head.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            // Overlapping output fields are rejected when parsing, so a head
            // is always an object created here.
            if let Value::Object(inner) = slot {
                insert(inner, rest, value);
            }
        }
    }
}

/// Whether writing both paths would make one overwrite the other.
pub(crate) fn overlaps(a: &str, b: &str) -> bool {
    let is_prefix = |short: &str, long: &str| long.strip_prefix(short).is_some_and(|rest| rest.starts_with('.'));
    a == b || is_prefix(a, b) || is_prefix(b, a)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn validity() {
        assert!(is_valid("form.monthly_rent"));
        assert!(is_valid("facts.房产.count"));
        assert!(is_valid("items.0"));
        assert!(!is_valid(""));
        assert!(!is_valid("form..rent"));
        assert!(!is_valid("form.rent."));
        assert!(!is_valid("len(items)"));
        assert!(!is_valid("items[]"));
        assert!(!is_valid("a b"));
    }

    #[test]
    fn lookup_walks_objects_and_arrays() {
        let value = json!({"a": {"b": [10, {"c": true}]}, "n": null});
        assert_eq!(lookup(&value, "a.b.0"), Some(&json!(10)));
        assert_eq!(lookup(&value, "a.b.1.c"), Some(&json!(true)));
        assert_eq!(lookup(&value, "n"), Some(&Value::Null));
        assert_eq!(lookup(&value, "a.b.2"), None);
        assert_eq!(lookup(&value, "a.b.x"), None);
        assert_eq!(lookup(&value, "a.b.0.deeper"), None);
        assert_eq!(lookup(&value, "missing"), None);
    }

    #[test]
    fn insert_builds_nested_objects() {
        let mut map = Map::new();
        insert(&mut map, "decision", json!("approve"));
        insert(&mut map, "payment.amount_fen", json!(1));
        insert(&mut map, "payment.account.bank", json!("ICBC"));
        assert_eq!(
            Value::Object(map),
            json!({"decision": "approve", "payment": {"amount_fen": 1, "account": {"bank": "ICBC"}}})
        );
    }

    #[test]
    fn overlap() {
        assert!(overlaps("a", "a"));
        assert!(overlaps("a", "a.b"));
        assert!(overlaps("a.b.c", "a.b"));
        assert!(!overlaps("a", "ab"));
        assert!(!overlaps("a.b", "a.c"));
    }
}
