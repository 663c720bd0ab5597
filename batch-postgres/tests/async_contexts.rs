//! Issue 13: the inserter works from every context a caller may be in (a
//! plain thread, a current-thread or multi-thread tokio runtime,
//! `spawn_blocking`), without panicking; found from `#[tokio::main]`, where
//! `PostgreSQLBatchInserter::new` panicked ("Cannot start a runtime from
//! within a runtime").

mod common;

use std::time::Duration;

use batch_core::BatcherSettings;
use batch_postgres::{
    Connector, DocumentRow, PostgreSQLBatchInserter, TableName, TableSink, documents_spec,
};
use common::{connector, count, drop_table, table};

const ITEMS: i64 = 500;

/// Runs `f` on a plain thread of its own: the sync `postgres` client the
/// checks use must not run inside a runtime.
fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().expect("check thread")
}

/// `count(*)` of `table`, then drops it.
fn count_and_drop(table: &TableName) -> i64 {
    let table = table.clone();
    off_runtime(move || {
        let mut client = common::client();
        let n = count(&mut client, &table);
        drop_table(&mut client, &table);
        n
    })
}

fn inserter(table: &TableName) -> PostgreSQLBatchInserter {
    let settings = BatcherSettings::builder()
        .name("pg-async")
        .batch_size(100)
        .build()
        .expect("settings");
    PostgreSQLBatchInserter::with_table(connector(), table.clone(), settings).expect("inserter")
}

fn add_all(inserter: &PostgreSQLBatchInserter) {
    for i in 0..ITEMS {
        inserter
            .add(DocumentRow::new(
                format!("doc-{i}"),
                format!("/d/{i}"),
                "law",
                i,
                1,
            ))
            .expect("add");
    }
}

/// Construct, create the table, add, flush, and check the server's count:
/// the whole sync API from the calling context.
fn round_trip(prefix: &str) {
    let t = table(prefix);
    let ins = inserter(&t);
    ins.ensure_schema().expect("schema");
    add_all(&ins);
    let report = ins.flush();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, ITEMS as u64);
    drop(ins);
    assert_eq!(count_and_drop(&t), ITEMS);
}

#[test]
fn from_a_plain_thread() {
    round_trip("async_plain");
}

#[tokio::test(flavor = "current_thread")]
async fn from_a_current_thread_runtime() {
    round_trip("async_current");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_multi_thread_runtime() {
    round_trip("async_multi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_spawn_blocking() {
    tokio::task::spawn_blocking(|| round_trip("async_blocking"))
        .await
        .expect("spawn_blocking");
}

/// The outside finding: `new` from `#[tokio::main]` panicked.
#[tokio::test(flavor = "current_thread")]
async fn new_inside_a_current_thread_runtime() {
    let ins = PostgreSQLBatchInserter::new(connector(), 10).expect("new");
    let report = ins.close(Duration::from_secs(10));
    assert!(report.is_complete(), "{report:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn ensure_schema_inside_async() {
    let t = table("async_schema");
    let ins = inserter(&t);
    ins.ensure_schema().expect("schema");
    ins.ensure_schema().expect("schema again (IF NOT EXISTS)");
    drop(ins);
    assert_eq!(count_and_drop(&t), 0);
}

/// Dropping without close inside a runtime: the batcher closes (writing
/// what is buffered) and the sink's own runtime must not be dropped on the
/// caller's thread, where tokio would panic.
#[tokio::test(flavor = "current_thread")]
async fn drop_without_close_inside_a_current_thread_runtime() {
    let t = table("async_drop");
    let ins = inserter(&t);
    ins.ensure_schema().expect("schema");
    add_all(&ins);
    drop(ins);
    assert_eq!(count_and_drop(&t), ITEMS);
}

/// A down server is an error from `new`, as on a plain thread, not a panic.
#[tokio::test(flavor = "current_thread")]
async fn a_down_server_is_an_error_inside_async() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let connector = Connector::from_url(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
        .expect("url");
    let err = PostgreSQLBatchInserter::new(connector, 10).expect_err("nothing listens");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

/// A connected sink that never reached a batcher is dropped on the
/// caller's thread, with its runtime: that must not panic inside a runtime.
#[tokio::test(flavor = "current_thread")]
async fn a_connected_sink_drops_inside_async() {
    let spec = documents_spec(table("async_sink")).expect("spec");
    let mut sink = TableSink::<DocumentRow>::new(connector(), spec);
    sink.connect().expect("connect");
    drop(sink);
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

/// The async API: `add_async` / `add_async` from tasks on both
/// runtime flavors (the futures are `Send`), `flush_async`, `close_async`.
/// A small `max_pending` makes adders wait for room.
async fn async_api(prefix: &str) {
    let t = table(prefix);
    let settings = BatcherSettings::builder()
        .name("pg-async-api")
        .batch_size(50)
        .max_pending(100)
        .build()
        .expect("settings");
    let ins = std::sync::Arc::new(
        PostgreSQLBatchInserter::with_table(connector(), t.clone(), settings).expect("inserter"),
    );
    ins.ensure_schema().expect("schema");
    let half = ITEMS / 2;
    let by_fields = {
        let ins = std::sync::Arc::clone(&ins);
        tokio::spawn(async move {
            for i in 0..half {
                let status = format!("s{i}");
                assert_send(
                    ins.add_async(
                        DocumentRow::new(format!("doc-{i}"), "/d", "law", i, 1)
                            .quality_score(0.5)
                            .processing_status(&status),
                    ),
                )
                .await
                .expect("add_async");
            }
        })
    };
    let by_rows = {
        let ins = std::sync::Arc::clone(&ins);
        tokio::spawn(async move {
            for i in half..ITEMS {
                let row = DocumentRow::new(format!("doc-{i}"), "/d", "law", i, 1);
                assert_send(ins.add_async(row)).await.expect("add_async");
            }
        })
    };
    by_fields.await.expect("task");
    by_rows.await.expect("task");
    let report = ins.flush_async().await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, ITEMS as u64);
    ins.add_async(DocumentRow::new("late", "/d", "law", 1, 1))
        .await
        .expect("add_async");
    let report = ins.close_async().await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 1);
    drop(ins);
    assert_eq!(count_and_drop(&t), ITEMS + 1);
}

#[tokio::test(flavor = "current_thread")]
async fn async_api_on_a_current_thread_runtime() {
    async_api("async_api_current").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_api_on_a_multi_thread_runtime() {
    async_api("async_api_multi").await;
}

/// The generic inserter's adder is the batcher's own `add_async`.
#[tokio::test(flavor = "current_thread")]
async fn table_inserter_add_async() {
    use batch_postgres::{DynRow, TableBatchInserter, TableSpec};
    let t = table("async_table");
    let create = format!(
        "CREATE TABLE {} (id BIGINT PRIMARY KEY, v TEXT)",
        t.quoted()
    );
    off_runtime(move || common::client().batch_execute(&create).expect("create"));
    let spec = TableSpec::new(t.clone(), ["id", "v"], ["id"]).expect("spec");
    let ins = TableBatchInserter::<DynRow>::new(connector(), spec, 64).expect("inserter");
    for i in 0..ITEMS {
        let row: DynRow = vec![Box::new(i), Box::new(format!("v{i}"))];
        ins.add_async(row).await.expect("add_async");
    }
    let report = ins.close_async().await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, ITEMS as u64);
    drop(ins);
    assert_eq!(count_and_drop(&t), ITEMS);
}
