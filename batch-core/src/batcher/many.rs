//! `add_many`: many items for one lock of the buffer, at most one linger
//! message to the flusher, and under the durable buffer one append and
//! one wait for the sync that covers them all, where `add` in a loop pays
//! each of these per item.
//!
//! Everything else is what `add` does, item by item and in input order:
//! the same checks, the same batch cuts (by count and by bytes), the same
//! waiting for room under [`WhenFull::Block`](crate::WhenFull::Block), the
//! same errors and the same counters. Only the moments differ: the items
//! are checked (and encoded) first, then appended, then buffered.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::{Batcher, Error, Item, Logged, OnFull};
use crate::error::BatchError;
use crate::journal::Refused;
use crate::message::Msg;
use crate::report::{AddManyError, FailedItem};
use crate::settings::WhenFull;
use crate::sink::Sink;
use crate::state::State;

/// An item that passed the checks, not yet in the durable buffer.
struct Checked<T> {
    index: usize,
    item: T,
    /// Its size for the byte limit (0 without one).
    size: usize,
    /// Its encoding, with a durable buffer.
    encoded: Option<Vec<u8>>,
}

/// An item ready to be buffered: in the durable buffer (its sequence
/// number), or there is none.
struct Ready<T> {
    index: usize,
    item: T,
    size: usize,
    seq: Option<u64>,
}

/// A refused item at its index in the input.
type Indexed<S> = (usize, FailedItem<Item<S>, Error<S>>);

/// Where one `add_many` call stands.
struct Call<S: Sink> {
    checked: VecDeque<Checked<Item<S>>>,
    ready: VecDeque<Ready<Item<S>>>,
    failed: Vec<Indexed<S>>,
    /// Refused items not yet counted in `total_refused` (counted under
    /// the next lock of the state).
    uncounted: u64,
    /// Refused items the durable buffer holds: they leave it again.
    resolve: Vec<u64>,
}

impl<S: Sink> Call<S> {
    fn refuse(
        &mut self,
        index: usize,
        item: Item<S>,
        error: BatchError<Error<S>>,
        seq: Option<u64>,
    ) {
        self.failed.push((index, FailedItem { item, error }));
        self.uncounted += 1;
        self.resolve.extend(seq);
    }

    fn done(&self) -> bool {
        self.checked.is_empty() && self.ready.is_empty()
    }
}

/// What `add_many` waits for before its next pass.
enum Next {
    /// Nothing: go on.
    Go,
    /// Room in the durable buffer for an item of this many bytes.
    LogRoom(u64),
    /// Room in the buffer (`add_many_async` only; the sync form waits in
    /// place).
    Room,
}

impl<S: Sink> Batcher<S> {
    /// Adds many items at once, in order: what `add` in a loop does, for
    /// one lock of the buffer instead of one per item, and under the
    /// durable buffer one append and, with
    /// [`Fsync::Always`](crate::Fsync::Always), one wait for the sync that
    /// covers them all instead of one per item (the gain is largest
    /// there: a document's hundred chunks wait for one fsync, not a
    /// hundred).
    ///
    /// Batches are cut exactly where `add` in a loop would cut them (by
    /// count and by bytes), the items keep their order, and the counters
    /// end up the same.
    ///
    /// # Errors
    /// The items that could not be accepted, each with its index in the
    /// input and the error `add` would have given it
    /// ([`BatchError::Invalid`] from the sink's check, too large, closed,
    /// full under [`WhenFull::Reject`], the durable buffer's errors), in
    /// an [`AddManyError`]. Every other item was accepted: nothing is
    /// refused for another item's fault. Under [`WhenFull::Block`] it
    /// blocks the thread until there is room, as `add` does; async code
    /// uses [`add_many_async`](Self::add_many_async).
    pub fn add_many(
        &self,
        items: impl IntoIterator<Item = Item<S>>,
    ) -> Result<(), AddManyError<Item<S>, Error<S>>> {
        let mut call = self.check_many(items);
        while !call.done() {
            let next = self.log_many(&mut call);
            self.enqueue_many(&mut call, OnFull::Wait);
            if let Next::LogRoom(len) = next {
                self.wait_for_log_room(len);
            }
        }
        self.finish_many(call)
    }

