//! Unit tests named after UDS3 v2.2's generic test cases, on a fake sink.

use std::sync::Arc;
use std::time::{Duration, Instant};

use batch_core::testing::fake::{
    BadItems, FakeError, FakeItem, FakeRecord, FakeScript, FakeSink, Hang,
};
use batch_core::{
    BatchError, Batcher, BatcherSettings, BatcherSettingsBuilder, ErrorClass, Fallback,
    ItemOutcome, RetryPolicy, Sink, SinkLimits, WhenFull,
};

type FakeBatcher = Batcher<FakeSink>;
type Record = Arc<std::sync::Mutex<FakeRecord>>;

fn quick_retry() -> RetryPolicy {
    RetryPolicy::new(3, Duration::ZERO, Duration::ZERO, Duration::from_secs(5)).expect("policy")
}

fn batcher(batch_size: usize, script: FakeScript) -> (FakeBatcher, Record) {
    batcher_with(
        BatcherSettings::builder()
            .batch_size(batch_size)
            .retry(quick_retry()),
        script,
    )
}

fn batcher_with(settings: BatcherSettingsBuilder, script: FakeScript) -> (FakeBatcher, Record) {
    let (sink, record) = FakeSink::new(script);
    let batcher = Batcher::new(sink, settings.build().expect("settings")).expect("spawn");
    (batcher, record)
}

fn record(r: &Record) -> FakeRecord {
    r.lock().expect("record lock").clone()
}

/// A batcher whose sink fails bad items one by one (like `_bulk_docs`).
fn per_item_failures(batch_size: usize) -> FakeBatcher {
    let script = FakeScript {
        bad_items: BadItems::FailItem,
        ..FakeScript::default()
    };
    batcher(batch_size, script).0
}

fn add(b: &FakeBatcher, item: FakeItem) {
    if let Err(failed) = b.add(item) {
        panic!("add refused: {}", failed.error);
    }
}

fn item(id: u64, bad: bool) -> FakeItem {
    if bad {
        FakeItem::new(id).bad()
    } else {
        FakeItem::new(id)
    }
}

#[test]
fn init() {
    let (b, rec) = batcher(100, FakeScript::default());
    assert_eq!(b.batch_size(), 100);
    assert_eq!(b.stats(), batch_core::Stats::default());
    assert!(record(&rec).requests.is_empty());
}

#[test]
fn init_caps_batch_size_at_sink_limit() {
    let script = FakeScript {
        limits: SinkLimits {
            max_items: std::num::NonZeroUsize::new(7),
            max_bytes: None,
        },
        ..FakeScript::default()
    };
    let (b, _) = batcher(100, script);
    assert_eq!(b.batch_size(), 7);
}

#[test]
fn add_single_item() {
    let (b, rec) = batcher(10, FakeScript::default());
    add(&b, FakeItem::new(1));
    assert_eq!(b.pending(), 1);
    assert_eq!(b.stats().total_received, 1);
    assert!(
        record(&rec).requests.is_empty(),
        "nothing is sent below the batch size"
    );
}

#[test]
fn add_many_below_size() {
    let (b, rec) = batcher(10, FakeScript::default());
    for id in 0..9 {
        add(&b, FakeItem::new(id));
    }
    assert_eq!(b.pending(), 9);
    assert!(record(&rec).requests.is_empty());
}

#[test]
fn auto_flush_at_size() {
    let (b, rec) = batcher(10, FakeScript::default());
    for id in 0..25 {
        add(&b, FakeItem::new(id));
    }
    let report = b.flush();
    assert!(report.is_complete());
    let sizes: Vec<usize> = record(&rec).requests.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(b.stats().total_batches, 3);
}

#[test]
fn manual_flush() {
    let (b, rec) = batcher(10, FakeScript::default());
    for id in 0..3 {
        add(&b, FakeItem::new(id));
    }
    let report = b.flush();
    assert_eq!(report.written, 3);
    assert_eq!(b.pending(), 0);
    assert_eq!(record(&rec).written.len(), 3);
}

