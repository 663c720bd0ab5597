//! `Neo4jBatchReader` against the real server: nodes found, missing and
//! asked twice, in chunks; their properties read back; a bad label refused
//! before any round trip; a server that is not there.

mod common;

use std::time::Duration;

use batch_core::RetryPolicy;
use batch_core::read::{BatchReader, ReadError};
use batch_neo4j::{
    Neo4jBatchCreator, Neo4jBatchReader, Neo4jConfig, NodesByLabel, PropertyValue,
    RelationshipsByType,
};
use common::{config, unique};

fn seed(label: &str, n: usize) {
    let creator = Neo4jBatchCreator::new(config(), 500).expect("creator");
    for i in 0..n {
        creator
            .upsert_node(
                label,
                format!("n{i}"),
                [
                    ("title", PropertyValue::from(format!("node {i}"))),
                    ("rank", PropertyValue::from(i as i64)),
                ],
            )
            .expect("valid node");
    }
    let report = creator.close(Duration::from_secs(60));
    assert_eq!(report.written, n as u64, "{:?}", report.failed.first());
}

#[test]
fn found_missing_and_duplicate_ids_in_chunks() {
    let label = unique("Read");
    seed(&label, 30);
    let reader = Neo4jBatchReader::new(NodesByLabel::new(config(), &label).expect("label"))
        .with_chunk_size(7)
        .expect("chunk size");
    let mut ids: Vec<String> = (20..35).map(|i| format!("n{i}")).collect();
    ids.extend((0..5).map(|i| format!("absent-{i}")));
    ids.extend(["n20", "absent-1", "n34"].map(String::from));
    let nodes = reader.get_many(&ids).expect("read");
    assert_eq!(nodes.found.len(), 10, "n20..n29 are stored");
    for i in 20..30 {
        let props = nodes.get(&format!("n{i}")).expect("found");
        assert_eq!(
            props.get("title"),
            Some(&PropertyValue::from(format!("node {i}")))
        );
        assert_eq!(props.get("rank"), Some(&PropertyValue::Int(i as i64)));
        assert!(
            !props.contains_key("id"),
            "id is the key, not a property: {props:?}"
        );
        assert_eq!(props.len(), 2, "{props:?}");
    }
    let mut missing: Vec<String> = (30..35).map(|i| format!("n{i}")).collect();
    missing.extend((0..5).map(|i| format!("absent-{i}")));
    assert_eq!(nodes.missing, missing, "each once, in the order asked");
    assert_eq!(nodes.requests, 3, "20 distinct ids, 7 per request");

    let exists = reader.exists_many(&ids).expect("exists");
    assert_eq!(exists.found.len(), 10);
    assert_eq!(exists.missing, missing);
}

#[test]
fn more_ids_than_one_request_takes_go_in_several() {
    let label = unique("Many");
    seed(&label, 1200);
    let ids: Vec<String> = (0..2500).map(|i| format!("n{i}")).collect();
    let reader = Neo4jBatchReader::new(NodesByLabel::new(config(), &label).expect("label"));
    let exists = reader.exists_many(&ids).expect("exists");
    assert_eq!(exists.found.len(), 1200);
    assert_eq!(exists.missing.len(), 1300);
    assert_eq!(exists.requests, 3, "1000 ids per request");
}

#[test]
fn a_label_that_is_not_an_identifier_is_refused_before_any_round_trip() {
    let err = NodesByLabel::new(config(), "Doc`) DETACH DELETE (x").unwrap_err();
    assert!(err.to_string().contains("label"), "{err}");
}

#[test]
fn a_server_that_is_not_there_is_a_clear_error_after_the_retries() {
    let gone = Neo4jConfig::new("bolt://127.0.0.1:9", "neo4j", "secret")
        .expect("valid URI")
        .timeout(Duration::from_secs(2));
    let retry = RetryPolicy::new(
        2,
        Duration::from_millis(10),
        Duration::from_millis(20),
        Duration::from_secs(10),
    )
    .expect("policy");
    let reader =
        Neo4jBatchReader::new(NodesByLabel::new(gone, "Doc").expect("label")).with_retry(retry);
    let err = reader.get_many(&["a", "b"]).unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Store {
                attempts: 2,
                ids: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
}

#[test]
fn relationships_are_found_by_their_two_node_ids() {
    let (doc, chunk) = (unique("RDoc"), unique("RChunk"));
    seed(&doc, 2);
    seed(&chunk, 5);
    let creator = Neo4jBatchCreator::new(config(), 100).expect("creator");
    for c in 0..4 {
        creator
            .add_relationship_between(
                (doc.as_str(), "n0"),
                (chunk.as_str(), format!("n{c}").as_str()),
                "HAS_CHUNK",
                [],
            )
            .expect("valid relationship");
    }
    assert_eq!(creator.close(Duration::from_secs(60)).written, 4);
    let rels = RelationshipsByType::new(config(), &doc, "HAS_CHUNK", &chunk).expect("names");
    let reader = BatchReader::new(rels);
    let pairs: Vec<String> = (0..5)
        .map(|c| RelationshipsByType::pair("n0", &format!("n{c}")))
        .chain([RelationshipsByType::pair("n1", "n0")])
        .collect();
    let found = reader.exists_many(&pairs).expect("exists");
    assert_eq!(found.found.len(), 4);
    assert_eq!(
        found.missing,
        [
            RelationshipsByType::pair("n0", "n4"),
            RelationshipsByType::pair("n1", "n0")
        ]
    );
    let err = reader.exists_many(&["n0"]).unwrap_err();
    assert!(
        matches!(err, ReadError::InvalidId { index: 0, .. }),
        "{err}"
    );
}
