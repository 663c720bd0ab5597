//! `Batcher`: the thread-safe buffer callers add items to.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};

use crate::error::{BatchError, StartError};
use crate::flusher::{Flusher, Lanes};
use crate::journal::{Durable, Refused};
use crate::message::{Batch, Msg, Reply};
use crate::pool::Pool;
use crate::report::{FailedItem, FlushReport};
use crate::retry::Jitter;
use crate::settings::{BatcherSettings, WhenFull};
use crate::sink::{ItemCheck, Sink};
use crate::state::{FailureHandler, Shared, State};
use crate::stats::Stats;
use crate::telemetry::Telemetry;
use crate::writer::Writer;

mod many;

type Item<S> = <S as Sink>::Item;
type Error<S> = <S as Sink>::Error;

/// Buffers items and writes them to a [`Sink`] in batches, on a flusher
/// thread of its own.
///
/// `Batcher` is `Send + Sync`: share it as `Arc<Batcher<S>>` between any
/// number of threads. `add` only takes a short lock; a full buffer is
/// swapped out and written by the flusher while other threads keep adding.
///
/// # Where every item ends up
/// Each item accepted by [`add`](Self::add) is, exactly once, written
/// (`total_added`), found already present (`total_conflicts`), or failed
/// (`total_failed`). Failed items come back with their errors:
/// - in the [`FlushReport`] of the next [`flush`](Self::flush) or
///   [`close`](Self::close), whether they failed in that flush or in an
///   automatic one inside `add`; or
/// - to the failure handler given to [`with_failure_handler`](Self::with_failure_handler),
///   if any, as soon as they fail (a handler that panics is isolated: its
///   item goes to the next report instead).
///
/// Failed items waiting for a report count toward `max_pending`, so a
/// caller who never collects them gets [`BatchError::Uncollected`] rather
/// than unbounded memory. An item `add` cannot accept (invalid, closed,
/// full, too large) is returned at once in the `Err` and counted in
/// `total_refused`.
///
/// # Panics elsewhere
/// The flusher survives any panic: one in the sink fails every later item
/// with [`BatchError::SinkPanicked`]; any other one while a batch is being
/// written hands that batch back with [`BatchError::FlusherPanicked`]; and
/// if the flusher thread ends anyway, a guard hands back every item still
/// queued and wakes every blocked `add`.
///
/// # Drop
/// Dropping the batcher closes it with the settings' `close_timeout`: it
/// flushes, waits at most that long, never panics, and logs (at error
/// level) what it could not hand back to anyone.
#[must_use = "a batcher writes nothing until it is used; call add() and close()"]
pub struct Batcher<S: Sink> {
    shared: Arc<Shared<Item<S>, Error<S>>>,
    tx: Sender<Msg<Item<S>>>,
    settings: BatcherSettings,
    batch_size: usize,
    max_bytes: Option<usize>,
    /// The sink's add-time check, run before an item is buffered.
    check: Option<ItemCheck<Item<S>>>,
    _sink: PhantomData<fn() -> S>,
}

