//! The failover scenario of `tests/failover.rs` and
//! `tests/failover_durable.rs`: a primary and a synchronous streaming
//! standby of their own (`test_support::test_servers::postgres::PgPair`, no
//! shared server), reached by one multi-host URL with
//! `target_session_attrs=read-write`. Threads add rows; mid-ingest the
//! standby is promoted, then the old primary is killed with SIGKILL. The
//! inserter must reconnect through the same host list to the new primary,
//! replay the batches whose commit never answered, and finish with every
//! row on the new primary exactly once and every row counted once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use batch_core::{BatcherSettings, RetryPolicy, Stats};
use batch_postgres::{Connector, DocumentRow, PostgreSQLBatchInserter, TableName};
use postgres::{Client, NoTls};
use test_support::test_servers::postgres::{PgPair, Replication};

/// Rows added in all.
pub const ROWS: u64 = 20_000;
const THREADS: u64 = 4;
const BATCH: usize = 500;
const IN_FLIGHT: usize = 3;
/// The promotion starts once this many rows are written: mid-ingest.
const PROMOTE_AT: u64 = ROWS / 4;
/// Each request's deadline: a commit waiting for the standby that left
/// ends as an unknown outcome after this, not after the default minute.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Longer than any wait the scenario needs; only a hang guard.
const GUARD: Duration = Duration::from_secs(120);

/// Row `id`; every column differs from row to row, so a row stored with
/// another row's values would show.
pub fn row(id: u64) -> DocumentRow {
    DocumentRow::new(
        format!("fo-{id:05}"),
        format!("/docs/{id}.pdf"),
        format!("class-{}", id % 7),
        i64::try_from(id).expect("small") * 3,
        i64::try_from(id % 13).expect("small"),
    )
    .created_at(UNIX_EPOCH + Duration::from_secs(1_700_000_000 + id))
    .quality_score(id as f64 / ROWS as f64)
    .processing_status(format!("status-{}", id % 3))
}

fn inserter(url: &str, table: &TableName, durable: Option<&Path>) -> PostgreSQLBatchInserter {
    let connector = Connector::from_url(url)
        .expect("multi-host URL")
        .timeout(REQUEST_TIMEOUT);
    // Retries fast and long enough to outlast the failover (the old
    // primary's commits hang for up to REQUEST_TIMEOUT, then reconnects
    // land on the new primary).
    let retry = RetryPolicy::new(
        1000,
        Duration::from_millis(50),
        Duration::from_millis(500),
        Duration::from_secs(120),
    )
    .expect("retry policy");
    let mut settings = BatcherSettings::builder()
        .name("pg-failover")
        .batch_size(BATCH)
        .max_in_flight(IN_FLIGHT)
        .retry(retry);
    if let Some(dir) = durable {
        settings = settings.durable(dir);
    }
    let settings = settings.build().expect("settings");
    PostgreSQLBatchInserter::with_table(connector, table.clone(), settings).expect("inserter")
}

