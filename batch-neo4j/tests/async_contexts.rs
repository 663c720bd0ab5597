//! The creator from every kind of caller: the conformance kit's runtime
//! contexts (`test_support::kit::contexts`: a plain thread, tokio
//! current-thread and multi-thread runtimes, `spawn_blocking`, a drop
//! inside a runtime, the async API from spawned tasks and from a runtime's
//! only thread). Found from outside: inside a runtime `new` and
//! `ensure_indexes` were refused with `InsideAsyncRuntime` (even in
//! `spawn_blocking`, which that error advised). And Neo4j's own async
//! adders, under a runtime whose only thread they must not block.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::sync::Arc;

use batch_core::BatcherSettings;
use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig};
use common::{admin, config, count_rels, unique};

const RELS: usize = 500;
const DOCS: usize = 10;

test_support::runtime_contexts!(common::Neo4j);

/// A config with fresh start and end labels.
fn fresh_graph() -> (Neo4jConfig, String, String) {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    (config().labels(&doc, &chunk).unwrap(), doc, chunk)
}

/// What the server holds: `HAS_CHUNK` relationships between the labels.
fn server_count(doc: &str, chunk: &str) -> i64 {
    count_rels(&mut admin(), doc, "HAS_CHUNK", chunk)
}

#[test]
fn ensure_indexes_inside_async_code() {
    let (graph, doc, _) = fresh_graph();
    let creator = Neo4jBatchCreator::new(graph, 10).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        creator.ensure_indexes().unwrap();
        creator.ensure_indexes_for(&[&doc]).unwrap();
    });
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_adders_wait_for_room_without_blocking_the_only_runtime_thread() {
    let (graph, doc, chunk) = fresh_graph();
    // Room for one batch only: most adds must wait for the flusher, which
    // would deadlock a blocking add on this single runtime thread.
    let settings = BatcherSettings::builder()
        .batch_size(50)
        .max_pending(50)
        .build()
        .unwrap();
    let creator = Arc::new(Neo4jBatchCreator::with_settings(graph, settings).unwrap());
    for d in 0..DOCS {
        creator
            .upsert_node_async(&doc, format!("doc_{d}"), [("d", (d as i64).into())])
            .await
            .unwrap();
    }
    for i in 0..RELS {
        creator
            .upsert_node_async(&chunk, format!("chunk_{i}"), [])
            .await
            .unwrap();
    }
    assert!(creator.flush_async().await.is_complete());
    // Two tasks at once (tokio::spawn also proves the futures are Send).
    let half = RELS / 2;
    let first = tokio::spawn({
        let creator = Arc::clone(&creator);
        async move {
            for i in 0..half {
                creator
                    .add_relationship_async(
                        format!("doc_{}", i % DOCS),
                        format!("chunk_{i}"),
                        "HAS_CHUNK",
                        [("order", (i as i64).into())],
                    )
                    .await
                    .unwrap();
            }
        }
    });
    let (doc2, chunk2) = (doc.clone(), chunk.clone());
    let second = tokio::spawn({
        let creator = Arc::clone(&creator);
        async move {
            for i in half..RELS {
                let (from, to) = (format!("doc_{}", i % DOCS), format!("chunk_{i}"));
                creator
                    .add_relationship_between_async(
                        (&doc2, &from),
                        (&chunk2, &to),
                        "HAS_CHUNK",
                        [("order", (i as i64).into())],
                    )
                    .await
                    .unwrap();
            }
        }
    });
    first.await.unwrap();
    second.await.unwrap();
    let report = creator.close_async().await;
    assert!(report.is_complete(), "{:?}", report.failed);
    assert_eq!(
        creator.get_stats()["total_created"] as usize,
        DOCS + 2 * RELS
    );
    assert_eq!(server_count(&doc, &chunk), RELS as i64);
}
