//! Several batches in flight (`max_in_flight` > 1): a writer thread per
//! sink, and the flusher's rules for handing batches to them.
//!
//! - Batches leave in the order they were shipped.
//! - A batch waits while any of its items' keys ([`Sink::item_key`]) is in
//!   a batch still being written, and every batch behind it waits too: two
//!   items with the same key are written in the order they were added,
//!   through retries, splits and fallbacks of the first.
//! - A flush is answered once every batch shipped before it is resolved;
//!   later batches may already be in flight.
//! - Under adaptive concurrency every writer connects as the pool starts
//!   ([`Sink::connect_ahead`]), since the limit hands out batches a
//!   step at a time; `close` does not wait for one still connecting.
//!
//! Why lanes by key were not chosen: they would split a full batch across
//! lanes and send half-empty requests. Holding back is free when keys are
//! unique, the common case of ingestion.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use foldhash::fast::RandomState;

use crate::adaptive::Adaptive;
use crate::error::BatchError;
use crate::message::{Batch, Reply};
use crate::report::FailedItem;
use crate::sink::Sink;
use crate::state::Shared;
use crate::writer::{Load, Writer};

/// A writer's answer: its batch is resolved, or the thread died.
pub(crate) struct Done {
    worker: usize,
    died: bool,
    /// What the batch tells the adaptive limit.
    load: Load,
}

impl Done {
    /// Every writer thread has ended.
    pub(crate) fn all_gone() -> Self {
        Done {
            worker: usize::MAX,
            died: true,
            load: Load::default(),
        }
    }
}

/// A batch shipped and not yet handed to a writer.
struct Queued<T> {
    seq: u64,
    batch: Batch<T>,
    /// Hashes of its items' keys.
    keys: Vec<u64>,
}

/// A batch a writer is working on.
struct Running {
    seq: u64,
    keys: Vec<u64>,
    items: usize,
    /// Batches in flight when it was sent, itself included.
    sent_with: usize,
}

/// The writer threads and what is queued for them.
pub(crate) struct Pool<T: Send + 'static, E: Send + Sync + 'static> {
    shared: Arc<Shared<T, E>>,
    /// One sender per writer; dropped (cleared) to end the writers.
    jobs: Vec<Sender<Batch<T>>>,
    threads: Vec<JoinHandle<()>>,
    /// Per writer: still connecting ahead ([`Sink::connect_ahead`]). A
    /// batch handed to it waits in its channel until the connect returns;
    /// at shut-down (the pool idle) it holds none.
    connecting: Vec<Arc<AtomicBool>>,
    done: Receiver<Done>,
    idle: Vec<usize>,
    running: Vec<Option<Running>>,
    queue: VecDeque<Queued<T>>,
    /// Key hash -> how many items with it are being written.
    busy: HashMap<u64, usize, RandomState>,
    next_seq: u64,
    /// Flushes waiting for every batch shipped before them (sequence
    /// numbers below theirs).
    barriers: VecDeque<(u64, Reply)>,
    key_of: fn(&T) -> Option<String>,
    hasher: RandomState,
    /// Adjusts how many writers may work at once; `None`: all of them.
    adaptive: Option<Adaptive>,
    /// The adaptive level last told to the stats.
    told: usize,
    /// The adaptive limit's clock starts here.
    started: Instant,
    /// Per writer: it has written a batch. A writer's first batch may pay
    /// for its connection (the rest of a connect ahead, or all of it),
    /// which says nothing about queueing at the server, so the adaptive
    /// limit does not observe it.
    warm: Vec<bool>,
    /// Items of a full batch: only near-full batches say something about
    /// latency.
    capacity: usize,
    dead: bool,
    shut_down: bool,
}

