//! Writing one batch: the request, its retries, the split or fallback its
//! errors ask for, and the resolution of every item exactly once, whatever
//! panics. A writer owns one sink; the flusher has one, or a pool of them
//! when several batches may be in flight.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{BatchError, ErrorClass, SinkError};
use crate::message::Batch;
use crate::report::FailedItem;
use crate::retry::{Jitter, RetryPolicy};
use crate::settings::Fallback;
use crate::sink::{ItemOutcome, Sink};
use crate::state::Shared;
use crate::telemetry::Telemetry;

/// Why a request failed as a whole.
enum Failure<E> {
    Sink(E),
    Panicked(Arc<str>),
    OutcomeCount { expected: usize, got: usize },
}

/// How one item of a batch ended.
enum Resolution<E> {
    Written,
    Conflict,
    Failed(BatchError<E>),
}

/// A failed item and its sequence number in the durable buffer, if any.
type Held<T, E> = (FailedItem<T, E>, Option<u64>);

/// Request counters of one batch, applied to the shared stats in one step.
#[derive(Default)]
struct Counters {
    requests: u64,
    retries: u64,
    /// Attempts the server rolled back as deadlocked.
    deadlocks: u64,
    fell_back: bool,
    /// What the adaptive limit learns from the batch.
    load: Load,
}

/// What one batch tells an adaptive in-flight limit.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Load {
    /// Time its requests took, backoff sleeps between retries excluded.
    pub(crate) busy: Duration,
    /// Requests answered with a retriable error (deadlock, throttle, lost
    /// connection): signs of overload, whether retried or not.
    pub(crate) overloads: u64,
    /// When its last request was answered.
    pub(crate) answered: Option<Instant>,
}

/// One batch being written. Its items stay in this vector, never moved,
/// until every one is resolved: the value lives outside the code that may
/// panic, so after any panic each item is still here to be handed back.
struct InProgress<T, E> {
    items: Vec<T>,
    resolved: Vec<Option<Resolution<E>>>,
    counters: Counters,
}

/// Writes batches to one sink.
pub(crate) struct Writer<S: Sink> {
    pub(crate) sink: S,
    pub(crate) shared: Arc<Shared<S::Item, S::Error>>,
    pub(crate) retry: RetryPolicy,
    pub(crate) fallback: Fallback,
    pub(crate) broken: Option<Arc<str>>,
    /// What [`Sink::connect_ahead`] answered, when no retry can fix it:
    /// the writer's first batch fails with it, unsent.
    pub(crate) refused_ahead: Option<Arc<S::Error>>,
    /// When this writer's last request was answered (none before its
    /// first batch): the start of its idle time between batches.
    pub(crate) answered: Option<Instant>,
    pub(crate) jitter: Jitter,
    pub(crate) telemetry: Telemetry,
}

impl<S: Sink> Writer<S> {
    /// Writes one batch taken from the buffer and resolves all its items;
    /// a panic anywhere in between hands the unresolved items back.
    /// Returns what the batch tells an adaptive limit.
    pub(crate) fn process(&mut self, batch: Batch<S::Item>) -> Load {
        let Batch {
            items,
            seqs,
            opened,
            shipped,
            replayed,
        } = batch;
        self.record_idle(shipped);
        if let Some(durable) = &self.shared.durable {
            durable.journal.batch_shipped();
        }
        let count = items.len();
        let mut batch = InProgress {
            resolved: (0..count).map(|_| None).collect(),
            items,
            counters: Counters::default(),
        };
        let written = catch_unwind(AssertUnwindSafe(|| {
            self.write(&mut batch, 0..count, replayed);
        }));
        self.answered = Some(Instant::now());
        let panic = written
            .err()
            .map(|p| Arc::<str>::from(panic_message(p.as_ref())));
        let load = batch.counters.load;
        self.finish(batch, &seqs, opened, panic.as_ref());
        if let Some(msg) = panic {
            tracing::error!(batcher = %self.shared.name, panic = %msg, "the flusher caught a panic; the batch's unresolved items were handed back");
        }
        load
    }

    /// Records the time since this writer's last answer, and the hand-off:
    /// the part of it since the batch shipped at `shipped` was waiting.
    fn record_idle(&self, shipped: Instant) {
        let now = Instant::now();
        let ready = self.answered.map_or(shipped, |answered| {
            let idle = now.saturating_duration_since(answered);
            self.shared.timings.writer_idle.record(idle);
            self.telemetry.writer_idle(idle);
            answered.max(shipped)
        });
        let handoff = now.saturating_duration_since(ready);
        self.shared.timings.handoff.record(handoff);
        self.telemetry.handoff(handoff);
    }

