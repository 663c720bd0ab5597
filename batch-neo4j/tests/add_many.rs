//! `Neo4jBatchCreator::add_many` and its async twin against the real
//! server, through the conformance kit's add_many contract on node upserts
//! (`test_support::kit::add_many`); and Neo4j's own `add_relationships`,
//! `upsert_nodes` and their async twins: the invalid items come back by
//! their index, every other one is merged, in as many transactions as the
//! single adds would take.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

test_support::add_many_contract!(common::Neo4j);

use std::time::Duration;

use batch_core::testing::add_many::{assert_refused_as_add, assert_written_as_add};
use batch_neo4j::{GraphItem, Neo4jBatchCreator, PropertyValue};
use common::{admin, config, count, count_rels, unique};

/// Relationship `i` from `doc_0` to `chunk_i`; those at `bad` are invalid
/// (a relationship type with a space, or a list of mixed types as a
/// property), as `add_relationship` would refuse them.
fn rel(
    i: usize,
    bad: &[usize],
) -> (
    &'static str,
    String,
    &'static str,
    [(&'static str, PropertyValue); 1],
) {
    let (rel_type, order) = match bad.iter().position(|b| *b == i) {
        Some(0) => ("HAS CHUNK", PropertyValue::Int(i as i64)),
        Some(_) => ("HAS_CHUNK", PropertyValue::List(vec![1.into(), "a".into()])),
        None => ("HAS_CHUNK", PropertyValue::Int(i as i64)),
    };
    ("doc_0", format!("chunk_{i}"), rel_type, [("order", order)])
}

#[test]
fn add_relationships_hands_back_the_invalid_ones_by_index_and_merges_the_rest() {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    let creator = Neo4jBatchCreator::new(config().labels(&doc, &chunk).unwrap(), 100).unwrap();
    creator.ensure_indexes().unwrap();
    // The endpoints, through upsert_nodes; an empty id is refused there.
    let back = creator
        .upsert_nodes(
            &chunk,
            (0..251).map(|c| {
                let id = if c == 250 {
                    String::new()
                } else {
                    format!("chunk_{c}")
                };
                (id, [("order", PropertyValue::Int(c as i64))])
            }),
        )
        .unwrap_err();
    assert_eq!(back.indexes(), [250]);
    creator
        .upsert_nodes(&doc, [("doc_0", [("title", "Doc 0".into())])])
        .unwrap();
    let report = creator.flush();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 251);

    let before = creator.stats();
    let transactions = creator.query_stats().transactions;
    let bad = [17, 200];
    let back = creator
        .add_relationships((0..250).map(|i| rel(i, &bad)))
        .unwrap_err();
    assert_refused_as_add(&back, &bad, |i| {
        let (from, to, rel_type, properties) = rel(i, &bad);
        let single = creator.add_relationship(from, to, rel_type, properties);
        single.unwrap_err().error.to_string()
    });
    for (index, failed) in &back.failed {
        match &failed.item {
            GraphItem::Relationship(r) => assert_eq!(r.to_id, format!("chunk_{index}")),
            other => panic!("unexpected item {other:?}"),
        }
    }
    let report = creator.close(Duration::from_secs(60));
    let stats = creator.stats();
    // One request per batch: 100, 100 and 48.
    assert_written_as_add(&report, &before, &stats, (248, 3));
    assert_eq!(
        stats.total_refused - before.total_refused,
        4,
        "two by add_relationships, two by add_relationship"
    );
    assert_eq!(
        creator.query_stats().transactions - transactions,
        3,
        "100, 100 and 48, as add_relationship would send them"
    );
    let mut admin = admin();
    assert_eq!(count_rels(&mut admin, &doc, "HAS_CHUNK", &chunk), 248);
    assert_eq!(
        count(
            &mut admin,
            &format!(
                "MATCH (:{doc})-[r]->(c:{chunk}) WHERE c.id IN ['chunk_17', 'chunk_200'] RETURN count(r)"
            )
        ),
        0
    );
}

#[test]
fn the_async_twins_write_from_a_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    let creator = Neo4jBatchCreator::new(config().labels(&doc, &chunk).unwrap(), 10).unwrap();
    runtime
        .block_on(creator.upsert_nodes_async(
            &chunk,
            (0..25).map(|c| (format!("chunk_{c}"), [("order", PropertyValue::Int(c))])),
        ))
        .unwrap();
    runtime
        .block_on(creator.upsert_nodes_async(&doc, [("doc_0", [])]))
        .unwrap();
    let back = runtime
        .block_on(creator.add_relationships_async((0..25).map(|i| rel(i, &[4]))))
        .unwrap_err();
    assert_eq!(back.indexes(), [4]);
    assert!(runtime.block_on(creator.add_many_async(Vec::new())).is_ok());
    let report = runtime.block_on(creator.close_async());
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 25 + 1 + 24);
    let mut admin = admin();
    assert_eq!(count_rels(&mut admin, &doc, "HAS_CHUNK", &chunk), 24);
}
