//! The inserter from every kind of caller: a plain thread, a tokio
//! current-thread or multi-thread runtime, `spawn_blocking`, and a drop
//! inside a runtime. Each case writes 500 documents and checks the
//! server's count. Database-level calls (create, count) are sync API and
//! go through `spawn_blocking` in async code, as documented.

mod common;

use batch_couch::{CouchDBBatchInserter, CouchDatabase};
use common::{doc, fresh_db};

const N: usize = 500;

/// A fresh database, made off the runtime's threads.
async fn db_async(label: &'static str) -> CouchDatabase {
    tokio::task::spawn_blocking(move || fresh_db(label))
        .await
        .expect("fresh database")
}

/// The server's count, read off the runtime's threads.
async fn count_async(db: &CouchDatabase) -> u64 {
    let db = db.clone();
    tokio::task::spawn_blocking(move || db.doc_count().expect("doc_count"))
        .await
        .expect("doc_count")
}

/// Builds an inserter, adds `N` documents and flushes, with the sync API,
/// on whatever thread calls it.
fn fill(db: &CouchDatabase) {
    let inserter = CouchDBBatchInserter::new(db.clone(), 100).expect("inserter");
    for i in 0..N {
        inserter
            .add(doc(i), Some(&format!("doc-{i}")))
            .expect("add");
    }
    let report = inserter.flush();
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(report.written, N as u64);
}

#[test]
fn from_a_plain_thread() {
    let db = fresh_db("ctx_thread");
    std::thread::scope(|s| {
        s.spawn(|| fill(&db));
    });
    assert_eq!(db.doc_count().expect("doc_count"), N as u64);
}

#[tokio::test(flavor = "current_thread")]
async fn from_a_current_thread_runtime() {
    let db = db_async("ctx_current").await;
    fill(&db);
    assert_eq!(count_async(&db).await, N as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_multi_thread_runtime() {
    let db = db_async("ctx_multi").await;
    fill(&db);
    assert_eq!(count_async(&db).await, N as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_spawn_blocking() {
    let db = db_async("ctx_blocking").await;
    let d = db.clone();
    tokio::task::spawn_blocking(move || fill(&d))
        .await
        .expect("fill");
    assert_eq!(count_async(&db).await, N as u64);
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_unclosed_in_a_current_thread_runtime() {
    let db = db_async("ctx_drop").await;
    let inserter = CouchDBBatchInserter::new(db.clone(), 100).expect("inserter");
    for i in 0..N + 7 {
        inserter
            .add(doc(i), Some(&format!("drop-{i}")))
            .expect("add");
    }
    drop(inserter);
    assert_eq!(count_async(&db).await, (N + 7) as u64);
}
