//! The server restarted mid-stream loses nothing, over plaintext and over
//! TLS (`sslmode=verify-full` with the test CA). Own test binary: it
//! restarts the shared PostgreSQL of `cargo xtask services`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use batch_core::BatcherSettings;
use batch_postgres::{DocumentRow, PostgreSQLBatchInserter};
use common::{client, connector, count, drop_table, table, url};
use test_support::test_servers::{Service, restart};

#[test]
fn restart_mid_stream_loses_nothing() {
    let _alone = test_support::test_servers::one_restart_at_a_time();
    url();
    streams_through_a_restart(connector());
}

#[cfg(feature = "tls")]
#[test]
fn restart_mid_stream_over_tls_loses_nothing() {
    let _alone = test_support::test_servers::one_restart_at_a_time();
    url();
    test_support::test_servers::require_tls(Service::Postgres);
    let verify_full = test_support::test_servers::Endpoints::from_env().postgres_tls_libpq_url();
    let connector = batch_postgres::Connector::from_url(&verify_full).expect("TLS URL");
    streams_through_a_restart(connector);
}

fn streams_through_a_restart(connector: batch_postgres::Connector) {
    let t = table("docs_restart");
    let settings = BatcherSettings::builder()
        .name("pg-restart")
        .batch_size(50)
        .build()
        .expect("settings");
    let ins = Arc::new(
        PostgreSQLBatchInserter::with_table(connector, t.clone(), settings).expect("inserter"),
    );
    ins.ensure_schema().expect("schema");
    let restarted = Arc::new(AtomicBool::new(false));
    let writer = {
        let (ins, restarted) = (Arc::clone(&ins), Arc::clone(&restarted));
        std::thread::spawn(move || {
            let mut added = 0_u64;
            let mut after = 0;
            // Keep adding until the restart is over, then 1000 more.
            while after < 1000 {
                ins.add(DocumentRow::new(format!("r{added}"), "/p", "c", 1, 1))
                    .expect("add");
                added += 1;
                if restarted.load(Ordering::Acquire) {
                    after += 1;
                }
                if added.is_multiple_of(50) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            added
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    restart(Service::Postgres);
    restarted.store(true, Ordering::Release);
    let added = writer.join().expect("writer");
    let report = ins.close(Duration::from_secs(90));
    assert!(
        report.is_complete(),
        "failed: {:?}",
        report
            .failed
            .iter()
            .map(|f| f.error.to_string())
            .collect::<Vec<_>>()
    );
    let stats = ins.stats();
    let rows = count(&mut client(), &t);
    eprintln!("added {added}, stats {stats:?}, rows {rows}");
    assert_eq!(rows as u64, added, "every row is in the table");
    // A batch whose commit answer was lost with the connection is replayed,
    // and the replay counts its own stored rows as written: stats equal
    // the table.
    assert_eq!(stats.total_added, rows as u64, "{stats:?}");
    assert_eq!(stats.total_conflicts, 0, "{stats:?}");
    assert_eq!(stats.total_failed, 0);
    drop_table(&mut client(), &t);
}