#[test]
fn flush_empty() {
    let (b, rec) = batcher(10, FakeScript::default());
    let report = b.flush();
    assert_eq!(report.written, 0);
    assert!(report.is_complete());
    assert!(
        record(&rec).requests.is_empty(),
        "an empty flush sends nothing"
    );
    assert_eq!(b.stats().total_batches, 0);
}

#[test]
fn batch_success() {
    let (b, rec) = batcher(5, FakeScript::default());
    for id in 0..5 {
        add(&b, FakeItem::new(id));
    }
    let report = b.flush();
    assert_eq!(report.written, 5);
    let stats = b.stats();
    assert_eq!(
        (
            stats.total_added,
            stats.total_batches,
            stats.total_fallbacks
        ),
        (5, 1, 0)
    );
    assert_eq!(record(&rec).requests.len(), 1);
}

#[test]
fn fallback_on_batch_failure() {
    // A permanent batch failure caused by one bad item: bisect isolates it.
    let (b, rec) = batcher(8, FakeScript::default());
    for id in 0..8 {
        add(&b, item(id, id == 5));
    }
    let report = b.flush();
    assert_eq!(report.written, 7);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].item.id, 5);
    let stats = b.stats();
    assert_eq!(stats.total_fallbacks, 1);
    assert_eq!(stats.total_failed, 1);
    // [0..8] fails; [0..4] ok; [4..8] fails; [4..6] fails; [4] ok; [5] fails; [6..8] ok.
    assert_eq!(record(&rec).requests.len(), 7);
}

#[test]
fn fallback_per_item_matches_uds3() {
    let settings = BatcherSettings::builder()
        .batch_size(4)
        .retry(quick_retry())
        .fallback(Fallback::PerItem);
    let (b, rec) = batcher_with(settings, FakeScript::default());
    for id in 0..4 {
        add(&b, item(id, id == 2));
    }
    let report = b.flush();
    assert_eq!(report.written, 3);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(record(&rec).requests.len(), 1 + 4);
}

#[test]
fn fallback_none_hands_whole_batch_back() {
    let settings = BatcherSettings::builder()
        .batch_size(4)
        .retry(quick_retry())
        .fallback(Fallback::None);
    let (b, _) = batcher_with(settings, FakeScript::default());
    for id in 0..4 {
        add(&b, item(id, id == 2));
    }
    let report = b.flush();
    assert_eq!(report.written, 0);
    let ids: Vec<u64> = report.failed.iter().map(|f| f.item.id).collect();
    assert_eq!(ids, vec![0, 1, 2, 3]);
}

#[test]
fn transient_errors_are_retried_then_the_batch_succeeds() {
    // Transient errors are retried with backoff; the batch then succeeds.
    let script = FakeScript {
        fail_first: 2,
        ..FakeScript::default()
    };
    let (b, rec) = batcher(3, script);
    for id in 0..3 {
        add(&b, FakeItem::new(id));
    }
    let report = b.flush();
    assert_eq!(report.written, 3);
    let stats = b.stats();
    assert_eq!(stats.total_retries, 2);
    assert_eq!(stats.total_fallbacks, 0);
    assert_eq!(record(&rec).requests.len(), 3);
}

#[test]
fn transient_errors_exhausted_hand_items_back_without_bisecting() {
    let script = FakeScript {
        fail_first: 100,
        ..FakeScript::default()
    };
    let (b, rec) = batcher(4, script);
    for id in 0..4 {
        add(&b, FakeItem::new(id));
    }
    let report = b.flush();
    assert_eq!(report.failed.len(), 4);
    assert!(report.failed.iter().all(|f| f.error.is_retriable()));
    assert_eq!(record(&rec).requests.len(), 3, "3 attempts, no bisect");
}

#[test]
fn drop_flushes() {
    let (b, rec) = batcher(100, FakeScript::default());
    for id in 0..42 {
        add(&b, FakeItem::new(id));
    }
    drop(b);
    assert_eq!(record(&rec).written.len(), 42);
}

