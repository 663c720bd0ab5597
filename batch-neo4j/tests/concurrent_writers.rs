//! Two writers on the same nodes at once: conflicts between their
//! transactions (`Neo.TransientError.*`) are retried, nothing is lost; the
//! deadlock Neo4j reports is transient, and the library's row order
//! avoids it.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use batch_core::{BatcherSettings, ErrorClass, RetryPolicy, Sink, SinkError};
use batch_neo4j::{
    GraphItem, Neo4jBatchCreator, Neo4jError, Neo4jSink, NodeItem, Properties, PropertyValue,
};
use common::{admin, config, count, unique};

/// A fresh label with nodes `doc_0..doc_199`.
fn label_with_200_docs() -> String {
    let doc = unique("Doc");
    let cypher = format!("UNWIND range(0, 199) AS d CREATE (:{doc} {{id: 'doc_' + toString(d)}})");
    admin().run_cypher(&cypher, &Default::default()).unwrap();
    doc
}

/// `ids` as a Cypher list.
fn id_list(ids: impl IntoIterator<Item = String>) -> PropertyValue {
    PropertyValue::List(ids.into_iter().map(Into::into).collect())
}

#[test]
fn concurrent_writers_on_the_same_nodes_are_retried_and_lose_nothing() {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    let graph = config().labels(&doc, &chunk).unwrap();
    let per_writer = 2000;
    {
        let nodes = Neo4jBatchCreator::new(graph.clone(), 1000).unwrap();
        nodes.ensure_indexes().unwrap();
        for d in 0..3 {
            nodes
                .upsert_node(&doc, format!("doc_{d}"), [("d", d.into())])
                .unwrap();
        }
        for c in 0..2 * per_writer {
            nodes
                .upsert_node(&chunk, format!("chunk_{c}"), [("c", c.into())])
                .unwrap();
        }
        assert!(nodes.close(Duration::from_secs(60)).is_complete());
    }
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let graph = graph.clone();
            std::thread::spawn(move || {
                let creator = Neo4jBatchCreator::new(graph, 100).unwrap();
                for i in 0..per_writer {
                    let c = w * per_writer + i;
                    // Both writers add edges to the same three documents.
                    creator
                        .add_relationship(
                            format!("doc_{}", i % 3),
                            format!("chunk_{c}"),
                            "HAS_CHUNK",
                            [("w", (w as i64).into())],
                        )
                        .unwrap();
                }
                let report = creator.close(Duration::from_secs(120));
                assert!(report.is_complete(), "{:?}", report.failed);
                (report.written, creator.stats().total_retries)
            })
        })
        .collect();
    let results: Vec<_> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    eprintln!("writers (written, retries): {results:?}");
    let written: u64 = results.iter().map(|r| r.0).sum();
    assert_eq!(written, 2 * per_writer as u64);
    let rels = format!("MATCH (:{doc})-[r]->(:{chunk}) RETURN count(r)");
    assert_eq!(count(&mut admin(), &rels), 2 * per_writer as i64);
}

