//! `CouchDatabase`: one CouchDB database reached over HTTP (batch-core's
//! shared ureq [`Endpoint`]), with the few requests the batch inserter and
//! its callers need.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use batch_core::http::{Endpoint, HttpError};
use serde_json::Value;

use crate::doc::CouchDoc;
use crate::error::CouchError;

/// The per-request timeout unless one is set: batch-core's
/// [`DEFAULT_REQUEST_TIMEOUT`](batch_core::DEFAULT_REQUEST_TIMEOUT), the
/// same for every backend.
pub use batch_core::DEFAULT_REQUEST_TIMEOUT as DEFAULT_TIMEOUT;

/// A CouchDB database: server URL (with optional `user:password@`, sent as
/// basic auth) and database name. Cheap to clone; clones share one HTTP
/// agent and one request counter.
///
/// Building one sends nothing. Its calls (`create_if_missing`,
/// `doc_count`, `get`, `put`, ...) are sync: each waits for its answer on
/// the calling thread, so from async code run them in
/// `tokio::task::spawn_blocking` (or your runtime's equivalent).
#[derive(Debug, Clone)]
pub struct CouchDatabase {
    endpoint: Endpoint,
    name: String,
    /// `/` + the name, percent-encoded for a path segment.
    path: String,
    requests: Arc<AtomicU64>,
}

impl CouchDatabase {
    /// A database `name` on the server at `server_url`
    /// (`http://[user:password@]host:port[/prefix]`), with a 60 s timeout
    /// per request. Sends nothing; see [`create_if_missing`](Self::create_if_missing).
    /// Reads no ENV variable: see [`from_env`](Self::from_env).
    pub fn new(server_url: &str, name: &str) -> Result<Self, CouchError> {
        Self::with_timeout(server_url, name, DEFAULT_TIMEOUT)
    }

    /// [`new`](Self::new), plus the CA file named by the ENV variable
    /// [`COUCHDB_CA_FILE_VAR`](batch_core::tls::COUCHDB_CA_FILE_VAR), if
    /// set, trusted for `https://` besides Mozilla's roots (the variable
    /// is read here, the file at the first request, as with
    /// [`tls`](Self::tls)). A variable that is not Unicode is a
    /// [`CouchError::Tls`]. Without the `tls` feature it reads nothing.
    /// For another timeout as well:
    /// `with_timeout(..)?.tls(TlsSettings::from_env(COUCHDB_CA_FILE_VAR)?)`.
    pub fn from_env(server_url: &str, name: &str) -> Result<Self, CouchError> {
        let db = Self::new(server_url, name)?;
        #[cfg(feature = "tls")]
        let db = db.tls_from_env(|name| std::env::var_os(name))?;
        Ok(db)
    }

