//! A batch in flight when the whole server stops answering, past the
//! request deadline: its outcome is unknown, so it is replayed after the
//! server resumes, and rows the lost attempt stored count as written.
//! Own test binary: it pauses the shared PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use batch_core::BatcherSettings;
use batch_postgres::{DocumentRow, PostgreSQLBatchInserter};
use common::{client, connector, count, drop_table, pause_server, table};

#[test]
fn a_write_lost_to_a_paused_server_is_replayed_and_counted_once() {
    let t = table("docs_paused");
    let settings = BatcherSettings::builder()
        .batch_size(100)
        .build()
        .expect("settings");
    let ins = PostgreSQLBatchInserter::with_table(
        connector().timeout(Duration::from_secs(1)),
        t.clone(),
        settings,
    )
    .expect("inserter");
    ins.ensure_schema().expect("schema");
    // A first write prepares the statements, so that the paused server
    // receives the write itself, not a prepare.
    ins.add(DocumentRow::new("warm-up", "/p", "c", 1, 1))
        .expect("add");
    assert!(ins.flush().is_complete());
    let paused = pause_server();
    for i in 0..300 {
        ins.add(DocumentRow::new(format!("p{i}"), "/p", "c", 1, 1))
            .expect("add");
    }
    // Past the 1 s deadline, within the retry budget (60 s).
    std::thread::sleep(Duration::from_secs(4));
    drop(paused);
    let started = Instant::now();
    let report = ins.flush();
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(report.failed.is_empty(), "no row handed back: {report:?}");
    let stats = ins.stats();
    let rows = count(&mut client(), &t);
    eprintln!("stats {stats:?}, rows {rows}");
    assert_eq!(rows, 301);
    assert_eq!(stats.total_added, rows as u64, "{stats:?}");
    assert_eq!(stats.total_conflicts, 0, "{stats:?}");
    assert!(stats.total_retries >= 1, "{stats:?}");
    drop_table(&mut client(), &t);
}
