//! `https://` through the test servers' TLS front end: the kit's TLS
//! matrix (`test_support::kit::tls`), CouchDB reached through a database
//! handle that reads its CA file at the first request; and the batch
//! reader over TLS.

#![cfg(feature = "tls")]

mod common;

use std::time::Duration;

use batch_core::ErrorClass;
use batch_couch::{CouchDBBatchInserter, CouchDBBatchReader};
use common::doc;
use common::tls::db_via;
use test_support::test_servers::{Service, require_tls};

test_support::tls_matrix!(common::Couch);

#[test]
fn the_batch_reader_reads_over_tls_and_a_bad_certificate_is_not_retried() {
    let tls = require_tls(Service::Couch);
    let db = common::fresh_db("tls_read");
    let ins = CouchDBBatchInserter::new(db.clone(), 100).expect("start the inserter");
    for i in 0..5 {
        ins.add(doc(i), Some(&format!("d{i}"))).expect("valid doc");
    }
    assert_eq!(ins.close(Duration::from_secs(60)).written, 5);
    let reader = CouchDBBatchReader::new(db_via(&tls.url, Some(&tls.ca_file), db.name()));
    let docs = reader.get_many(&["d0", "d4", "d9"]).expect("read over TLS");
    assert_eq!(
        (docs.found.len(), docs.missing.as_slice()),
        (2, ["d9".to_owned()].as_slice())
    );

    let untrusted = db_via(&tls.url, Some(&tls.other_ca_file), db.name());
    let reader = CouchDBBatchReader::new(untrusted.clone());
    let err = reader.get_many(&["d0"]).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Fatal, "{err}");
    assert!(
        matches!(err, batch_core::read::ReadError::Store { attempts: 1, .. }),
        "{err}"
    );
    assert_eq!(untrusted.requests_sent(), 1, "not retried");
}
