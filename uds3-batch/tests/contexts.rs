//! The same ingest, 2,000 items into each of the four stores (rows,
//! vectors, documents, graph nodes), run from
//! every place a user calls the library from: a plain thread, a tokio
//! current-thread runtime, a tokio multi-thread runtime (inside a spawned
//! task), `spawn_blocking`, and a second executor (a bare thread-parking
//! `block_on`, no runtime at all). Each run asserts the servers' counts
//! and the inserters' stats.
//!
//! Sync contexts use the sync API (`add`, `close`); async ones use the
//! `*_async` twins and `close_async().await`. The inserters are built
//! inside each context: constructors must neither panic nor refuse there.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use test_support::test_servers;
use uds3_batch::chroma::{ChromaBatchInserter, Collection, metadata};
use uds3_batch::couch::serde_json::json;
use uds3_batch::couch::{CouchDBBatchInserter, CouchDatabase};
use uds3_batch::neo4j::{Neo4jBatchCreator, Neo4jConfig, Neo4jSink, Properties, PropertyValue};
use uds3_batch::postgres::{Connector, DocumentRow, PostgreSQLBatchInserter, TableName};

/// Items per store and context.
const N: usize = 2000;
const BATCH: usize = 250;
const CLOSE: Duration = Duration::from_secs(120);

/// One context's own targets, created beforehand on a plain thread.
struct Targets {
    label: String,
    table: TableName,
    collection: Collection,
    couch: CouchDatabase,
    graph: Neo4jConfig,
    /// A label of this context's own: its nodes are counted by it.
    node_label: String,
}

fn targets(label: &str) -> Targets {
    let unique = test_servers::unique_name(&format!("ctx_{label}"));
    let table = TableName::new(unique.clone()).expect("table name");
    let couch = common::couch(&unique, Duration::from_secs(60));
    couch
        .create_if_missing()
        .expect("create the couch database");
    let collection = common::collection(&unique);
    let graph = common::graph();
    Targets {
        label: label.to_owned(),
        table,
        collection,
        couch,
        graph,
        node_label: unique.to_uppercase(),
    }
}

fn pg_connector() -> Connector {
    common::postgres()
}

/// What each inserter reported as written.
#[derive(Debug, Default, PartialEq)]
struct Written {
    postgres: u64,
    chroma: u64,
    couch: u64,
    neo4j: u64,
}

fn vector(i: usize) -> Vec<f32> {
    (0..8).map(|d| ((i * 8 + d) % 97) as f32 / 97.0).collect()
}

/// The ingest through the sync API.
fn ingest_sync(t: &Targets) -> Written {
    let pg = PostgreSQLBatchInserter::with_table(
        pg_connector(),
        t.table.clone(),
        uds3_batch::BatcherSettings::builder()
            .batch_size(BATCH)
            .build()
            .expect("settings"),
    )
    .expect("postgres inserter");
    pg.ensure_schema().expect("schema");
    let chroma = ChromaBatchInserter::new(t.collection.clone(), BATCH).expect("chroma inserter");
    let couch = CouchDBBatchInserter::new(t.couch.clone(), BATCH).expect("couch inserter");
    let graph = Neo4jBatchCreator::new(t.graph.clone(), BATCH).expect("neo4j creator");
    for i in 0..N {
        let id = format!("{}-{i}", t.label);
        pg.add(DocumentRow::new(id.clone(), format!("/d/{i}"), "law", 1, 1))
            .expect("pg add");
        chroma
            .add(id.clone(), vector(i), metadata([("i", (i as i64).into())]))
            .expect("chroma add");
        couch.add(json!({ "i": i }), Some(&id)).expect("couch add");
        graph
            .upsert_node(&t.node_label, id.clone(), [("i", (i as i64).into())])
            .expect("neo4j add");
    }
    let reports = [
        pg.close(CLOSE).is_complete(),
        chroma.close(CLOSE).is_complete(),
        couch.close(CLOSE).is_complete(),
        graph.close(CLOSE).is_complete(),
    ];
    assert_eq!(reports, [true; 4], "{}: every close is complete", t.label);
    Written {
        postgres: pg.stats().total_added,
        chroma: chroma.stats().total_added,
        couch: couch.stats().total_added,
        neo4j: graph.stats().total_added,
    }
}

