//! Bolt over TLS through the test servers' TLS front end (stunnel in
//! front of the Bolt port): the kit's TLS matrix
//! (`test_support::kit::tls`), a creator connecting when it is made; and
//! what is Bolt's own: the self-signed `+ssc` schemes, `neo4j+s` routing,
//! and TLS spoken to the plaintext port.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use batch_neo4j::Neo4jSink;
use common::count;
use common::tls::config_for;
use test_support::kit::tls::refused;
use test_support::test_servers::{self, Service, TlsEndpoint};

/// `host:port` of a Bolt URI.
fn host_port(uri: &str) -> &str {
    uri.split_once("://").unwrap().1
}

fn endpoint() -> TlsEndpoint {
    // The plaintext server behind the front end must be up too.
    test_servers::require(Service::Neo4j);
    test_servers::require_tls(Service::Neo4j)
}

test_support::tls_matrix!(common::Neo4j);

#[test]
fn self_signed_scheme_needs_no_ca() {
    let tls = endpoint();
    let uri = format!("bolt+ssc://{}", host_port(&tls.url));
    let mut sink = Neo4jSink::connect(config_for(&uri)).unwrap();
    assert_eq!(count(&mut sink, "RETURN 1"), 1);
    let uri = format!("neo4j+ssc://{}", host_port(&tls.url));
    let mut sink = Neo4jSink::connect(config_for(&uri)).unwrap();
    assert_eq!(count(&mut sink, "RETURN 2"), 2);
}

/// `neo4j+s` fetches the routing table over TLS and writes to its writer
/// over TLS. A single Neo4j 5 server names the address the client sent
/// in the routing context: here the TLS front end.
#[test]
fn neo4j_s_scheme_routes_over_tls() {
    let tls = endpoint();
    let addr = host_port(&tls.url);
    let uri = format!("neo4j+s://{addr}");
    let mut sink = Neo4jSink::connect(config_for(&uri).ca_file(&tls.ca_file)).unwrap();
    let table = sink.routing_table().expect("a routing table");
    assert_eq!(table.writers, [addr]);
    assert_eq!(sink.query_stats().routing_tables, 1);
    assert_eq!(count(&mut sink, "RETURN 3"), 3);
}

#[test]
fn tls_to_the_plaintext_port_is_fatal_and_probed_once() {
    let tls = endpoint();
    let plain = test_servers::require(Service::Neo4j);
    let uri = format!("bolt+s://{}", host_port(&plain));
    refused::<common::Neo4j>(&uri, Some(&tls.ca_file)).assert_fatal(2, &["plaintext"]);
}