impl<S: Sink> std::fmt::Debug for Batcher<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("name", &self.settings.name)
            .field("batch_size", &self.batch_size)
            .field("max_bytes", &self.max_bytes)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<S: Sink> Batcher<S> {
    /// Starts a batcher that writes to `sink`. With
    /// [`max_in_flight`](BatcherSettings::max_in_flight) above 1, the other
    /// batches in flight go to the sink's [`sibling`](Sink::sibling)s.
    ///
    /// # Errors
    /// If the durable buffer of the settings cannot be opened
    /// ([`StartError::Buffer`], naming its directory and the cause), or a
    /// thread cannot be spawned ([`StartError::Thread`]).
    pub fn new(sink: S, settings: BatcherSettings) -> Result<Self, StartError> {
        Self::start(vec![sink], settings, None)
    }

    /// Starts a batcher that writes up to
    /// [`max_in_flight`](BatcherSettings::max_in_flight) batches at once,
    /// each on one of `sinks` (each its own connection), on a writer thread
    /// per sink. Missing sinks are made with [`Sink::sibling`]; without
    /// siblings, fewer sinks mean fewer batches in flight. Extra sinks are
    /// dropped. With one batch in flight it is
    /// [`new`](Self::new). Items with the same
    /// [`item_key`](Sink::item_key) are written in the order they were
    /// added.
    ///
    /// # Errors
    /// If `sinks` is empty, the durable buffer cannot be opened, or a
    /// thread cannot be spawned (see [`new`](Self::new)).
    pub fn with_sinks(sinks: Vec<S>, settings: BatcherSettings) -> Result<Self, StartError> {
        Self::start(sinks, settings, None)
    }

    /// Like [`new`](Self::new), but every failed item goes to `handler`
    /// (called on the flusher thread) instead of the next report. The
    /// handler sees each item by reference; once it returns, the item
    /// counts as handed back. A handler that panics is isolated: the panic
    /// is logged and that item goes to the next report instead.
    ///
    /// # Calling the batcher from the handler
    /// The handler may use its own batcher (through a clone of an
    /// inserter or an `Arc`), but it runs on the thread that writes the
    /// batches, so nothing there may wait for that thread:
    /// - `add`/`add_async` of an item that finds room is accepted as
    ///   usual; one that would have to wait for room (under
    ///   [`WhenFull::Block`], or for the durable buffer) comes back at once
    ///   with [`BatchError::OwnThread`] instead of hanging the batcher;
    /// - `flush`, `flush_timeout`, `close` and their async forms ship the
    ///   buffer (`close` also closes) and return at once, without waiting:
    ///   their report says so in [`FlushReport::not_waited`].
    ///
    /// The same holds for a sink that calls its own batcher.
    pub fn with_failure_handler(
        sink: S,
        settings: BatcherSettings,
        handler: impl Fn(&FailedItem<Item<S>, Error<S>>) + Send + Sync + 'static,
    ) -> Result<Self, StartError> {
        Self::start(vec![sink], settings, Some(Arc::new(handler)))
    }

    /// Sends every item that fails from now on to `handler` (called on the
    /// flusher thread) instead of the next report; replaces a handler set
    /// before. Failed items already queued stay in the next report. As with
    /// [`with_failure_handler`](Self::with_failure_handler), a panicking
    /// handler is isolated and its item goes to the next report, and a
    /// handler that calls this batcher is never left waiting for itself
    /// (see there: an `add` that would wait comes back with
    /// [`BatchError::OwnThread`], a flush or close returns at once).
    pub fn set_failure_handler(
        &self,
        handler: impl Fn(&FailedItem<Item<S>, Error<S>>) + Send + Sync + 'static,
    ) {
        self.shared.set_handler(Arc::new(handler));
    }

    fn start(
        mut sinks: Vec<S>,
        settings: BatcherSettings,
        handler: Option<FailureHandler<Item<S>, Error<S>>>,
    ) -> Result<Self, StartError> {
        let Some(first) = sinks.first() else {
            return Err(StartError::NoSink(format!(
                "batcher {:?}: no sink to write to",
                settings.name
            )));
        };
        let limits = first.limits();
        let check = first.item_check();
        let batch_size = limits
            .max_items
            .map_or(settings.batch_size, |m| m.min(settings.batch_size))
            .get();
        let max_bytes = match (settings.max_batch_bytes, limits.max_bytes) {
            (Some(a), Some(b)) => Some(a.min(b).get()),
            (a, b) => a.or(b).map(|n| n.get()),
        };
        let (durable, replay, buried) = match &settings.durable {
            None => (None, Vec::new(), 0),
            Some(d) => {
                let (durable, replay, buried) =
                    open_durable::<S>(d, &settings.name).map_err(|cause| StartError::Buffer {
                        dir: d.dir.clone(),
                        cause,
                    })?;
                (Some(durable), replay, buried)
            }
        };
        let shared = Arc::new(Shared::new(
            settings.name.clone(),
            batch_size,
            handler,
            durable,
        ));
        let in_flight = settings.max_in_flight.get();
        while sinks.len() < in_flight {
            match sinks.last().and_then(Sink::sibling) {
                Some(sibling) => sinks.push(sibling),
                None => break,
            }
        }
        if sinks.len() < in_flight {
            tracing::warn!(
                batcher = %settings.name,
                max_in_flight = in_flight,
                sinks = sinks.len(),
                "fewer sinks than max_in_flight: that many batches in flight"
            );
        }
        sinks.truncate(in_flight);
        let mut writers = sinks.into_iter().map(|sink| Writer {
            sink,
            shared: Arc::clone(&shared),
            retry: settings.retry,
            fallback: settings.fallback,
            broken: None,
            refused_ahead: None,
            answered: None,
            jitter: Jitter::new(),
            telemetry: Telemetry::new(&settings.name, S::BACKEND),
        });
        let lanes = match (writers.next(), writers.len()) {
            (Some(writer), 0) => Lanes::One(writer),
            (first, _) => Lanes::Many(Box::new(
                Pool::spawn(
                    first.into_iter().chain(writers).collect(),
                    Arc::clone(&shared),
                    &settings.name,
                    settings
                        .adaptive_concurrency
                        .then(|| settings.adaptive_start.map(std::num::NonZeroUsize::get)),
                    batch_size,
                )
                .map_err(StartError::Thread)?,
            )),
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let flusher = Flusher {
            lanes,
            shared: Arc::clone(&shared),
            linger: settings.linger,
            batch_capacity: batch_size,
        };
        std::thread::Builder::new()
            .name(format!("batch-{}", settings.name))
            .spawn(move || flusher.run(rx))
            .map_err(StartError::Thread)?;
        tracing::debug!(batcher = %settings.name, batch_size, ?max_bytes, "batcher started");
        shared.lock().stats.total_dead_letters += buried;
        replay_first(&shared, &tx, replay, batch_size);
        Ok(Self {
            shared,
            tx,
            settings,
            batch_size,
            max_bytes,
            check,
            _sink: PhantomData,
        })
    }

    /// The settings this batcher runs with.
    pub fn settings(&self) -> &BatcherSettings {
        &self.settings
    }

    /// Where the time between batches went so far: how long ready batches
    /// waited for a ready writer (the hand-off, this library's own idle
    /// time between round trips) and how long writers were idle between
    /// requests. See [`Timings`](crate::Timings).
    pub fn timings(&self) -> crate::Timings {
        self.shared.timings.snapshot()
    }

    /// Items per batch: the settings' batch size capped by the sink's limit.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Adds an item; writes a batch when it is full (by count or bytes).
    ///
    /// Returns the item with an error if it cannot be accepted: it fails
    /// the sink's [`item_check`](Sink::item_check)
    /// ([`BatchError::Invalid`]), the batcher is closed, it is full and the
    /// policy is [`WhenFull::Reject`], or the item alone is over the byte
    /// limit. Under [`WhenFull::Block`] it blocks the thread until there is
    /// room; async code uses [`add_async`](Self::add_async) instead.
    pub fn add(&self, item: Item<S>) -> Result<(), FailedItem<Item<S>, Error<S>>> {
        let (size, encoded) = match self.precheck(&item) {
            Ok(checked) => checked,
            Err(error) => return Err(self.refused(FailedItem { item, error })),
        };
        let seq = match encoded {
            None => None,
            Some(bytes) => loop {
                match self.log(&bytes) {
                    Logged::Yes(seq) => break Some(seq),
                    Logged::Refused(error) => return Err(self.refused(FailedItem { item, error })),
                    Logged::Full(len) => self.wait_for_log_room(len),
                }
            },
        };
        match self.enqueue(item, size, seq, OnFull::Wait) {
            Enqueued::Yes => Ok(()),
            Enqueued::Refused(refused) => Err(self.refused_logged(refused, seq)),
            Enqueued::Full(item) => Err(self.refused_logged(unreachable_full(item), seq)),
        }
    }

    /// Like [`add`](Self::add), for async code: when the batcher is full
    /// and the policy is [`WhenFull::Block`], it waits for room without
    /// blocking the thread (under any executor: batch-core uses no
    /// runtime). Everything else is as with `add`. Dropping the future
    /// before it is ready leaves the item unadded, and it is dropped with
    /// the future.
    ///
    /// With a durable buffer under [`Fsync::Always`](crate::Fsync::Always)
    /// the thread waits for the fsync that covers the item (one fsync for
    /// every adder at that moment, a few milliseconds); room in a full
    /// buffer is awaited without blocking.
    pub async fn add_async(&self, item: Item<S>) -> Result<(), FailedItem<Item<S>, Error<S>>> {
        let (size, encoded) = match self.precheck(&item) {
            Ok(checked) => checked,
            Err(error) => return Err(self.refused(FailedItem { item, error })),
        };
        let seq = match encoded {
            None => None,
            Some(bytes) => loop {
                let room = self.shared.room_event.listen();
                match self.log(&bytes) {
                    Logged::Yes(seq) => break Some(seq),
                    Logged::Refused(error) => return Err(self.refused(FailedItem { item, error })),
                    Logged::Full(_) => room.await,
                }
            },
        };
        let mut item = item;
        loop {
            // Listen before looking, so a wake between the look and the
            // wait is not missed.
            let room = self.shared.room_event.listen();
            match self.enqueue(item, size, seq, OnFull::Return) {
                Enqueued::Yes => return Ok(()),
                Enqueued::Refused(refused) => return Err(self.refused_logged(refused, seq)),
                Enqueued::Full(back) => {
                    item = back;
                    room.await;
                }
            }
        }
    }

    /// Counts and logs an item `add` hands straight back.
    fn refused(&self, refused: FailedItem<Item<S>, Error<S>>) -> FailedItem<Item<S>, Error<S>> {
        self.shared.lock().stats.total_refused += 1;
        tracing::debug!(
            batcher = %self.settings.name,
            item = S::item_key(&refused.item).as_deref().unwrap_or("-"),
            error = %refused.error,
            "item refused at add"
        );
        refused
    }

    /// Counts `items` an inserter refused before they became the sink's
    /// items, as [`add`](Self::add) counts the items it refuses: e.g.
    /// CouchDB's `add` refuses a document that is not an object before
    /// there is a document to hand the batcher. `total_refused` then means
    /// the same on every backend: every item refused at add.
    pub fn count_refused(&self, items: u64) {
        if items > 0 {
            self.shared.lock().stats.total_refused += items;
        }
    }

    /// An item `add` appended to the durable buffer and then refused
    /// (closed, full): it leaves the log again.
    fn refused_logged(
        &self,
        refused: FailedItem<Item<S>, Error<S>>,
        seq: Option<u64>,
    ) -> FailedItem<Item<S>, Error<S>> {
        if let (Some(seq), Some(durable)) = (seq, &self.shared.durable) {
            durable.journal.resolve(&[seq]);
        }
        self.refused(refused)
    }

    /// The checks that need no lock: the sink's item check, the byte
    /// limit, and with a durable buffer the item's encoding. Returns the
    /// item's size (0 without a byte limit) and its encoding.
    fn precheck(&self, item: &Item<S>) -> Result<Checked, BatchError<Error<S>>> {
        if let Some(check) = &self.check
            && let Err(reason) = check(item)
        {
            return Err(BatchError::Invalid(reason));
        }
        let size = match self.max_bytes {
            Some(limit) => {
                let size = S::encoded_size(item);
                if size > limit {
                    return Err(BatchError::TooLarge { size, limit });
                }
                size
            }
            None => 0,
        };
        let encoded = match &self.shared.durable {
            Some(durable) => Some((durable.codec.encode)(item).map_err(|e| {
                BatchError::Invalid(format!("cannot be stored in the durable buffer: {e}"))
            })?),
            None => None,
        };
        Ok((size, encoded))
    }

    /// Appends an encoded item to the durable buffer and waits until it
    /// is as durable as the fsync policy asks.
    fn log(&self, bytes: &[u8]) -> Logged<Error<S>> {
        let Some(durable) = &self.shared.durable else {
            return Logged::Refused(BatchError::Closed);
        };
        match durable.journal.append(bytes) {
            Ok((seq, at)) => match durable.journal.accept(at) {
                Ok(()) => Logged::Yes(seq),
                Err(e) => {
                    durable.journal.forget(seq);
                    Logged::Refused(BatchError::Buffer(Arc::new(e)))
                }
            },
            Err(Refused::Io(e)) => Logged::Refused(BatchError::Buffer(Arc::new(e))),
            Err(Refused::Full(full)) => self.log_full(full.bytes, full.limit, bytes.len() as u64),
        }
    }

    /// The durable buffer is at its bound (`bytes` with the next item of
    /// `len` bytes, over `limit`): the error the item comes back with, or
    /// [`Logged::Full`] when waiting for room may help.
    fn log_full(&self, bytes: u64, limit: u64, len: u64) -> Logged<Error<S>> {
        // Room comes only from resolving what is buffered or in
        // flight: send a waiting buffer now; with nothing left to
        // write (the log is full of failures nobody collected, or
        // the batcher is closed), waiting would be forever.
        let busy = {
            let mut st = self.shared.lock();
            if st.in_flight == 0 && !st.buf.is_empty() {
                self.ship(&mut st);
            }
            st.in_flight > 0 && !st.closed
        };
        if self.settings.when_full == WhenFull::Reject || !busy {
            Logged::Refused(BatchError::BufferFull { bytes, limit })
        } else if self.shared.on_own_thread() {
            // Only this thread can free the room.
            Logged::Refused(BatchError::OwnThread {
                full: format!("durable buffer: {bytes} bytes with this item, limit {limit}").into(),
            })
        } else {
            Logged::Full(len)
        }
    }

    /// Waits a moment for the durable buffer to free room for `len` bytes.
    fn wait_for_log_room(&self, len: u64) {
        if let Some(durable) = &self.shared.durable {
            durable
                .journal
                .wait_for_room(len, Duration::from_millis(50));
        }
    }

    /// Buffers a checked item under the lock; at the pending bound with
    /// [`WhenFull::Block`] it waits on the condvar or hands the item back,
    /// as `on_full` says.
    fn enqueue(
        &self,
        item: Item<S>,
        size: usize,
        seq: Option<u64>,
        on_full: OnFull,
    ) -> Enqueued<S> {
        let limit = self.settings.max_pending.get();
        let mut st = self.shared.lock();
        loop {
            if let Some(reason) = &st.stopped {
                let error = BatchError::FlusherPanicked(Arc::clone(reason));
                return Enqueued::Refused(FailedItem { item, error });
            }
            if st.closed {
                return Enqueued::Refused(FailedItem {
                    item,
                    error: BatchError::Closed,
                });
            }
            let queued = st.buf.len() + st.in_flight;
            let uncollected = st.failed.len();
            if queued + uncollected < limit {
                break;
            }
            if st.in_flight == 0 && !st.buf.is_empty() {
                // Failures fill the rest of the bound: room can only come
                // from writing what is buffered, so send it now.
                self.ship(&mut st);
                continue;
            }
            let error = match self.settings.when_full {
                // Only the caller can collect failures: waiting for them
                // alone would wait forever on a single adding thread.
                _ if queued == 0 => BatchError::Uncollected {
                    failed: uncollected,
                    limit,
                },
                WhenFull::Reject => BatchError::Full {
                    pending: queued + uncollected,
                    limit,
                },
                // The failure handler or the sink, adding on the thread
                // that alone could make room: waiting would be forever.
                WhenFull::Block if self.shared.on_own_thread() => BatchError::OwnThread {
                    full: format!("{} items pending, limit {limit}", queued + uncollected).into(),
                },
                WhenFull::Block => match on_full {
                    OnFull::Wait => {
                        st = self
                            .shared
                            .room
                            .wait(st)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        continue;
                    }
                    OnFull::Return => return Enqueued::Full(item),
                },
            };
            return Enqueued::Refused(FailedItem { item, error });
        }
        if let Some(limit) = self.max_bytes
            && !st.buf.is_empty()
            && st.buf_bytes + size > limit
        {
            self.ship(&mut st);
        }
        if st.buf.is_empty() {
            let now = Instant::now();
            st.first_at = Some(now);
            if let Some(at) = self.settings.linger.and_then(|l| now.checked_add(l)) {
                let _ = self.tx.send(Msg::Linger(at));
            }
        }
        st.buf.push(item);
        st.buf_seqs.extend(seq);
        st.buf_bytes += size;
        st.stats.total_received += 1;
        if st.buf.len() >= self.batch_size || self.max_bytes.is_some_and(|l| st.buf_bytes >= l) {
            self.ship(&mut st);
        }
        Enqueued::Yes
    }

    /// Sends the buffer to the flusher. Called under the lock, so batches
    /// reach the flusher in the order they were filled; the channel is
    /// unbounded, so the send never blocks (the pending bound limits it).
    fn ship(&self, st: &mut State<Item<S>, Error<S>>) {
        let batch = st.take_batch(self.batch_size);
        if let Err(returned) = self.tx.send(Msg::Batch(batch)) {
            // The flusher is gone (only after close, or if it died): hand
            // the items back.
            if let Msg::Batch(Batch { items, seqs, .. }) = returned.0 {
                st.failed_seqs.extend(seqs);
                let error = st.stopped.as_ref().map_or(BatchError::Closed, |r| {
                    BatchError::FlusherPanicked(Arc::clone(r))
                });
                st.in_flight -= items.len();
                st.stats.total_failed += items.len() as u64;
                st.failed.extend(items.into_iter().map(|item| FailedItem {
                    item,
                    error: error.clone(),
                }));
            }
        }
    }

    /// Writes everything buffered and waits until every item added before
    /// the call is resolved. Returns what was resolved since the previous
    /// report, failed items included.
    pub fn flush(&self) -> FlushReport<Item<S>, Error<S>> {
        self.flush_within(None, false)
    }

    /// Like [`flush`](Self::flush), but waits at most `timeout`; items
    /// still unresolved then are counted in the report's `pending`.
    pub fn flush_timeout(&self, timeout: Duration) -> FlushReport<Item<S>, Error<S>> {
        self.flush_within(Some(timeout), false)
    }

    /// Flushes, stops the flusher thread, and refuses further items. Waits
    /// at most `timeout`: a hanging sink cannot hold the caller longer.
    /// Items the sink still holds then are counted in `pending` and keep
    /// being written in the background; their failures can only be logged.
    pub fn close(&self, timeout: Duration) -> FlushReport<Item<S>, Error<S>> {
        self.flush_within(Some(timeout), true)
    }

    fn flush_within(
        &self,
        timeout: Option<Duration>,
        close: bool,
    ) -> FlushReport<Item<S>, Error<S>> {
        let not_waited = self.wait_resolved(timeout, close);
        self.report_not_waited(not_waited)
    }

    /// Ships the buffer and waits (at most `timeout`) until everything
    /// added before is resolved; then, when closing, syncs the durable
    /// buffer, so that what was resolved is on disk too. On the batcher's
    /// own thread it only ships (and closes) and says why it did not wait.
    fn wait_resolved(&self, timeout: Option<Duration>, close: bool) -> Option<&'static str> {
        if let Some(why) = self.ship_without_waiting(close) {
            return Some(why);
        }
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        self.barrier(Reply::Blocking(reply_tx), close);
        // The reply channel disconnects at once if the flusher is gone.
        let answered = match timeout {
            Some(t) => !matches!(reply_rx.recv_timeout(t), Err(RecvTimeoutError::Timeout)),
            None => {
                let _ = reply_rx.recv();
                true
            }
        };
        if !answered {
            tracing::warn!(batcher = %self.settings.name, ?timeout, "flush timed out; items are still in flight");
        }
        if close {
            self.sync_durable();
        }
        None
    }

    /// On the batcher's own thread (its failure handler or sink), where a
    /// flush or close would wait for this very thread forever: ships the
    /// buffer and, when closing, closes, without waiting, and returns why.
    /// `None` on any other thread.
    fn ship_without_waiting(&self, close: bool) -> Option<&'static str> {
        if !self.shared.on_own_thread() {
            return None;
        }
        let (unanswered, _) = futures_channel::oneshot::channel();
        self.barrier(Reply::Async(unanswered), close);
        if close {
            self.sync_durable();
        }
        tracing::warn!(
            batcher = %self.settings.name,
            close,
            "flush or close called on the batcher's own thread (failure handler or sink); not waiting, which would hang it"
        );
        Some(NOT_WAITED_OWN_THREAD)
    }

    /// [`report`](Self::report), saying why the call did not wait.
    fn report_not_waited(
        &self,
        not_waited: Option<&'static str>,
    ) -> FlushReport<Item<S>, Error<S>> {
        let mut report = self.report();
        report.not_waited = not_waited;
        report
    }

    /// Writes and syncs the durable buffer, if there is one.
    fn sync_durable(&self) {
        if let Some(durable) = &self.shared.durable
            && let Err(e) = durable.journal.sync()
        {
            tracing::error!(batcher = %self.settings.name, error = %e, "durable buffer: sync failed");
        }
    }

    /// Like [`flush`](Self::flush), for async code: waits for the flusher's
    /// answer without blocking the thread, under any executor. To bound the
    /// wait, wrap it in the runtime's timeout (e.g. `tokio::time::timeout`);
    /// a dropped future leaves the flush running and its failures in the
    /// next report.
    pub async fn flush_async(&self) -> FlushReport<Item<S>, Error<S>> {
        if let Some(why) = self.ship_without_waiting(false) {
            return self.report_not_waited(Some(why));
        }
        let (reply_tx, reply_rx) = futures_channel::oneshot::channel();
        self.barrier(Reply::Async(reply_tx), false);
        // `Canceled` means the flusher is gone: nothing more will resolve.
        let _ = reply_rx.await;
        self.report()
    }

    /// Like [`close`](Self::close), for async code, and the way to end a
    /// batcher in an async service: `close_async().await` at shutdown
    /// writes everything without blocking a runtime thread, whereas `Drop`
    /// blocks its thread for up to `close_timeout`. Waits until the last
    /// batch is resolved; bound it with the runtime's timeout if needed
    /// (items then stay pending and are written in the background).
    pub async fn close_async(&self) -> FlushReport<Item<S>, Error<S>> {
        if let Some(why) = self.ship_without_waiting(true) {
            return self.report_not_waited(Some(why));
        }
        let (reply_tx, reply_rx) = futures_channel::oneshot::channel();
        self.barrier(Reply::Async(reply_tx), true);
        let _ = reply_rx.await;
        self.sync_durable();
        self.report()
    }

    /// Ships the buffer and asks the flusher to answer `reply` once all of
    /// it is resolved (and then to stop, when `close`).
    fn barrier(&self, reply: Reply, close: bool) {
        {
            let mut st = self.shared.lock();
            if !st.buf.is_empty() {
                self.ship(&mut st);
            }
            let msg = if close {
                st.closed = true;
                Msg::Close(reply)
            } else {
                Msg::Barrier(reply)
            };
            // An error means the flusher is gone; dropping the reply then
            // wakes its waiter at once.
            let _ = self.tx.send(msg);
        }
        if close {
            self.shared.wake();
        }
    }

    /// What was resolved since the previous report; the caller now holds
    /// the failed items, so the durable buffer resolves them.
    fn report(&self) -> FlushReport<Item<S>, Error<S>> {
        let (report, seqs) = self.take_report();
        if let Some(durable) = &self.shared.durable {
            durable.journal.resolve(&seqs);
        }
        report
    }

    /// The next report and the durable sequence numbers of its failed
    /// items, not yet resolved.
    fn take_report(&self) -> (FlushReport<Item<S>, Error<S>>, Vec<u64>) {
        let (report, seqs) = {
            let mut st = self.shared.lock();
            let (written, conflicts) = (st.stats.total_added, st.stats.total_conflicts);
            let report = FlushReport {
                written: written - st.reported.0,
                conflicts: conflicts - st.reported.1,
                failed: std::mem::take(&mut st.failed),
                pending: st.buf.len() + st.in_flight,
                not_waited: None,
            };
            st.reported = (written, conflicts);
            (report, std::mem::take(&mut st.failed_seqs))
        };
        if !report.failed.is_empty() {
            // Collected failures made room under `max_pending`.
            self.shared.wake();
        }
        (report, seqs)
    }

    /// A consistent snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().snapshot()
    }

    /// UDS3 v2.2's `get_stats()` dictionary: written items under the sink's
    /// [`WRITTEN_KEY`](Sink::WRITTEN_KEY) (`total_added`, or Neo4j's
    /// `total_created`), `total_batches`, `total_fallbacks`, `pending`, and
    /// this library's extra counters under their own names.
    pub fn get_stats(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.stats().to_uds3_map(S::WRITTEN_KEY)
    }

    /// Items buffered and not yet sent (UDS3 v2.2's `pending`).
    pub fn pending(&self) -> usize {
        self.shared.lock().buf.len()
    }

    /// `true` once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

