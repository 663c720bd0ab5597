//! `https://` through a TLS front end (`cargo xtask services up` runs one;
//! `UDS3_COUCHDB_TLS_URL`, default `https://localhost:26984`, trusted
//! through the test CA `UDS3_TLS_CA_FILE`, default
//! `<workspace>/.services/tls/ca.pem`, and an unrelated CA,
//! `UDS3_TLS_OTHER_CA_FILE`, default `other-ca.pem` beside the test CA): writes land, and every TLS failure is fatal, named, and
//! sent once.

#![cfg(feature = "tls")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use batch_core::tls::TlsSettings;
use batch_core::{BatchError, BatcherSettings, ErrorClass, SinkError};
use batch_couch::{CouchDBBatchInserter, CouchDatabase, CouchOptions};
use common::doc;
use test_support::test_servers::{Service, TlsEndpoint, require_tls, unique_name};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The project's TLS endpoint (`cargo xtask services up`): URL, test CA,
/// unrelated CA.
fn endpoint() -> TlsEndpoint {
    require_tls(Service::Couch)
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

fn db(url: &str, ca: PathBuf) -> CouchDatabase {
    CouchDatabase::with_timeout(url, &unique_name("t_tls"), Duration::from_secs(10))
        .expect("valid URL")
        .with_tls(&TlsSettings::new().public_roots(false).ca_file(ca))
        .expect("readable CA file")
}

/// Writes 10 documents and returns the failed flush's error class and
/// text with the number of requests sent.
fn failing_write(db: &CouchDatabase) -> (ErrorClass, String, u64) {
    let settings = BatcherSettings::for_backend(&batch_core::env::COUCHDB, 100).expect("settings");
    let ins = CouchDBBatchInserter::with_options(db.clone(), settings, CouchOptions::default())
        .expect("start the inserter");
    for i in 0..10 {
        ins.add(doc(i), Some(&format!("d{i}"))).expect("valid doc");
    }
    let report = ins.close(TIMEOUT);
    assert!(!report.is_complete(), "{report:?}");
    assert_eq!(report.failed.len(), 10, "{report:?}");
    let BatchError::Sink(error) = &report.failed[0].error else {
        panic!("not a sink error: {:?}", report.failed[0].error);
    };
    let stats = ins.stats();
    assert_eq!(stats.total_requests, 1, "no retries, no bisect: {stats:?}");
    assert_eq!(db.requests_sent(), 1);
    eprintln!("error: {error}");
    (error.class(), error.to_string(), stats.total_requests)
}

#[test]
fn writes_1000_docs_over_tls() {
    let db = db(&tls_url(), ca_file());
    assert!(db.create_if_missing().expect("create over TLS"));
    let settings = BatcherSettings::for_backend(&batch_core::env::COUCHDB, 100).expect("settings");
    let ins = CouchDBBatchInserter::with_options(db.clone(), settings, CouchOptions::default())
        .expect("start the inserter");
    for i in 0..1000 {
        ins.add(doc(i), Some(&format!("d{i}"))).expect("valid doc");
    }
    let report = ins.close(TIMEOUT);
    assert!(report.is_complete(), "{report:?}");
    let stats = ins.stats();
    assert_eq!(stats.total_added, 1000);
    assert_eq!(stats.total_requests, 10);
    assert_eq!(db.doc_count().expect("count over TLS"), stats.total_added);
    db.delete().expect("delete");
}

#[test]
fn an_unrelated_ca_is_fatal_and_names_the_host() {
    let url = tls_url();
    let db = db(&url, other_ca_file());
    let (class, text, _) = failing_write(&db);
    assert_eq!(class, ErrorClass::Fatal, "{text}");
    let host_port = url.trim_start_matches("https://").trim_end_matches('/');
    assert!(text.contains(host_port), "{text}");
    assert!(text.contains("unknown issuer"), "{text}");
}

#[test]
fn plaintext_to_the_tls_port_is_fatal() {
    let url = tls_url().replacen("https://", "http://", 1);
    let db = db(&url, ca_file());
    let (class, text, _) = failing_write(&db);
    assert_eq!(class, ErrorClass::Fatal, "{text}");
    assert!(text.contains("TLS"), "{text}");
}

#[test]
fn a_host_name_the_certificate_lacks_is_fatal() {
    let url = tls_url()
        .replacen("localhost", "127.0.0.2", 1)
        .replacen("127.0.0.1", "127.0.0.2", 1);
    let db = db(&url, ca_file());
    let (class, text, _) = failing_write(&db);
    assert_eq!(class, ErrorClass::Fatal, "{text}");
    assert!(text.contains("127.0.0.2"), "{text}");
}

#[test]
fn the_batch_reader_reads_over_tls_and_a_bad_certificate_is_not_retried() {
    let db = db(&tls_url(), ca_file());
    db.create_if_missing().expect("create over TLS");
    let ins = CouchDBBatchInserter::new(db.clone(), 100).expect("start the inserter");
    for i in 0..5 {
        ins.add(doc(i), Some(&format!("d{i}"))).expect("valid doc");
    }
    assert_eq!(ins.close(TIMEOUT).written, 5);
    let reader = batch_couch::CouchDBBatchReader::new(db);
    let docs = reader.get_many(&["d0", "d4", "d9"]).expect("read over TLS");
    assert_eq!(
        (docs.found.len(), docs.missing.as_slice()),
        (2, ["d9".to_owned()].as_slice())
    );

    let untrusted = self::db(&tls_url(), other_ca_file());
    let reader = batch_couch::CouchDBBatchReader::new(untrusted.clone());
    let err = reader.get_many(&["d0"]).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Fatal, "{err}");
    assert!(
        matches!(err, batch_core::read::ReadError::Store { attempts: 1, .. }),
        "{err}"
    );
    assert_eq!(untrusted.requests_sent(), 1, "not retried");
}
