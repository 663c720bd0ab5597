//! Unit tests named after UDS3 v2.2's generic test cases, on a fake sink.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use batch_core::testing::fake::{FakeError, FakeItem, FakeScript, FakeSink};
use batch_core::testing::harness::{
    Record, add_all, failed_ids, items, items_bad_where, quick_retry, snapshot, start, wait_until,
    written_ids,
};
use batch_core::{
    BatchError, Batcher, BatcherSettings, BatcherSettingsBuilder, ErrorClass, FailedItem, Fallback,
    ItemOutcome, Sink, SinkLimits, Stats, WhenFull,
};

/// Batches of `batch_size`, three tries without backoff.
fn sized(batch_size: usize) -> BatcherSettingsBuilder {
    BatcherSettings::builder()
        .batch_size(batch_size)
        .retry(quick_retry(3))
}

fn batcher(batch_size: usize, script: FakeScript) -> (Batcher<FakeSink>, Record) {
    start(sized(batch_size), script)
}

fn request_sizes(rec: &Record) -> Vec<usize> {
    snapshot(rec).requests.iter().map(Vec::len).collect()
}

/// A failure handler, and the ids of the items it took.
#[allow(clippy::type_complexity)]
fn collector() -> (
    Arc<Mutex<Vec<u64>>>,
    impl Fn(&FailedItem<FakeItem, FakeError>) + Send + Sync,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let collect = Arc::clone(&seen);
    (seen, move |f: &FailedItem<FakeItem, FakeError>| {
        collect.lock().expect("lock").push(f.item.id)
    })
}

#[test]
fn init() {
    let (b, rec) = batcher(100, FakeScript::default());
    assert_eq!((b.batch_size(), b.stats()), (100, Stats::default()));
    assert!(snapshot(&rec).requests.is_empty());
    let limits = SinkLimits {
        max_items: NonZeroUsize::new(7),
        max_bytes: None,
    };
    let (b, _) = batcher(
        100,
        FakeScript {
            limits,
            ..FakeScript::default()
        },
    );
    assert_eq!(b.batch_size(), 7, "capped at the sink's limit");
}

#[test]
fn adds_below_the_batch_size_send_nothing() {
    for n in [1, 9] {
        let (b, rec) = batcher(10, FakeScript::default());
        add_all(&b, items(0..n));
        assert_eq!(
            (b.pending() as u64, b.stats().total_received),
            (n, n),
            "{n} items"
        );
        assert!(
            snapshot(&rec).requests.is_empty(),
            "{n} items: sent below the batch size"
        );
    }
}

#[test]
fn flush_writes_everything_in_batches_of_the_batch_size() {
    // (batch size, items, the requests' sizes): automatic flushes at the
    // size, a manual flush of the rest, an empty flush sending nothing.
    let cases: [(usize, u64, &[usize]); 4] = [
        (10, 25, &[10, 10, 5]),
        (10, 3, &[3]),
        (10, 0, &[]),
        (5, 5, &[5]),
    ];
    for (size, n, requests) in cases {
        let case = format!("{n} items in batches of {size}");
        let (b, rec) = batcher(size, FakeScript::default());
        add_all(&b, items(0..n));
        let report = b.flush();
        assert!(report.is_complete(), "{case}: {report:?}");
        assert_eq!(report.written, n, "{case}");
        assert_eq!(
            (b.pending(), written_ids(&rec)),
            (0, (0..n).collect()),
            "{case}"
        );
        assert_eq!(request_sizes(&rec), requests, "{case}");
        let s = b.stats();
        let expected = (n, requests.len() as u64, 0);
        assert_eq!(
            (s.total_added, s.total_batches, s.total_fallbacks),
            expected,
            "{case}"
        );
    }
}

#[test]
fn a_bad_item_fails_alone_or_its_batch_as_the_fallback_says() {
    // (fallback, items, the bad one, failed ids, requests, fallbacks)
    let cases = [
        // [0..8] fails; [0..4] ok; [4..8] fails; [4..6] fails; [4] ok; [5] fails; [6..8] ok.
        (Fallback::Bisect, 8, 5, vec![5], 7, 1),
        // [0..3] fails; [0] ok; [1..3] fails; [1] fails; [2] ok.
        (Fallback::Bisect, 3, 1, vec![1], 5, 1),
        (Fallback::PerItem, 4, 2, vec![2], 1 + 4, 1),
        (Fallback::None, 4, 2, vec![0, 1, 2, 3], 1, 0),
    ];
    for (fallback, n, bad, failed, requests, fallbacks) in cases {
        let case = format!("{fallback:?}, {n} items, item {bad} bad");
        let (b, rec) = start(sized(n as usize).fallback(fallback), FakeScript::default());
        add_all(&b, items_bad_where(0..n, |id| id == bad));
        let report = b.flush();
        let written: Vec<u64> = (0..n).filter(|id| !failed.contains(id)).collect();
        assert_eq!(report.written, written.len() as u64, "{case}");
        assert_eq!(failed_ids(&report), failed, "{case}");
        let class = report.failed[0].error.sink_error().map(|e| e.class);
        assert_eq!(class, Some(ErrorClass::Permanent), "{case}");
        assert_eq!(written_ids(&rec), written, "{case}");
        assert_eq!(snapshot(&rec).requests.len(), requests, "{case}");
        let s = b.stats();
        let expected = (fallbacks, failed.len() as u64);
        assert_eq!((s.total_fallbacks, s.total_failed), expected, "{case}");
    }
}

