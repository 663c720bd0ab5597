//! `_bulk_docs` against the real server: requests per batch, conflicts,
//! per-document failures, overwrite, duplicates, validation, counters.

mod common;

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use batch_core::{BatchError, BatcherSettings, ErrorClass, SinkError};
use batch_couch::{
    ConflictPolicy, CouchDBBatchInserter, CouchDatabase, CouchDoc, CouchError, CouchOptions,
    DEFAULT_MAX_DOC_BYTES,
};
use common::{doc, fresh_db, new_db};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(60);

fn inserter(db: &CouchDatabase, batch_size: usize, policy: ConflictPolicy) -> CouchDBBatchInserter {
    let settings = BatcherSettings::for_backend(&batch_core::env::COUCHDB, batch_size)
        .expect("valid settings");
    let options = CouchOptions::default().conflict_policy(policy);
    CouchDBBatchInserter::with_options(db.clone(), settings, options).expect("start the inserter")
}

/// Adds `value(i)` with id `d{i}` for every `i` of `ids`.
fn add_ids(
    ins: &CouchDBBatchInserter,
    ids: impl IntoIterator<Item = usize>,
    value: impl Fn(usize) -> Value,
) {
    for i in ids {
        let id = format!("d{i}");
        ins.add(value(i), Some(&id)).expect("valid doc");
    }
}

/// Writes `n` documents with ids `d0..` and checks they all landed.
fn seed(db: &CouchDatabase, n: usize) {
    let ins = inserter(db, 100, ConflictPolicy::Skip);
    add_ids(&ins, 0..n, doc);
    let report = ins.close(TIMEOUT);
    assert!(report.is_complete());
    assert_eq!(report.written, n as u64);
}

fn stored(db: &CouchDatabase, id: &str) -> Value {
    let stored = db.get(id).expect("read the doc");
    stored.unwrap_or_else(|| panic!("{id} not stored"))
}

/// Whether the stored document `id` is at revision `n-…`.
fn at_revision(db: &CouchDatabase, id: &str, n: u32) -> bool {
    let rev = stored(db, id)["_rev"].clone();
    rev.as_str()
        .expect("a revision")
        .starts_with(&format!("{n}-"))
}

/// A design document refusing every document with `reject` set.
fn store_a_validator(db: &CouchDatabase) {
    let validate = "function(newDoc) { if (newDoc.reject) { throw({forbidden: 'rejected'}); } }";
    let (value, id) = (
        json!({ "validate_doc_update": validate }),
        "_design/validate",
    );
    let validator = CouchDoc::new(value, Some(id.into()), DEFAULT_MAX_DOC_BYTES);
    let validator = validator.expect("valid design doc");
    db.put(&validator).expect("store the validator");
}

#[test]
fn writes_250_docs_in_3_requests_and_reads_them_back() {
    let db = fresh_db("250");
    let before = db.requests_sent();
    let ins = CouchDBBatchInserter::new(db.clone(), 100).unwrap();
    let mut ids = Vec::new();
    for i in 0..250 {
        // Every third document brings its own `_id`, the others get one.
        let (value, id) = match i % 3 {
            0 => (json!({"_id": format!("own-{i}"), "n": i}), None),
            1 => (json!({"n": i}), Some(format!("given-{i}"))),
            _ => (json!({"n": i}), None),
        };
        ins.add(value, id.as_deref()).unwrap();
        ids.push(id);
    }
    let report = ins.close(TIMEOUT);
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(report.written, 250);

    let stats = ins.stats();
    assert_eq!(stats.total_added, 250);
    assert_eq!(stats.total_batches, 3);
    assert_eq!(stats.total_requests, 3);
    assert_eq!(stats.total_fallbacks, 0);
    assert_eq!(db.requests_sent() - before, 3, "one HTTP request per batch");
    assert_eq!(db.doc_count().unwrap(), 250);
    assert_eq!(stored(&db, "own-0")["n"], 0);
    assert_eq!(stored(&db, "given-1")["n"], 1);
    assert_eq!(ins.get_stats()["total_added"], 250);
}

#[test]
fn re_adding_existing_docs_counts_conflicts_without_fallback() {
    let db = fresh_db("conflicts");
    seed(&db, 100);
    let ins = CouchDBBatchInserter::new(db.clone(), 100).unwrap();
    add_ids(&ins, 0..100, |_| json!({"changed": true}));
    let report = ins.close(TIMEOUT);
    assert!(report.is_complete());
    assert_eq!((report.written, report.conflicts), (0, 100));
    let stats = ins.get_stats();
    assert_eq!(stats["total_conflicts"], 100);
    assert_eq!(stats["total_fallbacks"], 0);
    assert_eq!(stats["total_failed"], 0);
    assert_eq!(stats["total_requests"], 1);
    let changed = stored(&db, "d7").get("changed").cloned();
    assert_eq!(changed, None, "kept the stored doc");
    assert_eq!(db.doc_count().unwrap(), 100);
}

