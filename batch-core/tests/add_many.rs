//! `Batcher::add_many` and `add_many_async` on the fake sink: the same
//! batches, order, refusals and counters as `add` in a loop, failed items
//! by their index, `WhenFull::Block` and `Reject`, the durable buffer.
//! (One append and one sync per call under the durable buffer is counted
//! in the unit tests of `batcher/many.rs`, which see the log's counters.)

use std::future::Future;
use std::num::NonZeroUsize;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

use batch_core::testing::block_on::{block_on, waker};
use batch_core::testing::fake::{FakeItem, FakeScript, FakeSink};
use batch_core::testing::harness::{Record, items, snapshot, start, wait_until, written_ids};
use batch_core::{
    BatchError, Batcher, BatcherSettings, BatcherSettingsBuilder, Fsync, Stats, WhenFull,
};
use proptest::prelude::*;

/// Item `id` of `size` bytes, bad or not.
fn sized(id: u64, size: usize, bad: bool) -> FakeItem {
    let item = FakeItem {
        size,
        ..FakeItem::new(id)
    };
    if bad { item.bad() } else { item }
}

/// What a run shows from outside: the requests (ids, bytes), what was
/// refused (index, error), and the counters.
#[derive(Debug, PartialEq)]
struct Seen {
    requests: Vec<Vec<u64>>,
    request_bytes: Vec<usize>,
    refused: Vec<(usize, String)>,
    stats: Stats,
}

fn seen(batcher: Batcher<FakeSink>, record: &Record, refused: Vec<(usize, String)>) -> Seen {
    let report = batcher.close(Duration::from_secs(10));
    assert_eq!(report.pending, 0, "{report:?}");
    let rec = snapshot(record);
    Seen {
        requests: rec.requests,
        request_bytes: rec.request_bytes,
        refused,
        stats: batcher.stats(),
    }
}

fn settings_for(batch_size: usize, max_bytes: Option<usize>) -> BatcherSettingsBuilder {
    let mut builder = BatcherSettings::builder()
        .batch_size(batch_size)
        .max_pending(100_000);
    if let Some(bytes) = max_bytes.and_then(NonZeroUsize::new) {
        builder = builder.max_batch_bytes(bytes);
    }
    builder
}

/// Adds `items` through `add` one at a time (`calls` `None`), or through
/// `add_many` in calls of the lengths `calls` gives (cycled); returns what
/// was refused, by its index in `items`, with the error's text, asserting
/// that the item itself came back.
fn add_through(
    batcher: &Batcher<FakeSink>,
    items: &[FakeItem],
    calls: Option<&[usize]>,
) -> Vec<(usize, String)> {
    let mut refused = Vec::new();
    let Some(calls) = calls else {
        for (index, item) in items.iter().enumerate() {
            if let Err(back) = batcher.add(item.clone()) {
                assert_eq!(&back.item, item, "the item itself comes back");
                refused.push((index, back.error.to_string()));
            }
        }
        return refused;
    };
    let mut at = 0;
    for len in calls.iter().cycle() {
        if at >= items.len() {
            break;
        }
        let call = &items[at..(at + len).min(items.len())];
        if let Err(back) = batcher.add_many(call.to_vec()) {
            for (index, failed) in back.failed {
                assert_eq!(failed.item, call[index], "the item at its index comes back");
                refused.push((at + index, failed.error.to_string()));
            }
        }
        at += call.len();
    }
    refused
}

/// `items` through [`add_through`] on a fresh checking batcher.
fn through(
    batch_size: usize,
    max_bytes: Option<usize>,
    items: &[FakeItem],
    calls: Option<&[usize]>,
) -> Seen {
    let script = FakeScript::default().checking();
    let (batcher, record) = start(settings_for(batch_size, max_bytes), script);
    let refused = add_through(&batcher, items, calls);
    seen(batcher, &record, refused)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// For random item sizes, batch sizes and byte limits, with bad and
    /// too large items among them: `add_many` (in calls of random lengths)
    /// sends the very requests `add` in a loop sends, refuses the same
    /// items with the same errors, and ends with the same counters.
    #[test]
    fn add_many_cuts_the_batches_add_cuts(
        batch_size in 1usize..8,
        max_bytes in proptest::option::of(1usize..24),
        items in proptest::collection::vec((1usize..16, proptest::bool::weighted(0.1)), 0..60),
        calls in proptest::collection::vec(1usize..40, 1..5),
    ) {
        let items: Vec<FakeItem> = items
            .iter()
            .enumerate()
            .map(|(id, &(size, bad))| sized(id as u64, size, bad))
            .collect();
        let looped = through(batch_size, max_bytes, &items, None);
        let many = through(batch_size, max_bytes, &items, Some(&calls));
        prop_assert_eq!(many, looped);
    }
}

