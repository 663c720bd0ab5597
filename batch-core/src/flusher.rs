//! The flusher thread: owns the sink, writes batches, retries, runs the
//! fallback, and resolves every item exactly once.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::error::{BatchError, ErrorClass, SinkError};
use crate::report::FailedItem;
use crate::retry::{Jitter, RetryPolicy};
use crate::settings::Fallback;
use crate::sink::{ItemOutcome, Sink};
use crate::state::Shared;

/// Messages from the batcher's handles to the flusher, in one channel so
/// that their order is the order in which they were sent under the lock.
pub(crate) enum Msg<T> {
    /// A batch to write.
    Batch(Vec<T>),
    /// The buffer got its first item; flush it by this deadline.
    Linger(Instant),
    /// Answer once everything sent before has been resolved.
    Barrier(Sender<()>),
    /// Like `Barrier`, then stop.
    Close(Sender<()>),
}

/// Why a request failed as a whole.
enum Failure<E> {
    Sink(E),
    Panicked(Arc<str>),
    OutcomeCount { expected: usize, got: usize },
}

/// What one batch came to; applied to the shared counters in one step.
struct Tally<T, E> {
    written: u64,
    conflicts: u64,
    failed: Vec<FailedItem<T, E>>,
    requests: u64,
    retries: u64,
    fell_back: bool,
}

pub(crate) struct Flusher<S: Sink> {
    pub(crate) sink: S,
    pub(crate) shared: Arc<Shared<S::Item, S::Error>>,
    pub(crate) retry: RetryPolicy,
    pub(crate) fallback: Fallback,
    pub(crate) linger: Option<Duration>,
    pub(crate) batch_capacity: usize,
    pub(crate) broken: Option<Arc<str>>,
    pub(crate) jitter: Jitter,
}

