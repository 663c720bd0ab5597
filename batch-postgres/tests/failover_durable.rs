//! The failover of `tests/failover.rs` with the durable buffer: the same
//! assertions, and the buffer holds nothing once the inserter is closed.

#[path = "common/failover.rs"]
mod failover;

use test_support::test_servers::postgres::Replication;

#[test]
fn failover_with_the_durable_buffer_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    failover::failover_loses_nothing(Replication::Synchronous, Some(dir.path()));
}
