//! The `add_many` contract as every backend's tests check it on their
//! server: the refused items come back by their index with the error
//! `add` gives each of them, and the rest are written in the batches
//! `add` would have sent.

use crate::{AddManyError, BatchError, FlushReport, Stats};

/// Asserts that `back` holds exactly the items at the indexes `bad`, in
/// that order, each refused as invalid with the very message `add` gives
/// the same item (`single(index)`, the text of `add`'s error for it).
///
/// # Panics
/// When any of that does not hold: this is test tooling.
pub fn assert_refused_as_add<T, E: std::fmt::Display>(
    back: &AddManyError<T, E>,
    bad: &[usize],
    mut single: impl FnMut(usize) -> String,
) {
    assert_eq!(back.indexes(), bad, "the refused items' indexes");
    for (index, failed) in &back.failed {
        assert!(
            matches!(failed.error, BatchError::Invalid(_)),
            "item {index}: {}",
            failed.error
        );
        assert_eq!(
            failed.error.to_string(),
            single(*index),
            "item {index}: add_many and add refuse it differently"
        );
    }
}

/// Asserts that a closed batcher's `report` is complete with `written`
/// items written, and that its stats since `before` count them as written,
/// in `requests` requests and no fallback: the batches `add` in a loop
/// would have sent.
///
/// # Panics
/// When any of that does not hold: this is test tooling.
pub fn assert_written_as_add<T: std::fmt::Debug, E: std::fmt::Debug>(
    report: &FlushReport<T, E>,
    before: &Stats,
    after: &Stats,
    (written, requests): (u64, u64),
) {
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, written, "{report:?}");
    assert_eq!(
        (
            after.total_added - before.total_added,
            after.total_requests - before.total_requests,
            after.total_fallbacks - before.total_fallbacks,
        ),
        (written, requests, 0),
        "(written, requests, fallbacks): {after:?}"
    );
}
