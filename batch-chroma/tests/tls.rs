//! `https://` through a TLS front end (`cargo xtask services up` runs one;
//! `UDS3_CHROMA_TLS_URL`, default `https://localhost:28443`, trusted
//! through the test CA `UDS3_TLS_CA_FILE`, default
//! `<workspace>/.services/tls/ca.pem`, and an unrelated CA,
//! `UDS3_TLS_OTHER_CA_FILE`, default `other-ca.pem` beside the test CA): writes land, and every TLS failure is fatal and named.

#![cfg(feature = "tls")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use batch_chroma::{
    ChromaBatchInserter, ChromaClient, ChromaError, ChromaSink, WriteMode, metadata,
};
use batch_core::tls::TlsSettings;
use batch_core::{BatcherSettings, ErrorClass, SinkError};
use common::{meta, vector};
use test_support::test_servers::{Service, TlsEndpoint, require_tls, unique_name};

/// The project's TLS endpoint (`cargo xtask services up`): URL, test CA,
/// unrelated CA.
fn endpoint() -> TlsEndpoint {
    require_tls(Service::Chroma)
}

fn tls_url() -> String {
    endpoint().url
}

fn ca_file() -> PathBuf {
    endpoint().ca_file
}

fn other_ca_file() -> PathBuf {
    endpoint().other_ca_file
}

fn client(url: &str, ca: PathBuf) -> ChromaClient {
    ChromaClient::builder(url)
        .tls(TlsSettings::new().public_roots(false).ca_file(ca))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// The error of the first request, its class and text.
fn first_request_fails(client: &ChromaClient) -> (ErrorClass, String) {
    let name = unique_name("tls");
    let err: ChromaError = client
        .get_or_create_collection(&name, &metadata([("hnsw:space", "l2".into())]))
        .expect_err("must fail");
    eprintln!("error: {err}");
    (err.class(), err.to_string())
}

#[test]
fn writes_1000_records_over_tls() {
    let client = ChromaClient::builder(&tls_url())
        .ca_file(ca_file())
        .build()
        .expect("client");
    let collection = client
        .get_or_create_collection(
            &unique_name("tls"),
            &metadata([("hnsw:space", "l2".into())]),
        )
        .expect("create over TLS");
    let sink = ChromaSink::new(collection.clone(), WriteMode::Add).expect("sink");
    let settings = BatcherSettings::builder()
        .batch_size(100)
        .build()
        .expect("settings");
    let inserter = ChromaBatchInserter::with_sink(sink, settings).expect("inserter");
    for i in 0..1000 {
        inserter
            .add(format!("chunk-{i}"), vector(i, 16), meta(i))
            .expect("valid record");
    }
    let report = inserter.flush();
    assert!(report.is_complete(), "{report:?}");
    let stats = inserter.stats();
    assert_eq!(stats.total_added, 1000);
    assert_eq!(stats.total_requests, 10, "{stats:?}");
    assert_eq!(
        collection.count().expect("count over TLS"),
        stats.total_added
    );
    client.delete_collection(collection.name()).expect("delete");
}

#[test]
fn an_unrelated_ca_is_fatal_and_names_the_host() {
    let url = tls_url();
    let (class, text) = first_request_fails(&client(&url, other_ca_file()));
    assert_eq!(class, ErrorClass::Fatal, "{text}");
    assert!(
        text.contains(url.trim_start_matches("https://").trim_end_matches('/')),
        "{text}"
    );
    assert!(text.contains("unknown issuer"), "{text}");
}

#[test]
fn plaintext_to_the_tls_port_is_fatal() {
    let url = tls_url().replacen("https://", "http://", 1);
    let (class, text) = first_request_fails(&client(&url, ca_file()));
    assert_eq!(class, ErrorClass::Fatal, "{text}");
    assert!(text.contains("use https://"), "{text}");
}

#[test]
fn a_host_name_the_certificate_lacks_is_fatal() {
    let url = tls_url()
        .replacen("localhost", "127.0.0.2", 1)
        .replacen("127.0.0.1", "127.0.0.2", 1);
    let (class, text) = first_request_fails(&client(&url, ca_file()));
    assert_eq!(class, ErrorClass::Fatal, "{text}");
    assert!(text.contains("127.0.0.2"), "{text}");
}