impl<S: Sink> Flusher<S> {
    pub(crate) fn run(mut self, rx: Receiver<Msg<S::Item>>) {
        let mut deadline: Option<Instant> = None;
        loop {
            let msg = match deadline {
                Some(at) => rx.recv_deadline(at),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match msg {
                Ok(Msg::Batch(items)) => self.process(items),
                Ok(Msg::Linger(at)) => deadline = Some(deadline.map_or(at, |d| d.min(at))),
                Ok(Msg::Barrier(reply)) => {
                    let _ = reply.send(());
                }
                Ok(Msg::Close(reply)) => {
                    let _ = reply.send(());
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    deadline = None;
                    if let Some(items) = self.take_lingering(&mut deadline) {
                        self.process(items);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Takes the buffer if its first item has waited `linger`; otherwise
    /// sets the next deadline.
    fn take_lingering(&self, deadline: &mut Option<Instant>) -> Option<Vec<S::Item>> {
        let linger = self.linger?;
        let mut st = self.shared.lock();
        let due = st.first_at? + linger;
        if due <= Instant::now() {
            tracing::debug!(batcher = %self.shared.name, items = st.buf.len(), "linger elapsed, flushing");
            Some(st.take_batch(self.batch_capacity))
        } else {
            *deadline = Some(due);
            None
        }
    }

    /// Writes one batch taken from the buffer and resolves all its items.
    fn process(&mut self, items: Vec<S::Item>) {
        let count = items.len();
        let mut tally = Tally {
            written: 0,
            conflicts: 0,
            failed: Vec::new(),
            requests: 0,
            retries: 0,
            fell_back: false,
        };
        self.write(items, &mut tally);
        let failed = tally.failed.len() as u64;
        if failed > 0 {
            tracing::error!(
                batcher = %self.shared.name,
                failed,
                first_error = %tally.failed[0].error,
                "items failed and are handed back to the caller"
            );
        } else {
            tracing::debug!(
                batcher = %self.shared.name,
                written = tally.written,
                conflicts = tally.conflicts,
                requests = tally.requests,
                "batch written"
            );
        }
        self.deliver(tally.failed);
        {
            let mut st = self.shared.lock();
            st.in_flight -= count;
            let s = &mut st.stats;
            s.total_added += tally.written;
            s.total_conflicts += tally.conflicts;
            s.total_failed += failed;
            s.total_requests += tally.requests;
            s.total_retries += tally.retries;
            s.total_batches += 1;
            s.total_fallbacks += u64::from(tally.fell_back);
        }
        self.shared.room.notify_all();
    }

    /// Hands failed items to the handler, the caller's queue, or (when the
    /// batcher is gone) the log.
    fn deliver(&self, failed: Vec<FailedItem<S::Item, S::Error>>) {
        if failed.is_empty() {
            return;
        }
        if let Some(handler) = self.shared.handler() {
            for item in failed {
                handler(item);
            }
        } else if self.shared.abandoned.load(Ordering::Acquire) {
            for item in &failed {
                tracing::error!(batcher = %self.shared.name, error = %item.error, "item lost after the batcher was dropped");
            }
        } else {
            self.shared.lock_failures().extend(failed);
        }
    }

    /// Writes `items`, splitting or falling back as their errors ask.
    fn write(&mut self, items: Vec<S::Item>, tally: &mut Tally<S::Item, S::Error>) {
        if items.is_empty() {
            return;
        }
        if let Some(msg) = &self.broken {
            let error = BatchError::SinkPanicked(Arc::clone(msg));
            fail_all(items, &error, tally);
            return;
        }
        let error = match self.attempt(&items, tally) {
            Ok(outcomes) => {
                for (item, outcome) in items.into_iter().zip(outcomes) {
                    match outcome {
                        ItemOutcome::Written => tally.written += 1,
                        ItemOutcome::Conflict => tally.conflicts += 1,
                        ItemOutcome::Failed(e) => tally.failed.push(FailedItem {
                            item,
                            error: BatchError::Sink(Arc::new(e)),
                        }),
                    }
                }
                return;
            }
            Err(Failure::Panicked(msg)) => BatchError::SinkPanicked(msg),
            Err(Failure::OutcomeCount { expected, got }) => {
                BatchError::OutcomeCount { expected, got }
            }
            Err(Failure::Sink(e)) => {
                let class = e.class();
                let error = BatchError::Sink(Arc::new(e));
                match class {
                    ErrorClass::TooLarge if items.len() > 1 => {
                        tracing::debug!(batcher = %self.shared.name, items = items.len(), "request too large, splitting");
                        self.split(items, tally);
                        return;
                    }
                    // Retries are exhausted: the server is away, not the
                    // items bad. Splitting would only multiply the waiting.
                    // Fatal: no item is at fault, so no fallback either.
                    ErrorClass::Transient | ErrorClass::Fatal => error,
                    ErrorClass::Permanent if items.len() > 1 => {
                        if self.fallback != Fallback::None {
                            tracing::warn!(
                                batcher = %self.shared.name,
                                items = items.len(),
                                fallback = ?self.fallback,
                                %error,
                                "batch failed, falling back"
                            );
                            tally.fell_back = true;
                            match self.fallback {
                                Fallback::Bisect => self.split(items, tally),
                                _ => {
                                    for item in items {
                                        self.write(vec![item], tally);
                                    }
                                }
                            }
                            return;
                        }
                        error
                    }
                    _ => error,
                }
            }
        };
        fail_all(items, &error, tally);
    }

    fn split(&mut self, mut items: Vec<S::Item>, tally: &mut Tally<S::Item, S::Error>) {
        let right = items.split_off(items.len() / 2);
        self.write(items, tally);
        self.write(right, tally);
    }

    /// One request with retries of transient errors.
    fn attempt(
        &mut self,
        items: &[S::Item],
        tally: &mut Tally<S::Item, S::Error>,
    ) -> Result<Vec<ItemOutcome<S::Error>>, Failure<S::Error>> {
        let started = Instant::now();
        let mut retry = 0;
        loop {
            tally.requests += 1;
            let sink = &mut self.sink;
            match catch_unwind(AssertUnwindSafe(|| sink.write_batch(items))) {
                Err(panic) => {
                    let msg: Arc<str> = panic_message(panic.as_ref()).into();
                    tracing::error!(batcher = %self.shared.name, panic = %msg, "sink panicked; failing all further items");
                    self.broken = Some(Arc::clone(&msg));
                    return Err(Failure::Panicked(msg));
                }
                Ok(Ok(outcomes)) if outcomes.len() == items.len() => return Ok(outcomes),
                Ok(Ok(outcomes)) => {
                    return Err(Failure::OutcomeCount {
                        expected: items.len(),
                        got: outcomes.len(),
                    });
                }
                Ok(Err(e)) if e.is_retriable() => {
                    retry += 1;
                    match self.retry.backoff(retry, started, &mut self.jitter) {
                        Some(sleep) => {
                            tracing::warn!(batcher = %self.shared.name, retry, ?sleep, error = %e, "transient error, retrying");
                            tally.retries += 1;
                            std::thread::sleep(sleep);
                        }
                        None => return Err(Failure::Sink(e)),
                    }
                }
                Ok(Err(e)) => return Err(Failure::Sink(e)),
            }
        }
    }
}

fn fail_all<T, E>(items: Vec<T>, error: &BatchError<E>, tally: &mut Tally<T, E>) {
    tally
        .failed
        .extend(items.into_iter().map(|item| FailedItem {
            item,
            error: error.clone(),
        }));
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
