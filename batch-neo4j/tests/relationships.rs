//! Relationships against the real Bolt server: grouping, idempotence,
//! missing endpoints, injection, per-row truth, stats.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use batch_core::{BatchError, BatcherSettings, Fallback, ItemOutcome, Sink};
use batch_neo4j::{
    GraphItem, Neo4jBatchCreator, Neo4jError, Neo4jSink, NodeItem, PropertyValue, RelationshipItem,
};
use common::{
    add_users_u3_with_the_taken_email, admin, config, count, count_rels, label_with_a_taken_email,
    unique,
};

const TYPES: [&str; 3] = ["HAS_CHUNK", "NEXT_CHUNK", "REFERS_TO"];

/// Creates `docs` Doc nodes and `chunks` Chunk nodes through a creator of their own.
fn make_nodes(doc: &str, chunk: &str, docs: usize, chunks: usize) {
    let nodes = Neo4jBatchCreator::new(config().labels(doc, chunk).unwrap(), 1000).unwrap();
    nodes.ensure_indexes().unwrap();
    for d in 0..docs {
        nodes
            .upsert_node(
                doc,
                format!("doc_{d}"),
                [("title", format!("Doc {d}").into())],
            )
            .unwrap();
    }
    for c in 0..chunks {
        nodes
            .upsert_node(chunk, format!("chunk_{c}"), [("order", (c as i64).into())])
            .unwrap();
    }
    let report = nodes.close(Duration::from_secs(60));
    assert!(report.is_complete(), "{:?}", report.failed);
    assert_eq!(report.written as usize, docs + chunks);
}

fn add_rels(creator: &Neo4jBatchCreator, n: usize, docs: usize) {
    for i in 0..n {
        creator
            .add_relationship(
                format!("doc_{}", i % docs),
                format!("chunk_{i}"),
                TYPES[i % 3],
                [
                    ("order", PropertyValue::Int(i as i64)),
                    ("weight", PropertyValue::Float(i as f64 / 2.0)),
                    ("tag", PropertyValue::String(format!("t{i}"))),
                ],
            )
            .unwrap();
    }
}

#[test]
fn relationships_2500_across_3_types_take_one_query_per_type_per_batch() {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    make_nodes(&doc, &chunk, 50, 2500);
    let creator = Neo4jBatchCreator::new(config().labels(&doc, &chunk).unwrap(), 1000).unwrap();
    add_rels(&creator, 2500, 50);
    let report = creator.flush();
    assert!(report.is_complete(), "{:?}", report.failed);
    assert_eq!(report.written, 2500);

    // 3 batches (1000, 1000, 500), each holding all 3 types: 9 UNWIND
    // queries, plus one transaction per retry (other tests of this binary
    // write to the same server and may cause a transient deadlock).
    let q = creator.query_stats();
    let retries = creator.stats().total_retries;
    assert_eq!(q.transactions, 3 + retries, "{q:?}");
    assert!(q.queries >= 9 && q.queries <= 3 * q.transactions, "{q:?}");
    let stats = creator.get_stats();
    assert_eq!(stats["total_created"], 2500);
    assert_eq!(stats["total_batches"], 3);
    assert_eq!(stats["total_fallbacks"], 0);
    assert_eq!(stats["pending"], 0);

    let mut admin = admin();
    let mut total = 0;
    for (t, rel_type) in TYPES.iter().enumerate() {
        let n = count_rels(&mut admin, &doc, rel_type, &chunk);
        assert_eq!(n, (2500 + 2 - t as i64) / 3, "{rel_type}");
        total += n;
    }
    // Stats equal what the server holds (these labels are this test's own).
    let on_server = count(
        &mut admin,
        &format!("MATCH (:{doc})-[r]->(:{chunk}) RETURN count(r)"),
    );
    assert_eq!(on_server, 2500);
    assert_eq!(total, 2500);
    assert_eq!(stats["total_created"] as i64, on_server);

    // Properties arrived with their types, and no marker is left behind.
    let rows = admin
        .run_cypher(
            &format!(
                "MATCH (a:{doc} {{id: 'doc_7'}})-[r:NEXT_CHUNK]->(b:{chunk} {{id: 'chunk_1357'}}) \
                 RETURN r.order, r.weight, r.tag, r._uds3_batch_created"
            ),
            &Default::default(),
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![vec![
            Some(PropertyValue::Int(1357)),
            Some(PropertyValue::Float(678.5)),
            Some(PropertyValue::String("t1357".into())),
            None
        ]]
    );
    let markers = count(
        &mut admin,
        &format!(
            "MATCH (:{doc})-[r]->(:{chunk}) WHERE r._uds3_batch_created IS NOT NULL RETURN count(r)"
        ),
    );
    assert_eq!(markers, 0);
}

