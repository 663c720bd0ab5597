//! The flusher thread: takes the batches the adders ship, and the flush,
//! close and linger messages, in the order they were sent; writes each
//! batch itself (one in flight) or hands it to a pool of writers (several
//! in flight), and ends the batcher cleanly or, if it dies, hands back
//! everything it still holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Select};

use crate::error::BatchError;
use crate::message::{Batch, Msg, Reply};
use crate::pool::{Done, Pool};
use crate::report::FailedItem;
use crate::sink::Sink;
use crate::state::Shared;
use crate::writer::Writer;

/// How the flusher writes.
pub(crate) enum Lanes<S: Sink> {
    /// One batch at a time, on the flusher's own thread.
    One(Writer<S>),
    /// Up to one batch per writer thread of the pool at once.
    Many(Box<Pool<S::Item, S::Error>>),
}

pub(crate) struct Flusher<S: Sink> {
    pub(crate) lanes: Lanes<S>,
    pub(crate) shared: Arc<Shared<S::Item, S::Error>>,
    pub(crate) linger: Option<Duration>,
    pub(crate) batch_capacity: usize,
}

/// Fails everything the batcher still holds if the flusher thread ends
/// without being told to (a panic that escaped every other guard, or a
/// dead writer of the pool): the buffer, the batches queued for the
/// flusher, and wakes every `add`, `flush` and `close` that waits on it.
/// A pool hands back its own queue when dropped, before this runs.
struct StopGuard<T, E> {
    shared: Arc<Shared<T, E>>,
    rx: Receiver<Msg<T>>,
    finished: bool,
}

impl<T, E> Drop for StopGuard<T, E> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let error = BatchError::FlusherPanicked(self.shared.mark_stopped());
        let mut replies = Vec::new();
        let mut st = self.shared.lock();
        let mut items = std::mem::take(&mut st.buf);
        let mut seqs = std::mem::take(&mut st.buf_seqs);
        st.buf_bytes = 0;
        st.first_at = None;
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Batch(batch) => {
                    st.in_flight = st.in_flight.saturating_sub(batch.items.len());
                    items.extend(batch.items);
                    seqs.extend(batch.seqs);
                }
                Msg::Barrier(reply) | Msg::Close(reply) => replies.push(reply),
                Msg::Linger(_) => {}
            }
        }
        // Items a dead thread was writing are gone with its stack: count
        // them as failed so the counters still add up, and say so.
        let lost = std::mem::take(&mut st.in_flight);
        st.stats.total_failed += (items.len() + lost) as u64;
        let handed_back = items.len();
        let failed = items.into_iter().map(|item| FailedItem {
            item,
            error: error.clone(),
        });
        let abandoned = st.abandoned;
        if !abandoned {
            st.failed.extend(failed);
            st.failed_seqs.extend(seqs);
        }
        drop(st);
        self.shared.wake();
        drop(replies);
        tracing::error!(
            batcher = %self.shared.name,
            handed_back,
            lost,
            abandoned,
            "the flusher thread ended unexpectedly; its items are handed back"
        );
    }
}

/// What the flusher waits for next.
enum Event<T> {
    Msg(Msg<T>),
    Done(Done),
    /// The linger deadline passed.
    Due,
    /// Every `Batcher` handle is gone.
    Gone,
}

impl<S: Sink> Flusher<S> {
    pub(crate) fn run(self, rx: Receiver<Msg<S::Item>>) {
        self.shared.claim_thread();
        let mut guard = StopGuard {
            shared: Arc::clone(&self.shared),
            rx,
            finished: false,
        };
        let Flusher {
            lanes,
            shared,
            linger,
            batch_capacity,
        } = self;
        let lingering = Lingering {
            shared: &shared,
            linger,
            capacity: batch_capacity,
        };
        guard.finished = match lanes {
            Lanes::One(writer) => run_one(writer, &guard.rx, &lingering),
            Lanes::Many(pool) => run_many(*pool, &guard.rx, &lingering),
        };
    }
}