    /// Connects the sink before its first batch ([`Sink::connect_ahead`]).
    /// A retriable error is left to the first write; any other is kept
    /// for it; a panic breaks the writer as a panicking write does.
    pub(crate) fn connect_ahead(&mut self) {
        let sink = &mut self.sink;
        match catch_unwind(AssertUnwindSafe(|| sink.connect_ahead())) {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.is_retriable() => {
                tracing::debug!(batcher = %self.shared.name, error = %e, "connecting ahead failed; the first write connects again");
            }
            Ok(Err(e)) => {
                tracing::warn!(batcher = %self.shared.name, error = %e, "connecting ahead failed; the first batch fails with it");
                self.refused_ahead = Some(Arc::new(e));
            }
            Err(panic) => {
                let msg: Arc<str> = panic_message(panic.as_ref()).into();
                tracing::error!(batcher = %self.shared.name, panic = %msg, "sink panicked while connecting; failing all further items");
                self.broken = Some(msg);
            }
        }
    }

    /// Counts a batch's outcomes and hands its failed items back. With a
    /// durable buffer (`seqs`, one per item) it records them there:
    /// written, conflicts and failures a handler took as resolved, other
    /// failures as waiting for their caller.
    fn finish(
        &self,
        batch: InProgress<S::Item, S::Error>,
        seqs: &[u64],
        opened: Option<Instant>,
        panic: Option<&Arc<str>>,
    ) {
        let count = batch.items.len();
        let (mut written, mut conflicts) = (0u64, 0u64);
        let mut failed = Vec::new();
        let mut resolved_seqs = Vec::new();
        let seq_of = |i: usize| seqs.get(i).copied();
        for (i, (item, resolution)) in batch.items.into_iter().zip(batch.resolved).enumerate() {
            match resolution {
                Some(Resolution::Written) => {
                    written += 1;
                    resolved_seqs.extend(seq_of(i));
                }
                Some(Resolution::Conflict) => {
                    conflicts += 1;
                    resolved_seqs.extend(seq_of(i));
                }
                Some(Resolution::Failed(error)) => {
                    failed.push((FailedItem { item, error }, seq_of(i)));
                }
                None => {
                    let msg = panic.map_or_else(|| Arc::from("item left unresolved"), Arc::clone);
                    let error = BatchError::FlusherPanicked(msg);
                    failed.push((FailedItem { item, error }, seq_of(i)));
                }
            }
        }
        let counters = batch.counters;
        if let Some((first, _)) = failed.first() {
            tracing::error!(
                batcher = %self.shared.name,
                failed = failed.len(),
                first_item = S::item_key(&first.item).as_deref().unwrap_or("-"),
                first_error = %first.error,
                "items failed and are handed back to the caller"
            );
        } else {
            tracing::debug!(
                batcher = %self.shared.name,
                written,
                conflicts,
                requests = counters.requests,
                "batch written"
            );
        }
        let total_failed = failed.len() as u64;
        self.telemetry.batch(
            count,
            written,
            conflicts,
            total_failed,
            opened.map(|at| at.elapsed()),
        );
        let failed = self.run_handler(failed, &mut resolved_seqs);
        let journal = self.shared.durable.as_ref().map(|d| &d.journal);
        if let Some(journal) = journal {
            journal.resolve(&resolved_seqs);
            for (item, seq) in &failed {
                if let Some(seq) = seq {
                    journal.failed(*seq, &item.error.to_string());
                }
            }
        }
        let (lost, lost_seqs) = {
            let mut st = self.shared.lock();
            st.in_flight -= count;
            let s = &mut st.stats;
            s.total_added += written;
            s.total_conflicts += conflicts;
            s.total_failed += total_failed;
            s.total_requests += counters.requests;
            s.total_retries += counters.retries;
            s.total_deadlocks += counters.deadlocks;
            s.total_batches += 1;
            s.total_fallbacks += u64::from(counters.fell_back);
            // One critical section with Drop's: queued for the caller, or,
            // once the batcher is gone, logged below. Never neither.
            let (items, seqs): (Vec<_>, Vec<_>) = failed.into_iter().unzip();
            let seqs: Vec<u64> = seqs.into_iter().flatten().collect();
            if st.abandoned {
                (items, seqs)
            } else {
                st.failed.extend(items);
                st.failed_seqs.extend(seqs);
                (Vec::new(), Vec::new())
            }
        };
        self.shared.wake();
        if let Some(durable) = &self.shared.durable
            && !lost.is_empty()
            && durable.bury(&self.shared.name, &lost, &lost_seqs)
        {
            return;
        }
        for item in &lost {
            tracing::error!(
                batcher = %self.shared.name,
                item = S::item_key(&item.item).as_deref().unwrap_or("-"),
                error = %item.error,
                "item lost after the batcher was dropped"
            );
        }
    }

