//! Messages: a bad server URL is refused when the database handle is
//! built, items are named by their doc id, and a failed document's error
//! names it.

mod common;

use std::time::Duration;

use batch_core::{BatcherSettings, Sink};
use batch_couch::{
    ConflictPolicy, CouchDBBatchInserter, CouchDatabase, CouchDoc, CouchOptions, CouchSink,
    DEFAULT_MAX_DOC_BYTES,
};
use common::{doc, fresh_db};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn a_url_without_scheme_is_refused_when_the_database_is_built() {
    let err = CouchDatabase::new("127.0.0.1:11000", "db")
        .expect_err("no scheme")
        .to_string();
    assert!(
        err.contains("no scheme") && err.contains("http://127.0.0.1:11000"),
        "{err}"
    );
    let err = CouchDatabase::with_timeout("admin:secret@127.0.0.1:11000", "db", TIMEOUT)
        .expect_err("no scheme")
        .to_string();
    assert!(
        err.contains("no scheme") && !err.contains("secret"),
        "{err}"
    );
    let err = CouchDatabase::new("ftp://127.0.0.1:11000", "db")
        .expect_err("not http")
        .to_string();
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
    )
    .expect("valid doc");
    assert_eq!(
        <CouchSink as Sink>::item_key(&item).as_deref(),
        Some("order-17")
    );
}

#[test]
fn a_failed_document_s_error_names_its_id() {
    let db = fresh_db("messages");
    let validator = CouchDoc::new(
        json!({"validate_doc_update":
            "function(newDoc) { if (newDoc.reject) { throw({forbidden: 'rejected'}); } }"}),
        Some("_design/validate".into()),
        DEFAULT_MAX_DOC_BYTES,
    )
    .expect("valid design doc");
    db.put(&validator).expect("store the validator");
    db.put(&CouchDoc::new(doc(0), Some("taken".into()), DEFAULT_MAX_DOC_BYTES).expect("valid"))
        .expect("store a doc to conflict with");

    let settings = BatcherSettings::for_backend(&batch_core::env::COUCHDB, 10).expect("settings");
    let options = CouchOptions::default().conflict_policy(ConflictPolicy::Fail);
    let ins = CouchDBBatchInserter::with_options(db.clone(), settings, options).expect("inserter");

    // Refused before sending: the reason names the document.
    for (value, id) in [
        (json!({"_private": 1}), "bad-member"),
        (json!({"_rev": "garbage"}), "bad-rev"),
        (
            json!({"text": "x".repeat(DEFAULT_MAX_DOC_BYTES)}),
            "too-big",
        ),
    ] {
        let failed = ins.add(value, Some(id)).expect_err("refused at add");
        let message = failed.error.to_string();
        assert!(message.contains(id), "{message}");
    }
    let failed = ins
        .add(json!([1, 2]), Some("not-object"))
        .expect_err("refused");
    assert!(
        failed.error.to_string().contains("not-object"),
        "{}",
        failed.error
    );

    // Refused by the server (validation), and a conflict under Fail.
    ins.add(json!({"reject": true}), Some("rejected-one"))
        .expect("valid doc");
    ins.add(doc(1), Some("taken")).expect("valid doc");
    let report = ins.close(TIMEOUT);
    assert_eq!(report.failed.len(), 2, "{:?}", report.failed);
    for failed in &report.failed {
        let message = failed.error.to_string();
        assert!(message.contains(failed.item.id()), "{message}");
    }
}