impl<S: Sink> Drop for Batcher<S> {
    fn drop(&mut self) {
        if !self.is_closed() {
            self.wait_resolved(Some(self.settings.close_timeout), true);
        }
        let (report, mut seqs) = self.take_report();
        // One critical section with the flusher's: every failure is either
        // in this queue now or handled by the flusher later.
        let mut failed = report.failed;
        {
            let mut st = self.shared.lock();
            st.abandoned = true;
            failed.append(&mut st.failed);
            seqs.append(&mut st.failed_seqs);
        }
        if let Some(durable) = &self.shared.durable
            && !failed.is_empty()
        {
            if durable.bury(&self.settings.name, &failed, &seqs) {
                self.shared.lock().stats.total_dead_letters += failed.len() as u64;
                failed.clear();
            }
            self.sync_durable();
        }
        for item in &failed {
            tracing::error!(
                batcher = %self.settings.name,
                item = S::item_key(&item.item).as_deref().unwrap_or("-"),
                error = %item.error,
                "batcher dropped with an uncollected failed item"
            );
        }
        if report.pending > 0 {
            tracing::error!(
                batcher = %self.settings.name,
                pending = report.pending,
                timeout = ?self.settings.close_timeout,
                "batcher dropped before its sink finished; the flusher keeps trying in the background"
            );
        }
    }
}