    /// Hands failed items to the failure handler, if one is set. Returns
    /// the items that still need a home: all of them without a handler,
    /// and those whose handler call panicked. The durable sequence numbers
    /// of the items the handler took go to `taken`.
    fn run_handler(
        &self,
        failed: Vec<Held<S::Item, S::Error>>,
        taken: &mut Vec<u64>,
    ) -> Vec<Held<S::Item, S::Error>> {
        let Some(handler) = self.shared.handler().filter(|_| !failed.is_empty()) else {
            return failed;
        };
        let mut kept = Vec::new();
        for (item, seq) in failed {
            match catch_unwind(AssertUnwindSafe(|| handler(&item))) {
                Ok(()) => taken.extend(seq),
                Err(panic) => {
                    tracing::error!(
                        batcher = %self.shared.name,
                        item = S::item_key(&item.item).as_deref().unwrap_or("-"),
                        panic = %panic_message(panic.as_ref()),
                        "the failure handler panicked; the item goes to the next report instead"
                    );
                    kept.push((item, seq));
                }
            }
        }
        kept
    }

    /// Writes `batch.items[range]`, splitting or falling back as their
    /// errors ask. `replay`: an earlier attempt of these items may have
    /// been applied, so every further request of them is a replay.
    fn write(
        &mut self,
        batch: &mut InProgress<S::Item, S::Error>,
        range: Range<usize>,
        mut replay: bool,
    ) {
        if range.is_empty() {
            return;
        }
        if let Some(msg) = &self.broken {
            let error = BatchError::SinkPanicked(Arc::clone(msg));
            fail(batch, range, &error);
            return;
        }
        if let Some(e) = self.refused_ahead.take() {
            fail(batch, range, &BatchError::Sink(e));
            return;
        }
        let items = &batch.items[range.clone()];
        let error = match self.attempt(items, &mut replay, &mut batch.counters) {
            Ok(outcomes) => {
                for (slot, outcome) in batch.resolved[range].iter_mut().zip(outcomes) {
                    *slot = Some(match outcome {
                        ItemOutcome::Written => Resolution::Written,
                        ItemOutcome::Conflict => Resolution::Conflict,
                        ItemOutcome::Failed(e) => Resolution::Failed(BatchError::Sink(Arc::new(e))),
                    });
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
                    ErrorClass::TooLarge if range.len() > 1 => {
                        tracing::debug!(batcher = %self.shared.name, items = range.len(), "request too large, splitting");
                        self.split(batch, range, replay);
                        return;
                    }
                    ErrorClass::Permanent if range.len() > 1 && self.fallback != Fallback::None => {
                        tracing::warn!(
                            batcher = %self.shared.name,
                            items = range.len(),
                            fallback = ?self.fallback,
                            %error,
                            "batch failed, falling back"
                        );
                        batch.counters.fell_back = true;
                        match self.fallback {
                            Fallback::Bisect => self.split(batch, range, replay),
                            _ => {
                                for i in range {
                                    self.write(batch, i..i + 1, replay);
                                }
                            }
                        }
                        return;
                    }
                    // Transient or unknown: retries are exhausted; the
                    // server is away, not the items bad, and splitting
                    // would only multiply the waiting. Fatal: no item is at
                    // fault, so no fallback either.
                    _ => error,
                }
            }
        };
        fail(batch, range, &error);
    }

    fn split(
        &mut self,
        batch: &mut InProgress<S::Item, S::Error>,
        range: Range<usize>,
        replay: bool,
    ) {
        let mid = range.start + range.len() / 2;
        self.write(batch, range.start..mid, replay);
        self.write(batch, mid..range.end, replay);
    }

    /// One request with retries of transient errors. After an
    /// [`ErrorClass::OutcomeUnknown`] every retry is a replay, and
    /// `replay` tells the caller so for any later request of these items.
    fn attempt(
        &mut self,
        items: &[S::Item],
        replay: &mut bool,
        counters: &mut Counters,
    ) -> Result<Vec<ItemOutcome<S::Error>>, Failure<S::Error>> {
        let started = Instant::now();
        let mut retry = 0;
        loop {
            counters.requests += 1;
            let sink = &mut self.sink;
            let is_replay = *replay;
            let sent = Instant::now();
            let answer = catch_unwind(AssertUnwindSafe(|| {
                if is_replay {
                    sink.replay_batch(items)
                } else {
                    sink.write_batch(items)
                }
            }));
            let took = sent.elapsed();
            counters.load.busy += took;
            counters.load.answered = Some(sent + took);
            self.telemetry.request(took);
            match answer {
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
                    counters.load.overloads += 1;
                    if e.class() == ErrorClass::OutcomeUnknown {
                        *replay = true;
                    }
                    if e.is_deadlock() {
                        // Rolled back whole: the retry sends the same
                        // items again, and each is resolved once.
                        counters.deadlocks += 1;
                        self.telemetry.deadlock();
                    }
                    retry += 1;
                    match self.retry.backoff(retry, started, &mut self.jitter) {
                        Some(sleep) => {
                            tracing::warn!(batcher = %self.shared.name, retry, ?sleep, replay = *replay, error = %e, "transient error, retrying");
                            counters.retries += 1;
                            self.telemetry.retry();
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

/// Resolves every item of `range` as failed with `error`.
fn fail<T, E>(batch: &mut InProgress<T, E>, range: Range<usize>, error: &BatchError<E>) {
    for slot in &mut batch.resolved[range] {
        *slot = Some(Resolution::Failed(error.clone()));
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
