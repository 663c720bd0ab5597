//! The inserter from every kind of caller: the conformance kit's runtime
//! contexts (`test_support::kit::contexts`: a plain thread, tokio
//! current-thread and multi-thread runtimes, `spawn_blocking`, a drop
//! inside a runtime, the async API from spawned tasks and from a runtime's
//! only thread), and Chroma's own async adders.

mod common;

use batch_chroma::{ChromaBatchInserter, ChromaRecord};
use common::{Chroma, fresh_collection, meta, vector};

test_support::runtime_contexts!(Chroma);

/// Chroma's own async adders (by id, with a document, a prepared record)
/// on a runtime's only thread, and a refused one handing its record back.
#[tokio::test(flavor = "current_thread")]
async fn chromas_own_async_adders() {
    let collection = tokio::task::spawn_blocking(|| fresh_collection("ctx-own"))
        .await
        .expect("collection");
    let inserter = ChromaBatchInserter::new(collection.clone(), 100).expect("inserter");
    inserter
        .add_async("by-id", vector(0, 8), meta(0))
        .await
        .expect("add_async");
    inserter
        .add_with_document_async("doc", vector(1, 8), meta(1), "text")
        .await
        .expect("add_with_document_async");
    inserter
        .add_record_async(ChromaRecord::new("rec", vector(2, 8), meta(2)))
        .await
        .expect("add_record_async");
    let report = inserter.close_async().await;
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(inserter.stats().total_added, 3);
    let counted = tokio::task::spawn_blocking(move || collection.count().expect("count"))
        .await
        .expect("count");
    assert_eq!(counted, 3);
    let refused = inserter
        .add_async("late", vector(3, 8), meta(3))
        .await
        .expect_err("closed");
    assert_eq!(refused.item.id, "late");
}