#[test]
fn failed_items_come_back_by_index_and_the_rest_is_written() {
    let (batcher, record) = start(
        BatcherSettings::builder().batch_size(100),
        FakeScript::default().checking(),
    );
    let items: Vec<FakeItem> = (0..250)
        .map(|id| sized(id, 1, id == 17 || id == 200))
        .collect();
    let back = batcher.add_many(items).expect_err("two are invalid");
    assert_eq!(back.indexes(), [17, 200]);
    for (index, failed) in &back.failed {
        assert_eq!(failed.item.id, *index as u64);
        assert!(
            matches!(&failed.error, BatchError::Invalid(m) if m.contains(&format!("fake item {index} is bad"))),
            "{}",
            failed.error
        );
    }
    assert!(
        back.to_string()
            .contains("2 item(s) not accepted; the first, at index 17"),
        "{back}"
    );
    let report = batcher.close(Duration::from_secs(10));
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 248);
    let expected: Vec<u64> = (0..250).filter(|id| *id != 17 && *id != 200).collect();
    assert_eq!(written_ids(&record), expected, "in input order");
    let stats = batcher.stats();
    assert_eq!((stats.total_received, stats.total_refused), (248, 2));
    assert_eq!(stats.total_batches, 3, "100, 100, 48");
}

#[test]
fn a_closed_batcher_hands_every_item_back_by_index() {
    let (batcher, _) = start(BatcherSettings::builder(), FakeScript::default());
    let _ = batcher.close(Duration::from_secs(5));
    let back = batcher.add_many(items(0..3)).expect_err("closed");
    assert_eq!(back.indexes(), [0, 1, 2]);
    assert!(
        back.failed
            .iter()
            .all(|(_, f)| matches!(f.error, BatchError::Closed))
    );
    assert_eq!(batcher.stats().total_refused, 3);
    assert!(batcher.add_many(Vec::new()).is_ok(), "nothing to refuse");
}

#[test]
fn under_reject_the_items_past_the_bound_come_back_as_full() {
    let (script, release) = FakeScript::default().checking().hanging();
    let settings = BatcherSettings::builder()
        .batch_size(2)
        .max_pending(4)
        .when_full(WhenFull::Reject);
    let (batcher, record) = start(settings, script);
    // The last one is also invalid: found before the others are buffered,
    // it still comes back at its place in the input.
    let items = (0..10).map(|id| sized(id, 1, id == 9));
    let back = batcher.add_many(items).expect_err("past the bound");
    assert_eq!(back.indexes(), (4..10).collect::<Vec<_>>());
    for (index, failed) in &back.failed {
        let expected = match failed.error {
            BatchError::Invalid(_) => *index == 9,
            BatchError::Full { limit: 4, .. } => *index != 9,
            _ => false,
        };
        assert!(expected, "item {index}: {}", failed.error);
    }
    assert_eq!(batcher.stats().total_refused, 6);
    drop(release);
    let report = batcher.close(Duration::from_secs(10));
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(written_ids(&record), [0, 1, 2, 3]);
}

#[test]
fn under_block_add_many_waits_for_room_and_keeps_the_order() {
    let (script, release) = FakeScript::default().hanging();
    let settings = BatcherSettings::builder().batch_size(2).max_pending(2);
    let (batcher, record) = start(settings, script);
    let batcher = Arc::new(batcher);
    let adder = {
        let batcher = Arc::clone(&batcher);
        std::thread::spawn(move || batcher.add_many(items(0..7)))
    };
    wait_until("the first batch is in flight", || {
        batcher.stats().total_received == 2
    });
    assert!(!adder.is_finished(), "blocked at the bound");
    drop(release);
    assert!(adder.join().expect("adder").is_ok(), "every item accepted");
    let report = batcher.close(Duration::from_secs(10));
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(written_ids(&record), (0..7).collect::<Vec<_>>());
    let requests = snapshot(&record).requests;
    assert_eq!(requests, [vec![0, 1], vec![2, 3], vec![4, 5], vec![6]]);
}