#[test]
fn one_refused_doc_is_handed_back_and_the_rest_written() {
    let db = fresh_db("refused");
    store_a_validator(&db);
    let ins = CouchDBBatchInserter::new(db.clone(), 50).unwrap();
    add_ids(&ins, 0..50, |i| {
        let mut value = doc(i);
        if i == 17 {
            value["reject"] = json!(true);
        }
        value
    });
    let report = ins.close(TIMEOUT);
    assert_eq!(report.written, 49);
    assert_eq!(report.failed.len(), 1);
    let failed = &report.failed[0];
    assert_eq!(failed.item.id(), "d17");
    assert_eq!(failed.item.doc()["reject"], json!(true));
    let untouched = failed.item.doc().get("_id").is_none();
    assert!(untouched, "caller's doc untouched");
    let error = failed.error.sink_error();
    let Some(CouchError::Rejected { id, .. }) = error else {
        panic!("expected a per-document rejection, got {error:?}");
    };
    assert_eq!(id, "d17");
    assert_eq!(error.unwrap().class(), ErrorClass::Permanent);

    let stats = ins.stats();
    assert_eq!(stats.total_requests, 1, "accepted docs are never resent");
    assert_eq!(stats.total_fallbacks, 0);
    assert_eq!(stats.total_failed, 1);
    assert!(db.get("d17").unwrap().is_none());
    // 49 documents and the design document.
    assert_eq!(db.doc_count().unwrap(), 50);
}

#[test]
fn overwrite_policy_updates_revisions() {
    let db = fresh_db("overwrite");
    seed(&db, 20);
    let before = db.requests_sent();
    let ins = inserter(&db, 100, ConflictPolicy::Overwrite);
    add_ids(&ins, 0..20, |i| json!({"n": i, "version": 2}));
    // Two new ones in the same batch are plain writes.
    ins.add(json!({"version": 1}), Some("new-1")).unwrap();
    ins.add(json!({"version": 1}), Some("new-2")).unwrap();
    let report = ins.close(TIMEOUT);
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!((report.written, report.conflicts), (22, 0));
    // _bulk_docs, _all_docs for the 20 conflicting ids, _bulk_docs again.
    assert_eq!(db.requests_sent() - before, 3);
    for id in (0..20).map(|i| format!("d{i}")) {
        assert_eq!(stored(&db, &id)["version"], 2, "{id}");
        assert!(at_revision(&db, &id, 2), "{}", stored(&db, &id));
    }
    assert!(at_revision(&db, "new-1", 1));
    assert_eq!(db.doc_count().unwrap(), 22);
}

#[test]
fn fail_policy_hands_conflicts_back() {
    let db = fresh_db("failpolicy");
    seed(&db, 10);
    let ins = inserter(&db, 100, ConflictPolicy::Fail);
    add_ids(&ins, 5..15, doc);
    let report = ins.close(TIMEOUT);
    assert_eq!((report.written, report.conflicts), (5, 0));
    let mut failed: Vec<&str> = report.failed.iter().map(|f| f.item.id()).collect();
    failed.sort_unstable();
    assert_eq!(failed, ["d5", "d6", "d7", "d8", "d9"]);
    for f in &report.failed {
        let error = f.error.sink_error();
        let conflict = matches!(error, Some(CouchError::Conflict { .. }));
        assert!(conflict, "{error:?}");
    }
    assert_eq!(ins.stats().total_fallbacks, 0);
    assert_eq!(db.doc_count().unwrap(), 15);
}

#[test]
fn duplicate_ids_in_one_batch_behave_like_separate_batches() {
    // Skip: the first occurrence is stored, the later ones are conflicts.
    let db = fresh_db("dupskip");
    let ins = inserter(&db, 10, ConflictPolicy::Skip);
    for (v, id) in [(1, "a"), (1, "b"), (2, "a"), (3, "a")] {
        ins.add(json!({ "v": v }), Some(id)).unwrap();
    }
    let report = ins.close(TIMEOUT);
    assert!(report.is_complete());
    assert_eq!((report.written, report.conflicts), (2, 2));
    assert_eq!(stored(&db, "a")["v"], 1);

    // Overwrite: the last occurrence wins.
    let db = fresh_db("dupoverwrite");
    let ins = inserter(&db, 10, ConflictPolicy::Overwrite);
    for v in 1..=3 {
        ins.add(json!({ "v": v }), Some("a")).unwrap();
    }
    let report = ins.close(TIMEOUT);
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!((report.written, report.conflicts), (3, 0));
    assert_eq!(stored(&db, "a")["v"], 3);
    assert!(at_revision(&db, "a", 3));
    assert_eq!(db.doc_count().unwrap(), 1);
}

