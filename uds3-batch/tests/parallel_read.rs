//! `ParallelBatchReader` against the four real servers: each store's
//! found and missing ids exactly, a store that is down failing alone, and
//! the parallel read answering as the same reads in sequence do.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use test_support::test_servers;
use uds3_batch::ParallelBatchReader;
use uds3_batch::batch_core::RetryPolicy;
use uds3_batch::batch_core::read::ReadError;
use uds3_batch::chroma::{ChromaBatchInserter, ChromaDBBatchReader, Collection, metadata};
use uds3_batch::couch::serde_json::json;
use uds3_batch::couch::{CouchDBBatchInserter, CouchDBBatchReader, CouchDatabase};
use uds3_batch::neo4j::{Neo4jBatchCreator, Neo4jBatchReader, Neo4jConfig, NodesByLabel};
use uds3_batch::postgres::{
    Connector, DocumentRow, DocumentsTable, PostgreSQLBatchInserter, PostgreSQLBatchReader,
    TableName,
};

const CLOSE: Duration = Duration::from_secs(60);

struct Stores {
    table: TableName,
    couch: CouchDatabase,
    collection: Collection,
    graph: Neo4jConfig,
    label: String,
}

fn pg() -> Connector {
    common::postgres()
}

/// Every store holds `d0..d9`; PostgreSQL also `d10`, CouchDB `d11`,
/// Chroma `d12`, Neo4j `d13`.
fn seeded() -> Stores {
    let unique = test_servers::unique_name("par");
    let table = TableName::new(unique.clone()).expect("table");
    let couch = common::couch(&unique, Duration::from_secs(60));
    couch.create_if_missing().expect("create");
    let collection = common::collection(&unique);
    let graph = common::graph();
    let label = format!("Doc_{}", unique.replace('-', "_"));
    let ids = |extra: usize| (0..10).chain([extra]).map(|i| format!("d{i}"));

    let settings = uds3_batch::BatcherSettings::builder()
        .batch_size(100)
        .build()
        .expect("settings");
    let rows = PostgreSQLBatchInserter::with_table(pg(), table.clone(), settings).expect("rows");
    rows.ensure_schema().expect("schema");
    for id in ids(10) {
        rows.add(DocumentRow::new(id.clone(), format!("/{id}"), "law", 1, 1))
            .expect("row");
    }
    let docs = CouchDBBatchInserter::new(couch.clone(), 100).expect("docs");
    for id in ids(11) {
        docs.add(json!({"n": 1}), Some(&id)).expect("doc");
    }
    let vectors = ChromaBatchInserter::new(collection.clone(), 100).expect("vectors");
    for id in ids(12) {
        vectors
            .add(id, vec![0.5, 0.25], metadata([("k", 1.into())]))
            .expect("vector");
    }
    let nodes = Neo4jBatchCreator::new(graph.clone(), 100).expect("nodes");
    for id in ids(13) {
        nodes.upsert_node(&label, id, []).expect("node");
    }
    for written in [
        rows.close(CLOSE).written,
        docs.close(CLOSE).written,
        vectors.close(CLOSE).written,
        nodes.close(CLOSE).written,
    ] {
        assert_eq!(written, 11);
    }
    Stores {
        table,
        couch,
        collection,
        graph,
        label,
    }
}

fn reader(stores: &Stores) -> ParallelBatchReader {
    ParallelBatchReader::new()
        .postgres(PostgreSQLBatchReader::new(DocumentsTable::new(
            pg(),
            stores.table.clone(),
        )))
        .couch(CouchDBBatchReader::new(stores.couch.clone()))
        .chroma(ChromaDBBatchReader::new(stores.collection.clone()))
        .neo4j(Neo4jBatchReader::new(
            NodesByLabel::new(stores.graph.clone(), &stores.label).expect("label"),
        ))
}

fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

