//! A request the server rolled back as deadlocked ([`SinkError::is_deadlock`])
//! is retried whole, counted in `total_deadlocks` once per attempt, and its
//! items are counted once.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use batch_core::testing::deadlock::DeadlocksFirst;
use batch_core::{Batcher, BatcherSettings};

#[test]
fn a_deadlocked_batch_is_retried_whole_and_each_deadlock_counted() {
    let settings = BatcherSettings::builder().batch_size(10).build().unwrap();
    let batcher = Batcher::new(DeadlocksFirst { deadlocks: 2 }, settings).unwrap();
    for i in 0..10 {
        batcher.add(i).unwrap();
    }
    let report = batcher.flush();
    let stats = batcher.stats();
    assert!(report.is_complete(), "{:?}", report.failed);
    assert_eq!(report.written, 10);
    assert_eq!(
        (
            stats.total_added,
            stats.total_deadlocks,
            stats.total_retries,
            stats.total_requests,
            stats.total_fallbacks
        ),
        (10, 2, 2, 3, 0),
        "{stats:?}"
    );
    assert_eq!(batcher.get_stats()["total_deadlocks"], 2);
}