#[test]
fn rerunning_creates_no_duplicates_and_counts_conflicts() {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    make_nodes(&doc, &chunk, 10, 300);
    let graph = config().labels(&doc, &chunk).unwrap();
    let first = Neo4jBatchCreator::new(graph.clone(), 100).unwrap();
    add_rels(&first, 300, 10);
    let report = first.close(Duration::from_secs(60));
    assert!(report.is_complete(), "{:?}", report.failed);
    assert_eq!((report.written, report.conflicts), (300, 0));

    let again = Neo4jBatchCreator::new(graph, 100).unwrap();
    add_rels(&again, 300, 10);
    // The same relationship twice within one batch is one row: one
    // conflict. `[]`: no properties.
    again
        .add_relationship("doc_0", "chunk_0", "HAS_CHUNK", [])
        .unwrap();
    let report = again.close(Duration::from_secs(60));
    assert!(report.is_complete(), "{:?}", report.failed);
    assert_eq!((report.written, report.conflicts), (0, 301));
    assert_eq!(again.get_stats()["total_created"], 0);
    assert_eq!(again.get_stats()["total_conflicts"], 301);

    let mut admin = admin();
    let n = count(
        &mut admin,
        &format!("MATCH (:{doc})-[r]->(:{chunk}) RETURN count(r)"),
    );
    assert_eq!(n, 300);
}

#[test]
fn a_row_with_a_missing_endpoint_is_handed_back_and_the_others_written() {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    make_nodes(&doc, &chunk, 1, 9);
    let creator = Neo4jBatchCreator::new(config().labels(&doc, &chunk).unwrap(), 100).unwrap();
    for i in 0..10 {
        // chunk_9 does not exist.
        creator
            .add_relationship(
                "doc_0",
                format!("chunk_{i}"),
                "HAS_CHUNK",
                [("order", i.into())],
            )
            .unwrap();
    }
    let report = creator.flush();
    assert_eq!(report.written, 9);
    assert_eq!(report.failed.len(), 1);
    let failed = &report.failed[0];
    match &failed.item {
        GraphItem::Relationship(r) => assert_eq!(r.to_id, "chunk_9"),
        other => panic!("unexpected item {other:?}"),
    }
    let Some(Neo4jError::EndpointNotFound { to_id, .. }) = failed.error.sink_error() else {
        panic!("unexpected error {:?}", failed.error);
    };
    assert_eq!(to_id, "chunk_9");
    assert!(failed.error.to_string().contains("endpoint not found"));
    // One transaction: the missing row did not cost a fallback.
    assert_eq!(creator.query_stats().transactions, 1);
    assert_eq!(creator.get_stats()["total_fallbacks"], 0);

    let mut admin = admin();
    assert_eq!(count_rels(&mut admin, &doc, "HAS_CHUNK", &chunk), 9);
}

