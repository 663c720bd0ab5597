//! The inserter from every kind of caller: a plain thread, a tokio
//! current-thread or multi-thread runtime, `spawn_blocking`, and a drop
//! inside a runtime. Each case writes 500 records and checks the server's
//! count. Client-level calls (creating the collection, counting) are sync
//! API and go through `spawn_blocking` in async code, as documented.

mod common;

use std::sync::Arc;

use batch_chroma::{ChromaBatchInserter, ChromaRecord, Collection};
use batch_core::BatcherSettings;
use common::{fresh_collection, meta, vector};

const N: usize = 500;

/// A fresh collection, made off the runtime's threads.
async fn collection_async(prefix: &'static str) -> Collection {
    tokio::task::spawn_blocking(move || fresh_collection(prefix))
        .await
        .expect("fresh collection")
}

/// The server's count, read off the runtime's threads.
async fn count_async(collection: &Collection) -> u64 {
    let collection = collection.clone();
    tokio::task::spawn_blocking(move || collection.count().expect("count"))
        .await
        .expect("count")
}

/// Builds an inserter, adds `N` records and flushes, with the sync API,
/// on whatever thread calls it.
fn fill(collection: &Collection) {
    let inserter = ChromaBatchInserter::new(collection.clone(), 100).expect("inserter");
    for i in 0..N {
        inserter
            .add(format!("c{i}"), vector(i, 8), meta(i))
            .expect("add");
    }
    let report = inserter.flush();
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(report.written, N as u64);
}

#[test]
fn from_a_plain_thread() {
    let collection = fresh_collection("ctx-thread");
    std::thread::scope(|s| {
        s.spawn(|| fill(&collection));
    });
    assert_eq!(collection.count().expect("count"), N as u64);
}

#[tokio::test(flavor = "current_thread")]
async fn from_a_current_thread_runtime() {
    let collection = collection_async("ctx-current").await;
    fill(&collection);
    assert_eq!(count_async(&collection).await, N as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_multi_thread_runtime() {
    let collection = collection_async("ctx-multi").await;
    fill(&collection);
    assert_eq!(count_async(&collection).await, N as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_spawn_blocking() {
    let collection = collection_async("ctx-blocking").await;
    let c = collection.clone();
    tokio::task::spawn_blocking(move || fill(&c))
        .await
        .expect("fill");
    assert_eq!(count_async(&collection).await, N as u64);
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_unclosed_in_a_current_thread_runtime() {
    let collection = collection_async("ctx-drop").await;
    let inserter = ChromaBatchInserter::new(collection.clone(), 100).expect("inserter");
    for i in 0..N + 7 {
        inserter
            .add(format!("d{i}"), vector(i, 8), meta(i))
            .expect("add");
    }
    drop(inserter);
    assert_eq!(count_async(&collection).await, (N + 7) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_api_from_spawned_tasks() {
    let collection = collection_async("ctx-async").await;
    // A buffer smaller than what is added, so add_async has to wait.
    let settings = BatcherSettings::builder()
        .batch_size(50)
        .max_pending(100)
        .build()
        .expect("settings");
    let inserter = Arc::new(
        ChromaBatchInserter::with_settings(collection.clone(), settings).expect("inserter"),
    );
    // tokio::spawn takes only `Send` futures.
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let inserter = Arc::clone(&inserter);
            tokio::spawn(async move {
                for i in (t * N / 4)..((t + 1) * N / 4) {
                    inserter
                        .add_async(format!("a{i}"), vector(i, 8), meta(i))
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
    assert_eq!(count_async(&collection).await, N as u64);

    inserter
        .add_with_document_async("doc", vector(1, 8), meta(1), "text")
        .await
        .expect("add_with_document_async");
    inserter
        .add_record_async(ChromaRecord::new("rec", vector(2, 8), meta(2)))
        .await
        .expect("add_record_async");
    let report = inserter.close_async().await;
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(inserter.stats().total_added, N as u64 + 2);
    assert_eq!(count_async(&collection).await, N as u64 + 2);
    let refused = inserter
        .add_async("late", vector(3, 8), meta(3))
        .await
        .expect_err("closed");
    assert_eq!(refused.item.id, "late");
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_api_on_a_current_thread_runtime() {
    let collection = collection_async("ctx-async1").await;
    let settings = BatcherSettings::builder()
        .batch_size(50)
        .max_pending(100)
        .build()
        .expect("settings");
    let inserter =
        ChromaBatchInserter::with_settings(collection.clone(), settings).expect("inserter");
    for i in 0..N {
        inserter
            .add_async(format!("b{i}"), vector(i, 8), meta(i))
            .await
            .expect("add_async");
    }
    let report = inserter.close_async().await;
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(count_async(&collection).await, N as u64);
}
