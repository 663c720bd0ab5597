//! The durable buffer against the real PostgreSQL of `cargo xtask
//! services`: a producer (this test binary, run again as a child) adds
//! 50,000 rows from 4 threads under `Fsync::Always` and is killed with
//! SIGKILL; a new inserter on the same directory replays what it left.
//! Afterwards the table holds every row whose `add` returned `Ok`, no row
//! that was never added, each once, and the new inserter's counters say
//! what it replayed.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use batch_core::testing::crash::{self, Stored};
use batch_postgres::{DocumentRow, PostgreSQLBatchInserter, TableName, WriteMethod};
use common::{client, connector, drop_table, table};
use test_support::test_servers::{Service, pause_if};

const DIR: &str = "UDS3_PG_CRASH_DIR";
const TABLE: &str = "UDS3_PG_CRASH_TABLE";
const ITEMS: u64 = 50_000;
const THREADS: u64 = 4;

fn inserter(dir: &Path, table: &TableName) -> PostgreSQLBatchInserter {
    let settings = crash::settings("pg-durable", dir);
    PostgreSQLBatchInserter::with_method(connector(), table.clone(), WriteMethod::Unnest, settings)
        .expect("inserter")
}

fn row(id: u64) -> DocumentRow {
    DocumentRow::new(
        format!("crash-{id:06}"),
        format!("/docs/{id}.pdf"),
        "law",
        100,
        3,
    )
}

/// The child: adds the rows from 4 threads, saying each, until killed.
#[test]
#[ignore = "the crash test's child process; it runs it"]
fn child() {
    let (Some(dir), Some(name)) = (std::env::var_os(DIR), std::env::var_os(TABLE)) else {
        return;
    };
    let table = TableName::new(name.to_string_lossy().into_owned()).expect("table");
    let inserter = inserter(Path::new(&dir), &table);
    crash::add_from_threads(THREADS, ITEMS, move |id| inserter.add(row(id)).is_ok());
}

/// The ids in the table, and its row count.
fn stored(table: &TableName) -> Stored {
    let rows = client()
        .query(&format!("SELECT document_id FROM {}", table.quoted()), &[])
        .expect("read");
    let ids = rows
        .iter()
        .map(|r| {
            let id: String = r.get(0);
            id.trim_start_matches("crash-").parse().expect("an id")
        })
        .collect();
    Stored {
        ids,
        records: rows.len(),
    }
}

#[test]
fn a_producer_killed_at_any_moment_loses_no_accepted_row() {
    for point in crash::kill_points(ITEMS as usize) {
        let dir = tempfile::tempdir().expect("dir");
        let table = table("durable_crash");
        let mut c = client();
        c.batch_execute(&batch_postgres::create_documents_table(&table))
            .expect("table");
        let name = table.name().as_str().to_owned();
        let said = crash::run_and_kill(
            "child",
            &[(DIR, dir.path().as_os_str()), (TABLE, OsStr::new(&name))],
            point.kill_after,
            // Batches go out and hang; the child dies with them in flight.
            |_| pause_if(point.pause, Service::Postgres, Duration::from_millis(500)),
        );
        crash::verify_recovery(
            &point,
            &said,
            || stored(&table),
            || {
                let reopened = inserter(dir.path(), &table);
                (reopened.close(Duration::from_secs(60)), reopened.stats())
            },
        );
        drop_table(&mut c, &table);
    }
}
