//! Issue 30, defect 4: a failure handler that calls its own batcher
//! (`add`, `add_async`, `flush`, `flush_timeout`, `flush_async`, `close`,
//! `close_async`) runs on the thread that writes the batches; anything it
//! waits for there only that thread could give, so it hung the batcher
//! forever. Each call is made from the handler, with one batch in flight
//! (the flusher's thread) and with a pool of writers: nothing hangs, every
//! item ends exactly once (written, or handed back), and the counters add
//! up.
//!
//! Each scenario runs on a thread of its own, and the test waits for it at
//! most a minute: a hang detector, so that a regression fails instead of
//! hanging CI, not a timing assert (the scenarios take milliseconds).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use batch_core::testing::block_on::block_on;
use batch_core::testing::counts::assert_adds_up;
use batch_core::testing::fake::{FakeItem, FakeScript};
use batch_core::testing::harness::{items_bad_where, quick_retry, start};
use batch_core::{BatchError, BatcherSettings, WhenFull};

/// What the handler calls on its own batcher, once per failed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Add,
    AddAsync,
    Flush,
    FlushTimeout,
    FlushAsync,
    Close,
    CloseAsync,
}

/// Items the main thread adds; every even one is bad and fails.
const ITEMS: u64 = 40;
/// Ids of the items the handler adds: the failed item's id plus this.
const READDED: u64 = 10_000;

/// Where every item ended, as seen by the test.
#[derive(Default)]
struct Seen {
    /// Failed items the handler received.
    handled: Vec<u64>,
    /// Items the handler's `add` accepted.
    readded: Vec<u64>,
    /// Items the handler's `add` handed back, with their error.
    readd_refused: Vec<(u64, String)>,
    /// Failed items in the reports the handler's flush or close returned.
    handler_reports: Vec<u64>,
    /// `not_waited` of those reports.
    not_waited: Vec<Option<&'static str>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs one scenario and checks where every item ended. Returns the
/// handler's view, for call-specific checks.
fn scenario(call: Call, max_in_flight: usize, max_pending: usize) -> Seen {
    let settings = BatcherSettings::builder()
        .name(format!("reentry-{call:?}-{max_in_flight}-{max_pending}"))
        .batch_size(4)
        .max_pending(max_pending)
        .when_full(WhenFull::Block)
        .max_in_flight(max_in_flight)
        .retry(quick_retry(1));
    let (b, record) = start(settings, FakeScript::default().failing_items());
    let b = Arc::new(b);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (weak, view) = (Arc::downgrade(&b), Arc::clone(&seen));
    b.set_failure_handler(move |failed| {
        let id = failed.item.id;
        lock(&view).handled.push(id);
        let Some(b) = weak.upgrade() else { return };
        if matches!(call, Call::Add | Call::AddAsync) {
            if id >= READDED {
                return;
            }
            let again = FakeItem::new(id + READDED);
            let added = match call {
                Call::Add => b.add(again),
                _ => block_on(b.add_async(again)),
            };
            match added {
                Ok(()) => lock(&view).readded.push(id + READDED),
                Err(back) => lock(&view)
                    .readd_refused
                    .push((back.item.id, back.error.to_string())),
            }
            return;
        }
        let r = match call {
            Call::Flush => b.flush(),
            Call::FlushTimeout => b.flush_timeout(Duration::from_secs(3600)),
            Call::FlushAsync => block_on(b.flush_async()),
            Call::Close => b.close(Duration::from_secs(3600)),
            _ => block_on(b.close_async()),
        };
        let mut v = lock(&view);
        v.handler_reports.extend(r.failed.iter().map(|f| f.item.id));
        v.not_waited.push(r.not_waited);
    });

    let mut refused_at_add = Vec::new();
    for item in items_bad_where(0..ITEMS, |id| id % 2 == 0) {
        let id = item.id;
        if let Err(back) = b.add(item) {
            // Only a close from the handler refuses the main thread's items.
            assert!(
                matches!(back.error, BatchError::Closed),
                "{call:?}: item {id} refused: {}",
                back.error
            );
            refused_at_add.push(back.item.id);
        }
    }
    // A flush first, so that the handler runs while the batcher is open.
    let flushed = b.flush();
    let mut report = b.close(Duration::from_secs(3600));
    assert_eq!(report.not_waited, None, "the main thread's close waits");
    assert_eq!(flushed.not_waited, None, "the main thread's flush waits");
    report.failed.extend(flushed.failed);
    let stats = b.stats();
    drop(b);

    let seen = std::mem::take(&mut *lock(&seen));
    let record = lock(&record).clone();
    // Where every item ended, counted: each exactly once.
    let mut ends: HashMap<u64, Vec<&str>> = HashMap::new();
    let ids = |ids: &[u64]| ids.to_vec();
    let failed: Vec<u64> = report.failed.iter().map(|f| f.item.id).collect();
    let refused: Vec<u64> = seen.readd_refused.iter().map(|(id, _)| *id).collect();
    let written: Vec<u64> = record.written.iter().map(|i| i.id).collect();
    for (how, ids) in [
        ("written", written),
        ("to the handler", ids(&seen.handled)),
        ("in the handler's report", ids(&seen.handler_reports)),
        ("refused to the handler", refused),
        ("refused to the main thread", refused_at_add.clone()),
        ("in the main thread's reports", failed),
    ] {
        for id in ids {
            ends.entry(id).or_default().push(how);
        }
    }
    for id in (0..ITEMS).chain(seen.readded.iter().copied()) {
        let where_ = ends.get(&id).cloned().unwrap_or_default();
        assert_eq!(where_.len(), 1, "{call:?}: item {id} ended {where_:?}");
    }
    for (id, where_) in &ends {
        assert_eq!(where_.len(), 1, "{call:?}: item {id} ended {where_:?}");
    }
    // What the handler's add accepted was written like any other item.
    for id in &seen.readded {
        assert_eq!(ends[id], ["written"], "{call:?}: re-added item {id}");
    }
    // Refused because waiting would hang the batcher, or, for the last
    // batch's failures, because the main thread closed it meanwhile.
    for (id, error) in &seen.readd_refused {
        assert!(
            error.contains("own thread") || error.contains("closed"),
            "{call:?}: item {id}: {error}"
        );
    }
    assert_eq!(stats.pending + stats.in_flight, 0, "{call:?}: {stats:?}");
    assert_adds_up(&stats, &format!("{call:?}"));
    assert_eq!(stats.total_added, record.written.len() as u64, "{call:?}");
    assert_eq!(
        stats.total_received,
        ITEMS - refused_at_add.len() as u64 + seen.readded.len() as u64,
        "{call:?}: {stats:?}"
    );
    assert_eq!(
        stats.total_refused,
        (refused_at_add.len() + seen.readd_refused.len()) as u64,
        "{call:?}: {stats:?}"
    );
    assert_eq!(
        stats.total_failed,
        (seen.handled.len() + report.failed.len() + seen.handler_reports.len()) as u64
    );
    seen
}

/// Runs `scenario` on its own thread; a hang (the defect) fails the test
/// after a minute instead of hanging the run.
fn within_a_minute(call: Call, max_in_flight: usize, max_pending: usize) -> Seen {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(scenario(call, max_in_flight, max_pending));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(seen) => seen,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!(
                "{call:?} from the failure handler (max_in_flight {max_in_flight}) hung the batcher"
            )
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("{call:?} (max_in_flight {max_in_flight}): the scenario failed, see above")
        }
    }
}

