//! Issue 13: the inserter works from every context a caller may be in,
//! without panicking; found from `#[tokio::main]`, where
//! `PostgreSQLBatchInserter::new` panicked ("Cannot start a runtime from
//! within a runtime"). The conformance kit's runtime contexts
//! (`test_support::kit::contexts`: a plain thread, tokio current-thread and
//! multi-thread runtimes, `spawn_blocking`, a drop inside a runtime, the
//! async API from spawned tasks and from a runtime's only thread), and
//! what is PostgreSQL's own: construction, schema, a down server, a sink's
//! drop and the generic table inserter inside a runtime.

mod common;

use std::time::Duration;

use batch_core::BatcherSettings;
use batch_postgres::{
    Connector, DocumentRow, PostgreSQLBatchInserter, TableName, TableSink, documents_spec,
};
use common::{connector, count, drop_table, on_plain_thread, table};

const ITEMS: i64 = 500;

test_support::runtime_contexts!(common::Postgres);

/// `count(*)` of `table`, then drops it.
fn count_and_drop(table: &TableName) -> i64 {
    let table = table.clone();
    on_plain_thread(move || {
        let mut client = common::client();
        let n = count(&mut client, &table);
        drop_table(&mut client, &table);
        n
    })
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
    let ins =
        PostgreSQLBatchInserter::with_table(connector(), t.clone(), BatcherSettings::default())
            .expect("inserter");
    ins.ensure_schema().expect("schema");
    ins.ensure_schema().expect("schema again (IF NOT EXISTS)");
    drop(ins);
    assert_eq!(count_and_drop(&t), 0);
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

/// The generic inserter's adder is the batcher's own `add_async`.
#[tokio::test(flavor = "current_thread")]
async fn table_inserter_add_async() {
    use batch_postgres::{DynRow, TableBatchInserter, TableSpec};
    let t = table("async_table");
    let create = format!(
        "CREATE TABLE {} (id BIGINT PRIMARY KEY, v TEXT)",
        t.quoted()
    );
    on_plain_thread(move || common::client().batch_execute(&create).expect("create"));
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
