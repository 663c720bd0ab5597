//! The inserter from every kind of caller: the conformance kit's runtime
//! contexts (`test_support::kit::contexts`: a plain thread, tokio
//! current-thread and multi-thread runtimes, `spawn_blocking`, a drop
//! inside a runtime, the async API from spawned tasks and from a runtime's
//! only thread), and CouchDB's own async adders.

mod common;

use batch_couch::{CouchDBBatchInserter, CouchDoc, DEFAULT_MAX_DOC_BYTES};
use common::{Couch, doc, fresh_db};

test_support::runtime_contexts!(Couch);

/// CouchDB's own async adders (a JSON value with an id, a prepared
/// document) on a runtime's only thread; a value that is no object is
/// refused at once.
#[tokio::test(flavor = "current_thread")]
async fn couchs_own_async_adders() {
    let db = tokio::task::spawn_blocking(|| fresh_db("ctx_own"))
        .await
        .expect("database");
    let inserter = CouchDBBatchInserter::new(db.clone(), 100).expect("inserter");
    inserter
        .add_async(doc(0), Some("by-id"))
        .await
        .expect("add_async");
    let prepared =
        CouchDoc::new(doc(1), Some("prepared".into()), DEFAULT_MAX_DOC_BYTES).expect("valid doc");
    inserter
        .add_doc_async(prepared)
        .await
        .expect("add_doc_async");
    let refused = inserter
        .add_async(serde_json::json!([1, 2]), None)
        .await
        .expect_err("not an object");
    assert!(
        refused.error.to_string().contains("object"),
        "{}",
        refused.error
    );
    let report = inserter.close_async().await;
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(inserter.stats().total_added, 2);
    let counted = tokio::task::spawn_blocking(move || db.doc_count().expect("doc_count"))
        .await
        .expect("count");
    assert_eq!(counted, 2);
}
