//! Across a network every round trip costs a batch the network's round
//! trip time, so a batch is sent in two: BEGIN with every statement's RUN
//! and PULL in one write, then COMMIT. Counted by a relay between the
//! creator and the real server (`test_support::relay::Relay::turns`), never timed.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use batch_core::BatcherSettings;
use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig};
use common::{
    add_users_u3_with_the_taken_email, admin, config, count, count_rels, label_with_a_taken_email,
    seed_doc_and_chunks, unique,
};
use test_support::relay::Relay;
use test_support::test_servers;

/// A creator whose connection goes through `relay`.
fn creator_through(relay: &Relay, doc: &str, chunk: &str, batch_size: usize) -> Neo4jBatchCreator {
    let settings = BatcherSettings::builder()
        .batch_size(batch_size)
        .build()
        .unwrap();
    creator_with(relay, doc, chunk, settings)
}

/// A creator with `settings` whose connections go through `relay`.
fn creator_with(
    relay: &Relay,
    doc: &str,
    chunk: &str,
    settings: BatcherSettings,
) -> Neo4jBatchCreator {
    let graph = graph_through(relay).labels(doc, chunk).unwrap();
    Neo4jBatchCreator::with_settings(graph, settings).unwrap()
}

/// The test graph, reached through `relay`.
fn graph_through(relay: &Relay) -> Neo4jConfig {
    let endpoints = test_servers::Endpoints::from_env();
    Neo4jConfig::new(
        &format!("bolt://{}", relay.addr()),
        endpoints.neo4j_user,
        endpoints.neo4j_password,
    )
    .unwrap()
    .database(Some(test_servers::NEO4J_DATABASE.to_owned()))
}

#[test]
fn a_batch_of_nodes_and_relationships_costs_two_round_trips() {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    let mut admin = admin();
    seed_doc_and_chunks(&mut admin, &doc, &chunk, 10);
    let relay = Relay::start(config().addr(), Duration::ZERO).unwrap();
    let creator = creator_through(&relay, &doc, &chunk, 1000);

    // Connected (handshake, HELLO, readiness probe): count from here.
    let before = relay.turns();
    for i in 0..10 {
        creator
            .add_relationship("doc_0", format!("chunk_{i}"), "HAS_CHUNK", [])
            .unwrap();
    }
    // A second statement in the same batch: new chunk nodes.
    for i in 10..15 {
        creator
            .upsert_node(&chunk, format!("chunk_{i}"), [("order", (i as i64).into())])
            .unwrap();
    }
    let report = creator.flush_timeout(Duration::from_secs(60));
    let turns = relay.turns() - before;

    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.written, 15, "{report:?}");
    assert_eq!(count_rels(&mut admin, &doc, "HAS_CHUNK", &chunk), 10);
    assert_eq!(
        count(&mut admin, &format!("MATCH (c:{chunk}) RETURN count(c)")),
        15
    );
    assert_eq!(
        turns, 2,
        "BEGIN, RUN and PULL of both statements in one write, then COMMIT"
    );
    assert_eq!(relay.connections(), 1);
}

#[test]
fn a_statement_the_server_refuses_mid_pipeline_leaves_the_connection_usable() {
    // A uniqueness constraint on `email`: the server answers the RUN of
    // u3's batch with FAILURE and the PULL behind it with IGNORED; the
    // connection is RESET and bisection goes on over the same one.
    let mut admin = admin();
    let label = label_with_a_taken_email(&mut admin);
    let relay = Relay::start(config().addr(), Duration::ZERO).unwrap();
    let creator = creator_through(&relay, "Doc", "Chunk", 4);
    add_users_u3_with_the_taken_email(&creator, &label, 4);
    let report = creator.flush_timeout(Duration::from_secs(60));
    assert_eq!(report.written, 3, "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(
        count(&mut admin, &format!("MATCH (n:{label}) RETURN count(n)")),
        4
    );
    assert_eq!(
        relay.connections(),
        1,
        "the connection survived every FAILURE"
    );
}

#[test]
fn adaptive_siblings_connect_before_their_first_batch() {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    let mut admin = admin();
    seed_doc_and_chunks(&mut admin, &doc, &chunk, 10);
    let relay = Relay::start(config().addr(), Duration::ZERO).unwrap();
    let settings = BatcherSettings::builder()
        .batch_size(10)
        .max_in_flight(4)
        .adaptive_concurrency(true)
        .build()
        .unwrap();
    let creator = creator_with(&relay, &doc, &chunk, settings);
    // Nothing added yet: the three siblings connect as the creator
    // starts (before, each did inside its first batch).
    let ready = relay
        .settle(4, Duration::from_millis(300), Duration::from_secs(30))
        .unwrap_or_else(|seen| {
            panic!("siblings did not connect ahead: {seen:?} (connections, turns)")
        });
    for i in 0..200 {
        creator
            .upsert_node(&chunk, format!("new_{i}"), [("order", (i as i64).into())])
            .unwrap();
    }
    let report = creator.flush_timeout(Duration::from_secs(60));
    assert!(report.failed.is_empty(), "{:?}", report.failed.first());
    assert_eq!(report.written, 200, "{report:?}");
    assert_eq!(
        count(&mut admin, &format!("MATCH (c:{chunk}) RETURN count(c)")),
        210
    );
    assert_eq!(
        relay.turns() - ready,
        40,
        "two round trips a batch, none connecting: {:?}",
        creator.stats()
    );
    assert_eq!(relay.connections(), 4);
}

#[test]
fn a_batch_read_costs_one_round_trip() {
    let label = unique("Read");
    let mut admin = admin();
    admin
        .run_cypher(
            &format!("UNWIND range(0, 9) AS i CREATE (:{label} {{id: 'n' + toString(i)}})"),
            &batch_neo4j::Properties::new(),
        )
        .unwrap();
    let relay = Relay::start(config().addr(), Duration::ZERO).unwrap();
    let graph = graph_through(&relay);
    let reader =
        batch_neo4j::Neo4jBatchReader::new(batch_neo4j::NodesByLabel::new(graph, &label).unwrap());
    let ids: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
    // The first read connects: count from the second.
    assert_eq!(reader.get_many(&ids).unwrap().found.len(), 10);
    let before = relay.turns();
    let nodes = reader.get_many(&ids).unwrap();
    assert_eq!((nodes.found.len(), nodes.missing.len()), (10, 10));
    assert_eq!(relay.turns() - before, 1, "RUN and PULL in one write");
}