#[test]
fn add_many_async_waits_for_room_without_blocking() {
    let (script, release) = FakeScript::default().checking().hanging();
    let settings = BatcherSettings::builder().batch_size(2).max_pending(2);
    let (batcher, record) = start(settings, script);
    let items: Vec<FakeItem> = (0..6).map(|id| sized(id, 1, id == 3)).collect();
    let (counter, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    let mut adding = pin!(batcher.add_many_async(items));
    assert!(
        adding.as_mut().poll(&mut cx).is_pending(),
        "full after two: waits, not blocks"
    );
    assert_eq!(batcher.stats().total_received, 2);
    drop(release);
    wait_until("the adder is woken", || counter.wakes() > 0);
    let back = block_on(adding).expect_err("item 3 is invalid");
    assert_eq!(back.indexes(), [3]);
    assert!(matches!(back.failed[0].1.error, BatchError::Invalid(_)));
    let report = block_on(batcher.close_async());
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(written_ids(&record), [0, 1, 2, 4, 5]);
    let stats = batcher.stats();
    assert_eq!((stats.total_received, stats.total_refused), (5, 1));
}

#[test]
fn add_many_async_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let (batcher, _) = start(BatcherSettings::builder(), FakeScript::default());
    let future = batcher.add_many_async(items(0..3));
    assert_send(&future);
    assert!(block_on(future).is_ok());
}

fn durable(dir: &Path) -> BatcherSettingsBuilder {
    BatcherSettings::builder()
        .name("add-many-durable")
        .batch_size(10)
        .max_pending(100_000)
        .durable(dir)
        .fsync(Fsync::Always)
}

#[test]
fn under_the_durable_buffer_add_many_writes_what_add_writes_and_leaves_nothing_behind() {
    let items: Vec<FakeItem> = (0..95).map(|id| sized(id, 1, id % 40 == 7)).collect();
    let mut seen_runs = Vec::new();
    for many in [false, true] {
        let dir = tempfile::tempdir().expect("dir");
        let (batcher, record) = start(durable(dir.path()), FakeScript::default().checking());
        let refused = add_through(&batcher, &items, many.then_some(&[items.len()][..]));
        let seen = seen(batcher, &record, refused);
        // Reopened: nothing accepted was left unresolved, nothing refused
        // was kept.
        let (again, _) = start(durable(dir.path()), FakeScript::default().checking());
        let report = again.close(Duration::from_secs(10));
        assert_eq!(report.written, 0, "nothing to replay ({many})");
        assert_eq!(again.stats().total_replayed, 0, "({many})");
        seen_runs.push(seen);
    }
    assert_eq!(seen_runs[1].refused.len(), 3, "{:?}", seen_runs[1].refused);
    assert_eq!(seen_runs[1], seen_runs[0]);
}

#[test]
fn at_the_durable_bound_reject_hands_the_tail_back_by_index() {
    let dir = tempfile::tempdir().expect("dir");
    let (script, release) = FakeScript::default().hanging();
    let settings = durable(dir.path())
        .max_buffer_bytes(4000)
        .when_full(WhenFull::Reject);
    let (batcher, record) = start(settings, script);
    let back = batcher
        .add_many(items(0..1000))
        .expect_err("over the bound");
    let accepted = back.failed[0].0;
    assert!(accepted > 10, "{accepted} accepted");
    assert_eq!(back.indexes(), (accepted..1000).collect::<Vec<_>>());
    for (_, failed) in &back.failed {
        assert!(
            matches!(failed.error, BatchError::BufferFull { limit: 4000, .. }),
            "{}",
            failed.error
        );
    }
    drop(release);
    let report = batcher.close(Duration::from_secs(10));
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(
        written_ids(&record),
        (0..accepted as u64).collect::<Vec<_>>()
    );
}

#[test]
fn at_the_durable_bound_block_waits_for_room_and_keeps_the_order() {
    let dir = tempfile::tempdir().expect("dir");
    let (script, release) = FakeScript::default().hanging();
    let settings = durable(dir.path()).max_buffer_bytes(4000);
    let (batcher, record) = start(settings, script);
    let batcher = Arc::new(batcher);
    let adder = {
        let batcher = Arc::clone(&batcher);
        std::thread::spawn(move || batcher.add_many(items(0..500)))
    };
    wait_until("the first batches are in flight", || {
        batcher.stats().total_received > 10
    });
    assert!(!adder.is_finished(), "blocked at the bound");
    drop(release);
    assert!(adder.join().expect("adder").is_ok(), "every item accepted");
    let report = batcher.close(Duration::from_secs(10));
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(written_ids(&record), (0..500).collect::<Vec<_>>());
}

#[test]
fn a_buffer_add_many_leaves_behind_is_shipped_when_its_linger_is_due() {
    let settings = BatcherSettings::builder()
        .batch_size(10)
        .linger(Duration::from_millis(20));
    let (batcher, record) = start(settings, FakeScript::default());
    assert!(batcher.add_many(items(0..13)).is_ok());
    // No flush: the first ten went as a full batch, the last three go
    // once their linger is due.
    wait_until("the lingering three are written", || {
        written_ids(&record).len() == 13
    });
    let requests = snapshot(&record).requests;
    assert_eq!(requests, [(0..10).collect::<Vec<u64>>(), vec![10, 11, 12]]);
}
