//! The four servers of `cargo xtask services up`, as the facade's tests
//! reach them (each fails the test with the `services up` hint when its
//! server is away).
#![allow(dead_code)]

use std::time::Duration;

use test_support::test_servers::{self, Endpoints, Service};
use uds3_batch::chroma::{ChromaClient, Collection, metadata};
use uds3_batch::couch::CouchDatabase;
use uds3_batch::neo4j::Neo4jConfig;
use uds3_batch::postgres::Connector;

/// The PostgreSQL server.
pub fn postgres() -> Connector {
    Connector::from_url(&test_servers::require(Service::Postgres)).expect("pg url")
}

/// A CouchDB database `name`, not created yet, with `timeout` per request.
pub fn couch(name: &str, timeout: Duration) -> CouchDatabase {
    CouchDatabase::with_timeout(&test_servers::require(Service::Couch), name, timeout)
        .expect("couch")
}

/// A new `l2` Chroma collection `name`.
pub fn collection(name: &str) -> Collection {
    ChromaClient::new(&test_servers::require(Service::Chroma))
        .expect("chroma")
        .get_or_create_collection(name, &metadata([("hnsw:space", "l2".into())]))
        .expect("collection")
}

/// The Neo4j test graph.
pub fn graph() -> Neo4jConfig {
    let endpoints = Endpoints::from_env();
    Neo4jConfig::new(
        &test_servers::require(Service::Neo4j),
        endpoints.neo4j_user,
        endpoints.neo4j_password,
    )
    .expect("neo4j uri")
    .database(Some(test_servers::NEO4J_DATABASE.to_owned()))
}
