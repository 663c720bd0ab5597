//! Relationships against the real Bolt server: grouping, idempotence,
//! missing endpoints, injection, per-row truth, stats.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use batch_core::{BatchError, BatcherSettings, Fallback, ItemOutcome, Sink};
use batch_neo4j::{
    GraphItem, Neo4jBatchCreator, Neo4jConfig, Neo4jError, Neo4jSink, NodeItem, PropertyValue,
    RelationshipItem,
};
use common::{
    add_users_u3_with_the_taken_email, admin, config, count, count_rels, label_with_a_taken_email,
    unique,
};

const TYPES: [&str; 3] = ["HAS_CHUNK", "NEXT_CHUNK", "REFERS_TO"];

fn graph(doc: &str, chunk: &str) -> Neo4jConfig {
    config().labels(doc, chunk).unwrap()
}

/// Creates `docs` Doc nodes and `chunks` Chunk nodes through a creator of their own.
fn make_nodes(doc: &str, chunk: &str, docs: usize, chunks: usize) {
    let nodes = Neo4jBatchCreator::new(graph(doc, chunk), 1000).unwrap();
    nodes.ensure_indexes().unwrap();
    for d in 0..docs {
        let title = format!("Doc {d}");
        nodes
            .upsert_node(doc, format!("doc_{d}"), [("title", title.into())])
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

/// Fresh Doc and Chunk labels with `docs` and `chunks` nodes.
fn doc_and_chunk_labels(docs: usize, chunks: usize) -> (String, String) {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    make_nodes(&doc, &chunk, docs, chunks);
    (doc, chunk)
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

/// Relationships from `doc` to `chunk` nodes on the server, of any type,
/// and how many of them still hold the creation marker.
fn rels_and_markers(admin: &mut Neo4jSink, doc: &str, chunk: &str) -> (i64, i64) {
    let all = format!("MATCH (:{doc})-[r]->(:{chunk})");
    let rels = count(admin, &format!("{all} RETURN count(r)"));
    let markers = count(
        admin,
        &format!("{all} WHERE r._uds3_batch_created IS NOT NULL RETURN count(r)"),
    );
    (rels, markers)
}

fn nodes_of(admin: &mut Neo4jSink, label: &str, filter: &str) -> i64 {
    count(
        admin,
        &format!("MATCH (n:{label}) {filter} RETURN count(n)"),
    )
}

#[test]
fn relationships_2500_across_3_types_take_one_query_per_type_per_batch() {
    let (doc, chunk) = doc_and_chunk_labels(50, 2500);
    let creator = Neo4jBatchCreator::new(graph(&doc, &chunk), 1000).unwrap();
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
    for (key, value) in [
        ("total_created", 2500),
        ("total_batches", 3),
        ("total_fallbacks", 0),
        ("pending", 0),
    ] {
        assert_eq!(stats[key], value, "{key}");
    }

    let mut admin = admin();
    let mut total = 0;
    for (t, rel_type) in TYPES.iter().enumerate() {
        let n = count_rels(&mut admin, &doc, rel_type, &chunk);
        assert_eq!(n, (2500 + 2 - t as i64) / 3, "{rel_type}");
        total += n;
    }
    // Stats equal what the server holds (these labels are this test's own),
    // and no marker is left behind.
    assert_eq!(rels_and_markers(&mut admin, &doc, &chunk), (2500, 0));
    assert_eq!(total, 2500);

    // Properties arrived with their types.
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
}

#[test]
fn rerunning_creates_no_duplicates_and_counts_conflicts() {
    let (doc, chunk) = doc_and_chunk_labels(10, 300);
    for (run, expected) in [("first", (300, 0)), ("again", (0, 301))] {
        let creator = Neo4jBatchCreator::new(graph(&doc, &chunk), 100).unwrap();
        add_rels(&creator, 300, 10);
        if run == "again" {
            // The same relationship twice within one batch is one row: one
            // conflict. `[]`: no properties.
            creator
                .add_relationship("doc_0", "chunk_0", "HAS_CHUNK", [])
                .unwrap();
        }
        let report = creator.close(Duration::from_secs(60));
        assert!(report.is_complete(), "{run}: {:?}", report.failed);
        assert_eq!((report.written, report.conflicts), expected, "{run}");
        let stats = creator.get_stats();
        let counted = (stats["total_created"], stats["total_conflicts"]);
        assert_eq!(counted, expected, "{run}");
    }
    assert_eq!(rels_and_markers(&mut admin(), &doc, &chunk).0, 300);
}

#[test]
fn a_row_with_a_missing_endpoint_is_handed_back_and_the_others_written() {
    let (doc, chunk) = doc_and_chunk_labels(1, 9);
    let creator = Neo4jBatchCreator::new(graph(&doc, &chunk), 100).unwrap();
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
    assert_eq!(count_rels(&mut admin(), &doc, "HAS_CHUNK", &chunk), 9);
}

#[test]
fn injection_in_rel_type_or_label_is_refused_before_any_round_trip() {
    let creator = Neo4jBatchCreator::new(config(), 10).unwrap();
    let k = || [("k", PropertyValue::from(1))];
    let mixed = PropertyValue::List(vec![1.into(), "a".into()]);
    // (case, the add's result, what the `Invalid` message names; "": any).
    let mut cases = vec![];
    for bad in [
        "HAS_CHUNK]->() WITH a MATCH (n) DETACH DELETE n //",
        "X` DETACH DELETE a //",
        "HAS CHUNK",
        "",
    ] {
        let added = creator.add_relationship("a", "b", bad, k());
        cases.push((format!("type {bad:?}"), added, "relationship type"));
    }
    let from = ("Doc`) DETACH DELETE a //", "a");
    let added = creator.add_relationship_between(from, ("Chunk", "b"), "T", k());
    cases.push(("label".into(), added, "label"));
    let added = creator.upsert_node("Doc", "", k());
    cases.push(("empty id".into(), added, ""));
    let added = creator.upsert_node("Doc", "x", [("id", "other".into())]);
    cases.push(("id property".into(), added, "reserved"));
    let added = creator.add_relationship("a", "b", "T", [("k", mixed)]);
    cases.push(("mixed list".into(), added, ""));
    for (case, added, names) in cases {
        let failed = added.expect_err(&case);
        assert!(
            matches!(&failed.error, BatchError::Invalid(m) if m.contains(names)),
            "{case}: {:?}",
            failed.error
        );
    }

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
    // New nodes, then changed properties (written, as an upsert's update on
    // every backend), then the values the nodes hold already (conflicts).
    let rounds: [(&str, &[(&str, i64)], _); 3] = [
        ("new", &[("v", 1)], (5, 0)),
        ("changed", &[("v", 2), ("w", 3)], (5, 0)),
        ("unchanged", &[("w", 3)], (0, 5)),
    ];
    for (round, properties, expected) in rounds {
        for i in 0..5 {
            let properties = properties.iter().map(|&(k, v)| (k, v.into()));
            creator
                .upsert_node(&label, format!("n{i}"), properties)
                .unwrap();
        }
        let report = creator.flush();
        assert_eq!((report.written, report.conflicts), expected, "{round}");
    }
    let mut admin = admin();
    assert_eq!(nodes_of(&mut admin, &label, "WHERE n.v = 2 AND n.w = 3"), 5);
    assert_eq!(nodes_of(&mut admin, &label, ""), 5);
}

#[test]
fn a_row_the_server_refuses_is_isolated_and_the_others_written() {
    // A uniqueness constraint on `email`: the server refuses u3's upsert,
    // which fails the whole transaction (permanent); bisection isolates u3.
    let mut admin = admin();
    let label = label_with_a_taken_email(&mut admin);
    let settings = BatcherSettings::builder()
        .batch_size(6)
        .fallback(Fallback::Bisect)
        .build()
        .unwrap();
    let creator = Neo4jBatchCreator::with_settings(config(), settings).unwrap();
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
    assert_eq!(nodes_of(&mut admin, &label, ""), 6);
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
    let (doc, chunk) = doc_and_chunk_labels(2, 40);
    for (round, expected) in [(0, (40, 0)), (1, (0, 40))] {
        let creator = Neo4jBatchCreator::new(graph(&doc, &chunk).try_apoc(true), 20).unwrap();
        add_rels(&creator, 40, 2);
        let report = creator.close(Duration::from_secs(60));
        assert!(report.is_complete(), "round {round}: {:?}", report.failed);
        let counted = (report.written, report.conflicts);
        assert_eq!(counted, expected, "round {round}");
    }
    assert_eq!(rels_and_markers(&mut admin, &doc, &chunk), (40, 0));
}

/// What `sink` made of each item, written or (with `replay`) replayed.
fn kinds(sink: &mut Neo4jSink, items: &[GraphItem], replay: bool) -> Vec<&'static str> {
    let outcomes = if replay {
        sink.replay_batch(items)
    } else {
        sink.write_batch(items)
    };
    outcomes
        .unwrap()
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
    let (doc, chunk) = doc_and_chunk_labels(1, 2);
    for (apoc, rel_type) in [(false, "MANUAL"), (true, "VIA_APOC")] {
        let mut sink = Neo4jSink::connect(graph(&doc, &chunk).try_apoc(apoc)).unwrap();
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
        let (both, changed) = ([rel("chunk_0", 1), rel("chunk_1", 1)], [rel("chunk_0", 2)]);
        let steps: [(&str, &[GraphItem], bool, &[&str]); 5] = [
            ("first write", &both, false, &["written"; 2]),
            // What a lost commit stored is this batch's own: written.
            ("replay of the same", &both, true, &["written"; 2]),
            // Other content is changed by the replay: written, as off replays.
            ("replay of other content", &changed, true, &["written"]),
            // Off replays the element holding the item's values is a conflict.
            (
                "write after the change",
                &both,
                false,
                &["written", "conflict"],
            ),
            ("write again", &both, false, &["conflict"; 2]),
        ];
        for (step, items, replay, expected) in steps {
            assert_eq!(
                kinds(&mut sink, items, replay),
                expected,
                "{rel_type}: {step}"
            );
        }
    }
    let label = unique("Node");
    let mut sink = Neo4jSink::connect(config()).unwrap();
    for (v, replay, expected) in [
        (1, false, "written"),
        (1, true, "written"),
        (2, true, "written"),
        (2, false, "conflict"),
    ] {
        let node = [GraphItem::Node(Box::new(NodeItem {
            label: label.clone(),
            id: "n0".into(),
            properties: [("v".to_owned(), v.into())].into_iter().collect(),
        }))];
        assert_eq!(
            kinds(&mut sink, &node, replay),
            [expected],
            "v {v}, replay {replay}"
        );
    }
    let mut admin = admin();
    assert_eq!(nodes_of(&mut admin, &label, ""), 1);
    assert_eq!(rels_and_markers(&mut admin, &doc, &chunk).0, 4);
}
