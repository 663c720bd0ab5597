//! The async API (`add_async`, `flush_async`, `close_async`): it waits
//! without blocking the thread, under any executor. The tests poll the
//! futures by hand (no runtime at all), so "waits without blocking" is
//! seen directly: a poll returns `Pending` at once instead of blocking.

mod block_on;

use std::future::Future;
use std::pin::pin;
use std::task::Context;
use std::time::Duration;

use block_on::{block_on, waker};

use batch_core::testing::fake::{BadItems, FakeItem, FakeScript, FakeSink, Hang};
use batch_core::{Batcher, BatcherSettings, WhenFull};

fn settings(batch_size: usize, max_pending: usize) -> BatcherSettings {
    BatcherSettings::builder()
        .batch_size(batch_size)
        .max_pending(max_pending)
        .when_full(WhenFull::Block)
        .build()
        .expect("settings")
}

#[test]
fn add_async_waits_for_room_without_blocking_and_is_woken() {
    let (hang, release) = Hang::new();
    let (sink, record) = FakeSink::new(FakeScript {
        hang: Some(hang),
        ..FakeScript::default()
    });
    let b = Batcher::new(sink, settings(2, 2)).expect("spawn");
    block_on(b.add_async(FakeItem::new(1))).expect("room");
    block_on(b.add_async(FakeItem::new(2))).expect("room; the batch ships and hangs");
    // Full: the sync `add` would block here. The future is Pending at once.
    let (counter, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    let mut third = pin!(b.add_async(FakeItem::new(3)));
    assert!(
        third.as_mut().poll(&mut cx).is_pending(),
        "waits, not blocks"
    );
    assert_eq!(b.stats().total_received, 2);
    // The sink answers: the waiting adder is woken and gets in.
    drop(release);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while counter.wakes() == 0 {
        assert!(std::time::Instant::now() < deadline, "never woken");
        std::thread::park_timeout(Duration::from_millis(10));
    }
    assert!(third.as_mut().poll(&mut cx).is_ready());
    let report = block_on(b.close_async());
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 3);
    assert_eq!(record.lock().expect("record").written.len(), 3);
}

#[test]
fn flush_async_waits_without_blocking_and_returns_the_report() {
    let (hang, release) = Hang::new();
    let (sink, _) = FakeSink::new(FakeScript {
        hang: Some(hang),
        bad_items: BadItems::FailItem,
        ..FakeScript::default()
    });
    let b = Batcher::new(sink, settings(10, 100)).expect("spawn");
    block_on(b.add_async(FakeItem::new(1))).expect("added");
    block_on(b.add_async(FakeItem::new(2).bad())).expect("added");
    let (_, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    let mut flush = pin!(b.flush_async());
    assert!(flush.as_mut().poll(&mut cx).is_pending(), "the sink hangs");
    drop(release);
    let report = block_on(flush);
    assert_eq!(report.written, 1);
    let failed: Vec<u64> = report.failed.iter().map(|f| f.item.id).collect();
    assert_eq!(failed, vec![2], "failed items come back as with flush()");
}

#[test]
fn async_refusals_are_the_same_as_sync_ones() {
    let (sink, _) = FakeSink::new(FakeScript {
        check_at_add: true,
        ..FakeScript::default()
    });
    let b = Batcher::new(sink, settings(10, 100)).expect("spawn");
    let refused = block_on(b.add_async(FakeItem::new(1).bad())).expect_err("invalid");
    assert!(matches!(refused.error, batch_core::BatchError::Invalid(_)));
    let _ = block_on(b.close_async());
    let closed = block_on(b.add_async(FakeItem::new(2))).expect_err("closed");
    assert!(matches!(closed.error, batch_core::BatchError::Closed));
    assert_eq!(b.stats().total_refused, 2);
}

#[test]
fn async_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let (sink, _) = FakeSink::new(FakeScript::default());
    let b = Batcher::new(sink, BatcherSettings::default()).expect("spawn");
    send(&b.add_async(FakeItem::new(1)));
    send(&b.flush_async());
    send(&b.close_async());
}