/// [`FlushReport::not_waited`] of a flush or close called on the batcher's
/// own thread.
const NOT_WAITED_OWN_THREAD: &str = "called on the batcher's own thread (from its failure handler or sink), where waiting would hang the batcher: the buffer was shipped, not waited for";

/// What [`Batcher::enqueue`] does at the pending bound under
/// [`WhenFull::Block`].
enum OnFull {
    /// Block the thread on the condvar (`add`).
    Wait,
    /// Hand the item back to wait elsewhere (`add_async`).
    Return,
}

/// How [`Batcher::enqueue`] ended.
enum Enqueued<S: Sink> {
    Yes,
    Refused(FailedItem<Item<S>, Error<S>>),
    /// Full under [`OnFull::Return`]: the item, to try again.
    Full(Item<S>),
}

/// `add` waits with [`OnFull::Wait`], so `enqueue` never hands it an item
/// back as full; should that ever change, the item is refused, not lost.
fn unreachable_full<T, E>(item: T) -> FailedItem<T, E> {
    debug_assert!(false, "enqueue returned Full to a waiting add");
    FailedItem {
        item,
        error: BatchError::Closed,
    }
}

/// An item's size for the byte limit, and its encoding for the durable
/// buffer.
type Checked = (usize, Option<Vec<u8>>);

