//! The server restarted mid-stream loses nothing, over plaintext Bolt and
//! over `bolt+s` (the server behind the TLS front end restarts). Own
//! binary: it stops the shared test server for a few seconds.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig};
use common::{admin, config, count, seed_doc_and_chunks, unique};
use test_support::test_servers::{self, Service};

#[test]
fn a_server_restart_mid_stream_loses_nothing() {
    let _alone = test_support::test_servers::one_restart_at_a_time();
    streams_through_a_restart(config());
}

#[cfg(feature = "tls")]
#[test]
fn a_server_restart_behind_tls_mid_stream_loses_nothing() {
    let _alone = test_support::test_servers::one_restart_at_a_time();
    streams_through_a_restart(common::tls_config());
}

fn streams_through_a_restart(config: Neo4jConfig) {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    let graph = config.labels(&doc, &chunk).unwrap();
    let total = 3000;
    let mut admin = admin();
    seed_doc_and_chunks(&mut admin, &doc, &chunk, total);
    drop(admin);

    let creator = Neo4jBatchCreator::new(graph, 100).unwrap();
    let mut restarter = None;
    for i in 0..total {
        if i == total / 3 {
            restarter = Some(std::thread::spawn(|| test_servers::restart(Service::Neo4j)));
        }
        creator
            .add_relationship(
                "doc_0",
                format!("chunk_{i}"),
                "HAS_CHUNK",
                [("order", (i as i64).into())],
            )
            .unwrap();
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    restarter
        .expect("restart started")
        .join()
        .expect("restart finished");
    let report = creator.close(Duration::from_secs(120));
    assert!(report.is_complete(), "{:?}", report.failed);
    let stats = creator.stats();
    eprintln!("after restart: {stats:?}");
    // A batch whose COMMIT answer was lost may have committed: its replay
    // then finds the rows with its own properties and counts them as
    // written, never twice and never as conflicts.
    let mut admin = common::admin();
    let n = count(
        &mut admin,
        &format!("MATCH (:{doc})-[r]->(:{chunk}) RETURN count(r)"),
    );
    assert_eq!(n, total as i64);
    assert_eq!((report.written, report.conflicts), (total as u64, 0));
    assert_eq!(creator.get_stats()["total_created"] as i64, n);
}
