//! The inserter from every kind of caller: a plain thread, a tokio
//! current-thread or multi-thread runtime, `spawn_blocking`, a drop
//! inside a runtime, and the async API from spawned tasks, from a
//! runtime's only thread and from a second executor that is not tokio. Each case writes its items and checks the
//! server's count. Setting up and counting are blocking calls and go
//! through `spawn_blocking` in async code, as the docs tell users to.

use std::sync::Arc;

use batch_core::{BatchError, BatcherSettings};

use super::{Backend, batches_of, count_async, fresh_async, off_runtime, write};

/// Items each case writes.
pub const N: usize = 500;

/// Declares the runtime-context tests for backend `$backend` (a type
/// implementing [`Backend`]) in the calling test file; needs `tokio` with
/// the `macros` and `rt-multi-thread` features among its dev-dependencies.
#[macro_export]
macro_rules! runtime_contexts {
    ($backend:ty) => {
        #[test]
        fn from_a_plain_thread() {
            $crate::kit::contexts::from_a_plain_thread::<$backend>();
        }

        #[::tokio::test(flavor = "current_thread")]
        async fn from_a_current_thread_runtime() {
            $crate::kit::contexts::sync_api_on_a_runtime_thread::<$backend>("ctx-current").await;
        }

        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn from_a_multi_thread_runtime() {
            $crate::kit::contexts::sync_api_on_a_runtime_thread::<$backend>("ctx-multi").await;
        }

        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn from_spawn_blocking() {
            $crate::kit::contexts::from_spawn_blocking::<$backend>().await;
        }

        #[::tokio::test(flavor = "current_thread")]
        async fn dropped_unclosed_in_a_current_thread_runtime() {
            $crate::kit::contexts::dropped_unclosed::<$backend>().await;
        }

        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn the_async_api_from_spawned_tasks() {
            $crate::kit::contexts::async_api_from_spawned_tasks::<$backend>().await;
        }

        #[::tokio::test(flavor = "current_thread")]
        async fn the_async_api_on_a_current_thread_runtime() {
            $crate::kit::contexts::async_api_on_the_only_thread::<$backend>().await;
        }

        #[test]
        fn the_async_api_without_a_runtime() {
            $crate::kit::contexts::async_api_without_a_runtime::<$backend>();
        }
    };
}

/// Builds an inserter, adds `N` items and flushes, with the sync API, on
/// whatever thread calls it.
pub fn fill<B: Backend>(target: &B::Target, prefix: &str) {
    write::<B>(target, prefix, 0..N, batches_of(100));
}

/// The sync API from a plain thread.
pub fn from_a_plain_thread<B: Backend>() {
    let target = B::fresh("ctx-thread");
    std::thread::scope(|s| {
        s.spawn(|| fill::<B>(&target, "t"));
    });
    assert_eq!(B::count(&target), N as u64);
}

/// The sync API called on a runtime's thread (current-thread or
/// multi-thread, as the test's runtime is).
pub async fn sync_api_on_a_runtime_thread<B: Backend>(prefix: &'static str) {
    let target = fresh_async::<B>(prefix).await;
    fill::<B>(&target, "r");
    assert_eq!(count_async::<B>(&target).await, N as u64);
}

/// The sync API inside `spawn_blocking`.
pub async fn from_spawn_blocking<B: Backend>() {
    let target = fresh_async::<B>("ctx-blocking").await;
    let t = target.clone();
    off_runtime(move || fill::<B>(&t, "b")).await;
    assert_eq!(count_async::<B>(&target).await, N as u64);
}

/// An inserter dropped without `close` on a runtime's only thread writes
/// everything it was given (Drop closes, and must not hang there).
pub async fn dropped_unclosed<B: Backend>() {
    let target = fresh_async::<B>("ctx-drop").await;
    let inserter = B::inserter(&target, batches_of(100));
    for i in 0..N + 7 {
        B::batcher(&inserter)
            .add(B::item(&target, "d", i))
            .expect("add");
    }
    drop(inserter);
    assert_eq!(count_async::<B>(&target).await, (N + 7) as u64);
}

/// Settings whose bound on pending items is below what is added, so
/// `add_async` has to wait for room.
fn tight() -> BatcherSettings {
    BatcherSettings::builder()
        .batch_size(50)
        .max_pending(100)
        .build()
        .expect("settings")
}

/// The async API from four spawned tasks (`tokio::spawn` takes only
/// `Send` futures); then `close_async`, and an add after it is refused.
pub async fn async_api_from_spawned_tasks<B: Backend>() {
    let target = fresh_async::<B>("ctx-async").await;
    let inserter = Arc::new(B::inserter(&target, tight()));
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let inserter = Arc::clone(&inserter);
            let target = target.clone();
            tokio::spawn(async move {
                for i in (t * N / 4)..((t + 1) * N / 4) {
                    B::batcher(&inserter)
                        .add_async(B::item(&target, "a", i))
                        .await
                        .expect("add_async");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let report = B::batcher(&inserter).flush_async().await;
    assert!(
        report.is_complete(),
        "{:?}",
        report.failed.first().map(|f| f.error.to_string())
    );
    assert_eq!(count_async::<B>(&target).await, N as u64);
    let report = B::batcher(&inserter).close_async().await;
    assert!(report.is_complete());
    assert_eq!(B::batcher(&inserter).stats().total_added, N as u64);
    let refused = B::batcher(&inserter)
        .add_async(B::item(&target, "late", 0))
        .await
        .expect_err("closed");
    assert!(
        matches!(refused.error, BatchError::Closed),
        "{}",
        refused.error
    );
    assert_eq!(count_async::<B>(&target).await, N as u64);
}

/// The async API on a current-thread runtime: waiting for room must not
/// block the only thread, which the writes need too.
pub async fn async_api_on_the_only_thread<B: Backend>() {
    let target = fresh_async::<B>("ctx-async1").await;
    add_async_and_close::<B>(&target, "o").await;
    assert_eq!(count_async::<B>(&target).await, N as u64);
}

/// The async API driven by a second executor (a thread that polls and
/// parks, no tokio): the library's futures must wake their task, not rely
/// on a runtime. The inserter is built inside the executor too.
pub fn async_api_without_a_runtime<B: Backend>() {
    let target = B::fresh("ctx-executor");
    batch_core::testing::block_on::block_on(add_async_and_close::<B>(&target, "e"));
    assert_eq!(B::count(&target), N as u64);
}

/// Builds an inserter that must wait for room, adds `N` items with
/// `add_async` and closes it with `close_async`: everything written.
async fn add_async_and_close<B: Backend>(target: &B::Target, prefix: &str) {
    let inserter = B::inserter(target, tight());
    for i in 0..N {
        B::batcher(&inserter)
            .add_async(B::item(target, prefix, i))
            .await
            .expect("add_async");
    }
    let report = B::batcher(&inserter).close_async().await;
    assert!(
        report.is_complete(),
        "{:?}",
        report.failed.first().map(|f| f.error.to_string())
    );
}
