//! PostgreSQL failover: a primary and a synchronous streaming standby of
//! the test's own, one multi-host URL with `target_session_attrs=read-write`;
//! the standby is promoted mid-ingest, then the old primary is killed with
//! SIGKILL. Every row ends up on the new primary exactly once and is
//! counted once (see `common/failover.rs`). Needs Debian's PostgreSQL
//! binaries, no shared server.

#[path = "common/failover.rs"]
mod failover;

use test_support::test_servers::postgres::Replication;

#[test]
fn promotion_then_kill_of_the_primary_loses_and_doubles_nothing() {
    failover::failover_loses_nothing(Replication::Synchronous, None);
}
