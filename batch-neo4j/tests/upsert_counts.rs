//! Written and conflict mean the same on every backend (batch-core's
//! `Stats`): an upsert that changes an existing node's or relationship's
//! properties is written, as PostgreSQL's `ON CONFLICT DO UPDATE` counts
//! it; one that finds them already as sent is a conflict. Checked against
//! what the real Bolt server (ArcadeDB) holds afterwards.

mod common;

use std::time::Duration;

use batch_core::testing::counts::assert_counted;
use batch_core::{ItemOutcome, Sink};
use batch_neo4j::{GraphItem, Neo4jBatchCreator, Neo4jSink, NodeItem};
use common::{admin, config, count, seed_doc_and_chunks, unique};

const N: usize = 3_000;

fn creator(doc: &str, chunk: &str) -> Neo4jBatchCreator {
    Neo4jBatchCreator::new(config().labels(doc, chunk).expect("labels"), 500).expect("creator")
}

/// Upserts every node `n0..n{N}` of `label` and a `HAS` relationship from
/// the doc to every chunk, all with `v = value`, and returns the creator's
/// stats once everything is resolved.
fn upsert_all(label: &str, doc: &str, chunk: &str, value: i64) -> batch_core::Stats {
    let creator = creator(doc, chunk);
    for i in 0..N {
        creator
            .upsert_node(label, format!("n{i}"), [("v", value.into())])
            .expect("add node");
        creator
            .add_relationship("doc_0", format!("chunk_{i}"), "HAS", [("v", value.into())])
            .expect("add relationship");
    }
    let report = creator.close(Duration::from_secs(300));
    assert!(report.failed.is_empty(), "{:?}", report.failed.first());
    creator.stats()
}

#[test]
fn upserts_that_change_properties_count_as_written_identical_ones_as_conflicts() {
    let (label, doc, chunk) = (unique("Up"), unique("UpDoc"), unique("UpChunk"));
    let mut admin = admin();
    admin
        .ensure_indexes(&[&label, &doc, &chunk])
        .expect("indexes");
    seed_doc_and_chunks(&mut admin, &doc, &chunk, N);
    let items = 2 * N as u64;
    let held = |admin: &mut _, v: i64| {
        (
            count(
                admin,
                &format!("MATCH (n:{label}) WHERE n.v = {v} RETURN count(n)"),
            ),
            count(
                admin,
                &format!("MATCH (:{doc})-[r:HAS]->(:{chunk}) WHERE r.v = {v} RETURN count(r)"),
            ),
        )
    };

    let created = upsert_all(&label, &doc, &chunk, 1);
    assert_eq!(held(&mut admin, 1), (N as i64, N as i64));
    assert_counted(&created, items, 0, "created");

    // Every element exists and gets another value: the server changed
    // them all, so all were written.
    let changed = upsert_all(&label, &doc, &chunk, 2);
    assert_eq!(held(&mut admin, 2), (N as i64, N as i64));
    assert_counted(&changed, items, 0, "changed properties");

    // The same values again: the server already held every item.
    let identical = upsert_all(&label, &doc, &chunk, 2);
    assert_eq!(held(&mut admin, 2), (N as i64, N as i64));
    assert_counted(&identical, 0, items, "identical properties");
}

/// Two upserts of one node in one batch: the later one's values are what
/// the server keeps, so it is the written one and the earlier one the
/// superseded conflict, as PostgreSQL's and Chroma's upserts count them.
#[test]
fn of_duplicates_in_one_batch_the_last_is_written_and_the_earlier_superseded() {
    let label = unique("Dup");
    let node = |v: i64| {
        GraphItem::Node(Box::new(NodeItem {
            label: label.clone(),
            id: "n0".into(),
            properties: [("v".to_owned(), v.into())].into_iter().collect(),
        }))
    };
    let mut sink = Neo4jSink::connect(config()).expect("sink");
    let outcomes: Vec<&str> = sink
        .write_batch(&[node(1), node(2)])
        .expect("write")
        .into_iter()
        .map(|o| match o {
            ItemOutcome::Written => "written",
            ItemOutcome::Conflict => "conflict",
            ItemOutcome::Failed(e) => panic!("failed: {e}"),
        })
        .collect();
    assert_eq!(outcomes, ["conflict", "written"]);
    let mut admin = admin();
    assert_eq!(
        count(
            &mut admin,
            &format!("MATCH (n:{label}) WHERE n.v = 2 RETURN count(n)")
        ),
        1
    );
}
