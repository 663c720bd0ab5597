//! Panics in the flusher outside the sink and the failure handler (here: a
//! tracing subscriber that panics on chosen log events, a realistic kind of
//! user code the flusher runs). A panic while a batch is written hands the
//! batch's items back and the flusher goes on; if the flusher thread itself
//! ends, its guard hands back everything still queued and wakes every
//! blocked `add`.

use std::fmt::Debug;
use std::time::Duration;

use batch_core::testing::fake::{FakeItem, FakeScript, FakeSink};
use batch_core::testing::harness::{
    add_all, failed_ids, fake_sinks, items, quick_retry, written_ids,
};
use batch_core::{BatchError, Batcher, BatcherSettings};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Panics on the retry warning of batchers named `survives-*` and
/// `dies-*`, and on the "caught a panic" error of `dies-*` too.
struct PanickingSubscriber;

#[derive(Default)]
struct Fields {
    message: String,
    batcher: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "batcher" => self.batcher = format!("{value:?}"),
            _ => {}
        }
    }
}

impl Subscriber for PanickingSubscriber {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let retrying = f.message == "transient error, retrying";
        let recovered = f.message.starts_with("the flusher caught a panic");
        if (retrying && (f.batcher.starts_with("survives") || f.batcher.starts_with("dies")))
            || (recovered && f.batcher.starts_with("dies"))
        {
            panic!("the test's subscriber panics on {:?}", f.message);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::subscriber::set_global_default(PanickingSubscriber).expect("one subscriber");
    });
}

fn settings(name: &str, in_flight: usize) -> BatcherSettings {
    BatcherSettings::builder()
        .name(name)
        .max_in_flight(in_flight)
        .batch_size(5)
        .max_pending(10)
        .retry(quick_retry(3))
        .build()
        .expect("settings")
}

#[test]
fn a_panic_while_writing_hands_the_batch_back_and_the_flusher_goes_on() {
    install();
    let (sink, record) = FakeSink::new(FakeScript {
        fail_first: 1,
        ..FakeScript::default()
    });
    let b = Batcher::new(sink, settings("survives-1", 1)).expect("spawn");
    add_all(&b, items(0..5));
    let report = b.flush();
    assert_eq!(failed_ids(&report), [0, 1, 2, 3, 4], "the batch comes back");
    assert!(
        matches!(&report.failed[0].error, BatchError::FlusherPanicked(m) if m.contains("subscriber panics")),
        "{}",
        report.failed[0].error
    );
    // The flusher lives on.
    add_all(&b, items(5..10));
    let report = b.flush();
    assert_eq!((report.written, report.failed.len()), (5, 0));
    assert_eq!(written_ids(&record), [5, 6, 7, 8, 9]);
    let stats = b.stats();
    assert_eq!(
        (stats.total_added, stats.total_failed, stats.in_flight),
        (5, 5, 0)
    );
}

#[test]
fn a_dead_flusher_hands_everything_back_and_wakes_blocked_adders() {
    dies_and_hands_everything_back("dies-1", 1);
}

/// The same with two batches in flight: both writer threads die the same
/// way; the pool hands back its queue, the flusher's guard the rest.
#[test]
fn dead_writers_of_a_pool_hand_everything_back_and_wake_blocked_adders() {
    dies_and_hands_everything_back("dies-2", 2);
}

fn dies_and_hands_everything_back(name: &str, in_flight: usize) {
    install();
    let (script, release) = FakeScript {
        fail_first: 1,
        ..FakeScript::default()
    }
    .hanging();
    let (sinks, _) = fake_sinks(script, in_flight);
    let settings = settings(name, in_flight);
    let b = std::sync::Arc::new(Batcher::with_sinks(sinks, settings).expect("spawn"));
    // Batch 0..5 hangs in the sink, batch 5..10 waits in the queue (or, with
    // two in flight, hangs in the other sink), and the 11th item blocks:
    // the bound is 10.
    add_all(&b, items(0..10));
    let blocked = {
        let b = std::sync::Arc::clone(&b);
        std::thread::spawn(move || b.add(FakeItem::new(10)))
    };
    std::thread::sleep(Duration::from_millis(100));
    // The sink answers with a transient error; the subscriber panics on the
    // retry warning and again on the flusher's recovery message, which ends
    // the flusher thread.
    drop(release);
    let refused = blocked
        .join()
        .expect("the blocked add returns")
        .expect_err("the flusher is gone");
    // With two in flight, both batches may come back (as failed, waiting
    // for a flush) before the flusher is marked stopped: the woken add then
    // finds the bound full of uncollected failures, which is as true.
    assert!(
        matches!(refused.error, BatchError::FlusherPanicked(_))
            || (in_flight > 1 && matches!(refused.error, BatchError::Uncollected { .. })),
        "{}",
        refused.error
    );
    let report = b.flush();
    let mut ids = failed_ids(&report);
    ids.sort_unstable();
    assert_eq!(ids, (0..10).collect::<Vec<_>>(), "every item comes back");
    assert_eq!(report.pending, 0);
    let stats = b.stats();
    assert_eq!(
        (
            stats.total_received,
            stats.total_failed,
            stats.total_refused,
            stats.in_flight,
            stats.pending
        ),
        (10, 10, 1, 0, 0)
    );
    let late = b.add(FakeItem::new(11)).expect_err("no flusher");
    assert!(matches!(late.error, BatchError::FlusherPanicked(_)));
    let _ = b.close(Duration::from_secs(1));
}