    /// The TLS settings of [`from_env`](Self::from_env), the variable
    /// read through `lookup`.
    #[cfg(feature = "tls")]
    fn tls_from_env(
        self,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, CouchError> {
        use batch_core::tls::{COUCHDB_CA_FILE_VAR, TlsSettings};
        Ok(self.tls(TlsSettings::from_env_with(COUCHDB_CA_FILE_VAR, lookup)?))
    }

    /// Like [`new`](Self::new) with another per-request timeout.
    ///
    /// A URL without `http://` or `https://` (e.g. `127.0.0.1:5984`) is
    /// refused here with [`CouchError::InvalidUrl`], not at the first
    /// request with a transport error.
    pub fn with_timeout(
        server_url: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<Self, CouchError> {
        let endpoint = Endpoint::new(server_url, timeout).map_err(CouchError::InvalidUrl)?;
        check_name(name)?;
        Ok(Self {
            endpoint,
            name: name.to_owned(),
            path: format!("/{}", encode_segment(name)),
            requests: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The same database with other TLS settings for `https://` (e.g. a
    /// private CA: `TlsSettings::new().ca_file("ca.pem")`). Without this
    /// call, `https://` trusts Mozilla's public roots (plus the CA file in
    /// [`COUCHDB_CA_FILE_VAR`](batch_core::tls::COUCHDB_CA_FILE_VAR) if
    /// built by [`from_env`](Self::from_env)). Cannot fail: the handle
    /// has no build step, so the CA files are read at its first request,
    /// and one that cannot be used fails that request (fatal, naming the
    /// file; nothing is sent).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, settings: batch_core::tls::TlsSettings) -> Self {
        self.endpoint = self.endpoint.tls(settings);
        self
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server URL, without credentials.
    pub fn server_url(&self) -> &str {
        self.endpoint.base()
    }

    /// HTTP requests sent through this handle and its clones (each
    /// `_bulk_docs`, `_all_docs` and every other call counts once).
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, String), HttpError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.endpoint.request(method, path, body)
    }

    fn request_ok(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<String, HttpError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.endpoint
            .request_ok(method, path, body)
            .map(|(_, text)| text)
    }

    fn status_error(&self, status: u16, path: &str, body: String) -> CouchError {
        HttpError::Status {
            status,
            url: self.endpoint.url(path),
            body: body.chars().take(2048).collect(),
        }
        .into()
    }

    /// Creates the database unless it exists (`PUT /{db}`; 412 means it
    /// exists). Returns `true` if it was created by this call.
    ///
    /// Blocking: from async code, call it in `spawn_blocking`.
    pub fn create_if_missing(&self) -> Result<bool, CouchError> {
        let (status, body) = self.request("PUT", &self.path, None)?;
        match status {
            200..=299 => Ok(true),
            412 => Ok(false),
            _ => Err(self.status_error(status, &self.path, body)),
        }
    }

    /// Deletes the database. Returns `false` if it did not exist.
    pub fn delete(&self) -> Result<bool, CouchError> {
        let (status, body) = self.request("DELETE", &self.path, None)?;
        match status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.status_error(status, &self.path, body)),
        }
    }

    /// The database's `doc_count` (documents not deleted, design documents
    /// included, local documents not).
    pub fn doc_count(&self) -> Result<u64, CouchError> {
        let body = self.request_ok("GET", &self.path, None)?;
        let info: Value = serde_json::from_str(&body).map_err(|e| self.decode_error(&e))?;
        info.get("doc_count")
            .and_then(Value::as_u64)
            .ok_or_else(|| self.decode_error(&"no doc_count in the database info"))
    }

    /// The stored document with this id, or `None` if there is none.
    pub fn get(&self, id: &str) -> Result<Option<Value>, CouchError> {
        let path = self.doc_path(id);
        let (status, body) = self.request("GET", &path, None)?;
        match status {
            200..=299 => serde_json::from_str(&body)
                .map(Some)
                .map_err(|e| self.decode_error(&e)),
            404 => Ok(None),
            _ => Err(self.status_error(status, &path, body)),
        }
    }

    /// Writes one document with its own `PUT /{db}/{id}`, no batching (the
    /// unbatched path UDS3 v2.2 falls back to; here for comparison and
    /// one-off writes). Returns the new revision; a conflict is
    /// [`CouchError::Conflict`].
    pub fn put(&self, doc: &CouchDoc) -> Result<String, CouchError> {
        let path = self.doc_path(doc.id());
        let (status, body) = self.request("PUT", &path, Some(doc.encoded()))?;
        match status {
            200..=299 => {
                let answer: Value =
                    serde_json::from_str(&body).map_err(|e| self.decode_error(&e))?;
                Ok(answer
                    .get("rev")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned())
            }
            409 => Err(CouchError::Conflict {
                id: doc.id().to_owned(),
            }),
            _ => Err(self.status_error(status, &path, body)),
        }
    }

    /// `POST /{db}/_bulk_docs` with the given encoded documents; returns
    /// the body of a 2xx answer.
    pub(crate) fn bulk_docs<'a>(
        &self,
        docs: impl Iterator<Item = &'a [u8]>,
    ) -> Result<String, HttpError> {
        let mut body = Vec::with_capacity(4096);
        body.extend_from_slice(b"{\"docs\":[");
        for (i, doc) in docs.enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(doc);
        }
        body.extend_from_slice(b"]}");
        self.request_ok("POST", &format!("{}/_bulk_docs", self.path), Some(&body))
    }

    /// The current revision of each id that exists (deleted ones
    /// included, since a write over a deletion needs its revision too), with
    /// one `POST /{db}/_all_docs` request.
    pub(crate) fn current_revs(&self, ids: &[&str]) -> Result<HashMap<String, String>, HttpError> {
        Ok(self
            .all_docs(ids, "")?
            .into_iter()
            .filter_map(|row| {
                let id = row.get("key")?.as_str()?;
                let rev = row.get("value")?.get("rev")?.as_str()?;
                Some((id.to_owned(), rev.to_owned()))
            })
            .collect())
    }

    /// The stored body of each id that exists and is not deleted, with one
    /// `POST /{db}/_all_docs?include_docs=true` request; with
    /// `attachments`, inline attachment data is included (else stubs).
    pub(crate) fn stored_docs(
        &self,
        ids: &[&str],
        attachments: bool,
    ) -> Result<HashMap<String, Value>, HttpError> {
        let query = if attachments {
            "?include_docs=true&attachments=true"
        } else {
            "?include_docs=true"
        };
        Ok(self
            .all_docs(ids, query)?
            .into_iter()
            .filter_map(|mut row| {
                let id = row.get("key")?.as_str()?.to_owned();
                match row.get_mut("doc")?.take() {
                    Value::Null => None,
                    doc => Some((id, doc)),
                }
            })
            .collect())
    }