/// One batch at a time on this thread. Returns `true` when it ended as
/// asked (close, or every handle gone).
fn run_one<S: Sink>(
    mut writer: Writer<S>,
    rx: &Receiver<Msg<S::Item>>,
    lingering: &Lingering<'_, S::Item, S::Error>,
) -> bool {
    let mut deadline: Option<Instant> = None;
    loop {
        let msg = match deadline {
            Some(at) => rx.recv_deadline(at),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match msg {
            Ok(Msg::Batch(batch)) => {
                writer.process(batch);
            }
            Ok(Msg::Linger(at)) => deadline = Some(deadline.map_or(at, |d| d.min(at))),
            Ok(Msg::Barrier(reply)) => reply.send(),
            Ok(Msg::Close(reply)) => {
                reply.send();
                return true;
            }
            Err(RecvTimeoutError::Timeout) => {
                deadline = None;
                if let Some(batch) = lingering.take(&mut deadline) {
                    writer.process(batch);
                }
            }
            Err(RecvTimeoutError::Disconnected) => return true,
        }
    }
}

/// Batches go to the pool's writers; barriers are answered once every
/// batch shipped before them is resolved. Returns `true` when it ended as
/// asked; `false` when a writer died (the pool, dropped, hands back what
/// it holds; the stop guard the rest).
fn run_many<T: Send + 'static, E: Send + Sync + 'static>(
    mut pool: Pool<T, E>,
    rx: &Receiver<Msg<T>>,
    lingering: &Lingering<'_, T, E>,
) -> bool {
    let mut deadline: Option<Instant> = None;
    let mut closing: Option<Reply> = None;
    let mut handles_gone = false;
    loop {
        if pool.is_dead() {
            return false;
        }
        if (closing.is_some() || handles_gone) && pool.is_idle() {
            pool.shut_down();
            if let Some(reply) = closing {
                reply.send();
            }
            return true;
        }
        let event = next_event(rx, pool.done(), deadline, handles_gone);
        match event {
            Event::Msg(Msg::Batch(batch)) => pool.enqueue(batch),
            Event::Msg(Msg::Linger(at)) => deadline = Some(deadline.map_or(at, |d| d.min(at))),
            Event::Msg(Msg::Barrier(reply)) => pool.barrier(reply),
            Event::Msg(Msg::Close(reply)) => closing = Some(reply),
            Event::Done(done) => pool.complete(done),
            Event::Due => {
                deadline = None;
                if let Some(batch) = lingering.take(&mut deadline) {
                    pool.enqueue(batch);
                }
            }
            Event::Gone => handles_gone = true,
        }
        pool.dispatch();
        pool.answer_barriers();
    }
}

/// Waits for a message, a writer's answer or the deadline, whichever
/// comes first; messages only while handles exist.
fn next_event<T>(
    rx: &Receiver<Msg<T>>,
    done: &Receiver<Done>,
    deadline: Option<Instant>,
    handles_gone: bool,
) -> Event<T> {
    let mut select = Select::new();
    let from_done = select.recv(done);
    let from_rx = (!handles_gone).then(|| select.recv(rx));
    let op = match deadline {
        Some(at) => match select.select_deadline(at) {
            Ok(op) => op,
            Err(_) => return Event::Due,
        },
        None => select.select(),
    };
    if Some(op.index()) == from_rx {
        match op.recv(rx) {
            Ok(msg) => Event::Msg(msg),
            Err(_) => Event::Gone,
        }
    } else {
        debug_assert_eq!(op.index(), from_done);
        match op.recv(done) {
            Ok(done) => Event::Done(done),
            // Every writer thread is gone: as dead as one of them.
            Err(_) => Event::Done(Done::all_gone()),
        }
    }
}

/// The linger rule: a buffer whose first item has waited `linger` is
/// shipped by the flusher, full or not.
struct Lingering<'a, T, E> {
    shared: &'a Shared<T, E>,
    linger: Option<Duration>,
    capacity: usize,
}

impl<T, E> Lingering<'_, T, E> {
    /// Takes the buffer if its first item has waited `linger`; otherwise
    /// sets the next deadline.
    fn take(&self, deadline: &mut Option<Instant>) -> Option<Batch<T>> {
        let linger = self.linger?;
        let mut st = self.shared.lock();
        let due = st.first_at?.checked_add(linger)?;
        if due <= Instant::now() {
            tracing::debug!(batcher = %self.shared.name, items = st.buf.len(), "linger elapsed, flushing");
            Some(st.take_batch(self.capacity))
        } else {
            *deadline = Some(due);
            None
        }
    }
}
