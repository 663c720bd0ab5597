//! The inserter from every kind of caller: a plain thread, a tokio
//! current-thread or multi-thread runtime, `spawn_blocking`, and a drop
//! inside a runtime. Each case writes 500 documents and checks the
//! server's count. Database-level calls (create, count) are sync API and
//! go through `spawn_blocking` in async code, as documented.

mod common;

use std::sync::Arc;

use batch_core::BatcherSettings;
use batch_couch::{CouchDBBatchInserter, CouchDatabase, CouchDoc, DEFAULT_MAX_DOC_BYTES};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_api_from_spawned_tasks() {
    let db = db_async("ctx_async").await;
    // A buffer smaller than what is added, so add_async has to wait.
    let settings = BatcherSettings::builder()
        .batch_size(50)
        .max_pending(100)
        .build()
        .expect("settings");
    let inserter =
        Arc::new(CouchDBBatchInserter::with_settings(db.clone(), settings).expect("inserter"));
    // tokio::spawn takes only `Send` futures.
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let inserter = Arc::clone(&inserter);
            tokio::spawn(async move {
                for i in (t * N / 4)..((t + 1) * N / 4) {
                    inserter
                        .add_async(doc(i), Some(&format!("a-{i}")))
                        .await
                        .expect("add_async");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let report = inserter.flush_async().await;
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(count_async(&db).await, N as u64);

    let prepared =
        CouchDoc::new(doc(N), Some("prepared".into()), DEFAULT_MAX_DOC_BYTES).expect("valid doc");
    inserter
        .add_doc_async(prepared)
        .await
        .expect("add_doc_async");
    let refused = inserter
        .add_async(serde_json::json!([1, 2]), None)
        .await
        .expect_err("not an object");
    assert!(
        refused.error.to_string().contains("object"),
        "{}",
        refused.error
    );
    let report = inserter.close_async().await;
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(inserter.stats().total_added, N as u64 + 1);
    assert_eq!(count_async(&db).await, N as u64 + 1);
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_api_on_a_current_thread_runtime() {
    let db = db_async("ctx_async1").await;
    let settings = BatcherSettings::builder()
        .batch_size(50)
        .max_pending(100)
        .build()
        .expect("settings");
    let inserter = CouchDBBatchInserter::with_settings(db.clone(), settings).expect("inserter");
    for i in 0..N {
        inserter
            .add_async(doc(i), Some(&format!("b-{i}")))
            .await
            .expect("add_async");
    }
    let report = inserter.close_async().await;
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(count_async(&db).await, N as u64);
}
