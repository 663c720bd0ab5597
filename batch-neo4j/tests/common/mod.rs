//! Shared helpers of the integration tests: server config, unique names, counts.
#![allow(dead_code)]

use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig, Neo4jSink, Properties, PropertyValue};
use xtask::test_servers::{self, Service};

/// The test server from `UDS3_NEO4J_URI`, `UDS3_NEO4J_USER`,
/// `UDS3_NEO4J_PASSWORD` (batch-core's shared defaults); fails the test with
/// the "run `cargo xtask services up`" message when it is not reachable.
pub fn config() -> Neo4jConfig {
    let uri = test_servers::require(Service::Neo4j);
    let endpoints = test_servers::Endpoints::from_env();
    Neo4jConfig::new(&uri, endpoints.neo4j_user, endpoints.neo4j_password)
        .expect("valid test URI")
        .database(Some(test_servers::NEO4J_DATABASE.to_owned()))
}

/// The same server through its TLS front end (`bolt+s`), trusting the test
/// CA alone.
#[cfg(feature = "tls")]
pub fn tls_config() -> Neo4jConfig {
    test_servers::require(Service::Neo4j);
    let tls = test_servers::require_tls(Service::Neo4j);
    let endpoints = test_servers::Endpoints::from_env();
    Neo4jConfig::new(&tls.url, endpoints.neo4j_user, endpoints.neo4j_password)
        .expect("valid test TLS URI")
        .database(Some(test_servers::NEO4J_DATABASE.to_owned()))
        .tls(
            batch_core::tls::TlsSettings::new()
                .public_roots(false)
                .ca_file(tls.ca_file),
        )
}

pub use xtask::test_servers::unique_name as unique;

/// A connection for setup and checks.
pub fn admin() -> Neo4jSink {
    Neo4jSink::connect(config())
        .expect("the Neo4j test server must be running: run `cargo xtask services up neo4j`")
}

/// The first column of the first row of `cypher`, as an integer.
pub fn count(sink: &mut Neo4jSink, cypher: &str) -> i64 {
    let rows = sink.run_cypher(cypher, &Properties::new()).expect(cypher);
    match rows.first().and_then(|r| r.first()) {
        Some(Some(PropertyValue::Int(n))) => *n,
        other => panic!("{cypher} returned {other:?}"),
    }
}

/// Relationships of `rel_type` between the two labels.
pub fn count_rels(sink: &mut Neo4jSink, from: &str, rel_type: &str, to: &str) -> i64 {
    count(
        sink,
        &format!("MATCH (:{from})-[r:{rel_type}]->(:{to}) RETURN count(r)"),
    )
}

/// One `(:doc {id: 'doc_0'})` node and `total` `(:chunk {id: 'chunk_N'})`
/// nodes, for relationship tests between them.
pub fn seed_doc_and_chunks(admin: &mut Neo4jSink, doc: &str, chunk: &str, total: usize) {
    admin
        .run_cypher(
            &format!(
                "UNWIND range(0, {}) AS c CREATE (:{chunk} {{id: 'chunk_' + toString(c)}})",
                total - 1
            ),
            &Properties::new(),
        )
        .expect("seed chunks");
    admin
        .run_cypher(
            &format!("CREATE (:{doc} {{id: 'doc_0'}})"),
            &Properties::new(),
        )
        .expect("seed the document");
}

/// A new label whose nodes must have unique `email`s, with one node
/// holding `x@example.org`: upserting another node with that email is a
/// statement the server refuses.
pub fn label_with_a_taken_email(admin: &mut Neo4jSink) -> String {
    let label = unique("Uniq");
    admin
        .run_cypher(
            &format!("CREATE CONSTRAINT IF NOT EXISTS FOR (n:{label}) REQUIRE n.email IS UNIQUE"),
            &Properties::new(),
        )
        .expect("constraint");
    admin
        .run_cypher(
            &format!("CREATE (:{label} {{id: 'taken', email: 'x@example.org'}})"),
            &Properties::new(),
        )
        .expect("the node holding the email");
    label
}

/// Adds users `u0..u{count}` of `label` to `creator`, each with an email of
/// its own except `u3`, which gets the taken one (see
/// [`label_with_a_taken_email`]).
pub fn add_users_u3_with_the_taken_email(creator: &Neo4jBatchCreator, label: &str, count: usize) {
    for i in 0..count {
        let email = if i == 3 {
            "x@example.org".to_owned()
        } else {
            format!("u{i}@example.org")
        };
        creator
            .upsert_node(label, format!("u{i}"), [("email", email.into())])
            .expect("add");
    }
}
