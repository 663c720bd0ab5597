//! `CouchDoc`: one document as the batcher carries it, checked and encoded
//! once when it is added.

use serde_json::{Map, Value};

use crate::doc_id::random_id;

/// CouchDB's default `max_document_size` (bytes of JSON).
pub const DEFAULT_MAX_DOC_BYTES: usize = 8_000_000;

/// Top-level members starting with `_` that CouchDB accepts in a document;
/// any other `_` member is refused by the server ("Bad special document
/// member"), so it is refused here before sending.
const SPECIAL_MEMBERS: &[&str] = &[
    "_id",
    "_rev",
    "_attachments",
    "_deleted",
    "_revisions",
    "_revs_info",
    "_conflicts",
    "_deleted_conflicts",
    "_local_seq",
];

/// A document queued for `_bulk_docs`: the caller's JSON value, untouched,
/// the id it is written under, and its request encoding (with `_id`).
///
/// The caller's value is never modified: the `_id` exists only in the
/// encoded bytes. A document handed back in a
/// [`FailedItem`](batch_core::FailedItem) comes back as it was given, with
/// the id it was (or would have been) written under, so adding it again
/// with [`CouchDBBatchInserter::add_doc`](crate::CouchDBBatchInserter::add_doc)
/// cannot create a second copy.
#[derive(Debug, Clone)]
pub struct CouchDoc {
    doc: Value,
    id: String,
    /// `{"_id":...,<members except _id>}`; empty for a refused document.
    encoded: Vec<u8>,
}

/// A document refused before sending, with the reason.
#[derive(Debug, Clone)]
pub struct RefusedDoc {
    /// The document, as it would have been queued (untouched).
    pub doc: CouchDoc,
    /// Why it was refused.
    pub reason: String,
}

impl CouchDoc {
    /// Checks and encodes a document.
    ///
    /// The id is `doc_id` if given (UDS3 v2.2's `doc_id` argument wins over
    /// the document's own `_id`), else the document's `_id`, else a new
    /// random 32-hex-digit id. Refused: a value that is not a JSON object,
    /// an id that is empty or starts with `_` (other than `_design/...` and
    /// `_local/...`), a non-string `_id` or `_rev`, an unknown `_` member,
    /// and an encoding over `max_doc_bytes`.
    pub fn new(
        doc: Value,
        doc_id: Option<String>,
        max_doc_bytes: usize,
    ) -> Result<Self, Box<RefusedDoc>> {
        let own_id = doc.get("_id").cloned();
        let id = match (doc_id, own_id) {
            (Some(id), _) => id,
            (None, Some(Value::String(id))) => id,
            (None, Some(other)) => {
                let reason = format!("_id must be a string, not {other}");
                return Err(refuse(doc, String::new(), reason));
            }
            (None, None) => random_id(),
        };
        let Some(members) = doc.as_object() else {
            let reason = format!("document {id:?} must be a JSON object, not {}", kind(&doc));
            return Err(refuse(doc, id, reason));
        };
        let checked = check_id(&id)
            .and_then(|()| check_members(members).map_err(|e| format!("document {id:?}: {e}")));
        if let Err(reason) = checked {
            return Err(refuse(doc, id, reason));
        }
        let encoded = encode(&id, members, None);
        if encoded.len() > max_doc_bytes {
            let reason = format!(
                "document {id:?} is {} bytes, over the limit of {max_doc_bytes} bytes",
                encoded.len()
            );
            return Err(refuse(doc, id, reason));
        }
        Ok(Self { doc, id, encoded })
    }

    /// The id the document is written under.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The caller's document, unchanged.
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// The caller's document and the id it was to be written under.
    pub fn into_parts(self) -> (Value, String) {
        (self.doc, self.id)
    }

    /// The add-time check of a prepared document (the sink's
    /// `item_check`): a document refused earlier (it has no encoding) or
    /// one over `max_doc_bytes` is refused again, with the reason.
    pub(crate) fn check(&self, max_doc_bytes: usize) -> Result<(), String> {
        if !self.encoded.is_empty() && self.encoded.len() <= max_doc_bytes {
            return Ok(());
        }
        match CouchDoc::new(self.doc.clone(), Some(self.id.clone()), max_doc_bytes) {
            Err(refused) => Err(refused.reason),
            Ok(_) => Err(format!(
                "document {:?} was refused when it was prepared; prepare it again with CouchDoc::new",
                self.id
            )),
        }
    }

