//! Telling a stored document apart from the one a replay sends: after a
//! `_bulk_docs` request whose answer was lost, a `conflict` for a document
//! whose stored body is the one we sent means the lost request stored it.

use serde_json::{Map, Value};

/// Members compared by neither side: the id is the key both were found
/// by, and the revision is the server's (a caller's `_rev` for an update
/// is replaced by the new one once stored).
const IGNORED: &[&str] = &["_id", "_rev"];

/// Whether `stored` (from `_all_docs?include_docs=true&attachments=true`)
/// has the content of `ours` (the caller's document).
///
/// Numbers are equal when their values are (the server may store `1.0` as
/// `1`, or round an integer beyond 2^53 as JavaScript does). Attachments
/// are equal by name, data and content type; the server's `digest`,
/// `revpos` and `length` are not compared. A stub of ours (`"stub":true`,
/// keep the attachment) matches any stored attachment of that name.
pub(crate) fn is_own_copy(ours: &Value, stored: &Value) -> bool {
    match (ours, stored) {
        (Value::Object(ours), Value::Object(stored)) => same_members(ours, stored),
        _ => false,
    }
}

fn same_members(ours: &Map<String, Value>, stored: &Map<String, Value>) -> bool {
    let relevant =
        |m: &'_ Map<String, Value>| m.keys().filter(|k| !IGNORED.contains(&k.as_str())).count();
    relevant(ours) == relevant(stored)
        && ours
            .iter()
            .filter(|(k, _)| !IGNORED.contains(&k.as_str()))
            .all(|(key, value)| match (key.as_str(), stored.get(key)) {
                (_, None) => false,
                ("_attachments", Some(theirs)) => same_attachments(value, theirs),
                (_, Some(theirs)) => same_value(value, theirs),
            })
}

fn same_attachments(ours: &Value, stored: &Value) -> bool {
    let (Value::Object(ours), Value::Object(stored)) = (ours, stored) else {
        return false;
    };
    ours.len() == stored.len()
        && ours.iter().all(|(name, attachment)| {
            let Some(theirs) = stored.get(name) else {
                return false;
            };
            if attachment.get("stub") == Some(&Value::Bool(true)) {
                return true;
            }
            ["data", "content_type"]
                .into_iter()
                .all(|field| match attachment.get(field) {
                    None => true,
                    Some(value) => theirs.get(field).is_some_and(|t| same_value(value, t)),
                })
        })
}

fn same_value(ours: &Value, stored: &Value) -> bool {
    match (ours, stored) {
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k).is_some_and(|y| same_value(x, y)))
        }
        _ => ours == stored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn id_and_rev_are_ignored_and_everything_else_compared() {
        let ours = json!({"_id": "a", "_rev": "1-x", "n": 1, "t": {"k": [1, "s"]}});
        let stored = json!({"_id": "a", "_rev": "2-y", "n": 1, "t": {"k": [1, "s"]}});
        assert!(is_own_copy(&ours, &stored));
        assert!(is_own_copy(
            &json!({"n": 1}),
            &json!({"_id": "a", "_rev": "1-z", "n": 1})
        ));
        for other in [
            json!({"_id": "a", "_rev": "1-z", "n": 2}),
            json!({"_id": "a", "_rev": "1-z", "n": 1, "extra": true}),
            json!({"_id": "a", "_rev": "1-z"}),
            json!({"_id": "a", "_rev": "1-z", "n": "1"}),
        ] {
            assert!(!is_own_copy(&json!({"n": 1}), &other), "{other}");
        }
    }

    #[test]
    fn numbers_compare_by_value() {
        let ours = json!({"f": 1.0, "big": 12_345_678_901_234_567_890_u64});
        let stored = json!({"f": 1, "big": 12_345_678_901_234_567_000_u64});
        assert!(is_own_copy(&ours, &stored));
        assert!(!is_own_copy(&json!({"f": 1.5}), &json!({"f": 1})));
    }

    #[test]
    fn attachments_compare_by_data_and_content_type() {
        let ours =
            json!({"_attachments": {"x.txt": {"content_type": "text/plain", "data": "aGVsbG8="}}});
        let stored = json!({"_attachments": {"x.txt": {
            "content_type": "text/plain", "digest": "md5-XUFAKrxLKna5cZ2REBfFkg==",
            "revpos": 1, "data": "aGVsbG8="
        }}});
        assert!(is_own_copy(&ours, &stored));
        let other =
            json!({"_attachments": {"x.txt": {"content_type": "text/plain", "data": "b3RoZXI="}}});
        assert!(!is_own_copy(&other, &stored));
        let renamed =
            json!({"_attachments": {"y.txt": {"content_type": "text/plain", "data": "aGVsbG8="}}});
        assert!(!is_own_copy(&renamed, &stored));
    }
}
