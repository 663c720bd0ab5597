//! The defects an outside probe found in the flusher (issue 12), each
//! reproduced on the fake sink: a panicking failure handler, the race of
//! `Drop` with late failures, a write retried as if it had not been
//! applied, unbounded failed items, and refused items in no counter.

mod log_capture;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use batch_core::testing::fake::{BadItems, FakeItem, FakeScript, FakeSink, Hang};
use batch_core::{BatchError, Batcher, BatcherSettings, ErrorClass, RetryPolicy, WhenFull};

fn quick_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::new(
        attempts,
        Duration::ZERO,
        Duration::ZERO,
        Duration::from_secs(5),
    )
    .expect("policy")
}

fn bad_item_script() -> FakeScript {
    FakeScript {
        bad_items: BadItems::FailItem,
        ..FakeScript::default()
    }
}

/// Defect 1: a handler that panics on its 4th failed item killed the
/// flusher; 307 of 400 items vanished and every later `add` blocked.
#[test]
fn a_panicking_failure_handler_loses_nothing_and_the_flusher_survives() {
    let (sink, record) = FakeSink::new(bad_item_script());
    let settings = BatcherSettings::builder()
        .name("panicking-handler")
        .batch_size(50)
        .max_pending(100)
        .retry(quick_retry(1))
        .build()
        .expect("settings");
    let handled = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (seen, count) = (Arc::clone(&handled), Arc::clone(&calls));
    let b = Batcher::with_failure_handler(sink, settings, move |failed| {
        if count.fetch_add(1, Ordering::SeqCst) + 1 == 4 {
            panic!("the handler panics on its 4th item");
        }
        seen.lock().expect("lock").push(failed.item.id);
    })
    .expect("spawn");
    // Every 4th item is bad: 100 failures among 400 items, over 8 batches,
    // with `WhenFull::Block` and room for 2 batches.
    for id in 0..400u64 {
        let item = FakeItem::new(id);
        let item = if id % 4 == 0 { item.bad() } else { item };
        b.add(item).expect("accepted");
    }
    let report = b.flush();
    assert_eq!(report.pending, 0);
    let handled = handled.lock().expect("lock").clone();
    let reported: Vec<u64> = report.failed.iter().map(|f| f.item.id).collect();
    assert_eq!(
        reported,
        vec![12],
        "the 4th failed item comes back in the report"
    );
    assert_eq!(handled.len(), 99);
    assert_eq!(record.lock().expect("record").written.len(), 300);
    let stats = b.stats();
    assert_eq!(
        (stats.total_added, stats.total_failed, stats.in_flight),
        (300, 100, 0)
    );
    // The flusher is alive: a later item is written.
    b.add(FakeItem::new(1000))
        .expect("accepted after the panic");
    assert_eq!(b.flush().written, 1);
}