#[test]
fn bad_documents_are_refused_before_sending() {
    let db = fresh_db("invalid");
    let before = db.requests_sent();
    let settings = BatcherSettings::builder().batch_size(10).build().unwrap();
    let options = CouchOptions::default().max_doc_bytes(1000);
    let ins = CouchDBBatchInserter::with_options(db.clone(), settings, options).unwrap();
    let cases = [
        (json!([1, 2, 3]), None),
        (json!("text"), None),
        (json!({"a": 1}), Some("")),
        (json!({"a": 1}), Some("_reserved")),
        (json!({"_id": 42}), None),
        (json!({"_secret": 1}), Some("x")),
        (json!({"text": "x".repeat(2000)}), Some("big")),
    ];
    for (value, id) in cases {
        let failed = ins.add(value.clone(), id).unwrap_err();
        let invalid = matches!(failed.error, BatchError::Invalid(_));
        assert!(invalid, "{value} {id:?}: {}", failed.error);
        assert_eq!(failed.item.doc(), &value, "handed back unchanged");
    }
    ins.add(json!({"fine": true}), Some("ok")).unwrap();
    let report = ins.close(TIMEOUT);
    assert!(report.is_complete());
    assert_eq!(report.written, 1);
    let sent = db.requests_sent() - before;
    assert_eq!(sent, 1, "only the valid doc was sent");
    assert_eq!(db.doc_count().unwrap(), 1);
}

#[test]
fn missing_database_fails_every_doc_once_without_fallback() {
    let db = new_db("missing");
    let ins = CouchDBBatchInserter::new(db.clone(), 20).unwrap();
    for i in 0..20 {
        ins.add(doc(i), None).unwrap();
    }
    let report = ins.close(TIMEOUT);
    assert_eq!(report.written, 0);
    assert_eq!(report.failed.len(), 20);
    for failed in &report.failed {
        let error = failed.error.sink_error().unwrap();
        assert_eq!(error.status(), Some(404), "{error}");
        assert_eq!(error.class(), ErrorClass::Fatal);
    }
    let stats = ins.stats();
    assert_eq!((stats.total_requests, stats.total_fallbacks), (1, 0));
    // Handed-back documents keep their assigned id: adding them again
    // after creating the database stores each exactly once.
    assert!(db.create_if_missing().unwrap());
    let again = CouchDBBatchInserter::new(db.clone(), 20).unwrap();
    for failed in report.failed {
        again.add_doc(failed.item.clone()).unwrap();
        again.add_doc(failed.item).unwrap();
    }
    let report = again.close(TIMEOUT);
    assert!(report.is_complete());
    assert_eq!((report.written, report.conflicts), (20, 20));
    assert_eq!(db.doc_count().unwrap(), 20);
}

#[test]
fn byte_limit_splits_batches_before_sending() {
    let db = fresh_db("bytes");
    let before = db.requests_sent();
    let settings = BatcherSettings::builder().batch_size(100).build().unwrap();
    let options = CouchOptions::default().max_request_bytes(NonZeroUsize::new(10_000).unwrap());
    let ins = CouchDBBatchInserter::with_options(db.clone(), settings, options).unwrap();
    add_ids(&ins, 0..40, |_| json!({"text": "y".repeat(900)}));
    let report = ins.close(TIMEOUT);
    assert!(report.is_complete());
    assert_eq!(report.written, 40);
    let sent = db.requests_sent() - before;
    assert!(sent >= 4, "at most ~10 docs of 900 B per 10 kB request");
    assert_eq!(db.doc_count().unwrap(), 40);
}

#[test]
fn stats_equal_the_database_doc_count() {
    let db = fresh_db("stats");
    seed(&db, 30);
    let ins = CouchDBBatchInserter::new(db.clone(), 25).unwrap();
    // 30 conflicts with the seed, 70 new, 5 duplicates of new ones, 2 refused.
    add_ids(&ins, (0..100).chain(50..55), doc);
    assert!(ins.add(json!(null), None).is_err());
    assert!(ins.add(json!({}), Some("_x")).is_err());
    let report = ins.close(TIMEOUT);
    assert!(report.is_complete());
    let stats = ins.stats();
    assert_eq!(stats.total_added, 70);
    assert_eq!(stats.total_conflicts, 35);
    assert_eq!(stats.total_received, 105);
    assert_eq!(stats.total_added + 30, db.doc_count().unwrap());
}

