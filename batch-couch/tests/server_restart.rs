//! The server is stopped mid-stream and started again: nothing is lost,
//! nothing is written twice, over plaintext and over TLS (the server
//! behind the TLS front end restarts). Its own test binary, so it runs
//! alone.

mod common;

use std::time::Duration;

use batch_couch::{CouchDBBatchInserter, CouchDatabase};
use common::{doc, fresh_db};
use test_support::test_servers::{Service, start, stop};

#[test]
fn server_stopped_mid_stream_then_restarted_loses_nothing() {
    let _alone = test_support::test_servers::one_restart_at_a_time();
    streams_through_a_restart(fresh_db("restart"));
}

#[cfg(feature = "tls")]
#[test]
fn server_behind_tls_stopped_mid_stream_then_restarted_loses_nothing() {
    use batch_core::tls::TlsSettings;
    let _alone = test_support::test_servers::one_restart_at_a_time();
    let tls = test_support::test_servers::require_tls(Service::Couch);
    let db = CouchDatabase::new(&tls.url, fresh_db("restart_tls").name())
        .expect("TLS database")
        .tls(TlsSettings::new().public_roots(false).ca_file(tls.ca_file));
    streams_through_a_restart(db);
}

fn streams_through_a_restart(db: CouchDatabase) {
    let ins = CouchDBBatchInserter::new(db.clone(), 50).expect("inserter");
    for i in 0..100 {
        ins.add(doc(i), Some(&format!("d{i}"))).expect("add");
    }
    let report = ins.flush();
    assert!(report.is_complete());
    assert_eq!(report.written, 100);

    stop(Service::Couch);
    // Brings the server back while the adds below are retried.
    let restarter = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(2));
        start(Service::Couch);
    });
    // Half with given ids, half with assigned ones.
    for i in 100..300 {
        let id = format!("d{i}");
        ins.add(doc(i), (i % 2 == 0).then_some(id.as_str()))
            .expect("add");
    }
    let report = ins.close(Duration::from_secs(120));
    restarter.join().expect("restarter");

    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(report.written, 200);
    let stats = ins.stats();
    assert_eq!(stats.total_added, 300);
    assert_eq!(stats.total_failed, 0);
    assert!(stats.total_retries > 0, "the stop was noticed: {stats:?}");
    assert_eq!(db.doc_count().expect("doc_count"), 300);
}