/// Defect 3: `deliver` checked "abandoned" and then queued, `Drop` set it
/// and then drained: a failure could end in neither. Now one critical
/// section decides, so every failure is in the last report or in the log.
/// The race window is narrow, so this runs many drops against a sink that
/// fails items while `Drop` is running.
#[test]
fn every_failure_racing_with_drop_is_reported_or_logged() {
    log_capture::install();
    for round in 0..200 {
        let script = FakeScript {
            bad_items: BadItems::FailItem,
            max_sleep: Duration::from_micros(300),
            seed: round,
            ..FakeScript::default()
        };
        let (sink, record) = FakeSink::new(script);
        let name = format!("drop-race-{round}");
        let settings = BatcherSettings::builder()
            .name(name.clone())
            .batch_size(2)
            .close_timeout(Duration::from_micros(200))
            .build()
            .expect("settings");
        let b = Batcher::new(sink, settings).expect("spawn");
        for id in 0..6u64 {
            b.add(FakeItem::new(id).bad()).expect("accepted");
        }
        drop(b);
        let started = Instant::now();
        while !record.lock().expect("record").dropped {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "flusher never ended"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        let logged: HashSet<u64> = log_capture::lost_items(&name).into_iter().collect();
        assert_eq!(
            logged,
            (0..6).collect::<HashSet<u64>>(),
            "round {round}: every failed item is logged by Drop or by the flusher"
        );
    }
}

/// Defect 4 on the fake: a request applied and then answered with an
/// unknown outcome is replayed, and the replay counts the batcher's own
/// earlier write as written, not as a conflict.
#[test]
fn a_lost_answer_is_replayed_and_counted_as_written() {
    let script = FakeScript {
        unknown_pct: 100,
        ..FakeScript::default()
    };
    let (sink, record) = FakeSink::new(script);
    let settings = BatcherSettings::builder()
        .batch_size(10)
        .retry(quick_retry(3))
        .build()
        .expect("settings");
    let b = Batcher::new(sink, settings).expect("spawn");
    for id in 0..10 {
        b.add(FakeItem::new(id)).expect("accepted");
    }
    // Every attempt loses its answer: the retries run out, and the items
    // come back with the unknown-outcome error (they may be stored).
    let report = b.flush();
    assert_eq!(report.failed.len(), 10);
    assert!(report.failed.iter().all(|f| {
        f.error
            .sink_error()
            .is_some_and(|e| e.class == ErrorClass::OutcomeUnknown)
    }));
    let rec = record.lock().expect("record").clone();
    assert_eq!(
        rec.requests.len(),
        3,
        "one request and two retries, no bisect"
    );
    assert_eq!(rec.replays, 2, "both retries were replays");
    drop(rec);

    // Half of the answers are lost: every lost one is replayed until a
    // replay answers.
    let script = FakeScript {
        unknown_pct: 50,
        seed: 7,
        ..FakeScript::default()
    };
    let (sink, record) = FakeSink::new(script);
    let settings = BatcherSettings::builder()
        .batch_size(5)
        .retry(quick_retry(20))
        .build()
        .expect("settings");
    let b = Batcher::new(sink, settings).expect("spawn");
    for id in 0..100 {
        b.add(FakeItem::new(id)).expect("accepted");
    }
    let report = b.flush();
    assert!(
        report.failed.is_empty(),
        "{:?}",
        report.failed.first().map(|f| &f.error)
    );
    let rec = record.lock().expect("record").clone();
    assert!(rec.replays > 0, "some requests were replays");
    assert_eq!(rec.written.len(), 100);
    assert!(
        rec.conflicts.is_empty(),
        "no replayed item counted as a conflict"
    );
    let stats = b.stats();
    assert_eq!((stats.total_added, stats.total_conflicts), (100, 0));
}

/// Defect 7: failed items waited outside `max_pending` (300k failed items
/// grew the heap without bound). Now they count toward the bound.
#[test]
fn uncollected_failures_count_toward_the_bound() {
    let (sink, _) = FakeSink::new(bad_item_script());
    let settings = BatcherSettings::builder()
        .batch_size(10)
        .max_pending(30)
        .when_full(WhenFull::Block)
        .build()
        .expect("settings");
    let b = Batcher::new(sink, settings).expect("spawn");
    let mut refused = None;
    for id in 0..1000u64 {
        if let Err(failed) = b.add(FakeItem::new(id).bad()) {
            refused = Some((id, failed));
            break;
        }
    }
    let (id, failed) = refused.expect("the bound stops a caller who never collects");
    assert!(id <= 40, "refused at item {id}, after the bound of 30");
    assert!(
        matches!(failed.error, BatchError::Uncollected { limit: 30, .. }),
        "{}",
        failed.error
    );
    assert!(
        failed.error.to_string().contains("flush()"),
        "{}",
        failed.error
    );
    assert!(b.stats().uncollected >= 30);
    // Collecting makes room again.
    let report = b.flush();
    assert_eq!(report.failed.len() as u64, id);
    b.add(FakeItem::new(5000))
        .expect("room after the failures were collected");
}

/// Defect 8 (batch-core part): items refused at `add` were in no counter.
#[test]
fn refused_items_are_counted() {
    let script = FakeScript {
        check_at_add: true,
        ..FakeScript::default()
    };
    let (sink, _) = FakeSink::new(script);
    let b = Batcher::new(sink, BatcherSettings::default()).expect("spawn");
    b.add(FakeItem::new(1)).expect("good item");
    assert!(b.add(FakeItem::new(2).bad()).is_err());
    let _ = b.close(Duration::from_secs(5));
    assert!(b.add(FakeItem::new(3)).is_err(), "closed");
    let stats = b.stats();
    assert_eq!((stats.total_received, stats.total_refused), (1, 2));
    assert_eq!(b.get_stats()["total_refused"], 2);
}

/// Drop with failures still being produced by a hanging sink: nothing
/// panics, and what fails after Drop is logged with the item's key.
#[test]
fn failures_after_drop_are_logged_with_the_item_key() {
    log_capture::install();
    let (hang, release) = Hang::new();
    let script = FakeScript {
        hang: Some(hang),
        bad_items: BadItems::FailItem,
        ..FakeScript::default()
    };
    let (sink, record) = FakeSink::new(script);
    let settings = BatcherSettings::builder()
        .name("logged-after-drop")
        .batch_size(3)
        .close_timeout(Duration::from_millis(20))
        .build()
        .expect("settings");
    let b = Batcher::new(sink, settings).expect("spawn");
    for id in [41, 42, 43] {
        b.add(FakeItem::new(id).bad()).expect("accepted");
    }
    drop(b);
    drop(release);
    let started = Instant::now();
    while !record.lock().expect("record").dropped {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut logged = log_capture::lost_items("logged-after-drop");
    logged.sort_unstable();
    assert_eq!(logged, vec![41, 42, 43]);
}
