//! `DocumentIngest` against the four real servers: 200 documents, each a
//! row, a body, two vectors, three nodes and two relationships; verdicts
//! built from what the batchers hand back; verify and repair through the
//! batch readers; every part stored once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use test_support::test_servers::{self, Service};
use uds3_batch::batch_core::RetryPolicy;
use uds3_batch::chroma::{ChromaRecord, MetadataValue, metadata};
use uds3_batch::couch::serde_json::json;
use uds3_batch::neo4j::{Neo4jSink, Properties, PropertyValue};
use uds3_batch::postgres::{Connector, DocumentRow, TableName};
use uds3_batch::{
    BatcherSettings, DocumentIngest, ErrorClass, Part, Store, Uds3Document, Uds3Stores,
};

const DOCS: usize = 200;
const CLOSE: Duration = Duration::from_secs(120);

struct World {
    stores: Uds3Stores,
    doc_label: String,
    chunk_label: String,
}

fn world(label: &str, couch_timeout: Duration) -> World {
    let unique = test_servers::unique_name(label);
    let postgres = common::postgres();
    let table = TableName::new(unique.clone()).expect("table");
    let couch = common::couch(&unique, couch_timeout);
    let chroma = common::collection(&unique);
    let neo4j = common::graph();
    let tag = unique.replace('-', "_");
    World {
        stores: Uds3Stores::new(postgres, table, couch, chroma, neo4j),
        doc_label: format!("D_{tag}"),
        chunk_label: format!("C_{tag}"),
    }
}

/// Document `i` as it should be stored.
fn document(world: &World, i: usize) -> Uds3Document {
    let id = format!("doc-{i}");
    let mut doc = Uds3Document::new(&id)
        .row(DocumentRow::new(
            &id,
            format!("/corpus/{i}.txt"),
            "judgment",
            100,
            3,
        ))
        .body(json!({"title": format!("Urteil {i}"), "n": i}))
        .node(
            &world.doc_label,
            &id,
            Properties::from([("n".to_owned(), PropertyValue::Int(i as i64))]),
        );
    for c in 0..2 {
        let chunk = format!("{id}#{c}");
        doc = doc
            .chunk(ChromaRecord::new(
                &chunk,
                vec![i as f32, c as f32, 0.5, 0.25],
                metadata([
                    ("doc_id", id.clone().into()),
                    ("chunk", MetadataValue::Int(c)),
                ]),
            ))
            .node(&world.chunk_label, &chunk, Properties::new())
            .relationship(
                (&world.doc_label, &id),
                "HAS_CHUNK",
                (&world.chunk_label, &chunk),
            );
    }
    doc
}

fn settings(retry: RetryPolicy) -> BatcherSettings {
    BatcherSettings::builder()
        .name("ingest-test")
        .batch_size(20)
        .retry(retry)
        .build()
        .expect("settings")
}

/// Every part of every document is on its server, once.
fn assert_all_stored_once(world: &World) {
    let mut pg = Connector::from_url(&test_servers::require(Service::Postgres))
        .expect("pg")
        .connect()
        .expect("connect");
    let rows: i64 = pg
        .query_one(
            &format!("SELECT count(*) FROM {}", world.stores.table.quoted()),
            &[],
        )
        .expect("count")
        .get(0);
    assert_eq!(rows, DOCS as i64);
    assert_eq!(world.stores.couch.doc_count().expect("count"), DOCS as u64);
    assert_eq!(world.stores.chroma.count().expect("count"), 2 * DOCS as u64);
    let mut graph = Neo4jSink::connect(world.stores.neo4j.clone()).expect("graph");
    let count = |graph: &mut Neo4jSink, cypher: String| match graph
        .run_cypher(&cypher, &Properties::new())
        .expect("count")
        .first()
        .and_then(|r| r.first().cloned())
    {
        Some(Some(PropertyValue::Int(n))) => n,
        other => panic!("{cypher}: {other:?}"),
    };
    let (d, c) = (&world.doc_label, &world.chunk_label);
    assert_eq!(
        count(&mut graph, format!("MATCH (n:{d}) RETURN count(n)")),
        DOCS as i64
    );
    assert_eq!(
        count(&mut graph, format!("MATCH (n:{c}) RETURN count(n)")),
        2 * DOCS as i64
    );
    assert_eq!(
        count(
            &mut graph,
            format!("MATCH (:{d})-[r:HAS_CHUNK]->(:{c}) RETURN count(r)")
        ),
        2 * DOCS as i64
    );
}

