//! The set-up and read-back batch-core's own integration tests share: a
//! batcher on a [`FakeSink`] from a settings builder and a script, the
//! scripts they use most ([`FakeScript::failing_items`],
//! [`FakeScript::checking`], [`FakeScript::hanging`]), adding items that
//! must be accepted, and reading what the fake recorded or a report handed
//! back.

use std::fmt::Display;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::fake::{BadItems, FakeItem, FakeRecord, FakeScript, FakeSink, Hang, Release};
use crate::{Batcher, BatcherSettingsBuilder, FlushReport, RetryPolicy, Sink};

/// What a [`FakeSink`] and its siblings record, shared with the test.
pub type Record = Arc<Mutex<FakeRecord>>;

impl FakeScript {
    /// This script, failing bad items one by one ([`BadItems::FailItem`])
    /// instead of their whole batch.
    pub fn failing_items(self) -> Self {
        Self {
            bad_items: BadItems::FailItem,
            ..self
        }
    }

    /// This script, refusing bad items at add time
    /// ([`check_at_add`](FakeScript::check_at_add)).
    pub fn checking(self) -> Self {
        Self {
            check_at_add: true,
            ..self
        }
    }

    /// This script, with every request hanging until the returned
    /// [`Release`] is dropped.
    pub fn hanging(self) -> (Self, Release) {
        let (hang, release) = Hang::new();
        let script = Self {
            hang: Some(hang),
            ..self
        };
        (script, release)
    }
}

/// A batcher on a fresh [`FakeSink`] following `script`, and its record.
///
/// # Panics
/// When the settings are refused or the batcher does not start.
pub fn start(settings: BatcherSettingsBuilder, script: FakeScript) -> (Batcher<FakeSink>, Record) {
    let (sink, record) = FakeSink::new(script);
    let batcher = Batcher::new(sink, settings.build().expect("settings")).expect("start");
    (batcher, record)
}

/// `n` fake sinks following `script` on one record, the first one first
/// and its siblings after it (for [`Batcher::with_sinks`]).
pub fn fake_sinks(script: FakeScript, n: usize) -> (Vec<FakeSink>, Record) {
    let (sink, record) = FakeSink::new(script);
    let mut sinks: Vec<FakeSink> = (1..n).map(|_| sink.sibling()).collect();
    sinks.insert(0, sink);
    (sinks, record)
}

/// `attempts` tries without backoff (zero sleeps), 5 s in all at most.
///
/// # Panics
/// When `attempts` is 0.
pub fn quick_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::new(
        attempts,
        Duration::ZERO,
        Duration::ZERO,
        Duration::from_secs(5),
    )
    .expect("policy")
}

/// A copy of what the fake recorded so far.
pub fn snapshot(record: &Record) -> FakeRecord {
    record
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// The ids of the items the fake wrote, in write order.
pub fn written_ids(record: &Record) -> Vec<u64> {
    snapshot(record).written.iter().map(|i| i.id).collect()
}

/// The ids of the items a report handed back, in report order.
pub fn failed_ids<E>(report: &FlushReport<FakeItem, E>) -> Vec<u64> {
    report.failed.iter().map(|f| f.item.id).collect()
}

/// Good items with the ids of `ids`.
pub fn items(ids: Range<u64>) -> impl Iterator<Item = FakeItem> {
    ids.map(FakeItem::new)
}

/// Items with the ids of `ids`, bad where `bad(id)`.
pub fn items_bad_where(
    ids: Range<u64>,
    bad: impl Fn(u64) -> bool,
) -> impl Iterator<Item = FakeItem> {
    ids.map(move |id| FakeItem {
        bad: bad(id),
        ..FakeItem::new(id)
    })
}

/// Adds every item with `add`.
///
/// # Panics
/// When an item is refused, with its error.
pub fn add_all<S: Sink>(batcher: &Batcher<S>, items: impl IntoIterator<Item = S::Item>)
where
    S::Error: Display,
{
    for item in items {
        if let Err(failed) = batcher.add(item) {
            panic!("add refused: {}", failed.error);
        }
    }
}

/// Waits until `done` holds, at most 20 s: a guard against a hang, not a
/// measurement.
///
/// # Panics
/// When 20 s pass first, naming `what` never happened.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until every sink of `record` was dropped, i.e. the batcher's
/// flusher and writer threads have ended (see [`FakeRecord::dropped`]).
///
/// # Panics
/// When they have not after 20 s.
pub fn wait_dropped(record: &Record) {
    wait_until("the flusher ended", || {
        record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dropped
    });
}