#[test]
fn concurrent_adders_lose_nothing() {
    let db = fresh_db("threads");
    let ins = Arc::new(CouchDBBatchInserter::new(db.clone(), 50).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let ins = Arc::clone(&ins);
            std::thread::spawn(move || {
                for i in 0..150 {
                    ins.add(doc(i), Some(&format!("t{t}-{i}"))).unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("adder thread");
    }
    let report = ins.close(TIMEOUT);
    assert!(report.is_complete(), "{:?}", report.failed);
    assert_eq!((report.written, ins.stats().total_added), (600, 600));
    assert_eq!(db.doc_count().unwrap(), 600);
}

#[test]
fn credentials_are_sent_and_refused_ones_fail_every_doc_without_fallback() {
    let db = fresh_db("auth");
    let url = db
        .server_url()
        .replacen("://", "://nobody:wrong-password@", 1);
    let with_bad_auth = CouchDatabase::new(&url, db.name()).expect("valid name");
    let ins = CouchDBBatchInserter::new(with_bad_auth, 10).expect("start the inserter");
    for i in 0..10 {
        ins.add(doc(i), None).expect("valid doc");
    }
    let report = ins.close(TIMEOUT);
    assert_eq!(report.failed.len(), 10);
    let error = report.failed[0].error.sink_error().expect("a sink error");
    assert_eq!(error.status(), Some(401), "{error}");
    assert!(!error.is_retriable());
    let stats = ins.stats();
    assert_eq!((stats.total_requests, stats.total_fallbacks), (1, 0));
    assert_eq!(db.doc_count().expect("doc_count"), 0);
}

#[test]
fn a_refused_document_added_again_is_refused_again_not_sent_empty() {
    let db = fresh_db("readd");
    let ins = inserter(&db, 10, ConflictPolicy::Skip);
    let refused = ins.add(json!({"_bad": 1}), Some("readd-1"));
    let refused = refused.expect_err("unknown _ member");
    let before = db.requests_sent();
    let again = ins.add_doc(refused.item).expect_err("still invalid");
    match &again.error {
        BatchError::Invalid(reason) => assert!(reason.contains("_bad"), "{reason}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(again.item.id(), "readd-1", "handed back with its id");
    // A prepared document over this inserter's own size limit is refused too.
    let big = json!({"pad": "x".repeat(200)});
    let big = CouchDoc::new(big, Some("big".into()), DEFAULT_MAX_DOC_BYTES);
    let big = big.expect("valid under the default limit");
    let settings = BatcherSettings::builder().build().expect("settings");
    let options = CouchOptions::default().max_doc_bytes(100);
    let small = CouchDBBatchInserter::with_options(db.clone(), settings, options);
    let over = small
        .expect("inserter")
        .add_doc(big)
        .expect_err("over 100 bytes");
    let invalid = matches!(over.error, BatchError::Invalid(_));
    assert!(invalid, "{:?}", over.error);
    let report = ins.close(TIMEOUT);
    assert!(report.is_complete());
    assert_eq!(report.written, 0);
    assert_eq!(db.requests_sent(), before, "nothing was sent");
    assert_eq!(db.doc_count().expect("count"), 0);
}

#[test]
fn the_inserter_has_the_batchers_failure_handler_and_flush_timeout() {
    let db = fresh_db("handler");
    seed(&db, 3);
    let ins = inserter(&db, 10, ConflictPolicy::Fail);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let collect = Arc::clone(&seen);
    ins.set_failure_handler(move |failed| {
        let id = failed.item.id().to_owned();
        collect.lock().expect("lock").push(id);
    });
    add_ids(&ins, 0..4, doc);
    let report = ins.flush_timeout(TIMEOUT);
    assert!(report.is_complete(), "the handler took the failures");
    assert_eq!(report.written, 1, "d3 is new");
    let mut seen = seen.lock().expect("lock").clone();
    seen.sort();
    let handled = "conflicts under Fail went to the handler";
    assert_eq!(seen, ["d0", "d1", "d2"], "{handled}");
    assert_eq!(ins.get_stats()["total_failed"], 3);
    assert_eq!(db.doc_count().expect("count"), 4);
}
