//! The state shared by the adding threads and the flusher thread.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use crate::journal::Durable;
use crate::message::Batch;
use crate::report::FailedItem;
use crate::stats::Stats;
use crate::timings::TimingsRecorder;

/// Numbers the batchers of the process, so that a thread can tell whose
/// it is (0 is no batcher's).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The batcher (its [`Shared::id`]) whose flusher or writer thread
    /// this is; 0 on every other thread.
    static OWN_BATCHER: Cell<u64> = const { Cell::new(0) };
}

/// Called with every failed item, on the flusher thread, when set. The
/// handler sees the item by reference (like rdkafka's delivery callback):
/// once it returns, the item counts as handed back; if it panics, the panic
/// is logged and the item goes to the next report instead.
pub type FailureHandler<T, E> = Arc<dyn Fn(&FailedItem<T, E>) + Send + Sync>;

/// Everything behind the one state lock. The lock is held only to push,
/// swap a full buffer out, queue failures or update counters: never during
/// I/O or user code.
pub(crate) struct State<T, E> {
    pub(crate) buf: Vec<T>,
    /// With a durable buffer: the sequence numbers of `buf`'s items.
    pub(crate) buf_seqs: Vec<u64>,
    pub(crate) buf_bytes: usize,
    /// When the first item of the current buffer was added: linger's
    /// start, and the batch's age when it is resolved.
    pub(crate) first_at: Option<Instant>,
    /// Items swapped out of the buffer and not yet resolved.
    pub(crate) in_flight: usize,
    /// Failed items waiting for the next report. They count toward
    /// `max_pending`, so failures cannot pile up without bound.
    pub(crate) failed: Vec<FailedItem<T, E>>,
    /// With a durable buffer: the sequence numbers of the items in
    /// `failed` that the log holds, resolved when `failed` is taken.
    pub(crate) failed_seqs: Vec<u64>,
    pub(crate) closed: bool,
    /// Set when the `Batcher` is gone: later failures can only be logged.
    /// Under the same lock as `failed`, so a failure is either queued
    /// before `Drop` takes the queue or logged after, never neither.
    pub(crate) abandoned: bool,
    /// Why the flusher thread stopped, if it stopped unexpectedly.
    pub(crate) stopped: Option<Arc<str>>,
    pub(crate) stats: Stats,
    /// Written and conflicts already told in a report.
    pub(crate) reported: (u64, u64),
}

impl<T, E> State<T, E> {
    /// Takes the buffered items out as one batch, now counted in flight.
    pub(crate) fn take_batch(&mut self, capacity: usize) -> Batch<T> {
        let items = std::mem::replace(&mut self.buf, Vec::with_capacity(capacity));
        self.in_flight += items.len();
        self.buf_bytes = 0;
        Batch {
            items,
            seqs: std::mem::take(&mut self.buf_seqs),
            opened: self.first_at.take(),
            shipped: Instant::now(),
            replayed: false,
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            pending: self.buf.len() as u64,
            in_flight: self.in_flight as u64,
            uncollected: self.failed.len() as u64,
            ..self.stats
        }
    }
}

pub(crate) struct Shared<T, E> {
    /// This batcher's number in the process: what its own threads are
    /// marked with (see [`claim_thread`](Self::claim_thread)).
    pub(crate) id: u64,
    pub(crate) state: Mutex<State<T, E>>,
    /// Signalled when items leave `in_flight`, failures are collected, or
    /// the batcher closes: wakes `add` ...
    pub(crate) room: Condvar,
    /// ... and `add_async`, the same moments, without blocking a thread.
    pub(crate) room_event: event_listener::Event,
    /// Set at start or later by `Batcher::set_failure_handler`.
    pub(crate) handler: RwLock<Option<FailureHandler<T, E>>>,
    pub(crate) name: String,
    /// The durable buffer, if the settings ask for one.
    pub(crate) durable: Option<Durable<T>>,
    /// The writers' between-batch timings.
    pub(crate) timings: TimingsRecorder,
}

impl<T, E> Shared<T, E> {
    pub(crate) fn new(
        name: String,
        capacity: usize,
        handler: Option<FailureHandler<T, E>>,
        durable: Option<Durable<T>>,
    ) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(State {
                buf: Vec::with_capacity(capacity),
                buf_seqs: Vec::new(),
                buf_bytes: 0,
                first_at: None,
                in_flight: 0,
                failed: Vec::new(),
                failed_seqs: Vec::new(),
                closed: false,
                abandoned: false,
                stopped: None,
                stats: Stats::default(),
                reported: (0, 0),
            }),
            room: Condvar::new(),
            room_event: event_listener::Event::new(),
            handler: RwLock::new(handler),
            name,
            durable,
            timings: TimingsRecorder::default(),
        }
    }

    /// Marks the current thread as this batcher's own (its flusher or a
    /// writer): the sink and the failure handler run there, and a call of
    /// theirs back into the batcher must not wait for this very thread.
    pub(crate) fn claim_thread(&self) {
        OWN_BATCHER.with(|own| own.set(self.id));
    }

    /// `true` on this batcher's flusher and writer threads, i.e. when
    /// called from its failure handler or its sink.
    pub(crate) fn on_own_thread(&self) -> bool {
        OWN_BATCHER.with(|own| own.get() == self.id)
    }

    /// Locks the state; a poisoned lock is taken over, since every update
    /// under it is a plain field write that cannot be left half done.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every adder waiting for room, blocked or awaiting.
    pub(crate) fn wake(&self) {
        self.room.notify_all();
        self.room_event.notify(usize::MAX);
    }

    /// The failure handler, if one is set (cloned, so no lock is held
    /// while it runs).
    pub(crate) fn handler(&self) -> Option<FailureHandler<T, E>> {
        self.handler
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_handler(&self, handler: FailureHandler<T, E>) {
        *self.handler.write().unwrap_or_else(PoisonError::into_inner) = Some(handler);
    }

    /// Marks the batcher stopped (it refuses further items) and wakes every
    /// waiting adder; returns the reason. Idempotent.
    pub(crate) fn mark_stopped(&self) -> Arc<str> {
        let reason = {
            let mut st = self.lock();
            st.closed = true;
            Arc::clone(st.stopped.get_or_insert_with(|| {
                "the flusher thread ended unexpectedly; the batcher accepts no more items".into()
            }))
        };
        self.wake();
        reason
    }
}
