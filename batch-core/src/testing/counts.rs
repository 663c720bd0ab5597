//! The one meaning of written and conflict, as every backend's tests
//! check it against what their server holds (see [`Stats`]).

use crate::Stats;

/// Asserts that a batcher whose items are all resolved counted `written`
/// items as written (`total_added`) and `conflicts` as conflicts, failed
/// none, and that the counters add up to what it received
/// (`total_added + total_conflicts + total_failed + pending + in_flight ==
/// total_received`). `case` names the scenario in the message.
///
/// # Panics
/// When any of that does not hold: this is test tooling.
pub fn assert_counted(stats: &Stats, written: u64, conflicts: u64, case: &str) {
    assert_eq!(
        (stats.total_added, stats.total_conflicts, stats.total_failed),
        (written, conflicts, 0),
        "{case}: (written, conflicts, failed) differ from what the server holds: {stats:?}"
    );
    assert_adds_up(stats, case);
}

/// Asserts that every item a batcher received is counted once:
/// `total_added + total_conflicts + total_failed + pending + in_flight ==
/// total_received`. `case` names the scenario in the message.
///
/// # Panics
/// When it does not hold: this is test tooling.
pub fn assert_adds_up(stats: &Stats, case: &str) {
    assert_eq!(
        stats.total_added
            + stats.total_conflicts
            + stats.total_failed
            + stats.pending
            + stats.in_flight,
        stats.total_received,
        "{case}: the counters do not add up to the items received: {stats:?}"
    );
}