#[test]
fn add_from_the_handler_at_the_bound_comes_back_at_once() {
    for call in [Call::Add, Call::AddAsync] {
        for lanes in [1, 2] {
            // The batch being finished fills the bound: no room.
            let seen = within_a_minute(call, lanes, 4);
            assert!(
                seen.readd_refused
                    .iter()
                    .any(|(_, e)| e.contains("own thread")),
                "{call:?}/{lanes}: no add from the handler met a full batcher"
            );
        }
    }
}

#[test]
fn add_from_the_handler_with_room_is_accepted_and_written() {
    for call in [Call::Add, Call::AddAsync] {
        for lanes in [1, 2] {
            let seen = within_a_minute(call, lanes, 1000);
            assert!(
                !seen.readded.is_empty(),
                "{call:?}/{lanes}: nothing re-added"
            );
            assert_eq!(
                seen.readded.len() + seen.readd_refused.len(),
                seen.handled.len() - count_readded_failures(&seen),
                "{call:?}/{lanes}"
            );
            assert!(
                !seen
                    .readd_refused
                    .iter()
                    .any(|(_, e)| e.contains("own thread")),
                "{call:?}/{lanes}: {:?}",
                seen.readd_refused
            );
        }
    }
}

/// Re-added items are good, so they never fail: every handler call is for
/// a main-thread item and re-adds one.
fn count_readded_failures(seen: &Seen) -> usize {
    seen.handled.iter().filter(|id| **id >= READDED).count()
}

#[test]
fn flush_and_close_from_the_handler_return_at_once_and_say_why() {
    for call in [
        Call::Flush,
        Call::FlushTimeout,
        Call::FlushAsync,
        Call::Close,
        Call::CloseAsync,
    ] {
        for lanes in [1, 2] {
            let seen = within_a_minute(call, lanes, 8);
            assert!(
                !seen.not_waited.is_empty(),
                "{call:?}/{lanes}: the handler never ran"
            );
            for why in &seen.not_waited {
                let why = why.unwrap_or_else(|| {
                    panic!("{call:?}/{lanes}: a report from the handler without not_waited")
                });
                assert!(why.contains("own thread"), "{why}");
            }
        }
    }
}
