//! `TableBatchInserter` (any table, the kit covers the documents
//! inserter) bounds a flush with `flush_timeout` and takes a failure
//! handler: on a paused server the flush returns in time with rows
//! pending, and after the server resumes every row is written and the
//! handler saw none fail. Own test binary: it pauses the shared PostgreSQL.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use batch_core::BatcherSettings;
use batch_postgres::{DynRow, TableBatchInserter, TableSpec};
use common::{client, connector, count, drop_table, pause_server, table};

#[test]
fn flush_timeout_returns_on_a_paused_server_and_nothing_is_lost() {
    let settings = BatcherSettings::builder()
        .batch_size(10)
        .build()
        .expect("settings");
    let failures = Arc::new(Mutex::new(Vec::new()));
    let rows_table = table("rows_flush_timeout");
    client()
        .batch_execute(&format!(
            "CREATE TABLE {} (id TEXT PRIMARY KEY, n BIGINT)",
            rows_table.quoted()
        ))
        .expect("create");
    let spec = TableSpec::new(rows_table.clone(), ["id", "n"], ["id"]).expect("spec");
    let rows = TableBatchInserter::<DynRow>::with_settings(
        connector().timeout(Duration::from_secs(1)),
        spec,
        settings,
    )
    .expect("inserter");
    let seen = Arc::clone(&failures);
    rows.set_failure_handler(move |f| seen.lock().expect("lock").push(f.error.to_string()));

    let paused = pause_server();
    for i in 0..25_i64 {
        rows.add(vec![Box::new(format!("r{i}")), Box::new(i)])
            .expect("add");
    }
    let started = Instant::now();
    let pending = rows.flush_timeout(Duration::from_secs(2)).pending;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "flush_timeout(2s) took {:?}",
        started.elapsed()
    );
    assert!(pending > 0, "rows still pending on a paused server");
    drop(paused);

    let report = rows.flush();
    assert!(report.is_complete(), "{report:?}");
    assert!(failures.lock().expect("lock").is_empty(), "{failures:?}");
    let mut c = client();
    assert_eq!(count(&mut c, &rows_table), 25);
    assert_eq!(rows.stats().total_added, 25, "{:?}", rows.stats());
    drop_table(&mut c, &rows_table);
}