    /// The request encoding: `{"_id":...,...}`.
    pub(crate) fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// The request encoding with `_rev` set to `rev` (for overwrites), or
    /// without any `_rev` when `rev` is `None`.
    pub(crate) fn encoded_with_rev(&self, rev: Option<&str>) -> Vec<u8> {
        match self.doc.as_object() {
            Some(members) => encode(&self.id, members, Some(rev)),
            None => self.encoded.clone(),
        }
    }
}

fn refuse(doc: Value, id: String, reason: String) -> Box<RefusedDoc> {
    Box::new(RefusedDoc {
        doc: CouchDoc {
            doc,
            id,
            encoded: Vec::new(),
        },
        reason,
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// CouchDB reserves ids starting with `_` except design and local docs.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("document id is empty".to_owned());
    }
    if let Some(rest) = id
        .strip_prefix("_design/")
        .or_else(|| id.strip_prefix("_local/"))
    {
        if rest.is_empty() {
            return Err(format!("document id {id:?} has nothing after its prefix"));
        }
        return Ok(());
    }
    if id.starts_with('_') {
        return Err(format!(
            "document id {id:?} starts with '_' (reserved; only _design/ and _local/ are allowed)"
        ));
    }
    Ok(())
}

fn check_members(members: &Map<String, Value>) -> Result<(), String> {
    for (key, value) in members {
        if !key.starts_with('_') {
            continue;
        }
        if !SPECIAL_MEMBERS.contains(&key.as_str()) {
            return Err(format!(
                "member {key:?} starts with '_' and is not one CouchDB accepts"
            ));
        }
        let ok = match key.as_str() {
            "_rev" => value.as_str().is_some_and(is_rev),
            "_deleted" => value.is_boolean(),
            "_revisions" => value.is_object(),
            "_attachments" => {
                check_attachments(value)?;
                true
            }
            _ => true,
        };
        if !ok {
            return Err(format!("member {key:?} is not valid: {value}"));
        }
    }
    Ok(())
}

/// `N-xxxx`: a generation number and a hash.
fn is_rev(rev: &str) -> bool {
    rev.split_once('-').is_some_and(|(n, hash)| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && !hash.is_empty()
            && hash.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Inline attachment data must be base64: pouchdb-server answers bad data
/// with a 500 for the whole request, which would be retried as transient.
fn check_attachments(value: &Value) -> Result<(), String> {
    let Some(attachments) = value.as_object() else {
        return Err(format!(
            "_attachments must be an object, not {}",
            kind(value)
        ));
    };
    for (name, attachment) in attachments {
        let data = match attachment.get("data") {
            None if attachment.is_object() => continue,
            Some(Value::String(data)) => data,
            _ => {
                return Err(format!(
                    "attachment {name:?} is not an object with base64 data"
                ));
            }
        };
        let base64 = data.len() % 4 == 0
            && data
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
        if !base64 {
            return Err(format!("attachment {name:?} data is not base64"));
        }
    }
    Ok(())
}

/// Writes `{"_id":id,<members except _id>}`; with `rev = Some(r)` the
/// caller's `_rev` is replaced by `r` (or dropped when `r` is `None`).
fn encode(id: &str, members: &Map<String, Value>, rev: Option<Option<&str>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"{\"_id\":");
    push_json(&mut out, &Value::from(id));
    if let Some(Some(rev)) = rev {
        out.extend_from_slice(b",\"_rev\":");
        push_json(&mut out, &Value::from(rev));
    }
    for (key, value) in members {
        if key == "_id" || (key == "_rev" && rev.is_some()) {
            continue;
        }
        out.push(b',');
        push_json(&mut out, &Value::from(key.as_str()));
        out.push(b':');
        push_json(&mut out, value);
    }
    out.push(b'}');
    out
}

fn push_json(out: &mut Vec<u8>, value: &Value) {
    // Writing a `Value` into a `Vec` cannot fail: its keys are strings and
    // the writer is infallible.
    if let Err(e) = serde_json::to_writer(&mut *out, value) {
        tracing::error!(error = %e, "serializing a JSON value failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMIT: usize = DEFAULT_MAX_DOC_BYTES;

    fn decoded(doc: &CouchDoc) -> Value {
        serde_json::from_slice(doc.encoded()).unwrap()
    }

    #[test]
    fn given_id_wins_and_document_stays_untouched() {
        let value = json!({"_id": "own", "a": 1});
        let doc = CouchDoc::new(value.clone(), Some("given".into()), LIMIT).unwrap();
        assert_eq!(doc.id(), "given");
        assert_eq!(doc.doc(), &value);
        assert_eq!(decoded(&doc), json!({"_id": "given", "a": 1}));
    }

    #[test]
    fn own_id_is_used_else_one_is_assigned() {
        let doc = CouchDoc::new(json!({"_id": "own"}), None, LIMIT).unwrap();
        assert_eq!(doc.id(), "own");
        let doc = CouchDoc::new(json!({"a": "b"}), None, LIMIT).unwrap();
        assert!(!doc.id().is_empty());
        assert_eq!(decoded(&doc)["_id"], json!(doc.id()));
        assert_eq!(doc.doc(), &json!({"a": "b"}));
    }

    #[test]
    fn bad_documents_are_refused_with_the_document() {
        for (value, id) in [
            (json!([1, 2]), None),
            (json!("text"), None),
            (json!({"a": 1}), Some("")),
            (json!({"a": 1}), Some("_users")),
            (json!({"a": 1}), Some("_design/")),
            (json!({"_id": 7}), None),
            (json!({"_rev": 7}), Some("x")),
            (json!({"_private": 1}), Some("x")),
            (json!({"_rev": "garbage"}), Some("x")),
            (json!({"_deleted": "yes"}), Some("x")),
            (json!({"_attachments": {"a": {"data": "!!!"}}}), Some("x")),
            (json!({"_attachments": []}), Some("x")),
        ] {
            let refused = CouchDoc::new(value.clone(), id.map(String::from), LIMIT).unwrap_err();
            assert_eq!(refused.doc.doc(), &value);
            assert!(!refused.reason.is_empty());
        }
    }

    #[test]
    fn attachments_with_base64_or_stubs_pass() {
        let doc = json!({"_attachments": {
            "a.txt": {"content_type": "text/plain", "data": "aGVsbG8="},
            "b.txt": {"stub": true}
        }});
        assert!(CouchDoc::new(doc, Some("x".into()), LIMIT).is_ok());
    }

    #[test]
    fn design_and_local_ids_are_allowed() {
        for id in ["_design/app", "_local/state"] {
            assert!(CouchDoc::new(json!({}), Some(id.into()), LIMIT).is_ok());
        }
    }

    #[test]
    fn oversized_documents_are_refused() {
        let big = json!({"text": "x".repeat(1000)});
        assert!(CouchDoc::new(big.clone(), Some("a".into()), 1000).is_err());
        assert!(CouchDoc::new(big, Some("a".into()), 2000).is_ok());
    }

    #[test]
    fn rev_is_replaced_for_overwrites() {
        let doc = CouchDoc::new(json!({"_rev": "1-a", "n": 1}), Some("x".into()), LIMIT).unwrap();
        let with: Value = serde_json::from_slice(&doc.encoded_with_rev(Some("2-b"))).unwrap();
        assert_eq!(with, json!({"_id": "x", "_rev": "2-b", "n": 1}));
        let without: Value = serde_json::from_slice(&doc.encoded_with_rev(None)).unwrap();
        assert_eq!(without, json!({"_id": "x", "n": 1}));
    }
}

/// In the durable buffer a document is its id and its value, as the caller
/// gave it; reading it back prepares it again ([`CouchDoc::new`]), so a
/// buffer edited by hand cannot smuggle in what `add` would refuse.
#[cfg(feature = "durable")]
mod stored {
    use super::CouchDoc;
    use serde::{Deserialize, Serialize};
    use serde_json::Value;

    #[derive(Serialize)]
    struct Out<'a> {
        id: &'a str,
        doc: &'a Value,
    }

    #[derive(Deserialize)]
    struct In {
        id: String,
        doc: Value,
    }

    impl Serialize for CouchDoc {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            Out {
                id: &self.id,
                doc: &self.doc,
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for CouchDoc {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let In { id, doc } = In::deserialize(d)?;
            CouchDoc::new(doc, Some(id), usize::MAX)
                .map_err(|refused| serde::de::Error::custom(refused.reason))
        }
    }
}
