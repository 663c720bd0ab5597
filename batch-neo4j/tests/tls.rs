//! Bolt over TLS through the test servers' TLS front end (`cargo xtask
//! services up` runs stunnel in front of ArcadeDB's Bolt port:
//! `UDS3_NEO4J_TLS_URI`, signed by the test CA `UDS3_TLS_CA_FILE`; an
//! unrelated CA in `UDS3_TLS_OTHER_CA_FILE`; the same certificate on
//! 127.0.0.2, which it does not name). Writes land; every TLS failure is
//! fatal, names the server, and is tried on one connection only.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::path::Path;
use std::time::Duration;

use batch_core::tls::TlsSettings;
use batch_core::{BatcherSettings, ErrorClass, SinkError};
use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig, Neo4jError, Neo4jSink};
use common::{count, unique};
use test_support::relay::Relay;
use test_support::test_servers::{self, Endpoints, Service, TlsEndpoint};

/// `host:port` of a Bolt URI.
fn host_port(uri: &str) -> &str {
    uri.split_once("://").unwrap().1
}

fn endpoint() -> TlsEndpoint {
    // The plaintext server behind the front end must be up too.
    test_servers::require(Service::Neo4j);
    test_servers::require_tls(Service::Neo4j)
}

/// A config for `uri` with the test credentials, trusting `ca` alone.
fn config(uri: &str, ca: Option<&Path>) -> Neo4jConfig {
    let e = Endpoints::from_env();
    let config = Neo4jConfig::new(uri, e.neo4j_user, e.neo4j_password)
        .unwrap()
        .database(Some(test_servers::NEO4J_DATABASE.to_owned()))
        .timeout(Duration::from_secs(20));
    match ca {
        Some(ca) => config.tls(TlsSettings::new().public_roots(false).ca_file(ca)),
        None => config,
    }
}

/// The error of opening a creator on the config `make` builds for `uri`
/// (sent through a connection-counting relay on the same host), checked
/// to be fatal, named, and never retried: `connections` connections in
/// all (1, or 2 where a failed handshake is followed by one probe that
/// finds out which protocol the port speaks). Returns its text.
fn fails_fatally(uri: &str, connections: u64, make: impl FnOnce(&str) -> Neo4jConfig) -> String {
    let (scheme, target) = uri.split_once("://").unwrap();
    let host = target.rsplit_once(':').unwrap().0;
    let ip = if host == "localhost" {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        host.parse().unwrap()
    };
    let relay = Relay::start_on(ip, target, Duration::ZERO).unwrap();
    let config = make(&format!("{scheme}://{host}:{}", relay.port()));
    let addr = config.addr().to_owned();
    let error: Neo4jError = Neo4jBatchCreator::new(config, 16).unwrap_err();
    let text = error.to_string();
    eprintln!("error: {text}");
    assert_eq!(error.class(), ErrorClass::Fatal, "{text}");
    assert!(text.contains(&addr), "{text}");
    assert_eq!(
        relay.connections(),
        connections,
        "a fatal error is not retried: {text}"
    );
    text
}

#[test]
fn thousand_nodes_over_tls_with_the_test_ca() {
    let tls = endpoint();
    let label = unique("TlsNode");
    let creator = Neo4jBatchCreator::with_settings(
        config(&tls.url, Some(&tls.ca_file)),
        BatcherSettings::builder().batch_size(250).build().unwrap(),
    )
    .unwrap();
    for i in 0..1000 {
        creator
            .upsert_node(&label, format!("n{i}"), [("i", i64::from(i).into())])
            .unwrap();
    }
    let report = creator.flush();
    assert!(report.failed.is_empty(), "{report:?}");
    let stats = creator.get_stats();
    eprintln!("{stats:?}");
    // Counted by the server, over TLS.
    let mut sink = Neo4jSink::connect(config(&tls.url, Some(&tls.ca_file))).unwrap();
    let on_server = count(&mut sink, &format!("MATCH (n:{label}) RETURN count(n)"));
    assert_eq!(on_server, 1000);
    assert_eq!(stats["total_created"], 1000, "{stats:?}");
}

#[test]
fn self_signed_scheme_needs_no_ca() {
    let tls = endpoint();
    let uri = format!("bolt+ssc://{}", host_port(&tls.url));
    let mut sink = Neo4jSink::connect(config(&uri, None)).unwrap();
    assert_eq!(count(&mut sink, "RETURN 1"), 1);
    let uri = format!("neo4j+ssc://{}", host_port(&tls.url));
    let mut sink = Neo4jSink::connect(config(&uri, None)).unwrap();
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
    let mut sink = Neo4jSink::connect(config(&uri, None).ca_file(&tls.ca_file)).unwrap();
    let table = sink.routing_table().expect("a routing table");
    assert_eq!(table.writers, [addr]);
    assert_eq!(sink.query_stats().routing_tables, 1);
    assert_eq!(count(&mut sink, "RETURN 3"), 3);
}

#[test]
fn an_unknown_ca_is_fatal_and_named() {
    let tls = endpoint();
    let text = fails_fatally(&tls.url, 1, |uri| config(uri, Some(&tls.other_ca_file)));
    assert!(text.contains("unknown issuer"), "{text}");
}

#[test]
fn public_roots_alone_do_not_trust_the_test_ca() {
    let tls = endpoint();
    let text = fails_fatally(&tls.url, 1, |uri| config(uri, None).tls(TlsSettings::new()));
    assert!(text.contains("unknown issuer"), "{text}");
}

#[test]
fn a_host_the_certificate_does_not_name_is_fatal() {
    let tls = endpoint();
    let port = host_port(&tls.url).rsplit_once(':').unwrap().1;
    let uri = format!("bolt+s://127.0.0.2:{port}");
    let text = fails_fatally(&uri, 1, |uri| config(uri, Some(&tls.ca_file)));
    assert!(text.contains("not valid for the host name"), "{text}");
    assert!(text.contains("127.0.0.2"), "{text}");
}

#[test]
fn plaintext_bolt_to_the_tls_port_is_fatal_and_probed_once() {
    let tls = endpoint();
    let uri = format!("bolt://{}", host_port(&tls.url));
    let text = fails_fatally(&uri, 2, |uri| config(uri, None));
    assert!(text.contains("speaks TLS"), "{text}");
    assert!(text.contains("bolt+s://"), "{text}");
}

#[test]
fn tls_to_the_plaintext_port_is_fatal_and_probed_once() {
    let tls = endpoint();
    let plain = test_servers::require(Service::Neo4j);
    let uri = format!("bolt+s://{}", host_port(&plain));
    let text = fails_fatally(&uri, 2, |uri| config(uri, Some(&tls.ca_file)));
    assert!(text.contains("plaintext"), "{text}");
}

#[test]
fn a_missing_ca_file_is_a_configuration_error_naming_it() {
    let tls = endpoint();
    let error =
        Neo4jBatchCreator::new(config(&tls.url, Some(Path::new("/nonexistent/ca.pem"))), 16)
            .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, Neo4jError::Config(_)), "{text}");
    assert!(text.contains("/nonexistent/ca.pem"), "{text}");
}