#[test]
fn drop_with_hanging_sink_returns_within_close_timeout() {
    let settings = BatcherSettings::builder()
        .batch_size(10)
        .close_timeout(Duration::from_millis(200));
    let (hang, _release) = Hang::new();
    let script = FakeScript {
        hang: Some(hang),
        ..FakeScript::default()
    };
    let (b, rec) = batcher_with(settings, script);
    add(&b, FakeItem::new(1));
    let started = Instant::now();
    drop(b);
    // Generous bound: the property is "does not wait for the sink, which
    // hangs until this test ends".
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "drop took {:?}",
        started.elapsed()
    );
    assert_eq!(
        record(&rec).requests.len(),
        1,
        "the item was handed to the sink"
    );
}

#[test]
fn close_with_hanging_sink_reports_pending() {
    let (hang, _release) = Hang::new();
    let script = FakeScript {
        hang: Some(hang),
        ..FakeScript::default()
    };
    let (b, _) = batcher(10, script);
    add(&b, FakeItem::new(1));
    let report = b.close(Duration::from_millis(100));
    assert_eq!(
        report.pending, 1,
        "the hanging item is reported, not claimed written"
    );
    assert_eq!(b.stats().total_added, 0);
}

#[test]
fn panicking_sink_fails_items_instead_of_hanging() {
    let script = FakeScript {
        panic_on: Some(3),
        ..FakeScript::default()
    };
    let (b, _) = batcher(2, script);
    for id in 0..6 {
        add(&b, FakeItem::new(id));
    }
    let report = b.close(Duration::from_secs(10));
    assert_eq!(report.written, 2, "the batch before the panic was written");
    let ids: Vec<u64> = report.failed.iter().map(|f| f.item.id).collect();
    assert_eq!(ids, vec![2, 3, 4, 5]);
    assert!(matches!(
        report.failed[0].error,
        BatchError::SinkPanicked(_)
    ));
}

#[test]
fn stats() {
    let b = per_item_failures(4);
    let mut conflict = FakeItem::new(9);
    conflict.conflict = true;
    for it in [
        FakeItem::new(1),
        FakeItem::new(2).bad(),
        conflict,
        FakeItem::new(4),
        FakeItem::new(5),
    ] {
        add(&b, it);
    }
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
    assert_eq!(map["total_created"], 3);
    assert_eq!(map["total_conflicts"], 1);
    assert_eq!(map["pending"], 0);
}

#[test]
fn five_threads_times_ten_items() {
    let (b, rec) = batcher(7, FakeScript::default());
    let b = Arc::new(b);
    std::thread::scope(|scope| {
        for t in 0..5u64 {
            let b = Arc::clone(&b);
            scope.spawn(move || {
                for i in 0..10 {
                    add(&b, FakeItem::new(t * 100 + i));
                }
            });
        }
    });
    let report = b.flush();
    assert_eq!(report.written, 50);
    let mut ids: Vec<u64> = record(&rec).written.iter().map(|i| i.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 50);
}

#[test]
fn partial_fallback_failure() {
    // 3 items, 1 bad: 2 written, 1 handed back with its error.
    let (b, rec) = batcher(3, FakeScript::default());
    for id in 0..3 {
        add(&b, item(id, id == 1));
    }
    let report = b.flush();
    assert_eq!(report.written, 2);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].item.id, 1);
    assert_eq!(
        report.failed[0].error.sink_error().map(|e| e.class),
        Some(ErrorClass::Permanent)
    );
    let written: Vec<u64> = record(&rec).written.iter().map(|i| i.id).collect();
    assert_eq!(written, vec![0, 2]);
}

#[test]
fn failures_of_automatic_flushes_reach_the_next_report() {
    let b = per_item_failures(2);
    add(&b, FakeItem::new(1).bad());
    add(&b, FakeItem::new(2)); // automatic flush here
    let report = b.flush();
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].item.id, 1);
}