    /// The stored body of each id that exists and is not deleted, with one
    /// `POST /{db}/_bulk_get` request; `None` if the server has no
    /// `_bulk_get` (CouchDB before 2.0 answers 404 or 405).
    pub(crate) fn bulk_get(
        &self,
        ids: &[&str],
    ) -> Result<Option<Vec<(String, Value)>>, CouchError> {
        let path = format!("{}/_bulk_get", self.path);
        let docs: Vec<Value> = ids
            .iter()
            .map(|id| serde_json::json!({ "id": id }))
            .collect();
        let body = serde_json::json!({ "docs": docs }).to_string();
        let (status, text) = self.request("POST", &path, Some(body.as_bytes()))?;
        match status {
            200..=299 => {}
            404 | 405 => return Ok(None),
            _ => return Err(self.status_error(status, &path, text)),
        }
        let results = self.array_of(&path, &text, "results")?;
        // Each result: `{"id", "docs": [{"ok": doc} | {"error": ...}]}`
        // (pouchdb-server answers `{}` for a missing or deleted one).
        Ok(Some(
            results
                .into_iter()
                .filter_map(|mut result| {
                    let id = result.get("id")?.as_str()?.to_owned();
                    let doc = result.get_mut("docs")?.get_mut(0)?.get_mut("ok")?.take();
                    let deleted = doc.get("_deleted").and_then(Value::as_bool) == Some(true);
                    (doc.is_object() && !deleted).then_some((id, doc))
                })
                .collect(),
        ))
    }

    /// The ids that exist and are not deleted, with one `POST
    /// /{db}/_all_docs` request (no bodies).
    pub(crate) fn live_ids(&self, ids: &[&str]) -> Result<Vec<String>, HttpError> {
        Ok(self
            .all_docs(ids, "")?
            .into_iter()
            .filter_map(|row| {
                let value = row.get("value")?;
                if value.get("deleted").and_then(Value::as_bool) == Some(true) {
                    return None;
                }
                Some(row.get("key")?.as_str()?.to_owned())
            })
            .collect())
    }

    /// The rows of `POST /{db}/_all_docs{query}` for `ids`.
    fn all_docs(&self, ids: &[&str], query: &str) -> Result<Vec<Value>, HttpError> {
        let path = format!("{}/_all_docs{query}", self.path);
        let body = serde_json::json!({ "keys": ids }).to_string();
        let text = self.request_ok("POST", &path, Some(body.as_bytes()))?;
        self.array_of(&path, &text, "rows")
    }

    /// The array `field` of the JSON answer `text` to `path`.
    fn array_of(&self, path: &str, text: &str, field: &str) -> Result<Vec<Value>, HttpError> {
        let decode = |message: String| HttpError::Decode {
            url: self.endpoint.url(path),
            message,
        };
        let mut answer: Value = serde_json::from_str(text).map_err(|e| decode(e.to_string()))?;
        match answer.get_mut(field).map(Value::take) {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(decode(format!("the answer has no {field}"))),
        }
    }

    fn doc_path(&self, id: &str) -> String {
        let (prefix, rest) = ["_design/", "_local/"]
            .into_iter()
            .find_map(|p| id.strip_prefix(p).map(|rest| (p, rest)))
            .unwrap_or(("", id));
        format!("{}/{prefix}{}", self.path, encode_segment(rest))
    }

    fn decode_error(&self, error: &dyn std::fmt::Display) -> CouchError {
        HttpError::Decode {
            url: self.endpoint.url(&self.path),
            message: error.to_string(),
        }
        .into()
    }
}

/// CouchDB's rule: `^[a-z][a-z0-9_$()+/-]*$`, at most 238 characters.
fn check_name(name: &str) -> Result<(), CouchError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_$()+-/".contains(c));
    if first_ok && rest_ok && name.len() <= 238 {
        Ok(())
    } else {
        Err(CouchError::InvalidDatabaseName(name.to_owned()))
    }
}

/// Percent-encodes everything but unreserved characters, so that a
/// database name with `/` or a document id with `?`, `#` or `/` stays one
/// path segment.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use batch_core::{ErrorClass, SinkError};

    #[test]
    fn database_names_follow_couchdb_rules() {
        for ok in ["a", "uds3_docs", "a1$()+-/b"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "1abc", "_users", "a b", "a?b", &"a".repeat(239)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("a/b"), "a%2Fb");
        assert_eq!(encode_segment("x y?#"), "x%20y%3F%23");
        assert_eq!(encode_segment("ü"), "%C3%BC");
        let db = CouchDatabase::new("http://127.0.0.1:1", "a/b").unwrap();
        assert_eq!(db.doc_path("_design/x y"), "/a%2Fb/_design/x%20y");
        assert_eq!(db.doc_path("k/1"), "/a%2Fb/k%2F1");
    }

    /// `from_env` reads the CA file variable (here through a lookup, as
    /// `from_env` reads the process's): an unreadable file fails the first
    /// request, fatally, naming it (port 1: nothing listens, nothing is
    /// sent).
    #[cfg(feature = "tls")]
    #[test]
    fn from_env_reads_the_ca_file_variable() {
        use batch_core::tls::COUCHDB_CA_FILE_VAR;
        let db = CouchDatabase::new("https://127.0.0.1:1", "db").expect("no ENV read");
        let ca = |name: &str| (name == COUCHDB_CA_FILE_VAR).then(|| "/nonexistent/ca.pem".into());
        let db = db
            .tls_from_env(ca)
            .expect("the file is read at the first request");
        let err = db.doc_count().expect_err("the CA file is read");
        assert_eq!(err.class(), ErrorClass::Fatal, "{err}");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let db = CouchDatabase::new("https://127.0.0.1:1", "db").expect("no ENV read");
        assert!(db.tls_from_env(|_| None).is_ok());
    }
}