#[test]
fn injection_in_rel_type_or_label_is_refused_before_any_round_trip() {
    let creator = Neo4jBatchCreator::new(config(), 10).unwrap();
    for bad in [
        "HAS_CHUNK]->() WITH a MATCH (n) DETACH DELETE n //",
        "X` DETACH DELETE a //",
        "HAS CHUNK",
        "",
    ] {
        let failed = creator
            .add_relationship("a", "b", bad, [("k", 1.into())])
            .unwrap_err();
        assert!(
            matches!(&failed.error, BatchError::Invalid(m) if m.contains("relationship type")),
            "{:?}",
            failed.error
        );
    }
    let failed = creator
        .add_relationship_between(
            ("Doc`) DETACH DELETE a //", "a"),
            ("Chunk", "b"),
            "T",
            [("k", 1.into())],
        )
        .unwrap_err();
    assert!(matches!(&failed.error, BatchError::Invalid(m) if m.contains("label")));
    let failed = creator
        .upsert_node("Doc", "", [("k", 1.into())])
        .unwrap_err();
    assert!(matches!(&failed.error, BatchError::Invalid(_)));
    let failed = creator
        .upsert_node("Doc", "x", [("id", "other".into())])
        .unwrap_err();
    assert!(matches!(&failed.error, BatchError::Invalid(m) if m.contains("reserved")));
    let mixed = PropertyValue::List(vec![1.into(), "a".into()]);
    let failed = creator
        .add_relationship("a", "b", "T", [("k", mixed)])
        .unwrap_err();
    assert!(matches!(&failed.error, BatchError::Invalid(_)));

    let report = creator.flush();
    assert!(report.is_complete());
    assert_eq!(creator.query_stats().transactions, 0);
    assert_eq!(creator.stats().total_received, 0);
}

#[test]
fn node_upserts_count_created_and_changed_nodes_as_written_and_unchanged_ones_as_conflicts() {
    let label = unique("Node");
    let creator = Neo4jBatchCreator::new(config(), 100).unwrap();
    creator.ensure_indexes_for(&[&label]).unwrap();
    creator.ensure_indexes_for(&[&label]).unwrap(); // IF NOT EXISTS
    for i in 0..5 {
        creator
            .upsert_node(&label, format!("n{i}"), [("v", 1.into())])
            .unwrap();
    }
    let report = creator.flush();
    assert_eq!((report.written, report.conflicts), (5, 0));
    for i in 0..5 {
        creator
            .upsert_node(&label, format!("n{i}"), [("v", 2.into()), ("w", 3.into())])
            .unwrap();
    }
    // Changed properties: written, as an upsert's update on every backend.
    let report = creator.flush();
    assert_eq!((report.written, report.conflicts), (5, 0));
    for i in 0..5 {
        creator
            .upsert_node(&label, format!("n{i}"), [("w", 3.into())])
            .unwrap();
    }
    // The values the nodes hold already: conflicts.
    let report = creator.flush();
    assert_eq!((report.written, report.conflicts), (0, 5));
    let mut admin = admin();
    assert_eq!(
        count(
            &mut admin,
            &format!("MATCH (n:{label}) WHERE n.v = 2 AND n.w = 3 RETURN count(n)")
        ),
        5
    );
    assert_eq!(
        count(&mut admin, &format!("MATCH (n:{label}) RETURN count(n)")),
        5
    );
}

#[test]
fn a_row_the_server_refuses_is_isolated_and_the_others_written() {
    // A uniqueness constraint on `email`: the server refuses u3's upsert,
    // which fails the whole transaction (permanent); bisection isolates u3.
    let mut admin = admin();
    let label = label_with_a_taken_email(&mut admin);
    let creator = Neo4jBatchCreator::with_settings(
        config(),
        BatcherSettings::builder()
            .batch_size(6)
            .fallback(Fallback::Bisect)
            .build()
            .unwrap(),
    )
    .unwrap();
    add_users_u3_with_the_taken_email(&creator, &label, 6);
    let report = creator.flush();
    assert_eq!(report.written, 5);
    assert_eq!(report.failed.len(), 1);
    let failed = &report.failed[0];
    assert!(matches!(&failed.item, GraphItem::Node(n) if n.id == "u3"));
    let error = failed.error.sink_error().expect("a server error");
    assert!(matches!(error, Neo4jError::Server { .. }), "{error}");
    assert!(!batch_core::SinkError::is_retriable(error));
    assert_eq!(creator.get_stats()["total_fallbacks"], 1);
    assert_eq!(
        count(&mut admin, &format!("MATCH (n:{label}) RETURN count(n)")),
        6
    );
}