/// Runs the scenario with `replication`, the durable buffer in `durable`
/// if given, and asserts that nothing was lost, doubled or miscounted.
pub fn failover_loses_nothing(replication: Replication, durable: Option<&Path>) {
    let pair = PgPair::start(replication).expect("primary and standby");
    let url = pair.url();
    let table = TableName::new(test_support::test_servers::unique_name("failover")).expect("name");
    let ins = Arc::new(inserter(&url, &table, durable));
    ins.ensure_schema().expect("schema on the primary");

    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let ins = Arc::clone(&ins);
            std::thread::spawn(move || {
                for id in (t..ROWS).step_by(THREADS as usize) {
                    if let Err(f) = ins.add(row(id)) {
                        panic!("add of {} refused: {}", f.item.document_id, f.error);
                    }
                }
            })
        })
        .collect();

    let start = Instant::now();
    while ins.stats().total_added < PROMOTE_AT {
        assert!(start.elapsed() < GUARD, "no progress: {:?}", ins.stats());
        sleep(Duration::from_millis(5));
    }
    let before = ins.stats();
    pair.promote_standby().expect("promote");
    let promoted = ins.stats();
    assert!(
        promoted.total_added < ROWS,
        "the promotion came after the ingest: {promoted:?}"
    );
    // The old primary's commits now wait for the standby that left. Once
    // one has passed its deadline (an unknown outcome) the batcher replays
    // it: it reconnects through the host list and lands on the old primary
    // again, which still accepts writes, and the replay waits there behind
    // the lock of its own first attempt (still committing). Only once a
    // replay waits there does the old primary die. (The batcher counts
    // retries when a batch ends, so the server is asked.)
    // (Asynchronous replication, only run to show what the test catches:
    // nothing waits there, the old primary dies at once.)
    let start = Instant::now();
    while replication == Replication::Synchronous && replays_waiting_on_old_primary(&pair) == 0 {
        assert!(
            start.elapsed() < GUARD,
            "no replay reached the old primary: {:?}",
            ins.stats()
        );
        sleep(Duration::from_millis(20));
    }
    let at_kill = ins.stats();
    let waiting = replays_waiting_on_old_primary(&pair);
    pair.kill_primary().expect("kill -9 the old primary");
    eprintln!(
        "before the promotion: {before:?}\nafter it: {promoted:?}\n\
         at the kill ({waiting} replays waiting on the old primary): {at_kill:?}"
    );

    for p in producers {
        p.join().expect("producer");
    }
    let report = ins.close(GUARD);
    // One line per distinct error, so that a failure names its cause in
    // the first lines of the output even when thousands of rows failed.
    let mut errors: std::collections::BTreeMap<String, (usize, String)> = Default::default();
    for f in &report.failed {
        let e = errors.entry(f.error.to_string()).or_default();
        e.0 += 1;
        e.1 = f.item.document_id.clone();
    }
    for (error, (count, last)) in &errors {
        eprintln!("FAILED {count} row(s), e.g. {last}: {error}");
    }
    assert!(
        report.is_complete(),
        "{} row(s) not written, {} pending, not waited: {:?}",
        report.failed.len(),
        report.pending,
        report.not_waited
    );
    let stats = ins.stats();
    eprintln!("after close: {stats:?}");

    // The new primary: every row exactly once, with its own values.
    let mut client = Client::connect(&pair.standby_url(), NoTls).expect("the new primary");
    let quoted = table.quoted();
    let counted: i64 = client
        .query_one(
            &format!("SELECT count(*), count(DISTINCT document_id) FROM {quoted}"),
            &[],
        )
        .map(|r| {
            let (all, distinct): (i64, i64) = (r.get(0), r.get(1));
            assert_eq!(all, distinct, "a document_id is stored twice");
            all
        })
        .expect("count");
    let stored: HashMap<String, postgres::Row> = client
        .query(
            &format!(
                "SELECT document_id, file_path, classification, content_length, \
                 legal_terms_count, created_at, quality_score, processing_status FROM {quoted}"
            ),
            &[],
        )
        .expect("read back")
        .into_iter()
        .map(|r| (r.get::<_, String>(0), r))
        .collect();
    let missing: Vec<u64> = (0..ROWS)
        .filter(|&id| !stored.contains_key(&row(id).document_id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {ROWS} rows missing on the new primary, e.g. {:?}; {stats:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(counted as u64, ROWS, "rows that were never added");
    for id in 0..ROWS {
        let want = row(id);
        let got = &stored[&want.document_id];
        let values = (
            got.get::<_, String>(1),
            got.get::<_, String>(2),
            got.get::<_, i64>(3),
            got.get::<_, i64>(4),
            got.get::<_, SystemTime>(5),
            got.get::<_, Option<f64>>(6),
            got.get::<_, String>(7),
        );
        assert_eq!(
            values,
            (
                want.file_path.clone(),
                want.classification.clone(),
                want.content_length,
                want.legal_terms_count,
                want.created_at,
                want.quality_score,
                want.processing_status.clone(),
            ),
            "row {}",
            want.document_id
        );
    }
    assert_counts(&stats);
    if let Some(dir) = durable {
        // Every item resolved: the buffer holds nothing to replay.
        drop(ins);
        let reopened = inserter(&url, &table, Some(dir));
        let report = reopened.close(GUARD);
        assert!(report.is_complete());
        let stats = reopened.stats();
        assert_eq!(stats.total_replayed, 0, "left in the buffer: {stats:?}");
        assert_eq!(stats.total_received, 0, "{stats:?}");
    }
}

/// Client sessions on the old primary waiting for a lock: replays behind
/// their first attempt, whose commit waits for the standby that left.
fn replays_waiting_on_old_primary(pair: &PgPair) -> u64 {
    pair.query(
        true,
        "SELECT count(*) FROM pg_stat_activity \
         WHERE backend_type = 'client backend' AND wait_event_type = 'Lock'",
    )
    .expect("pg_stat_activity of the old primary")
    .parse()
    .expect("a count")
}

/// Every row counted once. The rows are fresh, so the only rows a write can
/// find already stored are those of a replay whose first attempt committed
/// after all (its answer lost in the failover); batch-postgres' replay
/// counts a row stored exactly as sent as written, not as a conflict. So:
/// written == all rows, no conflict, none failed, and the failover showed
/// in retries.
fn assert_counts(stats: &Stats) {
    assert_eq!(
        stats.total_added + stats.total_conflicts,
        ROWS,
        "each row counted once: {stats:?}"
    );
    assert_eq!(stats.total_failed, 0, "{stats:?}");
    assert_eq!(stats.total_added, ROWS, "{stats:?}");
    assert_eq!(stats.total_conflicts, 0, "{stats:?}");
    assert_eq!(stats.total_received, ROWS, "{stats:?}");
    assert!(
        stats.total_retries > 0,
        "the failover left no batch to retry: {stats:?}"
    );
}
