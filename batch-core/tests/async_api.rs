//! The async API (`add_async`, `flush_async`, `close_async`): it waits
//! without blocking the thread, under any executor. The tests poll the
//! futures by hand (no runtime at all), so "waits without blocking" is
//! seen directly: a poll returns `Pending` at once instead of blocking.

use std::future::Future;
use std::pin::pin;
use std::task::Context;

use batch_core::testing::block_on::{block_on, waker};

use batch_core::testing::fake::{FakeItem, FakeScript};
use batch_core::testing::harness::{failed_ids, start, wait_until, written_ids};
use batch_core::{BatcherSettings, BatcherSettingsBuilder, WhenFull};

fn settings(batch_size: usize, max_pending: usize) -> BatcherSettingsBuilder {
    BatcherSettings::builder()
        .batch_size(batch_size)
        .max_pending(max_pending)
        .when_full(WhenFull::Block)
}

#[test]
fn add_async_waits_for_room_without_blocking_and_is_woken() {
    let (script, release) = FakeScript::default().hanging();
    let (b, record) = start(settings(2, 2), script);
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
    wait_until("the adder is woken", || counter.wakes() > 0);
    assert!(third.as_mut().poll(&mut cx).is_ready());
    let report = block_on(b.close_async());
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 3);
    assert_eq!(written_ids(&record), [1, 2, 3]);
}

#[test]
fn flush_async_waits_without_blocking_and_returns_the_report() {
    let (script, release) = FakeScript::default().failing_items().hanging();
    let (b, _) = start(settings(10, 100), script);
    block_on(b.add_async(FakeItem::new(1))).expect("added");
    block_on(b.add_async(FakeItem::new(2).bad())).expect("added");
    let (_, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    let mut flush = pin!(b.flush_async());
    assert!(flush.as_mut().poll(&mut cx).is_pending(), "the sink hangs");
    drop(release);
    let report = block_on(flush);
    assert_eq!(report.written, 1);
    assert_eq!(
        failed_ids(&report),
        [2],
        "failed items come back as with flush()"
    );
}

#[test]
fn async_refusals_are_the_same_as_sync_ones() {
    let (b, _) = start(settings(10, 100), FakeScript::default().checking());
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
    let (b, _) = start(BatcherSettings::builder(), FakeScript::default());
    send(&b.add_async(FakeItem::new(1)));
    send(&b.flush_async());
    send(&b.close_async());
}