#[test]
fn refused_parts_make_exactly_their_documents_incomplete_and_repair_completes_them() {
    let world = world("ingest-bad", Duration::from_secs(30));
    let ingest =
        DocumentIngest::new(world.stores.clone(), settings(RetryPolicy::default())).expect("start");
    // Every 25th document carries a vector Chroma cannot store.
    let broken = |i: usize| i % 25 == 7;
    for i in 0..DOCS {
        let mut doc = document(&world, i);
        if broken(i) {
            doc.chunks[1].embedding[0] = f32::NAN;
        }
        ingest.add(doc);
    }
    let verdicts = ingest.flush();
    assert_eq!(verdicts.documents.len(), DOCS, "each document judged once");
    assert_eq!(verdicts.complete(), DOCS - 8);
    let incomplete: Vec<&str> = verdicts
        .incomplete()
        .map(|d| d.document_id.as_str())
        .collect();
    let expected: Vec<String> = (0..DOCS)
        .filter(|&i| broken(i))
        .map(|i| format!("doc-{i}"))
        .collect();
    assert_eq!(incomplete, expected);
    for judged in verdicts.incomplete() {
        let [failure] = judged.failures() else {
            panic!("one failed part: {judged:?}");
        };
        assert_eq!(failure.store(), Store::Chroma);
        assert_eq!(
            failure.part,
            Part::Chunk {
                id: format!("{}#1", judged.document_id)
            }
        );
        assert_eq!(failure.class, None, "refused before any request");
        assert!(failure.error.contains("not finite"), "{}", failure.error);
    }

    let ids: Vec<String> = (0..DOCS)
        .map(|i| format!("doc-{i}"))
        .chain(["nobody".to_owned()])
        .collect();
    let source = |id: &str| {
        let i: usize = id.strip_prefix("doc-")?.parse().ok()?;
        Some(document(&world, i))
    };
    let report = ingest.verify(&ids, source).expect("verify");
    assert_eq!(report.checked, DOCS);
    assert_eq!(report.unknown, ["nobody"]);
    let missing: Vec<(&str, &[Part])> = report
        .missing
        .iter()
        .map(|m| (m.document_id.as_str(), m.parts.as_slice()))
        .collect();
    assert_eq!(missing.len(), 8);
    for (document_id, parts) in missing {
        assert_eq!(
            parts,
            [Part::Chunk {
                id: format!("{document_id}#1")
            }]
        );
    }
    let repair = ingest.repair(&report, source);
    assert_eq!(repair.fixed.len(), 8, "{:?}", repair.still_incomplete);
    assert!(repair.still_incomplete.is_empty());
    assert!(ingest.verify(&ids, source).expect("verify").is_complete());
    assert!(
        ingest.close(CLOSE).documents.is_empty(),
        "nothing left to judge"
    );
    // Repair sent one vector per broken document, nothing else.
    assert_eq!(ingest.vectors().stats().total_added, 2 * DOCS as u64);
    assert_eq!(ingest.rows().stats().total_added, DOCS as u64);
    assert_all_stored_once(&world);
}