/// Two threads, each with a raw sink (no batcher, so no retry), update
/// the 200 `doc` nodes 20 times at once; writer 1 meets them in the
/// opposite order. `raw`: through a statement of the test's own, which
/// keeps that order; otherwise through the library's `write_batch`.
/// Returns the errors the server sent.
fn opposite_orders(doc: &str, raw: bool) -> Vec<Neo4jError> {
    let writers: Vec<_> = (0..2_i64)
        .map(|w| {
            let doc = doc.to_owned();
            std::thread::spawn(move || {
                let mut sink = Neo4jSink::connect(config()).unwrap();
                let mut errors = Vec::new();
                for round in 0..20_i64 {
                    let mut ids: Vec<String> = (0..200).map(|d| format!("doc_{d}")).collect();
                    if w == 1 {
                        ids.reverse();
                    }
                    let properties = Properties::from_iter([
                        ("w".to_owned(), w.into()),
                        ("round".to_owned(), round.into()),
                    ]);
                    let written = if raw {
                        let mut params = properties;
                        params.insert("ids".to_owned(), id_list(ids));
                        sink.run_cypher(
                            &format!(
                                "UNWIND $ids AS id MATCH (n:{doc} {{id: id}}) \
                                 SET n.w = $w, n.round = $round"
                            ),
                            &params,
                        )
                        .map(drop)
                    } else {
                        let items: Vec<_> = ids
                            .into_iter()
                            .map(|id| {
                                GraphItem::Node(Box::new(NodeItem {
                                    label: doc.clone(),
                                    id,
                                    properties: properties.clone(),
                                }))
                            })
                            .collect();
                        sink.write_batch(&items).map(drop)
                    };
                    if let Err(e) = written {
                        errors.push(e);
                    }
                }
                errors
            })
        })
        .collect();
    writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

#[test]
fn the_deadlock_the_server_sends_is_transient_and_the_librarys_order_avoids_it() {
    // Neo4j locks a node when its properties change and holds the lock
    // until the commit: two transactions updating the same nodes in
    // opposite orders each wait for a lock the other holds, and Neo4j ends
    // one with `DeadlockDetected`. (A writer per node of its own sharing
    // one other node, as ArcadeDB's optimistic conflicts needed, never
    // deadlocks on Neo4j: one shared lock makes no cycle.) The error the
    // server really sent must be a transient deadlock.
    let doc = label_with_200_docs();
    let errors = opposite_orders(&doc, true);
    eprintln!("raw statements in opposite orders: {} errors", errors.len());
    assert!(!errors.is_empty(), "no deadlock was provoked this time");
    for e in &errors {
        let deadlock = Some("Neo.TransientError.Transaction.DeadlockDetected");
        assert_eq!(e.code(), deadlock, "{e}");
        assert_eq!(
            (e.class(), e.is_deadlock()),
            (ErrorClass::Transient, true),
            "{e}"
        );
    }
    // The same items added in opposite orders through the library: its
    // rows go in node-id order (plan.rs), so both take the shared locks in
    // one order, and one waits for the other instead of deadlocking.
    let errors = opposite_orders(&doc, false);
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn a_batch_deadlocked_by_another_writer_is_retried_whole_and_counted_once() {
    // A writer outside the library updates the same 200 nodes in the
    // opposite order in a loop while a creator upserts them 20 times: Neo4j
    // ends one of each deadlocked pair; when it is the creator's, the batch
    // was rolled back and is retried whole.
    let doc = label_with_200_docs();
    let done = Arc::new(AtomicBool::new(false));
    let other = {
        let (doc, done) = (doc.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut sink = Neo4jSink::connect(config()).unwrap();
            let ids = id_list((0..200).rev().map(|d| format!("doc_{d}")));
            let params = Properties::from_iter([("ids".to_owned(), ids)]);
            let cypher = format!("UNWIND $ids AS id MATCH (n:{doc} {{id: id}}) SET n.other = id");
            let mut lost = 0;
            while !done.load(Ordering::Acquire) {
                if sink.run_cypher(&cypher, &params).is_err() {
                    lost += 1;
                }
                // A gap now and then, so that the creator's retry can pass.
                std::thread::sleep(Duration::from_millis(2));
            }
            lost
        })
    };
    // A budget no run of deadlocks exhausts (CI once saw the default 12
    // tries all lose against this writer on a loaded machine): the test is
    // about what a retry does, not how long the budget lasts.
    let (first, most) = (Duration::from_millis(5), Duration::from_millis(100));
    let retry = RetryPolicy::new(1000, first, most, Duration::from_secs(120)).unwrap();
    let settings = BatcherSettings::builder().batch_size(200).retry(retry);
    let creator = Neo4jBatchCreator::with_settings(config(), settings.build().unwrap()).unwrap();
    let expected = 20 * 200; // every node in every round
    for round in 0..20_i64 {
        for d in 0..200 {
            creator
                .upsert_node(&doc, format!("doc_{d}"), [("round", round.into())])
                .unwrap();
        }
        let report = creator.flush();
        assert!(report.is_complete(), "{:?}", report.failed.first());
    }
    done.store(true, Ordering::Release);
    let other_lost = other.join().unwrap();
    let stats = creator.stats();
    eprintln!("creator: {stats:?}; the other writer lost {other_lost} transactions");
    assert_eq!(
        stats.total_added + stats.total_conflicts,
        expected,
        "{stats:?}"
    );
    assert_eq!(stats.total_added, expected, "each round changes every node");
    assert_eq!(stats.total_failed, 0);
    assert!(stats.total_retries >= stats.total_deadlocks, "{stats:?}");
    assert!(
        stats.total_deadlocks + other_lost > 0,
        "no deadlock was provoked this time"
    );
    let mut admin = admin();
    for filter in ["WHERE n.round = 19", ""] {
        let cypher = format!("MATCH (n:{doc}) {filter} RETURN count(n)");
        assert_eq!(count(&mut admin, &cypher), 200, "{cypher}");
    }
}
