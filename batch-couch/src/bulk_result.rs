//! Reading the per-document results of `_bulk_docs`, keyed by id.
//!
//! CouchDB answers in request order, but pouchdb-server was seen to list
//! validation errors ahead of the successes, so results are matched to
//! documents by id, never by position.

use std::collections::HashMap;

use serde_json::Value;

/// What the server said about one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DocResult {
    /// `{"ok":true,"id","rev"}`.
    Stored,
    /// `{"id","error":"conflict"}`.
    Conflict,
    /// Any other `{"id","error","reason"}`.
    Refused {
        /// The error name, e.g. `forbidden`.
        error: String,
        /// The explanation.
        reason: String,
    },
}

/// Parses a `_bulk_docs` answer into results by id. Entries without an id
/// are skipped (their documents then have no result, which the caller
/// reports as such). An answer that is not a JSON array is an error.
pub(crate) fn parse(body: &str) -> Result<HashMap<String, DocResult>, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| {
        let start: String = body.chars().take(200).collect();
        format!("_bulk_docs answer is not JSON ({e}): {start}")
    })?;
    let Value::Array(entries) = value else {
        return Err("_bulk_docs answer is not a JSON array".to_owned());
    };
    let mut results = HashMap::with_capacity(entries.len());
    for entry in entries {
        let Some(id) = entry.get("id").and_then(Value::as_str) else {
            tracing::warn!(%entry, "_bulk_docs result without an id");
            continue;
        };
        let result = match entry.get("error") {
            None | Some(Value::Null) if entry.get("ok") == Some(&Value::Bool(true)) => {
                DocResult::Stored
            }
            Some(Value::String(error)) if error == "conflict" => DocResult::Conflict,
            Some(error) => DocResult::Refused {
                error: error
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_owned),
                reason: entry
                    .get("reason")
                    .map(|r| r.as_str().map_or_else(|| r.to_string(), str::to_owned))
                    .unwrap_or_default(),
            },
            None => DocResult::Refused {
                error: "unknown".to_owned(),
                reason: format!("result is neither ok nor an error: {entry}"),
            },
        };
        results.insert(id.to_owned(), result);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_keyed_by_id_in_any_order() {
        let body = r#"[
            {"id":"c","error":"forbidden","reason":"no"},
            {"ok":true,"id":"a","rev":"1-x"},
            {"id":"b","error":"conflict","reason":"Document update conflict."},
            {"error":"bad_request","reason":"no id"}
        ]"#;
        let results = parse(body).unwrap();
        assert_eq!(results.len(), 3);
        assert_eq!(results["a"], DocResult::Stored);
        assert_eq!(results["b"], DocResult::Conflict);
        assert!(matches!(&results["c"], DocResult::Refused { error, .. } if error == "forbidden"));
    }

    #[test]
    fn non_json_answers_are_errors() {
        assert!(parse("<html>500</html>").is_err());
        assert!(parse(r#"{"ok":true}"#).is_err());
    }
}