#[test]
fn a_paused_store_fails_its_parts_and_verify_and_repair_finish_the_job() {
    let _one = test_servers::one_restart_at_a_time();
    let world = world("ingest-paused", Duration::from_secs(1));
    let retry = RetryPolicy::new(
        2,
        Duration::from_millis(50),
        Duration::from_millis(100),
        Duration::from_secs(1),
    )
    .expect("policy");
    let ingest = DocumentIngest::new(world.stores.clone(), settings(retry)).expect("start");
    for i in 0..60 {
        ingest.add(document(&world, i));
    }
    let early = ingest.flush();
    assert!(early.all_complete(), "{:?}", early.incomplete().next());
    let paused = test_servers::pause(Service::Couch);
    for i in 60..140 {
        ingest.add(document(&world, i));
    }
    std::thread::sleep(Duration::from_secs(5));
    paused.resume();
    for i in 140..DOCS {
        ingest.add(document(&world, i));
    }
    let verdicts = ingest.flush();
    assert_eq!(verdicts.documents.len(), DOCS - 60);
    let incomplete: BTreeMap<String, Vec<ErrorClass>> = verdicts
        .incomplete()
        .map(|d| {
            for failure in d.failures() {
                assert_eq!(
                    failure.store(),
                    Store::Couch,
                    "only CouchDB was paused: {failure:?}"
                );
                assert_eq!(
                    failure.part,
                    Part::Body {
                        id: d.document_id.clone()
                    }
                );
            }
            (
                d.document_id.clone(),
                d.failures().iter().filter_map(|f| f.class).collect(),
            )
        })
        .collect();
    assert!(!incomplete.is_empty(), "the pause failed some bodies");
    assert!(
        incomplete.keys().all(|id| {
            let i: usize = id.trim_start_matches("doc-").parse().unwrap_or(0);
            (60..140).contains(&i)
        }),
        "only documents added during the pause: {:?}",
        incomplete.keys()
    );

    // Let the resumed server finish what it had read before the client
    // gave up; then the stores are the truth.
    std::thread::sleep(Duration::from_secs(2));
    let ids: Vec<String> = (0..DOCS).map(|i| format!("doc-{i}")).collect();
    let source = |id: &str| {
        let i: usize = id.strip_prefix("doc-")?.parse().ok()?;
        Some(document(&world, i))
    };
    let report = ingest.verify(&ids, source).expect("verify");
    let missing: BTreeSet<&str> = report
        .missing
        .iter()
        .map(|m| m.document_id.as_str())
        .collect();
    for id in &missing {
        assert!(
            incomplete.contains_key(*id),
            "{id} is missing but was judged complete"
        );
    }
    for (id, classes) in &incomplete {
        if !missing.contains(id.as_str()) {
            assert!(
                classes.iter().all(|c| *c == ErrorClass::OutcomeUnknown),
                "{id} failed for certain ({classes:?}) yet is stored"
            );
        }
    }
    for m in &report.missing {
        assert_eq!(
            m.parts,
            [Part::Body {
                id: m.document_id.clone()
            }]
        );
    }
    eprintln!(
        "paused CouchDB: {} documents judged incomplete, {} found missing after the resume",
        incomplete.len(),
        missing.len()
    );
    let repair = ingest.repair(&report, source);
    assert_eq!(
        repair.fixed.len(),
        report.missing.len(),
        "{:?}",
        repair.still_incomplete
    );
    assert!(ingest.verify(&ids, source).expect("verify").is_complete());
    assert!(
        ingest.close(CLOSE).documents.is_empty(),
        "nothing left to judge"
    );
    assert_all_stored_once(&world);
}

#[test]
fn parts_a_batcher_still_holds_when_close_gives_up_are_not_called_arrived() {
    let _one = test_servers::one_restart_at_a_time();
    let world = world("ingest-close", Duration::from_secs(60));
    let ingest =
        DocumentIngest::new(world.stores.clone(), settings(RetryPolicy::default())).expect("start");
    for i in 0..20 {
        ingest.add(document(&world, i));
    }
    assert!(ingest.flush().all_complete());
    let paused = test_servers::pause(Service::Couch);
    for i in 20..30 {
        ingest.add(document(&world, i));
    }
    let verdicts = ingest.close(Duration::from_secs(1));
    drop(paused);
    assert_eq!(
        verdicts.documents.len(),
        10,
        "the ten added since the flush"
    );
    for judged in &verdicts.documents {
        let [failure] = judged.failures() else {
            panic!("only the body is in doubt: {judged:?}");
        };
        assert_eq!(
            failure.part,
            Part::Body {
                id: judged.document_id.clone()
            }
        );
        assert_eq!(
            failure.class,
            Some(ErrorClass::OutcomeUnknown),
            "{failure:?}"
        );
        assert!(failure.error.contains("close gave up"), "{}", failure.error);
    }
}
