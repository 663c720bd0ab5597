//! Rows/s of relationship writes against the test server: one query per
//! relationship versus UNWIND batches of 100/1000/5000, grouped MERGE
//! versus `apoc.merge.relationship`.
//!
//! `cargo xtask services up neo4j && cargo bench -p batch-neo4j --bench unwind`

use std::time::{Duration, Instant};

use batch_neo4j::{MergeAnchor, Neo4jBatchCreator, Neo4jConfig, Neo4jSink, Properties};
use test_support::test_servers::{self, Service};

fn config() -> Neo4jConfig {
    let uri = test_servers::require(Service::Neo4j);
    let e = test_servers::Endpoints::from_env();
    Neo4jConfig::new(&uri, e.neo4j_user, e.neo4j_password).expect("valid URI")
}

/// 10 documents x `n / 10` chunks, created outside the measurement.
fn nodes(tag: &str, n: usize) -> (String, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let (doc, chunk) = (
        format!("BDoc_{tag}_{nanos}"),
        format!("BChunk_{tag}_{nanos}"),
    );
    let mut admin = Neo4jSink::connect(config()).expect("connect");
    admin.ensure_indexes(&[&doc, &chunk]).expect("indexes");
    let none = Properties::new();
    admin
        .run_cypher(
            &format!("UNWIND range(0, 9) AS d CREATE (:{doc} {{id: 'doc_' + toString(d)}})"),
            &none,
        )
        .expect("docs");
    admin
        .run_cypher(
            &format!(
                "UNWIND range(0, {}) AS c CREATE (:{chunk} {{id: 'chunk_' + toString(c)}})",
                n - 1
            ),
            &none,
        )
        .expect("chunks");
    (doc, chunk)
}

fn run(name: &str, n: usize, batch_size: usize, apoc: bool) {
    run_anchored(name, n, batch_size, apoc, MergeAnchor::EndNode);
}

fn run_anchored(name: &str, n: usize, batch_size: usize, apoc: bool, anchor: MergeAnchor) {
    let tag: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    let (doc, chunk) = nodes(&format!("{tag}{batch_size}"), n);
    let graph = config()
        .labels(&doc, &chunk)
        .expect("labels")
        .try_apoc(apoc)
        .anchor(anchor);
    let creator = Neo4jBatchCreator::new(graph, batch_size).expect("creator");
    let start = Instant::now();
    for i in 0..n {
        creator
            .add_relationship(
                format!("doc_{}", i % 10),
                format!("chunk_{i}"),
                "HAS_CHUNK",
                [("order", (i as i64).into())],
            )
            .expect("valid");
    }
    let report = creator.close(Duration::from_secs(600));
    let secs = start.elapsed().as_secs_f64();
    assert!(
        report.is_complete(),
        "{:?}",
        report.failed.first().map(|f| &f.error)
    );
    assert_eq!(report.written as usize, n);
    println!(
        "{name:<28} n={n:<6} batch={batch_size:<5} {secs:>7.2} s {:>8.0} rows/s  ({} queries)",
        n as f64 / secs,
        creator.query_stats().queries
    );
}

fn main() {
    run("one query per relationship", 500, 1, false);
    for batch in [100, 1000, 5000] {
        run("UNWIND grouped MERGE", 10_000, batch, false);
    }
    run_anchored(
        "UNWIND MERGE from start node",
        10_000,
        1000,
        false,
        MergeAnchor::StartNode,
    );
    for batch in [100, 1000, 5000] {
        run("UNWIND apoc.merge", 10_000, batch, true);
    }
}
