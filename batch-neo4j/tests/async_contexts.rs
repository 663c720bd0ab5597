//! The creator from every kind of caller thread: a plain thread, a tokio
//! current-thread and multi-thread runtime, `spawn_blocking`. Found from
//! outside: inside a runtime `new` and `ensure_indexes` were refused with
//! `InsideAsyncRuntime` (even in `spawn_blocking`, which that error advised).
//! And the async adders, under a runtime whose only thread they must not block.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use batch_core::BatcherSettings;
use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig};
use common::{admin, config, count_rels, unique};

const RELS: usize = 500;
const DOCS: usize = 10;

/// A config with fresh start and end labels.
fn fresh_graph() -> (Neo4jConfig, String, String) {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    (config().labels(&doc, &chunk).unwrap(), doc, chunk)
}

/// Upserts the nodes and adds `RELS` relationships between them.
fn fill(creator: &Neo4jBatchCreator, doc: &str, chunk: &str) {
    for d in 0..DOCS {
        creator
            .upsert_node(doc, format!("doc_{d}"), [("d", (d as i64).into())])
            .unwrap();
    }
    for i in 0..RELS {
        creator
            .upsert_node(chunk, format!("chunk_{i}"), [("order", (i as i64).into())])
            .unwrap();
        creator
            .add_relationship(
                format!("doc_{}", i % DOCS),
                format!("chunk_{i}"),
                "HAS_CHUNK",
                [("order", (i as i64).into())],
            )
            .unwrap();
    }
}

/// What the server holds: `HAS_CHUNK` relationships between the labels.
fn server_count(doc: &str, chunk: &str) -> i64 {
    count_rels(&mut admin(), doc, "HAS_CHUNK", chunk)
}

/// Everything a sync caller does: construct, ensure indexes, add, flush,
/// count on the server (and drop the creator and the checking sink).
fn write_and_count() {
    let (graph, doc, chunk) = fresh_graph();
    let creator = Neo4jBatchCreator::new(graph, 200).unwrap();
    creator.ensure_indexes().unwrap();
    fill(&creator, &doc, &chunk);
    let report = creator.flush();
    assert!(report.is_complete(), "{:?}", report.failed);
    assert_eq!(report.written as usize, DOCS + 2 * RELS);
    assert_eq!(server_count(&doc, &chunk), RELS as i64);
}

#[test]
fn from_a_plain_thread() {
    std::thread::spawn(write_and_count).join().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn from_a_current_thread_runtime() {
    write_and_count();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_multi_thread_runtime() {
    write_and_count();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_spawn_blocking() {
    tokio::task::spawn_blocking(write_and_count).await.unwrap();
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
async fn dropping_without_close_inside_a_current_thread_runtime_writes_everything() {
    let (graph, doc, chunk) = fresh_graph();
    let close_timeout = Duration::from_secs(30);
    let settings = BatcherSettings::builder()
        .batch_size(200)
        .close_timeout(close_timeout)
        .build()
        .unwrap();
    let creator = Neo4jBatchCreator::with_settings(graph, settings).unwrap();
    fill(&creator, &doc, &chunk);
    let started = Instant::now();
    drop(creator);
    assert!(started.elapsed() < close_timeout + Duration::from_secs(5));
    assert_eq!(server_count(&doc, &chunk), RELS as i64);
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