#[test]
fn the_apoc_path_is_probed_once_and_counts_like_the_manual_one() {
    // The test server has APOC Core (`cargo xtask services` puts it in
    // Neo4j's plugins): without it this test would check the grouped MERGE
    // twice and the APOC path never.
    let mut admin = admin();
    let apoc = count(
        &mut admin,
        "SHOW PROCEDURES YIELD name WHERE name = 'apoc.merge.relationship' RETURN count(*)",
    );
    assert_eq!(apoc, 1, "the test server has no apoc.merge.relationship");
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    make_nodes(&doc, &chunk, 2, 40);
    let graph = config().labels(&doc, &chunk).unwrap().try_apoc(true);
    for (round, expected) in [(0, (40, 0)), (1, (0, 40))] {
        let creator = Neo4jBatchCreator::new(graph.clone(), 20).unwrap();
        add_rels(&creator, 40, 2);
        let report = creator.close(Duration::from_secs(60));
        assert!(report.is_complete(), "round {round}: {:?}", report.failed);
        assert_eq!(
            (report.written, report.conflicts),
            expected,
            "round {round}"
        );
    }
    let n = count(
        &mut admin,
        &format!("MATCH (:{doc})-[r]->(:{chunk}) RETURN count(r)"),
    );
    assert_eq!(n, 40);
    let markers = count(
        &mut admin,
        &format!(
            "MATCH (:{doc})-[r]->(:{chunk}) WHERE r._uds3_batch_created IS NOT NULL RETURN count(r)"
        ),
    );
    assert_eq!(markers, 0);
}

fn kinds(outcomes: Vec<ItemOutcome<Neo4jError>>) -> Vec<&'static str> {
    outcomes
        .into_iter()
        .map(|o| match o {
            ItemOutcome::Written => "written",
            ItemOutcome::Conflict => "conflict",
            ItemOutcome::Failed(e) => panic!("failed: {e}"),
        })
        .collect()
}

#[test]
fn a_replay_counts_every_element_it_merges_as_written_a_write_only_changed_ones() {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    make_nodes(&doc, &chunk, 1, 2);
    for (apoc, rel_type) in [(false, "MANUAL"), (true, "VIA_APOC")] {
        let graph = config().labels(&doc, &chunk).unwrap().try_apoc(apoc);
        let mut sink = Neo4jSink::connect(graph).unwrap();
        let rel = |to: &str, order: i64| {
            GraphItem::Relationship(Box::new(RelationshipItem {
                from_label: doc.clone(),
                from_id: "doc_0".into(),
                to_label: chunk.clone(),
                to_id: to.into(),
                rel_type: rel_type.into(),
                properties: [("order".to_owned(), order.into())].into_iter().collect(),
            }))
        };
        let items = [rel("chunk_0", 1), rel("chunk_1", 1)];
        assert_eq!(kinds(sink.write_batch(&items).unwrap()), ["written"; 2]);
        // What a lost commit stored is this batch's own: written.
        assert_eq!(kinds(sink.replay_batch(&items).unwrap()), ["written"; 2]);
        // Other content is changed by the replay: written, as off replays.
        assert_eq!(
            kinds(sink.replay_batch(&[rel("chunk_0", 2)]).unwrap()),
            ["written"]
        );
        // Off replays the element holding the item's values is a conflict.
        assert_eq!(
            kinds(sink.write_batch(&items).unwrap()),
            ["written", "conflict"]
        );
        assert_eq!(kinds(sink.write_batch(&items).unwrap()), ["conflict"; 2]);
    }
    let label = unique("Node");
    let mut sink = Neo4jSink::connect(config()).unwrap();
    let node = |v: i64| {
        GraphItem::Node(Box::new(NodeItem {
            label: label.clone(),
            id: "n0".into(),
            properties: [("v".to_owned(), v.into())].into_iter().collect(),
        }))
    };
    assert_eq!(kinds(sink.write_batch(&[node(1)]).unwrap()), ["written"]);
    assert_eq!(kinds(sink.replay_batch(&[node(1)]).unwrap()), ["written"]);
    assert_eq!(kinds(sink.replay_batch(&[node(2)]).unwrap()), ["written"]);
    assert_eq!(kinds(sink.write_batch(&[node(2)]).unwrap()), ["conflict"]);
    let mut admin = admin();
    assert_eq!(
        count(&mut admin, &format!("MATCH (n:{label}) RETURN count(n)")),
        1
    );
    assert_eq!(
        count(
            &mut admin,
            &format!("MATCH (:{doc})-[r]->(:{chunk}) RETURN count(r)")
        ),
        4
    );
}