/// A durable buffer just opened: the journal, the items to replay with
/// their sequence numbers, and how many went to the dead letters.
type Opened<T> = (Durable<T>, Vec<(u64, T)>, u64);

/// How appending to the durable buffer ended.
enum Logged<E> {
    /// In the log, as durable as the policy asks: the sequence number.
    Yes(u64),
    /// Not in the log: the error the item comes back with.
    Refused(BatchError<E>),
    /// The log is at its bound and something in flight may free room:
    /// the item's size, to wait for.
    Full(u64),
}

/// Opens the durable buffer of `settings` for sink type `S`: its log, and
/// the items a previous batcher left unresolved, decoded, to replay, and
/// how many failed items nobody collected went to the dead letters now.
#[cfg(feature = "durable")]
fn open_durable<S: Sink>(
    settings: &crate::DurableSettings,
    name: &str,
) -> std::io::Result<Opened<Item<S>>> {
    use std::io::{Error, ErrorKind};
    let Some(codec) = S::codec() else {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "batcher {name:?}: the {} sink gives no Codec (Sink::codec), so its items cannot be kept in a durable buffer",
                S::BACKEND
            ),
        ));
    };
    let (journal, unresolved) = crate::durable::Journal::open(settings, name)?;
    let mut replay = Vec::with_capacity(unresolved.len());
    let (mut letters, mut buried) = (Vec::new(), Vec::new());
    for (seq, found) in unresolved {
        if let Some(error) = found.failed {
            letters.push((error, found.data));
            buried.push(seq);
            continue;
        }
        match (codec.decode)(&found.data) {
            Ok(item) => replay.push((seq, item)),
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::InvalidData,
                    format!(
                        "durable buffer {}: item {seq} does not read back as an item of the {} sink ({e}); \
                         was the directory written by another kind of batcher? Nothing was replayed",
                        settings.dir.display(),
                        S::BACKEND
                    ),
                ));
            }
        }
    }
    if !letters.is_empty() {
        journal.dead_letter(&letters, &buried)?;
        tracing::warn!(batcher = %name, items = letters.len(), dir = %settings.dir.display(), "failed items an earlier batcher left uncollected went to the dead letters");
    }
    if !replay.is_empty() {
        tracing::info!(batcher = %name, items = replay.len(), dir = %settings.dir.display(), "replaying items an earlier batcher accepted and did not resolve");
    }
    let buried = letters.len() as u64;
    Ok((Durable { journal, codec }, replay, buried))
}

