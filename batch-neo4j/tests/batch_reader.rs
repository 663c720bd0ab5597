//! `Neo4jBatchReader` against the real server: nodes found, missing and
//! asked twice, in chunks; their properties read back; a bad label refused
//! before any round trip; a server that is not there.

mod common;

// Found, missing and duplicate ids in chunks, many ids, an empty id:
// the conformance kit's reader contract (`test_support::kit::reading`).
test_support::batch_reader_contract!(common::Neo4j);

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
