//! Across a network every round trip costs a batch the network's round
//! trip time, so a batch is sent in two: BEGIN with every statement's RUN
//! and PULL in one write, then COMMIT. Counted by a relay between the
//! creator and the real server (`test_support::relay::Relay::turns`), never timed.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use batch_core::{BatcherSettings, BatcherSettingsBuilder};
use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig, Neo4jSink};
use common::{
    add_users_u3_with_the_taken_email, admin, config, config_at, count, count_rels,
    label_with_a_taken_email, seed_doc_and_chunks, unique,
};
use test_support::relay::Relay;
use test_support::test_servers::Endpoints;

/// A relay in front of the test server.
fn relay() -> Relay {
    Relay::start(config().addr(), Duration::ZERO).unwrap()
}

/// The test graph, reached through `relay`.
fn graph_through(relay: &Relay) -> Neo4jConfig {
    let endpoints = Endpoints::from_env();
    let (user, password) = (&endpoints.neo4j_user, &endpoints.neo4j_password);
    config_at(&relay.addr().to_string(), user, password)
}

/// A creator with `settings` whose connections go through `relay`.
fn creator_through(
    relay: &Relay,
    (doc, chunk): (&str, &str),
    settings: BatcherSettingsBuilder,
) -> Neo4jBatchCreator {
    let graph = graph_through(relay).labels(doc, chunk).unwrap();
    Neo4jBatchCreator::with_settings(graph, settings.build().unwrap()).unwrap()
}

/// Fresh Doc and Chunk labels with `doc_0` and `chunk_0..chunk_9`.
fn seeded(admin: &mut Neo4jSink) -> (String, String) {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    seed_doc_and_chunks(admin, &doc, &chunk, 10);
    (doc, chunk)
}

fn nodes_of(admin: &mut Neo4jSink, label: &str) -> i64 {
    count(admin, &format!("MATCH (n:{label}) RETURN count(n)"))
}

#[test]
fn a_batch_of_nodes_and_relationships_costs_two_round_trips() {
    let mut admin = admin();
    let (doc, chunk) = seeded(&mut admin);
    let relay = relay();
    let settings = BatcherSettings::builder().batch_size(1000);
    let creator = creator_through(&relay, (&doc, &chunk), settings);

    // Connected (handshake, HELLO, readiness probe): count from here.
    let before = relay.turns();
    for i in 0..10 {
        creator
            .add_relationship("doc_0", format!("chunk_{i}"), "HAS_CHUNK", [])
            .unwrap();
    }
    // A second statement in the same batch: new chunk nodes.
    for i in 10..15_i64 {
        creator
            .upsert_node(&chunk, format!("chunk_{i}"), [("order", i.into())])
            .unwrap();
    }
    let report = creator.flush_timeout(Duration::from_secs(60));
    let turns = relay.turns() - before;

    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.written, 15, "{report:?}");
    assert_eq!(count_rels(&mut admin, &doc, "HAS_CHUNK", &chunk), 10);
    assert_eq!(nodes_of(&mut admin, &chunk), 15);
    let both = "BEGIN, RUN and PULL of both statements in one write, then COMMIT";
    assert_eq!(turns, 2, "{both}");
    assert_eq!(relay.connections(), 1);
}

#[test]
fn a_statement_the_server_refuses_mid_pipeline_leaves_the_connection_usable() {
    // A uniqueness constraint on `email`: the server answers the RUN of
    // u3's batch with FAILURE and the PULL behind it with IGNORED; the
    // connection is RESET and bisection goes on over the same one.
    let mut admin = admin();
    let label = label_with_a_taken_email(&mut admin);
    let relay = relay();
    let settings = BatcherSettings::builder().batch_size(4);
    let creator = creator_through(&relay, ("Doc", "Chunk"), settings);
    add_users_u3_with_the_taken_email(&creator, &label, 4);
    let report = creator.flush_timeout(Duration::from_secs(60));
    assert_eq!(report.written, 3, "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(nodes_of(&mut admin, &label), 4);
    let survived = "the connection survived every FAILURE";
    assert_eq!(relay.connections(), 1, "{survived}");
}

#[test]
fn adaptive_siblings_connect_before_their_first_batch() {
    let mut admin = admin();
    let (doc, chunk) = seeded(&mut admin);
    let relay = relay();
    let settings = BatcherSettings::builder().batch_size(10).max_in_flight(4);
    let creator = creator_through(&relay, (&doc, &chunk), settings.adaptive_concurrency(true));
    // Nothing added yet: the three siblings connect as the creator
    // starts (before, each did inside its first batch).
    let ready = relay
        .settle(4, Duration::from_millis(300), Duration::from_secs(30))
        .unwrap_or_else(|seen| {
            panic!("siblings did not connect ahead: {seen:?} (connections, turns)")
        });
    for i in 0..200_i64 {
        creator
            .upsert_node(&chunk, format!("new_{i}"), [("order", i.into())])
            .unwrap();
    }
    let report = creator.flush_timeout(Duration::from_secs(60));
    assert!(report.failed.is_empty(), "{:?}", report.failed.first());
    assert_eq!(report.written, 200, "{report:?}");
    assert_eq!(nodes_of(&mut admin, &chunk), 210);
    let stats = creator.stats();
    let each = "two round trips a batch, none connecting";
    assert_eq!(relay.turns() - ready, 40, "{each}: {stats:?}");
    assert_eq!(relay.connections(), 4);
}

#[test]
fn a_batch_read_costs_one_round_trip() {
    let label = unique("Read");
    let seed = format!("UNWIND range(0, 9) AS i CREATE (:{label} {{id: 'n' + toString(i)}})");
    admin().run_cypher(&seed, &Default::default()).unwrap();
    let relay = relay();
    let source = batch_neo4j::NodesByLabel::new(graph_through(&relay), &label).unwrap();
    let reader = batch_neo4j::Neo4jBatchReader::new(source);
    let ids: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
    // The first read connects: count from the second.
    assert_eq!(reader.get_many(&ids).unwrap().found.len(), 10);
    let before = relay.turns();
    let nodes = reader.get_many(&ids).unwrap();
    assert_eq!((nodes.found.len(), nodes.missing.len()), (10, 10));
    assert_eq!(relay.turns() - before, 1, "RUN and PULL in one write");
}