/// The same ingest through the async API.
async fn ingest_async(t: &Targets) -> Written {
    let pg = PostgreSQLBatchInserter::with_table(
        pg_connector(),
        t.table.clone(),
        uds3_batch::BatcherSettings::builder()
            .batch_size(BATCH)
            .build()
            .expect("settings"),
    )
    .expect("postgres inserter");
    pg.ensure_schema().expect("schema");
    let chroma = ChromaBatchInserter::new(t.collection.clone(), BATCH).expect("chroma inserter");
    let couch = CouchDBBatchInserter::new(t.couch.clone(), BATCH).expect("couch inserter");
    let graph = Neo4jBatchCreator::new(t.graph.clone(), BATCH).expect("neo4j creator");
    for i in 0..N {
        let id = format!("{}-{i}", t.label);
        pg.add_async(DocumentRow::new(id.clone(), format!("/d/{i}"), "law", 1, 1))
            .await
            .expect("pg add");
        chroma
            .add_async(id.clone(), vector(i), metadata([("i", (i as i64).into())]))
            .await
            .expect("chroma add");
        couch
            .add_async(json!({ "i": i }), Some(&id))
            .await
            .expect("couch add");
        graph
            .upsert_node_async(&t.node_label, id.clone(), [("i", (i as i64).into())])
            .await
            .expect("neo4j add");
    }
    let reports = [
        pg.close_async().await.is_complete(),
        chroma.close_async().await.is_complete(),
        couch.close_async().await.is_complete(),
        graph.close_async().await.is_complete(),
    ];
    assert_eq!(reports, [true; 4], "{}: every close is complete", t.label);
    Written {
        postgres: pg.stats().total_added,
        chroma: chroma.stats().total_added,
        couch: couch.stats().total_added,
        neo4j: graph.stats().total_added,
    }
}

/// What the servers hold for `t`.
fn on_servers(t: &Targets) -> Written {
    let mut client = pg_connector().connect().expect("pg connect");
    let rows: i64 = client
        .query_one(&format!("SELECT count(*) FROM {}", t.table.quoted()), &[])
        .expect("count rows")
        .get(0);
    let mut admin = Neo4jSink::connect(t.graph.clone()).expect("neo4j admin");
    let nodes = admin
        .run_cypher(
            &format!("MATCH (n:{}) RETURN count(n)", t.node_label),
            &Properties::new(),
        )
        .expect("count nodes");
    let nodes = match nodes.first().and_then(|r| r.first()) {
        Some(Some(PropertyValue::Int(n))) => *n as u64,
        other => panic!("count returned {other:?}"),
    };
    Written {
        postgres: rows as u64,
        chroma: t.collection.count().expect("chroma count"),
        couch: t.couch.doc_count().expect("couch count"),
        neo4j: nodes,
    }
}

fn expect_all(t: &Targets, written: Written) {
    let all = N as u64;
    let want = Written {
        postgres: all,
        chroma: all,
        couch: all,
        neo4j: all,
    };
    assert_eq!(written, want, "{}: stats", t.label);
    assert_eq!(on_servers(t), want, "{}: servers", t.label);
    eprintln!(
        "{}: {N} items in each of the four stores, stats = servers",
        t.label
    );
}

#[test]
fn plain_thread() {
    let t = targets("plain");
    let written = std::thread::scope(|s| s.spawn(|| ingest_sync(&t)).join().expect("thread"));
    expect_all(&t, written);
}

#[test]
fn tokio_current_thread() {
    let t = targets("current");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let written = rt.block_on(ingest_async(&t));
    expect_all(&t, written);
}

#[test]
fn tokio_multi_thread() {
    let t = Arc::new(targets("multi"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let task = {
        let t = Arc::clone(&t);
        rt.spawn(async move { ingest_async(&t).await })
    };
    let written = rt.block_on(task).expect("task");
    expect_all(&t, written);
}

#[test]
fn tokio_spawn_blocking() {
    let t = Arc::new(targets("blocking"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let task = {
        let t = Arc::clone(&t);
        rt.spawn_blocking(move || ingest_sync(&t))
    };
    let written = rt.block_on(task).expect("task");
    expect_all(&t, written);
}

#[test]
fn second_executor_without_a_runtime() {
    let t = targets("executor");
    let written = block_on(ingest_async(&t));
    expect_all(&t, written);
}

/// Wakes by unparking the polling thread.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A second executor: polls on this thread, parks between polls.
fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}