#[test]
fn transient_errors_are_retried_without_bisecting() {
    // The first two requests fail: the third attempt writes the batch. All
    // fail: the three attempts run out and the items come back.
    for (fail_first, written) in [(2, 3), (100, 0)] {
        let case = format!("the first {fail_first} requests fail");
        let (b, rec) = batcher(
            3,
            FakeScript {
                fail_first,
                ..FakeScript::default()
            },
        );
        add_all(&b, items(0..3));
        let report = b.flush();
        assert_eq!(report.written, written, "{case}");
        assert_eq!(report.failed.len() as u64, 3 - written, "{case}");
        assert!(
            report.failed.iter().all(|f| f.error.is_retriable()),
            "{case}"
        );
        assert_eq!(
            snapshot(&rec).requests.len(),
            3,
            "{case}: 3 attempts, no bisect"
        );
        let s = b.stats();
        assert_eq!((s.total_retries, s.total_fallbacks), (2, 0), "{case}");
    }
}

#[test]
fn drop_flushes() {
    let (b, rec) = batcher(100, FakeScript::default());
    add_all(&b, items(0..42));
    drop(b);
    assert_eq!(written_ids(&rec), (0..42).collect::<Vec<_>>());
}

#[test]
fn drop_with_hanging_sink_returns_within_close_timeout() {
    let settings = BatcherSettings::builder()
        .batch_size(10)
        .close_timeout(Duration::from_millis(200));
    let (script, _release) = FakeScript::default().hanging();
    let (b, rec) = start(settings, script);
    add_all(&b, items(1..2));
    let started = Instant::now();
    drop(b);
    // Generous bound: the property is "does not wait for the sink, which
    // hangs until this test ends".
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "drop took {took:?}");
    assert_eq!(
        snapshot(&rec).requests.len(),
        1,
        "the item was handed to the sink"
    );
}

#[test]
fn close_with_hanging_sink_reports_pending() {
    let (script, _release) = FakeScript::default().hanging();
    let (b, _) = batcher(10, script);
    add_all(&b, items(1..2));
    let report = b.close(Duration::from_millis(100));
    assert_eq!(
        report.pending, 1,
        "the hanging item is reported, not claimed written"
    );
    assert_eq!(b.stats().total_added, 0);
}

#[test]
fn panicking_sink_fails_items_instead_of_hanging() {
    let (b, _) = batcher(
        2,
        FakeScript {
            panic_on: Some(3),
            ..FakeScript::default()
        },
    );
    add_all(&b, items(0..6));
    let report = b.close(Duration::from_secs(10));
    assert_eq!(report.written, 2, "the batch before the panic was written");
    assert_eq!(failed_ids(&report), [2, 3, 4, 5]);
    assert!(matches!(
        report.failed[0].error,
        BatchError::SinkPanicked(_)
    ));
}

#[test]
fn stats() {
    let (b, _) = batcher(4, FakeScript::default().failing_items());
    let conflict = FakeItem {
        conflict: true,
        ..FakeItem::new(9)
    };
    let (good, bad) = (FakeItem::new, |id| FakeItem::new(id).bad());
    add_all(&b, [good(1), bad(2), conflict, good(4), good(5)]);
    assert_eq!(b.stats().pending, 1);
    let report = b.close(Duration::from_secs(10));
    let s = b.stats();
    assert_eq!(
        (s.total_added, s.total_conflicts, s.total_failed),
        (3, 1, 1)
    );
    assert_eq!(
        (s.total_batches, s.total_received, s.pending, s.in_flight),
        (2, 5, 0, 0)
    );
    assert_eq!(report.failed.len(), 1);
    let map = s.to_uds3_map("total_created");
    let counts = (map["total_created"], map["total_conflicts"], map["pending"]);
    assert_eq!(counts, (3, 1, 0));
}

#[test]
fn five_threads_times_ten_items() {
    let (b, rec) = batcher(7, FakeScript::default());
    std::thread::scope(|scope| {
        for t in 0..5u64 {
            let b = &b;
            scope.spawn(move || add_all(b, items(t * 100..t * 100 + 10)));
        }
    });
    assert_eq!(b.flush().written, 50);
    let mut ids = written_ids(&rec);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 50);
}