#[test]
fn failure_handler_receives_failed_items() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let script = FakeScript {
        bad_items: BadItems::FailItem,
        ..FakeScript::default()
    };
    let (sink, _) = FakeSink::new(script);
    let settings = BatcherSettings::builder()
        .batch_size(2)
        .build()
        .expect("settings");
    let b = Batcher::with_failure_handler(sink, settings, move |f| {
        seen2.lock().expect("lock").push(f.item.id);
    })
    .expect("spawn");
    add(&b, FakeItem::new(1).bad());
    add(&b, FakeItem::new(2));
    let report = b.flush();
    assert!(report.failed.is_empty(), "the handler took it");
    assert_eq!(*seen.lock().expect("lock"), vec![1]);
}

#[test]
fn reject_when_full_returns_the_item() {
    let settings = BatcherSettings::builder()
        .batch_size(1)
        .max_pending(1)
        .when_full(WhenFull::Reject);
    let (hang, release) = Hang::new();
    let script = FakeScript {
        hang: Some(hang),
        ..FakeScript::default()
    };
    let (b, rec) = batcher_with(settings, script);
    add(&b, FakeItem::new(1));
    let refused = b.add(FakeItem::new(2)).expect_err("the batcher is full");
    assert_eq!(refused.item.id, 2);
    assert!(matches!(refused.error, BatchError::Full { limit: 1, .. }));
    assert!(refused.error.is_retriable());
    drop(release);
    let report = b.flush();
    assert_eq!(
        report.written, 1,
        "the first item is written once the sink answers"
    );
    assert_eq!(record(&rec).requests, vec![vec![1]]);
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
        .max_batch_bytes(std::num::NonZeroUsize::new(10).expect("non-zero"));
    let (b, rec) = batcher_with(settings, FakeScript::default());
    for id in 0..6 {
        let mut it = FakeItem::new(id);
        it.size = 4;
        add(&b, it);
    }
    let mut big = FakeItem::new(99);
    big.size = 11;
    let refused = b.add(big).expect_err("too large");
    assert!(matches!(
        refused.error,
        BatchError::TooLarge {
            size: 11,
            limit: 10
        }
    ));
    let _ = b.flush();
    let r = record(&rec);
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
    let (b, rec) = batcher_with(settings, FakeScript::default());
    add(&b, FakeItem::new(1));
    let deadline = Instant::now() + Duration::from_secs(20);
    while record(&rec).written.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        record(&rec).written.len(),
        1,
        "linger flushed the lone item"
    );
    assert_eq!(b.pending(), 0);
}

/// Refuses requests above 3 items as too large (like an HTTP 413).
struct Picky;

