//! Messages: a bad server URL is refused when the database handle is
//! built, items are named by their doc id, and a failed document's error
//! names it.

mod common;

use std::time::Duration;

use batch_core::{BatcherSettings, Sink};
use batch_couch::{
    ConflictPolicy, CouchDBBatchInserter, CouchDatabase, CouchDoc, CouchError, CouchOptions,
    CouchSink, DEFAULT_MAX_DOC_BYTES,
};
use common::{doc, fresh_db};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(60);

/// A design document's validation refusing every document with `reject` set.
const VALIDATE: &str =
    "function(newDoc) { if (newDoc.reject) { throw({forbidden: 'rejected'}); } }";

#[test]
fn a_url_without_scheme_is_refused_when_the_database_is_built() {
    let refused =
        |built: Result<CouchDatabase, CouchError>| built.expect_err("refused").to_string();
    let err = refused(CouchDatabase::new("127.0.0.1:11000", "db"));
    let names_it = err.contains("no scheme") && err.contains("http://127.0.0.1:11000");
    assert!(names_it, "{err}");
    let with_secret = "admin:secret@127.0.0.1:11000";
    let err = refused(CouchDatabase::with_timeout(with_secret, "db", TIMEOUT));
    assert!(
        err.contains("no scheme") && !err.contains("secret"),
        "{err}"
    );
    let err = refused(CouchDatabase::new("ftp://127.0.0.1:11000", "db"));
    assert!(err.contains("ftp"), "{err}");
    assert!(CouchDatabase::new("http://127.0.0.1:11000", "db").is_ok());
    assert!(CouchDatabase::new("https://u:p@db.example/prefix", "db").is_ok());
}

#[test]
fn an_item_is_named_by_its_doc_id() {
    let item = CouchDoc::new(
        json!({"n": 1}),
        Some("order-17".into()),
        DEFAULT_MAX_DOC_BYTES,
    );
    let key = <CouchSink as Sink>::item_key(&item.expect("valid doc"));
    assert_eq!(key.as_deref(), Some("order-17"));
}

#[test]
fn a_failed_document_s_error_names_its_id() {
    let db = fresh_db("messages");
    for (value, id) in [
        (json!({"validate_doc_update": VALIDATE}), "_design/validate"),
        (doc(0), "taken"), // to conflict with
    ] {
        let stored = CouchDoc::new(value, Some(id.into()), DEFAULT_MAX_DOC_BYTES);
        db.put(&stored.expect("valid doc")).expect(id);
    }

    let settings = BatcherSettings::for_backend(&batch_core::env::COUCHDB, 10).expect("settings");
    let options = CouchOptions::default().conflict_policy(ConflictPolicy::Fail);
    let ins = CouchDBBatchInserter::with_options(db.clone(), settings, options).expect("inserter");

    // Refused before sending: the reason names the document.
    let too_big = json!({"text": "x".repeat(DEFAULT_MAX_DOC_BYTES)});
    for (value, id) in [
        (json!({"_private": 1}), "bad-member"),
        (json!({"_rev": "garbage"}), "bad-rev"),
        (too_big, "too-big"),
        (json!([1, 2]), "not-object"),
    ] {
        let failed = ins.add(value, Some(id)).expect_err("refused at add");
        let message = failed.error.to_string();
        assert!(message.contains(id), "{message}");
    }

    // Refused by the server (validation), and a conflict under Fail.
    let rejected = json!({"reject": true});
    ins.add(rejected, Some("rejected-one")).expect("valid doc");
    ins.add(doc(1), Some("taken")).expect("valid doc");
    let report = ins.close(TIMEOUT);
    assert_eq!(report.failed.len(), 2, "{:?}", report.failed);
    for failed in &report.failed {
        let message = failed.error.to_string();
        assert!(message.contains(failed.item.id()), "{message}");
    }
}
