//! `CouchDBBatchInserter::add_many`, `add_docs` and their async twins
//! against the real server: the conformance kit's add_many contract on
//! prepared documents (`test_support::kit::add_many`), and CouchDB's own
//! step before it: `add_many` prepares each `(value, id)` as `add` does,
//! and what preparing refuses comes back by its index among the batcher's
//! refusals.

mod common;

use std::time::Duration;

use batch_core::testing::add_many::{assert_refused_as_add, assert_written_as_add};
use batch_core::{BatchError, BatcherSettings, Stats};
use batch_couch::{CouchDBBatchInserter, CouchDoc, DEFAULT_MAX_DOC_BYTES};
use common::{doc, fresh_db};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(60);

test_support::add_many_contract!(common::Couch);

/// Document `i` with its id; those at `bad` are invalid (not an object, or
/// a reserved top-level field), as `add` would refuse them.
fn entry(i: usize, bad: &[usize]) -> (Value, String) {
    let value = match bad.iter().position(|b| *b == i) {
        Some(0) => json!([i]),
        Some(_) => json!({"_secret": i}),
        None => doc(i),
    };
    (value, format!("d{i}"))
}

fn inserter(db: &batch_couch::CouchDatabase, batch_size: usize) -> CouchDBBatchInserter {
    let settings = BatcherSettings::builder()
        .batch_size(batch_size)
        .build()
        .expect("settings");
    CouchDBBatchInserter::with_settings(db.clone(), settings).expect("start")
}

/// 25 values in batches of 10, two that preparing refuses: they come
/// back by index with `add`'s error, unchanged, and the 23 others go in
/// three `_bulk_docs` requests, as `add` would send them.
#[test]
fn add_many_prepares_each_document_as_add_does() {
    let db = fresh_db("add_many");
    let ins = inserter(&db, 10);
    let before = db.requests_sent();
    let bad = [3, 12];
    let entries: Vec<(Value, String)> = (0..25).map(|i| entry(i, &bad)).collect();
    let back = ins
        .add_many(entries.iter().map(|(v, id)| (v.clone(), Some(id.as_str()))))
        .expect_err("two documents are invalid");
    assert_refused_as_add(&back, &bad, |i| {
        let (value, id) = &entries[i];
        let single = ins.add(value.clone(), Some(id));
        single.expect_err("add refuses it too").error.to_string()
    });
    for (index, failed) in &back.failed {
        let handed_back = failed.item.doc();
        assert_eq!(handed_back, &entries[*index].0, "handed back unchanged");
    }
    let report = ins.close(TIMEOUT);
    let stats = ins.stats();
    assert_written_as_add(&report, &Stats::default(), &stats, (23, 3));
    assert_eq!(stats.total_refused, 4, "two by add_many, two by add");
    assert_eq!(db.requests_sent() - before, 3, "three _bulk_docs requests");
    assert_eq!(db.doc_count().expect("count"), 23);
}

#[test]
fn failures_of_preparing_and_of_the_batcher_come_back_in_input_order() {
    let db = fresh_db("add_many_closed");
    let ins = inserter(&db, 10);
    let _ = ins.close(TIMEOUT);
    // Index 1 is refused while it is prepared, 0 and 2 by the closed
    // batcher: each at its own index.
    let back = ins
        .add_many([
            (doc(0), Some("a")),
            (json!("text"), None),
            (doc(2), Some("c")),
        ])
        .expect_err("closed");
    assert_eq!(back.indexes(), [0, 1, 2]);
    assert!(matches!(back.failed[0].1.error, BatchError::Closed));
    assert!(matches!(back.failed[1].1.error, BatchError::Invalid(_)));
    assert!(matches!(back.failed[2].1.error, BatchError::Closed));
    assert_eq!(back.failed[2].1.item.id(), "c");
}

#[test]
fn the_async_twins_write_from_a_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let db = fresh_db("add_many_async");
    let ins = inserter(&db, 10);
    let entries: Vec<(Value, String)> = (0..25).map(|i| entry(i, &[4])).collect();
    let back = runtime
        .block_on(ins.add_many_async(entries.iter().map(|(v, id)| (v.clone(), Some(id.as_str())))))
        .expect_err("one document is invalid");
    assert_eq!(back.indexes(), [4]);
    let docs = (25..30).map(|i| {
        CouchDoc::new(doc(i), Some(format!("d{i}")), DEFAULT_MAX_DOC_BYTES).expect("valid")
    });
    runtime
        .block_on(ins.add_docs_async(docs))
        .expect("prepared documents");
    let report = runtime.block_on(ins.close_async());
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 29);
    assert_eq!(db.doc_count().expect("count"), 29);
}