    /// Like [`add_many`](Self::add_many), for async code: room in a full
    /// buffer (under [`WhenFull::Block`]) is awaited without blocking the
    /// thread, under any executor, as [`add_async`](Self::add_async) does.
    /// The items are taken (collected) at the call; they are checked and
    /// added when the future is polled, so dropping the future before it
    /// is ready leaves the items not yet added unadded, dropped with it.
    ///
    /// With a durable buffer under [`Fsync::Always`](crate::Fsync::Always)
    /// the thread waits for the one fsync that covers the items, as with
    /// `add_async`.
    ///
    /// # Errors
    /// As [`add_many`](Self::add_many).
    pub fn add_many_async(
        &self,
        items: impl IntoIterator<Item = Item<S>>,
    ) -> impl Future<Output = Result<(), AddManyError<Item<S>, Error<S>>>> + Send + '_ {
        // Collected here, so the future holds no caller type that might
        // not be `Send`.
        let items: Vec<Item<S>> = items.into_iter().collect();
        async move {
            let mut call = self.check_many(items);
            while !call.done() {
                // Listen before looking, so a wake between the look and
                // the wait is not missed.
                let room = self.shared.room_event.listen();
                let next = self.log_many(&mut call);
                let buffered = self.enqueue_many(&mut call, OnFull::Return);
                match (next, buffered) {
                    (Next::Go, Next::Go) => {}
                    _ => room.await,
                }
            }
            self.finish_many(call)
        }
    }

    /// The checks that need no lock ([`Batcher::precheck`]), item by item.
    fn check_many(&self, items: impl IntoIterator<Item = Item<S>>) -> Call<S> {
        let items = items.into_iter();
        let mut call = Call {
            checked: VecDeque::with_capacity(items.size_hint().0),
            ready: VecDeque::new(),
            failed: Vec::new(),
            uncounted: 0,
            resolve: Vec::new(),
        };
        for (index, item) in items.enumerate() {
            match self.precheck(&item) {
                Ok((size, encoded)) => call.checked.push_back(Checked {
                    index,
                    item,
                    size,
                    encoded,
                }),
                Err(error) => call.refuse(index, item, error, None),
            }
        }
        call
    }

    /// Appends the checked items to the durable buffer, one lock for the
    /// run that fits, then waits once for the sync that covers the run;
    /// they are ready to buffer then. Without a durable buffer every
    /// checked item is ready at once.
    fn log_many(&self, call: &mut Call<S>) -> Next {
        if call.checked.is_empty() {
            return Next::Go;
        }
        let Some(durable) = &self.shared.durable else {
            call.ready.extend(call.checked.drain(..).map(|c| Ready {
                index: c.index,
                item: c.item,
                size: c.size,
                seq: None,
            }));
            return Next::Go;
        };
        let (seqs, at, refused) = durable.journal.append_many(
            call.checked
                .iter()
                .map(|c| c.encoded.as_deref().unwrap_or_default()),
        );
        let appended = (seqs.end - seqs.start) as usize;
        if appended > 0 {
            match durable.journal.accept(at) {
                Ok(()) => call
                    .ready
                    .extend(
                        call.checked
                            .drain(..appended)
                            .zip(seqs)
                            .map(|(c, seq)| Ready {
                                index: c.index,
                                item: c.item,
                                size: c.size,
                                seq: Some(seq),
                            }),
                    ),
                Err(e) => {
                    // The sync that covered the run failed: as `add` does
                    // for its item, every item of the run leaves the log
                    // and comes back.
                    let e = Arc::new(e);
                    let run: Vec<_> = call.checked.drain(..appended).zip(seqs).collect();
                    for (c, seq) in run {
                        durable.journal.forget(seq);
                        call.refuse(c.index, c.item, BatchError::Buffer(Arc::clone(&e)), None);
                    }
                }
            }
        }
        match refused {
            None => Next::Go,
            Some(Refused::Io(e)) => {
                if let Some(c) = call.checked.pop_front() {
                    call.refuse(c.index, c.item, BatchError::Buffer(Arc::new(e)), None);
                }
                Next::Go
            }
            // Buffer what is ready first: its items may be what frees the
            // room, and the next pass meets the bound again.
            Some(Refused::Full(_)) if !call.ready.is_empty() => Next::Go,
            Some(Refused::Full(full)) => {
                let Some(c) = call.checked.front() else {
                    return Next::Go;
                };
                let len = c.encoded.as_ref().map_or(0, |e| e.len() as u64);
                match self.log_full(full.bytes, full.limit, len) {
                    Logged::Full(len) => Next::LogRoom(len),
                    Logged::Refused(error) => {
                        if let Some(c) = call.checked.pop_front() {
                            call.refuse(c.index, c.item, error, None);
                        }
                        Next::Go
                    }
                    Logged::Yes(_) => Next::Go,
                }
            }
        }
    }

    /// Buffers the ready items in order under one lock, as
    /// [`Batcher::enqueue`] does each: the same refusals, the same batch
    /// cuts. At the pending bound under [`WhenFull::Block`] it waits on
    /// the condvar, or returns [`Next::Room`] with the rest still ready,
    /// as `on_full` says. The flusher gets one linger message, for the
    /// buffer the call leaves behind (a buffer started and shipped within
    /// the call needs none).
    fn enqueue_many(&self, call: &mut Call<S>, on_full: OnFull) -> Next {
        if call.ready.is_empty() {
            return Next::Go;
        }
        let limit = self.settings.max_pending.get();
        let mut st = self.shared.lock();
        // The buffer this call started, still waiting for its linger
        // message.
        let mut started = false;
        let next = loop {
            let Some(front) = call.ready.front() else {
                break Next::Go;
            };
            let refusal = if let Some(reason) = &st.stopped {
                Some(BatchError::FlusherPanicked(Arc::clone(reason)))
            } else if st.closed {
                Some(BatchError::Closed)
            } else {
                let queued = st.buf.len() + st.in_flight;
                let uncollected = st.failed.len();
                if queued + uncollected < limit {
                    None
                } else if st.in_flight == 0 && !st.buf.is_empty() {
                    // Failures fill the rest of the bound: room can only
                    // come from writing what is buffered, so send it now.
                    self.ship(&mut st);
                    started = false;
                    continue;
                } else {
                    match self.settings.when_full {
                        _ if queued == 0 => Some(BatchError::Uncollected {
                            failed: uncollected,
                            limit,
                        }),
                        WhenFull::Reject => Some(BatchError::Full {
                            pending: queued + uncollected,
                            limit,
                        }),
                        WhenFull::Block if self.shared.on_own_thread() => {
                            Some(BatchError::OwnThread {
                                full: format!(
                                    "{} items pending, limit {limit}",
                                    queued + uncollected
                                )
                                .into(),
                            })
                        }
                        WhenFull::Block => {
                            self.send_linger(&st, &mut started);
                            match on_full {
                                OnFull::Wait => {
                                    st = self
                                        .shared
                                        .room
                                        .wait(st)
                                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                                    continue;
                                }
                                OnFull::Return => break Next::Room,
                            }
                        }
                    }
                }
            };
            let index = front.index;
            let Some(Ready {
                item, size, seq, ..
            }) = call.ready.pop_front()
            else {
                break Next::Go;
            };
            if let Some(error) = refusal {
                call.refuse(index, item, error, seq);
                continue;
            }
            if let Some(limit) = self.max_bytes
                && !st.buf.is_empty()
                && st.buf_bytes + size > limit
            {
                self.ship(&mut st);
                started = false;
            }
            if st.buf.is_empty() {
                st.first_at = Some(Instant::now());
                started = true;
            }
            st.buf.push(item);
            st.buf_seqs.extend(seq);
            st.buf_bytes += size;
            st.stats.total_received += 1;
            if st.buf.len() >= self.batch_size || self.max_bytes.is_some_and(|l| st.buf_bytes >= l)
            {
                self.ship(&mut st);
                started = false;
            }
        };
        self.send_linger(&st, &mut started);
        st.stats.total_refused += std::mem::take(&mut call.uncounted);
        next
    }

    /// Tells the flusher when the buffer this call started is due under
    /// linger, if it did start one (and clears `started`).
    fn send_linger(&self, st: &State<Item<S>, Error<S>>, started: &mut bool) {
        if std::mem::take(started)
            && let Some(at) = self
                .settings
                .linger
                .zip(st.first_at)
                .and_then(|(linger, first)| first.checked_add(linger))
        {
            let _ = self.tx.send(Msg::Linger(at));
        }
    }

    /// Counts and logs what was refused, lets refused items out of the
    /// durable buffer, and hands them back in input order.
    fn finish_many(&self, mut call: Call<S>) -> Result<(), AddManyError<Item<S>, Error<S>>> {
        if call.uncounted > 0 {
            self.shared.lock().stats.total_refused += call.uncounted;
        }
        if let Some(durable) = &self.shared.durable
            && !call.resolve.is_empty()
        {
            durable.journal.resolve(&call.resolve);
        }
        if call.failed.is_empty() {
            return Ok(());
        }
        call.failed.sort_by_key(|(index, _)| *index);
        for (index, refused) in &call.failed {
            tracing::debug!(
                batcher = %self.settings.name,
                index,
                item = S::item_key(&refused.item).as_deref().unwrap_or("-"),
                error = %refused.error,
                "item refused at add_many"
            );
        }
        Err(AddManyError {
            failed: call.failed,
        })
    }
}