impl Sink for Picky {
    type Item = u32;
    type Error = FakeError;
    fn write_batch(&mut self, items: &[u32]) -> Result<Vec<ItemOutcome<FakeError>>, FakeError> {
        if items.len() > 3 {
            return Err(FakeError {
                class: ErrorClass::TooLarge,
                message: "413".into(),
            });
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
    let b = Batcher::new(Picky, settings).expect("spawn");
    for i in 0..10 {
        b.add(i).map_err(|f| f.error).expect("add");
    }
    let report = b.flush();
    assert_eq!(report.written, 10);
    assert!(report.failed.is_empty());
    assert_eq!(b.stats().total_fallbacks, 0);
}

#[test]
fn settings_refuse_zero_and_inconsistent_values() {
    let err = BatcherSettings::builder()
        .batch_size(0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("batch_size"), "{err}");
    let err = BatcherSettings::builder()
        .batch_size(10)
        .max_pending(5)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max_pending"), "{err}");
}

/// Refuses every request as if the credentials were wrong.
struct Unauthorized;

impl Sink for Unauthorized {
    type Item = u32;
    type Error = FakeError;
    fn write_batch(&mut self, _: &[u32]) -> Result<Vec<ItemOutcome<FakeError>>, FakeError> {
        Err(FakeError {
            class: ErrorClass::Fatal,
            message: "401".into(),
        })
    }
}

#[test]
fn fatal_errors_hand_the_batch_back_without_fallback() {
    let settings = BatcherSettings::builder()
        .batch_size(8)
        .build()
        .expect("settings");
    let b = Batcher::new(Unauthorized, settings).expect("spawn");
    for i in 0..8 {
        b.add(i).map_err(|f| f.error).expect("add");
    }
    let report = b.flush();
    assert_eq!(report.failed.len(), 8);
    let stats = b.stats();
    assert_eq!((stats.total_requests, stats.total_fallbacks), (1, 0));
    let as_error: &dyn std::error::Error = &report.failed[0];
    assert!(as_error.to_string().contains("401"), "{as_error}");
}

#[test]
fn batcher_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Batcher<FakeSink>>();
    shareable::<Arc<Batcher<FakeSink>>>();
}

#[test]
fn item_check_refuses_bad_items_at_add_without_a_request() {
    let script = FakeScript {
        check_at_add: true,
        ..FakeScript::default()
    };
    let (b, rec) = batcher(10, script);
    let refused = b.add(FakeItem::new(7).bad()).expect_err("refused at add");
    assert_eq!(refused.item.id, 7, "the item comes back unchanged");
    match &refused.error {
        BatchError::Invalid(reason) => assert!(reason.contains("fake item 7"), "{reason}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    add(&b, FakeItem::new(8));
    let report = b.flush();
    assert_eq!(report.written, 1);
    assert!(
        report.failed.is_empty(),
        "the refused item is not in the report"
    );
    assert_eq!(
        record(&rec).requests,
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
    add(&b, FakeItem::new(1));
    let _ = b.flush();
    let map = b.get_stats();
    assert_eq!(map.get("total_added"), Some(&1));
    assert_eq!(map.get("total_batches"), Some(&1));

    let settings = BatcherSettings::builder().build().expect("settings");
    let created = Batcher::new(CreatedSink, settings).expect("batcher");
    created.add(5).expect("add");
    let _ = created.flush();
    let map = created.get_stats();
    assert_eq!(map.get("total_created"), Some(&1));
    assert_eq!(map.get("total_added"), None);
}

#[test]
fn a_failure_handler_set_later_takes_failures_from_then_on() {
    let b = per_item_failures(2);
    add(&b, FakeItem::new(1).bad());
    add(&b, FakeItem::new(2));
    // Failed before the handler was set: stays in the next report.
    let first = b.flush();
    assert_eq!(first.failed.len(), 1);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let collect = Arc::clone(&seen);
    b.set_failure_handler(move |failed| collect.lock().expect("lock").push(failed.item.id));
    add(&b, FakeItem::new(3).bad());
    add(&b, FakeItem::new(4));
    let second = b.flush();
    assert!(second.failed.is_empty(), "the handler took it");
    assert_eq!(second.written, 1);
    assert_eq!(*seen.lock().expect("lock"), vec![3]);
}

/// `timings`: a hand-off per batch and an idle time between a writer's
/// batches; a writer that waits for its adders is idle, and that wait is
/// not hand-off (the library's own time between batches).
#[test]
fn timings_tell_waiting_for_adders_from_handoff() {
    let (b, _) = batcher(3, FakeScript::default());
    for id in 0..3 {
        add(&b, item(id, false));
    }
    assert!(b.flush().is_complete());
    std::thread::sleep(Duration::from_millis(100));
    for id in 3..6 {
        add(&b, item(id, false));
    }
    assert!(b.flush().is_complete());
    let t = b.timings();
    assert_eq!((t.handoff.count(), t.writer_idle.count()), (2, 1), "{t:?}");
    assert!(t.writer_idle.total() >= Duration::from_millis(100), "{t:?}");
    assert!(t.handoff.total() < t.writer_idle.total(), "{t:?}");
}