#[test]
fn failures_of_automatic_flushes_reach_the_next_report() {
    let (b, _) = batcher(2, FakeScript::default().failing_items());
    add_all(&b, [FakeItem::new(1).bad(), FakeItem::new(2)]); // automatic flush here
    assert_eq!(failed_ids(&b.flush()), [1]);
}

#[test]
fn failure_handler_receives_failed_items() {
    let (seen, handler) = collector();
    let (sink, _) = FakeSink::new(FakeScript::default().failing_items());
    let settings = BatcherSettings::builder()
        .batch_size(2)
        .build()
        .expect("settings");
    let b = Batcher::with_failure_handler(sink, settings, handler).expect("spawn");
    add_all(&b, [FakeItem::new(1).bad(), FakeItem::new(2)]);
    assert!(b.flush().failed.is_empty(), "the handler took it");
    assert_eq!(*seen.lock().expect("lock"), vec![1]);
}

#[test]
fn a_failure_handler_set_later_takes_failures_from_then_on() {
    let (b, _) = batcher(2, FakeScript::default().failing_items());
    add_all(&b, [FakeItem::new(1).bad(), FakeItem::new(2)]);
    // Failed before the handler was set: stays in the next report.
    assert_eq!(b.flush().failed.len(), 1);
    let (seen, handler) = collector();
    b.set_failure_handler(handler);
    add_all(&b, [FakeItem::new(3).bad(), FakeItem::new(4)]);
    let second = b.flush();
    assert!(second.failed.is_empty(), "the handler took it");
    assert_eq!(second.written, 1);
    assert_eq!(*seen.lock().expect("lock"), vec![3]);
}

#[test]
fn reject_when_full_returns_the_item() {
    let settings = BatcherSettings::builder()
        .batch_size(1)
        .max_pending(1)
        .when_full(WhenFull::Reject);
    let (script, release) = FakeScript::default().hanging();
    let (b, rec) = start(settings, script);
    add_all(&b, items(1..2));
    let refused = b.add(FakeItem::new(2)).expect_err("the batcher is full");
    assert_eq!(refused.item.id, 2);
    assert!(matches!(refused.error, BatchError::Full { limit: 1, .. }));
    assert!(refused.error.is_retriable());
    drop(release);
    assert_eq!(
        b.flush().written,
        1,
        "the first item is written once the sink answers"
    );
    assert_eq!(snapshot(&rec).requests, vec![vec![1]]);
}

#[test]
fn add_after_close_returns_the_item() {
    let (b, _) = batcher(2, FakeScript::default());
    let _ = b.close(Duration::from_secs(1));
    let refused = b.add(FakeItem::new(1)).expect_err("closed");
    assert!(matches!(refused.error, BatchError::Closed));
}

#[test]
fn byte_limit_splits_batches_and_refuses_oversized_items() {
    let settings = BatcherSettings::builder()
        .batch_size(100)
        .max_batch_bytes(NonZeroUsize::new(10).expect("non-zero"));
    let (b, rec) = start(settings, FakeScript::default());
    add_all(&b, items(0..6).map(|it| FakeItem { size: 4, ..it }));
    let refused = b
        .add(FakeItem {
            size: 11,
            ..FakeItem::new(99)
        })
        .expect_err("too large");
    let too_large = matches!(
        refused.error,
        BatchError::TooLarge {
            size: 11,
            limit: 10
        }
    );
    assert!(too_large, "{}", refused.error);
    let _ = b.flush();
    let r = snapshot(&rec);
    assert!(
        r.request_bytes.iter().all(|&bytes| bytes <= 10),
        "{:?}",
        r.request_bytes
    );
    assert_eq!(r.written.len(), 6);
}

#[test]
fn linger_flushes_without_a_full_batch() {
    let settings = BatcherSettings::builder()
        .batch_size(100)
        .linger(Duration::from_millis(50));
    let (b, rec) = start(settings, FakeScript::default());
    add_all(&b, items(1..2));
    wait_until("linger flushed the lone item", || {
        !written_ids(&rec).is_empty()
    });
    assert_eq!(written_ids(&rec), [1], "linger flushed the lone item");
    assert_eq!(b.pending(), 0);
}

/// Fails every request of more than `max` items with `class` and
/// `message` (TooLarge above 3: an HTTP 413; Fatal above 0: a 401).
struct FailsAbove {
    max: usize,
    class: ErrorClass,
    message: &'static str,
}

impl Sink for FailsAbove {
    type Item = u32;
    type Error = FakeError;
    fn write_batch(&mut self, items: &[u32]) -> Result<Vec<ItemOutcome<FakeError>>, FakeError> {
        if items.len() > self.max {
            let (class, message) = (self.class, self.message.into());
            return Err(FakeError { class, message });
        }
        Ok(items.iter().map(|_| ItemOutcome::Written).collect())
    }
}