/// The ids `d10..d14` but `d{holds}`: what a store seeded with it misses.
fn missing_but(holds: usize) -> BTreeSet<String> {
    (10..15)
        .filter(|&i| i != holds)
        .map(|i| format!("d{i}"))
        .collect()
}

/// A store's answer, asserting it was asked and answered.
fn answered<T, E: std::fmt::Debug>(read: Option<Result<T, E>>) -> T {
    read.expect("asked").expect("answered")
}

#[test]
fn each_store_answers_with_exactly_what_it_holds() {
    let stores = seeded();
    let reader = reader(&stores);
    let ids: Vec<String> = (0..15).map(|i| format!("d{i}")).collect();
    for reads in [reader.get_many(&ids), reader.get_many_in_sequence(&ids)] {
        assert!(reads.all_answered());
        let pg = answered(reads.postgres);
        assert_eq!(set(&pg.missing), missing_but(10));
        assert_eq!(pg.get("d10").map(|r| r.file_path.as_str()), Some("/d10"));
        let couch = answered(reads.couch);
        assert_eq!(set(&couch.missing), missing_but(11));
        assert_eq!(couch.get("d11").map(|d| d["n"].clone()), Some(json!(1)));
        let chroma = answered(reads.chroma);
        assert_eq!(set(&chroma.missing), missing_but(12));
        let embedding = chroma.get("d12").map(|r| r.embedding.clone());
        assert_eq!(embedding, Some(vec![0.5, 0.25]));
        let neo4j = answered(reads.neo4j);
        assert_eq!(set(&neo4j.missing), missing_but(13));
        assert_eq!(neo4j.found.len(), 11);
    }
    let exists = reader.exists_many(&ids);
    assert_eq!(answered(exists.postgres).found.len(), 11);
    assert_eq!(answered(exists.neo4j).found.len(), 11);
}

#[test]
fn a_store_that_is_down_fails_alone() {
    let stores = seeded();
    let gone = CouchDatabase::with_timeout("http://127.0.0.1:9", "gone", Duration::from_secs(2))
        .expect("url");
    let retry = RetryPolicy::new(
        2,
        Duration::from_millis(5),
        Duration::from_millis(10),
        Duration::from_secs(5),
    )
    .expect("policy");
    let reader = reader(&stores).couch(CouchDBBatchReader::new(gone).with_retry(retry));
    let reads = reader.get_many(&["d0", "d1", "d99"]);
    assert!(!reads.all_answered());
    let err = reads.couch.expect("asked").unwrap_err();
    assert!(matches!(err, ReadError::Store { attempts: 2, .. }), "{err}");
    for missing in [
        answered(reads.postgres).missing,
        answered(reads.chroma).missing,
        answered(reads.neo4j).missing,
    ] {
        assert_eq!(missing, ["d99"]);
    }
}

#[test]
fn the_async_read_answers_as_the_sync_one_from_a_single_threaded_runtime() {
    let stores = seeded();
    let reader = reader(&stores);
    let ids: Vec<String> = (0..15).map(|i| format!("d{i}")).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (reads, exists) = runtime.block_on(async {
        (
            reader.get_many_async(&ids).await,
            reader.exists_many_async(&ids).await,
        )
    });
    let sync = reader.get_many(&ids);
    fn missing<T, E>(read: &uds3_batch::StoreRead<T, E>) -> Option<Option<Vec<String>>> {
        read.as_ref()
            .map(|l| l.as_ref().map(|l| l.missing.clone()).ok())
    }
    let missing = |r: &uds3_batch::DocumentReads| {
        let (pg, couch) = (missing(&r.postgres), missing(&r.couch));
        (pg, couch, missing(&r.chroma), missing(&r.neo4j))
    };
    assert!(reads.all_answered() && exists.all_answered());
    assert_eq!(missing(&reads), missing(&sync));
    let embedding = answered(reads.chroma)
        .get("d12")
        .map(|r| r.embedding.clone());
    assert_eq!(embedding, Some(vec![0.5, 0.25]));
    assert_eq!(answered(exists.neo4j).found.len(), 11);
}
