//! The backend conformance kit (feature `kit`): behaviours every backend
//! shares, written once and generically, run by each backend's tests
//! against its real server through the small [`Backend`] trait its test
//! module implements. A backend's own test files keep only what is
//! specific to its protocol.
//!
//! Each behaviour is a module of generic functions plus a macro that
//! declares its `#[test]`s in the calling test file, e.g.
//! `test_support::runtime_contexts!(common::Chroma);`.

pub mod add_many;
pub mod contexts;
pub mod counts;
pub mod durable;
pub mod paused;
pub mod reading;
pub mod restart;
pub mod tls;

use std::time::Duration;

use batch_core::{Batcher, BatcherSettings, Sink, Stats};

use crate::test_servers::Service;

/// What the kit needs of a backend: a fresh place on its server, an
/// inserter writing there, items, and what the server holds. The methods
/// block (the kit calls them off a runtime's threads where it must).
pub trait Backend: 'static {
    /// The backend's sink (its items print in failure messages).
    type Sink: Sink<Item: std::fmt::Debug>;
    /// Its inserter.
    type Inserter: Send + Sync + 'static;
    /// Where items go: a collection, a database, a table, a label pair.
    type Target: Clone + Send + Sync + 'static;

    /// The test server, for the behaviours that stop or pause it.
    const SERVICE: Service;

    /// A fresh, empty target whose name starts with `prefix`.
    fn fresh(prefix: &str) -> Self::Target;
    /// An inserter writing to `target` with `settings`.
    fn inserter(target: &Self::Target, settings: BatcherSettings) -> Self::Inserter;
    /// [`inserter`](Self::inserter) whose client gives up on a request
    /// after `timeout` (a paused server never answers).
    fn inserter_with_timeout(
        target: &Self::Target,
        settings: BatcherSettings,
        timeout: Duration,
    ) -> Self::Inserter;
    /// The batcher `inserter` writes through (its `batcher()`): the kit
    /// adds the sink's items with the batcher's own `add`, which an
    /// inserter's UDS3-shaped `add` hides.
    fn batcher(inserter: &Self::Inserter) -> &Batcher<Self::Sink>;
    /// Item `i` for `target`; items with different `(prefix, i)` are
    /// different records on the server (their keys differ).
    fn item(target: &Self::Target, prefix: &str, i: usize) -> <Self::Sink as Sink>::Item;
    /// Item `i`, made invalid: `add` refuses it with
    /// [`BatchError::Invalid`](batch_core::BatchError::Invalid) (the
    /// sink's item check). Backends that refuse items for several reasons
    /// give an even `i` one reason and an odd `i` another, so that the kit
    /// sees each handed back.
    fn invalid_item(target: &Self::Target, prefix: &str, i: usize) -> <Self::Sink as Sink>::Item;
    /// How many items the server holds in `target`.
    fn count(target: &Self::Target) -> u64;
}

/// Writes items `range` of `prefix` to `target` with the sync API, through
/// an inserter with `settings`, and checks that every one was written.
pub fn write<B: Backend>(
    target: &B::Target,
    prefix: &str,
    range: std::ops::Range<usize>,
    settings: BatcherSettings,
) {
    write_through::<B>(&B::inserter(target, settings), target, prefix, range);
}

/// [`write()`] through `inserter` (one reached some other way, e.g. over
/// TLS); returns its batcher's stats after the flush.
pub fn write_through<B: Backend>(
    inserter: &B::Inserter,
    target: &B::Target,
    prefix: &str,
    range: std::ops::Range<usize>,
) -> Stats {
    let batcher = B::batcher(inserter);
    let count = range.len() as u64;
    for i in range {
        batcher.add(B::item(target, prefix, i)).expect("add");
    }
    let report = batcher.flush();
    assert!(
        report.is_complete(),
        "{:?}",
        report.failed.first().map(|f| f.error.to_string())
    );
    assert_eq!(report.written, count);
    batcher.stats()
}

/// Settings with a batch of `batch` items and everything else default.
pub(crate) fn batches_of(batch: usize) -> BatcherSettings {
    BatcherSettings::builder()
        .batch_size(batch)
        .build()
        .expect("settings")
}

/// Runs the blocking `f` off the runtime's threads.
async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("a blocking call off the runtime")
}

/// A fresh target, made off the runtime's threads.
async fn fresh_async<B: Backend>(prefix: &'static str) -> B::Target {
    off_runtime(move || B::fresh(prefix)).await
}

/// The server's count, read off the runtime's threads.
async fn count_async<B: Backend>(target: &B::Target) -> u64 {
    let target = target.clone();
    off_runtime(move || B::count(&target)).await
}
