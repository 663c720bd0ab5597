//! The server is stopped mid-stream and started again: nothing is lost,
//! nothing is written twice. Its own test binary, so it runs alone.

mod common;

use std::time::Duration;

use batch_couch::CouchDBBatchInserter;
use common::{doc, fresh_db};
use xtask::test_servers::{Service, start, stop};

#[test]
fn server_stopped_mid_stream_then_restarted_loses_nothing() {
    let db = fresh_db("restart");
    let ins = CouchDBBatchInserter::new(db.clone(), 50).unwrap();
    for i in 0..100 {
        ins.add(doc(i), Some(&format!("d{i}"))).unwrap();
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
            .unwrap();
    }
    let report = ins.close(Duration::from_secs(120));
    restarter.join().unwrap();

    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(report.written, 200);
    let stats = ins.stats();
    assert_eq!(stats.total_added, 300);
    assert_eq!(stats.total_failed, 0);
    assert!(stats.total_retries > 0, "the stop was noticed: {stats:?}");
    assert_eq!(db.doc_count().unwrap(), 300);
}
