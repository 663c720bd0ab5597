//! Two writers on the same nodes at once: conflicts between their
//! transactions (`Neo.TransientError.*`) are retried, nothing is lost.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use batch_core::Sink;
use batch_core::{ErrorClass, SinkError};
use batch_neo4j::{GraphItem, Neo4jBatchCreator, Neo4jError, Neo4jSink, NodeItem};
use common::{admin, config, count, unique};

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
    let mut admin = admin();
    let n = count(
        &mut admin,
        &format!("MATCH (:{doc})-[r]->(:{chunk}) RETURN count(r)"),
    );
    assert_eq!(n, 2 * per_writer as i64);
}

#[test]
fn the_conflict_error_the_server_sends_is_a_transient_one() {
    // Two raw sinks (no batcher, so no retry) update the same nodes at once,
    // in opposite orders, until one transaction loses: Neo4j locks a node
    // when its properties change, so each waits for a lock the other holds
    // and Neo4j ends one of them with `DeadlockDetected`. (A writer per
    // node of its own sharing one other node, as ArcadeDB's optimistic
    // conflicts needed, never deadlocks on Neo4j: one shared lock makes no
    // cycle.) The error the server really sent must be a
    // `Neo.TransientError.*`, classified transient.
    let doc = unique("Doc");
    let graph = config();
    let mut admin = admin();
    admin
        .run_cypher(
            &format!("UNWIND range(0, 199) AS d CREATE (:{doc} {{id: 'doc_' + toString(d)}})"),
            &Default::default(),
        )
        .unwrap();
    let writers: Vec<_> = (0..2_i64)
        .map(|w| {
            let (graph, doc) = (graph.clone(), doc.clone());
            std::thread::spawn(move || {
                let mut sink = Neo4jSink::connect(graph).unwrap();
                let mut errors = Vec::new();
                for round in 0..20_i64 {
                    let mut ids: Vec<usize> = (0..200).collect();
                    if w == 1 {
                        ids.reverse();
                    }
                    let items: Vec<_> = ids
                        .into_iter()
                        .map(|d| {
                            GraphItem::Node(Box::new(NodeItem {
                                label: doc.clone(),
                                id: format!("doc_{d}"),
                                properties: [
                                    ("w".to_owned(), w.into()),
                                    ("round".to_owned(), round.into()),
                                ]
                                .into_iter()
                                .collect(),
                            }))
                        })
                        .collect();
                    if let Err(e) = sink.write_batch(&items) {
                        errors.push(e);
                    }
                }
                errors
            })
        })
        .collect();
    let errors: Vec<Neo4jError> = writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    eprintln!("errors seen: {errors:?}");
    assert!(!errors.is_empty(), "no conflict was provoked this time");
    for e in &errors {
        assert!(
            e.code()
                .is_some_and(|c| c.starts_with("Neo.TransientError.")),
            "{e}"
        );
        assert_eq!(e.class(), ErrorClass::Transient);
    }
}
