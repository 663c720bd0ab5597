//! Issue 31, item 3: relationships whose endpoints overlap, written with
//! 1, 2, 4, 8 and 16 batches in flight and with adaptive concurrency, on
//! the real server. Nothing is lost or counted twice (checked on the
//! server), and the deadlocks Neo4j detects between batches in flight
//! (`Neo.TransientError.Transaction.DeadlockDetected`) are retried whole
//! and counted in `total_deadlocks`. The test prints the counts per level
//! (`--nocapture`); it asserts no timing and no deadlock count.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use batch_core::BatcherSettings;
use batch_neo4j::{Neo4jBatchCreator, Properties};
use common::{admin, config, count, unique};

/// Start nodes, end nodes: every pair is one relationship, so each batch
/// of 100 touches most of the start nodes and many end nodes.
const DOCS: usize = 40;
const CHUNKS: usize = 100;
const BATCH: usize = 100;

/// The pairs in a fixed scrambled order (a multiplicative walk over the
/// `DOCS * CHUNKS` pairs), so that batches in flight share nodes and each
/// meets them in its own order.
fn pairs() -> Vec<(usize, usize)> {
    let total = DOCS * CHUNKS;
    // 7919 is prime and does not divide 4000: a permutation.
    (0..total)
        .map(|k| {
            let p = (k * 7919 + 13) % total;
            (p % DOCS, p / DOCS)
        })
        .collect()
}

#[test]
fn overlapping_relationships_at_every_concurrency_lose_nothing_and_count_once() {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    let mut admin = admin();
    for (label, n, prefix) in [(&doc, DOCS, "doc_"), (&chunk, CHUNKS, "chunk_")] {
        admin
            .run_cypher(
                &format!("CREATE CONSTRAINT FOR (n:{label}) REQUIRE n.id IS UNIQUE"),
                &Properties::new(),
            )
            .unwrap();
        admin
            .run_cypher(
                &format!(
                    "UNWIND range(0, {}) AS i CREATE (:{label} {{id: '{prefix}' + toString(i)}})",
                    n - 1
                ),
                &Properties::new(),
            )
            .unwrap();
    }
    let graph = config().labels(&doc, &chunk).unwrap();
    let pairs = pairs();
    let items = pairs.len() as u64;
    let levels: [(usize, bool); 6] = [
        (1, false),
        (2, false),
        (4, false),
        (8, false),
        (16, false),
        (16, true),
    ];
    let mut table = Vec::new();
    for (in_flight, adaptive) in levels {
        let rel_type = unique("LINKS");
        let settings = BatcherSettings::builder()
            .batch_size(BATCH)
            .max_in_flight(in_flight)
            .adaptive_concurrency(adaptive)
            .build()
            .unwrap();
        let creator = Neo4jBatchCreator::with_settings(graph.clone(), settings).unwrap();
        let started = Instant::now();
        for &(d, c) in &pairs {
            creator
                .add_relationship(
                    format!("doc_{d}"),
                    format!("chunk_{c}"),
                    &rel_type,
                    [("w", 1.into())],
                )
                .unwrap();
        }
        let report = creator.close(Duration::from_secs(300));
        let elapsed = started.elapsed();
        let stats = creator.stats();
        let level = format!("{in_flight}{}", if adaptive { " adaptive" } else { "" });
        assert!(
            report.is_complete(),
            "{level}: {} failed, first {:?}",
            report.failed.len(),
            report.failed.first().map(|f| &f.error)
        );
        // Nothing counted twice: every item is written or a conflict once.
        assert_eq!(
            stats.total_added + stats.total_conflicts,
            items,
            "{level}: {stats:?}"
        );
        assert_eq!(stats.total_added, items, "all new: {level}: {stats:?}");
        assert_eq!(stats.total_failed, 0, "{level}: {stats:?}");
        // Each deadlock was retried (a rolled-back batch), none left over.
        assert!(
            stats.total_retries >= stats.total_deadlocks,
            "{level}: {stats:?}"
        );
        // Nothing lost or doubled on the server.
        let stored = count(
            &mut admin,
            &format!(
                "MATCH (:{doc})-[r:{rel_type}]->(:{chunk}) \
                 RETURN count(DISTINCT [elementId(startNode(r)), elementId(endNode(r))]) * 100000 + count(r)"
            ),
        );
        assert_eq!(
            stored,
            items as i64 * 100_001,
            "{level}: distinct pairs and relationships"
        );
        table.push(format!(
            "in flight {level:>11}: deadlocks {:>4}  retries {:>4}  requests {:>4}  batches {:>3}  {:>7.2?}",
            stats.total_deadlocks,
            stats.total_retries,
            stats.total_requests,
            stats.total_batches,
            elapsed
        ));
    }
    eprintln!(
        "{items} relationships over {DOCS} x {CHUNKS} nodes, batches of {BATCH}:\n{}",
        table.join("\n")
    );
}