#[test]
fn too_large_errors_split_without_failing() {
    let settings = BatcherSettings::builder()
        .batch_size(10)
        .build()
        .expect("settings");
    let picky = FailsAbove {
        max: 3,
        class: ErrorClass::TooLarge,
        message: "413",
    };
    let b = Batcher::new(picky, settings).expect("spawn");
    add_all(&b, 0..10);
    let report = b.flush();
    assert_eq!(report.written, 10);
    assert!(report.failed.is_empty());
    assert_eq!(b.stats().total_fallbacks, 0);
}

#[test]
fn fatal_errors_hand_the_batch_back_without_fallback() {
    let settings = BatcherSettings::builder()
        .batch_size(8)
        .build()
        .expect("settings");
    let unauthorized = FailsAbove {
        max: 0,
        class: ErrorClass::Fatal,
        message: "401",
    };
    let b = Batcher::new(unauthorized, settings).expect("spawn");
    add_all(&b, 0..8);
    let report = b.flush();
    assert_eq!(report.failed.len(), 8);
    let stats = b.stats();
    assert_eq!((stats.total_requests, stats.total_fallbacks), (1, 0));
    let as_error: &dyn std::error::Error = &report.failed[0];
    assert!(as_error.to_string().contains("401"), "{as_error}");
}

#[test]
fn settings_refuse_zero_and_inconsistent_values() {
    let cases = [
        ("batch_size", BatcherSettings::builder().batch_size(0)),
        (
            "max_pending",
            BatcherSettings::builder().batch_size(10).max_pending(5),
        ),
    ];
    for (names, builder) in cases {
        let err = builder.build().unwrap_err();
        assert!(err.to_string().contains(names), "{err}");
    }
}

#[test]
fn batcher_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Batcher<FakeSink>>();
    shareable::<Arc<Batcher<FakeSink>>>();
}

#[test]
fn item_check_refuses_bad_items_at_add_without_a_request() {
    let (b, rec) = batcher(10, FakeScript::default().checking());
    let refused = b.add(FakeItem::new(7).bad()).expect_err("refused at add");
    assert_eq!(refused.item.id, 7, "the item comes back unchanged");
    match &refused.error {
        BatchError::Invalid(reason) => assert!(reason.contains("fake item 7"), "{reason}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    add_all(&b, items(8..9));
    let report = b.flush();
    assert_eq!(report.written, 1);
    assert!(
        report.failed.is_empty(),
        "the refused item is not in the report"
    );
    assert_eq!(
        snapshot(&rec).requests,
        vec![vec![8]],
        "only the good item was sent"
    );
    let stats = b.stats();
    assert_eq!(stats.total_received, 1, "a refused item was never accepted");
    assert_eq!(stats.total_failed, 0);
}

/// A sink whose written counter has Neo4j's UDS3 name.
struct CreatedSink;
impl Sink for CreatedSink {
    type Item = u64;
    type Error = FakeError;
    const WRITTEN_KEY: &'static str = "total_created";
    fn write_batch(&mut self, items: &[u64]) -> Result<Vec<ItemOutcome<FakeError>>, FakeError> {
        Ok(items.iter().map(|_| ItemOutcome::Written).collect())
    }
}

#[test]
fn get_stats_names_written_items_after_the_sink() {
    let (b, _) = batcher(10, FakeScript::default());
    add_all(&b, items(1..2));
    let _ = b.flush();
    let map = b.get_stats();
    assert_eq!(
        (map.get("total_added"), map.get("total_batches")),
        (Some(&1), Some(&1))
    );

    let settings = BatcherSettings::builder().build().expect("settings");
    let created = Batcher::new(CreatedSink, settings).expect("batcher");
    add_all(&created, [5]);
    let _ = created.flush();
    let map = created.get_stats();
    assert_eq!(
        (map.get("total_created"), map.get("total_added")),
        (Some(&1), None)
    );
}

/// `timings`: a hand-off per batch and an idle time between a writer's
/// batches; a writer that waits for its adders is idle, and that wait is
/// not hand-off (the library's own time between batches).
#[test]
fn timings_tell_waiting_for_adders_from_handoff() {
    let (b, _) = batcher(3, FakeScript::default());
    add_all(&b, items(0..3));
    assert!(b.flush().is_complete());
    std::thread::sleep(Duration::from_millis(100));
    add_all(&b, items(3..6));
    assert!(b.flush().is_complete());
    let t = b.timings();
    assert_eq!((t.handoff.count(), t.writer_idle.count()), (2, 1), "{t:?}");
    assert!(t.writer_idle.total() >= Duration::from_millis(100), "{t:?}");
    assert!(t.handoff.total() < t.writer_idle.total(), "{t:?}");
}