/// Without the `durable` feature a durable setting is refused, never
/// dropped silently.
#[cfg(not(feature = "durable"))]
fn open_durable<S: Sink>(
    settings: &crate::DurableSettings,
    name: &str,
) -> std::io::Result<Opened<Item<S>>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!(
            "batcher {name:?}: a durable buffer ({}) needs batch-core's `durable` feature (uds3-batch: feature `durable`)",
            settings.dir.display()
        ),
    ))
}

/// Sends the items read back from the durable buffer as the first batches,
/// before anything new, each marked as a replay.
fn replay_first<T, E>(
    shared: &Shared<T, E>,
    tx: &Sender<Msg<T>>,
    replay: Vec<(u64, T)>,
    batch_size: usize,
) {
    if replay.is_empty() {
        return;
    }
    let mut st = shared.lock();
    let count = replay.len() as u64;
    st.stats.total_received += count;
    st.stats.total_replayed += count;
    let mut items = replay.into_iter().peekable();
    while items.peek().is_some() {
        let (seqs, items): (Vec<u64>, Vec<T>) = items.by_ref().take(batch_size).unzip();
        st.in_flight += items.len();
        let batch = Batch {
            items,
            seqs,
            opened: Some(Instant::now()),
            shipped: Instant::now(),
            replayed: true,
        };
        // The flusher was just started; should it be gone already, the
        // items come back as failed, as `ship` does it.
        if let Err(returned) = tx.send(Msg::Batch(batch))
            && let Msg::Batch(Batch { items, seqs, .. }) = returned.0
        {
            st.in_flight -= items.len();
            st.stats.total_failed += items.len() as u64;
            st.failed_seqs.extend(seqs);
            st.failed.extend(items.into_iter().map(|item| FailedItem {
                item,
                error: BatchError::Closed,
            }));
        }
    }
}
