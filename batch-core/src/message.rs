//! What the batcher's handles send the flusher, and how it answers.

use std::time::Instant;

use crossbeam_channel::Sender;

/// A batch on its way to a writer, and when its oldest item was added
/// (the start of the add-to-written time the metrics report).
pub(crate) struct Batch<T> {
    pub(crate) items: Vec<T>,
    /// The items' sequence numbers in the durable buffer, in order (empty
    /// without one).
    pub(crate) seqs: Vec<u64>,
    pub(crate) opened: Option<Instant>,
    /// When the batch was cut and shipped: from then on it waits for a
    /// writer (the hand-off in [`Timings`](crate::Timings)).
    pub(crate) shipped: Instant,
    /// Read back from the durable buffer: an earlier process may have
    /// written some of them, so the first request is a replay.
    pub(crate) replayed: bool,
}

/// Messages from the batcher's handles to the flusher, in one channel so
/// that their order is the order in which they were sent under the lock.
pub(crate) enum Msg<T> {
    /// A batch to write.
    Batch(Batch<T>),
    /// The buffer got its first item; flush it by this deadline.
    Linger(Instant),
    /// Answer once everything sent before has been resolved.
    Barrier(Reply),
    /// Like `Barrier`, then stop.
    Close(Reply),
}

/// Where the flusher answers a barrier: a blocked `flush`/`close`, or an
/// awaiting `flush_async`/`close_async`. Dropped unanswered (the flusher is
/// gone), it wakes its waiter all the same.
pub(crate) enum Reply {
    Blocking(Sender<()>),
    Async(futures_channel::oneshot::Sender<()>),
}

impl Reply {
    pub(crate) fn send(self) {
        match self {
            Self::Blocking(tx) => {
                let _ = tx.send(());
            }
            Self::Async(tx) => {
                let _ = tx.send(());
            }
        }
    }
}
