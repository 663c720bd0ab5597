//! Both inserters bound a flush with `flush_timeout` and take a failure
//! handler (through the `Batcher` they dereference to): on a paused server
//! the flush returns in time with rows pending, and after the server
//! resumes every row is written and the handler saw none fail.
//! Own test binary: it pauses the shared PostgreSQL.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use batch_core::BatcherSettings;
use batch_postgres::{DocumentRow, DynRow, PostgreSQLBatchInserter, TableBatchInserter, TableSpec};
use common::{client, connector, count, drop_table, pause_server, table};

#[test]
fn flush_timeout_returns_on_a_paused_server_and_nothing_is_lost() {
    let settings = || {
        BatcherSettings::builder()
            .batch_size(10)
            .build()
            .expect("settings")
    };
    let failures = Arc::new(Mutex::new(Vec::new()));
    let docs_table = table("docs_flush_timeout");
    let docs = PostgreSQLBatchInserter::with_table(
        connector().timeout(Duration::from_secs(1)),
        docs_table.clone(),
        settings(),
    )
    .expect("inserter");
    docs.ensure_schema().expect("schema");
    let seen = Arc::clone(&failures);
    docs.set_failure_handler(move |f| seen.lock().expect("lock").push(f.error.to_string()));
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
        settings(),
    )
    .expect("inserter");
    let seen = Arc::clone(&failures);
    rows.set_failure_handler(move |f| seen.lock().expect("lock").push(f.error.to_string()));

    let paused = pause_server();
    for i in 0..25_i64 {
        docs.add(DocumentRow::new(format!("d{i}"), "/p", "c", 1, 1))
            .expect("add");
        rows.add(vec![Box::new(format!("r{i}")), Box::new(i)])
            .expect("add");
    }
    for (what, report) in [
        (
            "documents",
            time_bound(|| docs.flush_timeout(Duration::from_secs(2)).pending),
        ),
        (
            "rows",
            time_bound(|| rows.flush_timeout(Duration::from_secs(2)).pending),
        ),
    ] {
        assert!(report > 0, "{what}: rows still pending on a paused server");
    }
    drop(paused);

    let docs_report = docs.flush();
    let rows_report = rows.flush();
    assert!(docs_report.is_complete(), "{docs_report:?}");
    assert!(rows_report.is_complete(), "{rows_report:?}");
    assert!(failures.lock().expect("lock").is_empty(), "{failures:?}");
    let mut c = client();
    assert_eq!(count(&mut c, &docs_table), 25);
    assert_eq!(count(&mut c, &rows_table), 25);
    assert_eq!(docs.stats().total_added, 25, "{:?}", docs.stats());
    assert_eq!(rows.stats().total_added, 25, "{:?}", rows.stats());
    drop_table(&mut c, &docs_table);
    drop_table(&mut c, &rows_table);
}

/// Runs `f`, asserting it returned within 10 s (the timeout is 2 s).
fn time_bound(f: impl FnOnce() -> usize) -> usize {
    let started = Instant::now();
    let pending = f();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "flush_timeout(2s) took {:?}",
        started.elapsed()
    );
    pending
}