impl<T: Send + 'static, E: Send + Sync + 'static> Pool<T, E> {
    /// Starts a writer thread per writer. `adaptive`: `None` for a fixed
    /// limit, else the level to start from, if one is remembered.
    pub(crate) fn spawn<S: Sink<Item = T, Error = E>>(
        writers: Vec<Writer<S>>,
        shared: Arc<Shared<T, E>>,
        name: &str,
        adaptive: Option<Option<usize>>,
        capacity: usize,
    ) -> std::io::Result<Self> {
        let (done_tx, done) = crossbeam_channel::unbounded();
        let count = writers.len();
        let mut pool = Pool {
            shared,
            jobs: Vec::with_capacity(count),
            threads: Vec::with_capacity(count),
            connecting: Vec::with_capacity(count),
            done,
            idle: (0..count).rev().collect(),
            running: (0..count).map(|_| None).collect(),
            queue: VecDeque::new(),
            busy: HashMap::default(),
            next_seq: 0,
            barriers: VecDeque::new(),
            key_of: S::item_key,
            hasher: RandomState::default(),
            adaptive: adaptive.map(|start| Adaptive::new(count, start)),
            told: 0,
            started: Instant::now(),
            warm: vec![false; count],
            capacity,
            dead: false,
            shut_down: false,
        };
        pool.tell_level();
        let adaptive = adaptive.is_some();
        for (worker, writer) in writers.into_iter().enumerate() {
            let (job_tx, jobs) = crossbeam_channel::bounded(1);
            let done = done_tx.clone();
            // Under an adaptive limit writers are given batches one step
            // of the ramp at a time, so they connect now, all together.
            let connecting = Arc::new(AtomicBool::new(adaptive));
            let ahead = Arc::clone(&connecting);
            let thread = std::thread::Builder::new()
                .name(format!("batch-{name}-{worker}"))
                .spawn(move || write_jobs(writer, worker, &ahead, &jobs, &done))?;
            pool.connecting.push(connecting);
            pool.jobs.push(job_tx);
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Where writers answer.
    pub(crate) fn done(&self) -> &Receiver<Done> {
        &self.done
    }

    /// A writer died: the flusher must stop.
    pub(crate) fn is_dead(&self) -> bool {
        self.dead
    }

    /// Nothing queued, nothing being written.
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.running_count() == 0
    }

    /// Queues a shipped batch.
    pub(crate) fn enqueue(&mut self, batch: Batch<T>) {
        let keys = batch
            .items
            .iter()
            .filter_map(|item| (self.key_of)(item))
            .map(|key| self.hasher.hash_one(key))
            .collect();
        self.queue.push_back(Queued {
            seq: self.next_seq,
            batch,
            keys,
        });
        self.next_seq += 1;
    }

    /// Answers `reply` once every batch queued so far is resolved.
    pub(crate) fn barrier(&mut self, reply: Reply) {
        self.barriers.push_back((self.next_seq, reply));
    }

    /// Batches being written.
    fn running_count(&self) -> usize {
        self.running.iter().flatten().count()
    }

    /// Batches that may be in flight now.
    fn allowed(&self) -> usize {
        self.adaptive
            .as_ref()
            .map_or(self.running.len(), Adaptive::allowed)
    }

    /// Hands queued batches to idle writers, in order, while the next one
    /// shares no key with a batch being written and the limit allows.
    pub(crate) fn dispatch(&mut self) {
        while let (Some(&worker), Some(head)) = (self.idle.last(), self.queue.front()) {
            let running = self.running_count();
            if running >= self.allowed() || head.keys.iter().any(|k| self.busy.contains_key(k)) {
                break;
            }
            let Some(Queued { seq, batch, keys }) = self.queue.pop_front() else {
                break;
            };
            let count = batch.items.len();
            let sent = match self.jobs.get(worker) {
                Some(tx) => tx.send(batch).map_err(|e| e.0),
                None => Err(batch),
            };
            match sent {
                Ok(()) => {
                    self.idle.pop();
                    for key in &keys {
                        *self.busy.entry(*key).or_default() += 1;
                    }
                    self.running[worker] = Some(Running {
                        seq,
                        keys,
                        items: count,
                        sent_with: running + 1,
                    });
                }
                Err(batch) => {
                    // The writer is gone; its guard's answer is on the way.
                    // The batch goes back to be handed back by `Drop`.
                    self.queue.push_front(Queued { seq, batch, keys });
                    self.dead = true;
                    break;
                }
            }
        }
    }

    /// A writer's answer: frees its keys, and the writer unless it died.
    pub(crate) fn complete(&mut self, done: Done) {
        let running = self.running_count();
        if let Some(Running {
            keys,
            items,
            sent_with,
            ..
        }) = self.running.get_mut(done.worker).and_then(Option::take)
        {
            let warm = self
                .warm
                .get_mut(done.worker)
                .is_some_and(|warm| std::mem::replace(warm, true));
            if let Some(adaptive) = &mut self.adaptive
                && !done.died
                && done.load.overloads > 0
            {
                // A deadlock, a throttle, a lost connection: a sign of
                // overload, whatever its size; its latency (the retries'
                // requests) is no observation.
                adaptive.overloaded(sent_with);
            } else if let Some(adaptive) = &mut self.adaptive
                && !done.died
                && items * 2 >= self.capacity
            {
                let saturated = running >= adaptive.allowed();
                if warm {
                    let ended = done
                        .load
                        .answered
                        .unwrap_or_else(Instant::now)
                        .saturating_duration_since(self.started);
                    adaptive.observe(done.load.busy, sent_with, saturated, ended);
                } else {
                    adaptive.first_of_writer(saturated);
                }
            }
            self.tell_level();
            for key in keys {
                if let Some(count) = self.busy.get_mut(&key) {
                    *count -= 1;
                    if *count == 0 {
                        self.busy.remove(&key);
                    }
                }
            }
        }
        if done.died {
            self.dead = true;
        } else {
            self.idle.push(done.worker);
        }
    }

    /// Puts the adaptive level in the stats when it changed.
    fn tell_level(&mut self) {
        if let Some(level) = self.adaptive.as_ref().map(Adaptive::settled)
            && level != self.told
        {
            self.told = level;
            self.shared.lock().stats.adaptive_limit = level as u64;
        }
    }

    /// Answers every flush whose batches are all resolved.
    pub(crate) fn answer_barriers(&mut self) {
        let oldest = self
            .queue
            .front()
            .map(|q| q.seq)
            .into_iter()
            .chain(self.running.iter().flatten().map(|r| r.seq))
            .min()
            .unwrap_or(u64::MAX);
        while self.barriers.front().is_some_and(|(seq, _)| *seq <= oldest) {
            if let Some((_, reply)) = self.barriers.pop_front() {
                reply.send();
            }
        }
    }

    /// Ends the writer threads once idle; their sinks drop with them.
    pub(crate) fn shut_down(&mut self) {
        self.end_writers();
        self.shut_down = true;
    }

    /// Ends the writer threads and waits for each, except one still
    /// connecting ahead: it holds no batch, and a server that does not
    /// answer must not hold `close` or `Drop` up to the sink's deadline.
    /// Left alone, it ends when its connect returns.
    fn end_writers(&mut self) {
        self.jobs.clear();
        for (thread, connecting) in self.threads.drain(..).zip(&self.connecting) {
            if !connecting.load(Ordering::Acquire) {
                let _ = thread.join();
            }
        }
    }
}

impl<T: Send + 'static, E: Send + Sync + 'static> Drop for Pool<T, E> {
    /// Not shut down: a writer died, or the flusher is unwinding. Stops the
    /// batcher, hands back the queued batches, lets the other writers
    /// finish theirs (they resolve their own items), and leaves what a
    /// dead writer held to the flusher's stop guard.
    fn drop(&mut self) {
        if self.shut_down {
            return;
        }
        let error = BatchError::FlusherPanicked(self.shared.mark_stopped());
        let (mut queued, mut seqs): (Vec<T>, Vec<u64>) = (Vec::new(), Vec::new());
        for q in self.queue.drain(..) {
            queued.extend(q.batch.items);
            seqs.extend(q.batch.seqs);
        }
        let handed_back = queued.len();
        {
            let mut st = self.shared.lock();
            st.in_flight = st.in_flight.saturating_sub(handed_back);
            st.stats.total_failed += handed_back as u64;
            if !st.abandoned {
                st.failed_seqs.extend(seqs);
                st.failed.extend(queued.into_iter().map(|item| FailedItem {
                    item,
                    error: error.clone(),
                }));
            }
        }
        self.shared.wake();
        self.barriers.clear();
        self.end_writers();
        tracing::error!(
            batcher = %self.shared.name,
            handed_back,
            "a writer thread ended unexpectedly; the queued batches are handed back"
        );
    }
}

/// A writer thread: connects first if `ahead` says so (and then clears
/// it), then writes each batch it is given and says so; if the thread ends
/// any other way, its guard tells the flusher.
fn write_jobs<S: Sink>(
    mut writer: Writer<S>,
    worker: usize,
    ahead: &AtomicBool,
    jobs: &Receiver<Batch<S::Item>>,
    done: &Sender<Done>,
) {
    writer.shared.claim_thread();
    let mut guard = WorkerGuard {
        worker,
        done,
        finished: false,
    };
    if ahead.load(Ordering::Acquire) {
        writer.connect_ahead();
        ahead.store(false, Ordering::Release);
    }
    for batch in jobs {
        let load = writer.process(batch);
        let _ = done.send(Done {
            worker,
            died: false,
            load,
        });
    }
    guard.finished = true;
}

/// Tells the flusher that its writer thread ended unasked.
struct WorkerGuard<'a> {
    worker: usize,
    done: &'a Sender<Done>,
    finished: bool,
}

impl Drop for WorkerGuard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.done.send(Done {
                worker: self.worker,
                died: true,
                load: Load::default(),
            });
        }
    }
}
