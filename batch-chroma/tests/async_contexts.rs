//! The inserter from every kind of caller: a plain thread, a tokio
//! current-thread or multi-thread runtime, `spawn_blocking`, and a drop
//! inside a runtime. Each case writes 500 records and checks the server's
//! count. Client-level calls (creating the collection, counting) are sync
//! API and go through `spawn_blocking` in async code, as documented.

mod common;

use batch_chroma::{ChromaBatchInserter, Collection};
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
