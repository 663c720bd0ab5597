//! `PostgreSQLBatchReader` against the real server: found, missing and
//! duplicate ids in chunks, rows read back equal to what was written, a
//! missing table (not retried), a paused server.

mod common;

// Found, missing and duplicate ids in chunks, many ids, an empty id:
// the conformance kit's reader contract (`test_support::kit::reading`).
test_support::batch_reader_contract!(common::Postgres);

use std::time::Duration;

use batch_core::read::ReadError;
use batch_core::{BatcherSettings, ErrorClass, RetryPolicy};
use batch_postgres::{
    DocumentRow, DocumentsTable, PostgreSQLBatchInserter, PostgreSQLBatchReader, TableName,
};
use common::{client, connector, drop_table, table};

fn row(i: usize) -> DocumentRow {
    let row = DocumentRow::new(
        format!("d{i}"),
        format!("/docs/{i}.pdf"),
        "law",
        i as i64 * 10,
        3,
    );
    if i.is_multiple_of(2) {
        row.quality_score(0.5)
    } else {
        row
    }
}

fn seed(table: &TableName, n: usize) {
    let settings = BatcherSettings::builder()
        .batch_size(500)
        .build()
        .expect("settings");
    let inserter = PostgreSQLBatchInserter::with_table(connector(), table.clone(), settings)
        .expect("inserter");
    inserter.ensure_schema().expect("schema");
    for i in 0..n {
        inserter.add(row(i)).expect("valid row");
    }
    let report = inserter.close(Duration::from_secs(60));
    assert_eq!(report.written, n as u64, "{:?}", report.failed.first());
}

fn few_retries() -> RetryPolicy {
    RetryPolicy::new(
        2,
        Duration::from_millis(10),
        Duration::from_millis(20),
        Duration::from_secs(10),
    )
    .expect("policy")
}

#[test]
fn bad_ids_are_refused_before_any_request() {
    let reader = PostgreSQLBatchReader::new(DocumentsTable::new(connector(), table("bad-id")));
    let err = reader.get_many(&["d0", "d\0"]).unwrap_err();
    assert!(
        matches!(err, ReadError::InvalidId { index: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("NUL"), "{err}");
    assert_eq!(reader.requests_sent(), 0);
}

#[test]
fn a_missing_table_is_not_retried() {
    let t = table("missing");
    let reader = PostgreSQLBatchReader::new(DocumentsTable::new(connector(), t.clone()));
    let err = reader.get_many(&["d0"]).unwrap_err();
    assert!(matches!(err, ReadError::Store { attempts: 1, .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Fatal, "{err}");
    assert!(err.to_string().contains(t.name().as_str()), "{err}");
}

#[test]
fn a_paused_server_is_a_clear_error_after_the_retries() {
    let _one = test_support::test_servers::one_restart_at_a_time();
    let t = table("paused");
    seed(&t, 3);
    let reader = PostgreSQLBatchReader::new(DocumentsTable::new(
        connector().timeout(Duration::from_secs(1)),
        t.clone(),
    ))
    .with_retry(few_retries());
    assert_eq!(
        reader.get_many(&["d0", "d9"]).expect("read").missing,
        ["d9"]
    );
    let paused = common::pause_server();
    let err = reader.get_many(&["d1"]).unwrap_err();
    drop(paused);
    assert!(matches!(err, ReadError::Store { attempts: 2, .. }), "{err}");
    assert!(err.class() != ErrorClass::Fatal, "{err}");
    // Resumed, the same reader reconnects and answers.
    assert!(reader.get_many(&["d1"]).expect("read").contains("d1"));
    drop_table(&mut client(), &t);
}

/// Inside a runtime's worker (where blocking on the session's own runtime
/// would panic), the reader still reads: its requests run on a thread of
/// the library's.
#[tokio::test(flavor = "current_thread")]
async fn reads_from_inside_an_async_runtime() {
    let t = table("in-runtime");
    let seeded = t.clone();
    tokio::task::spawn_blocking(move || seed(&seeded, 5))
        .await
        .expect("seeded");
    let reader = PostgreSQLBatchReader::new(DocumentsTable::new(connector(), t.clone()));
    let rows = reader.get_many(&["d0", "d4", "d5"]).expect("read");
    assert_eq!(rows.missing, ["d5"]);
    assert_eq!(rows.found.len(), 2);
    drop(reader);
    tokio::task::spawn_blocking(move || drop_table(&mut client(), &t))
        .await
        .expect("dropped");
}

/// `get_many_async` waits without blocking the executor: with the server
/// paused the read cannot finish, yet a timer on the same single-threaded
/// runtime fires meanwhile.
#[test]
fn an_async_read_does_not_block_the_runtime() {
    let _one = test_support::test_servers::one_restart_at_a_time();
    let t = table("async-read");
    seed(&t, 3);
    let reader = PostgreSQLBatchReader::new(DocumentsTable::new(connector(), t.clone()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let first = reader.get_many_async(&["d0"]).await.expect("read");
        assert_eq!(first.found.len(), 1);
        let paused = common::pause_server();
        let read = tokio::spawn(reader.get_many_async(&["d1", "d7"]));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!read.is_finished(), "the server is paused: the read waits");
        drop(paused);
        let rows = read.await.expect("joined").expect("read after the resume");
        assert_eq!(rows.missing, ["d7"]);
    });
    drop_table(&mut client(), &t);
}
