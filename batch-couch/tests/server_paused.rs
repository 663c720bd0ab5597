//! The server is paused (SIGSTOP) while it stores a batch, past the
//! client's 1 s timeout, then resumed: the timed-out `_bulk_docs` request
//! is stored after all, and its replay must count those documents as
//! written, not as conflicts. Also: `flush_timeout` bounds a flush on the
//! paused server. Its own test binary with one test, since the pause is
//! seen by every test running at the same time.

mod common;

use std::time::{Duration, Instant};

use batch_core::{BatcherSettings, ErrorClass, RetryPolicy, SinkError};
use batch_couch::{ConflictPolicy, CouchDBBatchInserter, CouchDatabase, CouchOptions};
use common::doc;
use test_support::test_servers::{Service, pause, require, unique_name};

/// Large enough that pouchdb-server takes a few hundred ms to store one
/// batch, so the pause lands while it is storing it.
const BATCH: usize = 1000;
const DOCS: usize = 2500;

fn inserter(label: &str, policy: ConflictPolicy) -> (CouchDatabase, CouchDBBatchInserter) {
    let url = require(Service::Couch);
    let name = unique_name(&format!("t_paused_{label}"));
    let db = CouchDatabase::with_timeout(&url, &name, Duration::from_secs(1)).expect("valid db");
    assert!(db.create_if_missing().expect("create the test database"));
    // Enough retries to outlast the pause (each attempt takes the 1 s
    // timeout while the server is stopped).
    let retry = RetryPolicy::new(
        100,
        Duration::from_millis(100),
        Duration::from_millis(500),
        Duration::from_secs(120),
    )
    .expect("valid retry policy");
    let settings = BatcherSettings::builder()
        .name(label)
        .batch_size(BATCH)
        .retry(retry)
        .build()
        .expect("valid settings");
    let options = CouchOptions::default().conflict_policy(policy);
    let ins = CouchDBBatchInserter::with_options(db.clone(), settings, options)
        .expect("start the inserter");
    (db, ins)
}

fn add(ins: &CouchDBBatchInserter, range: std::ops::Range<usize>) {
    for i in range {
        ins.add(doc(i), Some(&format!("d{i}"))).expect("valid doc");
    }
}

/// One pause while `policy`'s inserter has a batch in flight: the server
/// reads the batch and is stopped `after` the request went out, while
/// storing it. Returns the reads of stored copies: more than none when
/// the pause caught the batch stored but unanswered (the case under
/// test); none when the server had already answered, or its replay came
/// first. Every other outcome is asserted here, whichever happened.
fn pause_mid_batch(policy: ConflictPolicy, label: &str, after: Duration) -> u64 {
    let (db, ins) = inserter(label, policy);
    let before = db.requests_sent();

    // A full batch goes out at once; pause once it is on its way and the
    // server has had a moment to read it.
    add(&ins, 0..BATCH);
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.requests_sent() == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(after);
    let paused = pause(Service::Couch);

    add(&ins, BATCH..DOCS);
    let started = Instant::now();
    let report = ins.flush_timeout(Duration::from_secs(1));
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "{label}: flush_timeout(1 s) on a paused server returned after {waited:?}"
    );
    assert!(
        report.pending > 0,
        "{label}: nothing can be written while paused: {report:?}"
    );
    // A request that timed out may have been applied: CouchError takes
    // batch-core's class for it, so the batcher replays rather than retries.
    let timed_out = db.doc_count().expect_err("the server is paused");
    assert_eq!(
        timed_out.class(),
        ErrorClass::OutcomeUnknown,
        "{label}: {timed_out}"
    );
    // Past several 1 s timeouts of the batch in flight.
    std::thread::sleep(Duration::from_secs(2));
    paused.resume();

    let report = ins.flush();
    let stats = ins.stats();
    // Besides the batcher's `_bulk_docs` requests and the one timed-out
    // count above: `_all_docs` reads of stored copies, made only when a
    // replay met conflicts.
    let reads = db.requests_sent() - before - stats.total_requests - 1;
    let count = db.doc_count().expect("count");
    eprintln!("{label}: server holds {count}, {reads} reads of stored copies, {stats:?}");
    assert!(
        report.failed.is_empty(),
        "{label}: {} handed back, first: {:?}",
        report.failed.len(),
        report.failed.first().map(|f| f.error.to_string())
    );
    assert_eq!(report.pending, 0, "{label}");
    assert_eq!(count, DOCS as u64, "{label}: every doc is stored");
    assert_eq!(
        stats.total_added, count,
        "{label}: added equals the server's count: {stats:?}"
    );
    assert_eq!(stats.total_conflicts, 0, "{label}: {stats:?}");
    assert_eq!(stats.total_failed, 0, "{label}: {stats:?}");
    reads
}

/// How long after the request went out the server is paused, try by try,
/// until a pause catches a batch stored but unanswered: how fast
/// pouchdb-server stores 1,000 documents depends on the machine's load
/// (on an idle one it may answer within 100 ms).
const PAUSE_AFTER_MS: [u64; 5] = [100, 40, 10, 0, 200];

#[test]
fn paused_server_replays_count_own_docs_as_written_and_flush_timeout_bounds_the_wait() {
    for (policy, label) in [
        (ConflictPolicy::Fail, "fail"),
        (ConflictPolicy::Skip, "skip"),
    ] {
        let caught = PAUSE_AFTER_MS.iter().any(|&ms| {
            pause_mid_batch(
                policy,
                &format!("{label}_{ms}ms"),
                Duration::from_millis(ms),
            ) > 0
        });
        assert!(
            caught,
            "{label}: no pause after {PAUSE_AFTER_MS:?} ms caught the timed-out batch stored \
             before its replay (the case under test)"
        );
    }
}