#[cfg(all(test, feature = "durable", feature = "testing"))]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use crate::testing::fake::{FakeItem, FakeScript, FakeSink};
    use crate::{Batcher, BatcherSettings, Fsync};

    /// Appends and syncs the batcher's durable log has done so far.
    fn counted(batcher: &Batcher<FakeSink>) -> (u64, u64) {
        let durable = batcher.shared.durable.as_ref().expect("a durable buffer");
        let counted = durable.journal.counted();
        (
            counted.appends.load(Ordering::Relaxed),
            counted.syncs.load(Ordering::Relaxed),
        )
    }

    /// Under `Fsync::Always`, 100 items through `add_many` cost one append
    /// and one sync; through `add` in a loop, a hundred of each.
    #[test]
    fn one_append_and_one_sync_cover_the_whole_call() {
        let dir = tempfile::tempdir().expect("dir");
        let settings = BatcherSettings::builder()
            .name("add-many-syncs")
            .batch_size(1000)
            .durable(dir.path())
            .fsync(Fsync::Always)
            .build()
            .expect("settings");
        let (sink, record) = FakeSink::new(FakeScript::default());
        let batcher = Batcher::new(sink, settings).expect("start");
        let before = counted(&batcher);
        assert!(batcher.add_many((0..100).map(FakeItem::new)).is_ok());
        let after_many = counted(&batcher);
        assert_eq!(after_many.0 - before.0, 1, "appends of add_many");
        assert_eq!(after_many.1 - before.1, 1, "syncs of add_many");
        for id in 100..200 {
            assert!(batcher.add(FakeItem::new(id)).is_ok());
        }
        let after_loop = counted(&batcher);
        assert_eq!(after_loop.0 - after_many.0, 100, "appends of add in a loop");
        assert!(
            after_loop.1 - after_many.1 >= 100,
            "syncs of add in a loop: {}",
            after_loop.1 - after_many.1
        );
        let report = batcher.close(Duration::from_secs(10));
        assert!(report.is_complete(), "{report:?}");
        let written = record.lock().expect("record").written.len();
        assert_eq!(written, 200);
    }
}
