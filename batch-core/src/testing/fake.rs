//! `FakeSink`: a scripted, seeded in-memory sink for batch-core's own unit
//! and property tests. Backends are tested against real servers instead.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::{ErrorClass, SinkError};
use crate::sink::{ItemCheck, ItemOutcome, Sink, SinkLimits};

/// An item of the fake sink.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "durable", derive(serde::Serialize, serde::Deserialize))]
pub struct FakeItem {
    /// Unique id.
    pub id: u64,
    /// The adding thread, for order checks.
    pub thread: u32,
    /// A bad item: refused by the sink (how depends on [`BadItems`]).
    pub bad: bool,
    /// Reported as already present.
    pub conflict: bool,
    /// Encoded size in bytes.
    pub size: usize,
    /// Its identity on the "server" ([`Sink::item_key`]); items sharing a
    /// key must be written in the order they were added.
    pub key: u64,
}

impl FakeItem {
    /// A good item of 1 byte, its key its id.
    pub fn new(id: u64) -> Self {
        Self {
            id,
            thread: 0,
            bad: false,
            conflict: false,
            size: 1,
            key: id,
        }
    }

    /// This item, made bad.
    pub fn bad(mut self) -> Self {
        self.bad = true;
        self
    }
}

/// The fake sink's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fake {class:?} error: {message}")]
pub struct FakeError {
    /// How the batcher should treat it.
    pub class: ErrorClass,
    /// What happened.
    pub message: String,
}

impl SinkError for FakeError {
    fn class(&self) -> ErrorClass {
        self.class
    }
}

/// How the fake sink treats bad items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadItems {
    /// A batch with a bad item fails as a whole, permanently (like a
    /// database transaction).
    #[default]
    FailBatch,
    /// Only the bad item fails; the rest are written (like `_bulk_docs`).
    FailItem,
}

/// Makes every request of a [`FakeSink`] block, like a server that
/// accepted the request and never answers, until the paired [`Release`] is
/// dropped: the test holds the `Release`, so the flusher thread ends with
/// the test instead of sleeping on after it.
#[derive(Debug, Clone)]
pub struct Hang(crossbeam_channel::Receiver<()>);

/// Ends a [`Hang`] when dropped.
#[derive(Debug)]
pub struct Release {
    _tx: crossbeam_channel::Sender<()>,
}

impl Hang {
    /// A hang and the handle that ends it.
    pub fn new() -> (Hang, Release) {
        let (tx, rx) = crossbeam_channel::bounded(0);
        (Hang(rx), Release { _tx: tx })
    }

    fn wait(&self) {
        // Nothing is ever sent: this returns when the Release is dropped.
        let _ = self.0.recv();
    }
}

/// The behaviour of a [`FakeSink`].
#[derive(Debug, Clone, Default)]
pub struct FakeScript {
    /// Seed of the random choices below.
    pub seed: u64,
    /// Percent of requests that fail as a whole with a transient error.
    pub transient_pct: u8,
    /// Percent of requests that fail as a whole with a permanent error,
    /// even without a bad item.
    pub permanent_pct: u8,
    /// Each request sleeps a random time up to this.
    pub max_sleep: Duration,
    /// How bad items are refused.
    pub bad_items: BadItems,
    /// The sink's hard limits.
    pub limits: SinkLimits,
    /// Every request blocks until the paired [`Release`] is dropped (a
    /// hanging server).
    pub hang: Option<Hang>,
    /// Panic when a batch contains this id.
    pub panic_on: Option<u64>,
    /// The first N requests fail with a transient error.
    pub fail_first: u32,
    /// Refuse bad items at add time, through [`Sink::item_check`], instead
    /// of in the request.
    pub check_at_add: bool,
    /// Percent of requests that are applied and then answered with an
    /// [`ErrorClass::OutcomeUnknown`] error (a response lost after the
    /// write): the items are stored, the batcher does not know it.
    pub unknown_pct: u8,
    /// Percent of requests that fail as a whole with a fatal error.
    pub fatal_pct: u8,
    /// Requests of more items than this fail with [`ErrorClass::TooLarge`].
    pub too_large_above: Option<usize>,
    /// Percent of requests answered with one outcome too few (a sink bug);
    /// nothing of such a request is stored.
    pub wrong_count_pct: u8,
    /// A simulated server every request that gets past the scripted
    /// failures waits for (a failed one is answered at once), shared by
    /// the siblings: for tests of adaptive concurrency.
    pub server: Option<FakeServer>,
}

/// A simulated server behind a network: a round trip, then `workers`
/// working on a batch for `service` each. Up to its
/// [`best_level`](Self::best_level) batches at once (what the round trip
/// and the workers hold without a queue) a request takes `round_trip +
/// service`; beyond, throughput stays flat and latency grows in
/// proportion to the requests at it (they queue). Clones share the server.
#[derive(Debug, Clone)]
pub struct FakeServer {
    round_trip: Duration,
    service: Duration,
    workers: usize,
    active: Arc<AtomicUsize>,
    /// Requests at the server as each one arrived, itself included.
    seen: Arc<Mutex<Vec<usize>>>,
}

impl FakeServer {
    /// A server `round_trip` away whose `workers` (at least one) take
    /// `service` per batch.
    pub fn new(round_trip: Duration, service: Duration, workers: usize) -> Self {
        Self {
            round_trip,
            service,
            workers: workers.max(1),
            active: Arc::default(),
            seen: Arc::default(),
        }
    }

    /// Batches at once above which a batch only adds latency, as a real
    /// number: `workers * (round_trip + service) / service`.
    fn knee(&self) -> f64 {
        let lone = (self.round_trip + self.service).as_secs_f64();
        match self.service.as_secs_f64() {
            s if s > 0.0 => self.workers as f64 * lone / s,
            _ => f64::INFINITY,
        }
    }

    /// The fewest batches in flight that give the highest throughput: the
    /// best fixed `max_in_flight` for this server.
    pub fn best_level(&self) -> usize {
        let knee = self.knee();
        if knee.is_finite() {
            (knee - 1e-9).ceil().max(1.0) as usize
        } else {
            usize::MAX
        }
    }

    /// Requests at the server as each one arrived, itself included, in
    /// arrival order: the in-flight limit at work.
    pub fn seen(&self) -> Vec<usize> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// One request: waits as long as the server takes with the requests
    /// at it now.
    fn serve(&self) {
        let n = self.active.fetch_add(1, Ordering::AcqRel) + 1;
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(n);
        let lone = self.round_trip + self.service;
        let stretch = (n as f64 / self.knee()).max(1.0);
        let took = Duration::try_from_secs_f64(lone.as_secs_f64() * stretch);
        std::thread::sleep(took.unwrap_or(Duration::MAX));
        self.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the fake sink did, shared with the test.
#[derive(Debug, Default, Clone)]
pub struct FakeRecord {
    /// Ids of every request, in order.
    pub requests: Vec<Vec<u64>>,
    /// Bytes of every request.
    pub request_bytes: Vec<usize>,
    /// Written items in write order.
    pub written: Vec<FakeItem>,
    /// Items reported as conflicts.
    pub conflicts: Vec<u64>,
    /// Requests that were replays after an unknown outcome.
    pub replays: usize,
    /// Set when the sink (the last of its siblings) is dropped, i.e. its
    /// flusher or writer threads have ended.
    pub dropped: bool,
    /// Sinks of this record not dropped yet.
    pub live: usize,
    /// Ids stored by a request whose answer was lost and never confirmed by
    /// a replay (set when the sink is dropped): they are on the "server"
    /// although the batcher may have handed them back.
    pub unconfirmed: Vec<u64>,
}

/// A sink that writes into a [`FakeRecord`].
#[derive(Debug)]
pub struct FakeSink {
    script: FakeScript,
    record: Arc<Mutex<FakeRecord>>,
    rng: u64,
    stored: HashSet<u64>,
    /// Ids stored by a request that answered OutcomeUnknown, not yet
    /// reported to the batcher.
    ambiguous: HashSet<u64>,
}

impl Drop for FakeSink {
    fn drop(&mut self) {
        let mut rec = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        rec.live = rec.live.saturating_sub(1);
        rec.dropped = rec.live == 0;
        rec.unconfirmed.extend(self.ambiguous.iter().copied());
    }
}

impl FakeSink {
    /// A sink following `script`, and the record it writes.
    pub fn new(script: FakeScript) -> (Self, Arc<Mutex<FakeRecord>>) {
        let record = Arc::new(Mutex::new(FakeRecord {
            live: 1,
            ..FakeRecord::default()
        }));
        let sink = Self {
            rng: script.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            script,
            record: Arc::clone(&record),
            stored: HashSet::new(),
            ambiguous: HashSet::new(),
        };
        (sink, record)
    }

    /// Another sink on the same "server": same script, same record, its
    /// own random sequence (a second connection, for `max_in_flight`).
    pub fn sibling(&self) -> Self {
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .live += 1;
        let seed = self.next_seed();
        Self {
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            script: self.script.clone(),
            record: Arc::clone(&self.record),
            stored: HashSet::new(),
            ambiguous: HashSet::new(),
        }
    }

    fn next_seed(&self) -> u64 {
        let rec = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        self.script.seed ^ (rec.live as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
    }

    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn roll(&mut self, pct: u8) -> bool {
        pct > 0 && self.next() % 100 < u64::from(pct)
    }

    fn random_sleep(&mut self) -> Duration {
        let max = self.script.max_sleep.as_micros() as u64;
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.next() % (max + 1))
    }
}

impl FakeSink {
    /// One request: scripted failures first, then the items are applied.
    fn request(
        &mut self,
        items: &[FakeItem],
        replay: bool,
    ) -> Result<Vec<ItemOutcome<FakeError>>, FakeError> {
        {
            let mut rec = self.record.lock().unwrap_or_else(PoisonError::into_inner);
            rec.requests.push(items.iter().map(|i| i.id).collect());
            rec.request_bytes.push(items.iter().map(|i| i.size).sum());
            rec.replays += usize::from(replay);
        }
        if let Some(hang) = &self.script.hang {
            hang.wait();
        }
        let sleep = self.random_sleep();
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
        if let Some(id) = self.script.panic_on
            && items.iter().any(|i| i.id == id)
        {
            panic!("fake sink panics on item {id}");
        }
        if self.script.fail_first > 0 {
            self.script.fail_first -= 1;
            return Err(err(ErrorClass::Transient, "scripted outage"));
        }
        if self
            .script
            .too_large_above
            .is_some_and(|max| items.len() > max)
        {
            return Err(err(ErrorClass::TooLarge, "request too large"));
        }
        if self.roll(self.script.transient_pct) {
            return Err(err(ErrorClass::Transient, "random transient failure"));
        }
        if self.roll(self.script.permanent_pct) {
            return Err(err(ErrorClass::Permanent, "random permanent failure"));
        }
        if self.roll(self.script.fatal_pct) {
            return Err(err(ErrorClass::Fatal, "random fatal failure"));
        }
        if self.roll(self.script.wrong_count_pct) && !items.is_empty() {
            return Ok((1..items.len()).map(|_| ItemOutcome::Written).collect());
        }
        if self.script.bad_items == BadItems::FailBatch && items.iter().any(|i| i.bad) {
            return Err(err(ErrorClass::Permanent, "batch contains a bad item"));
        }
        if let Some(server) = &self.script.server {
            server.serve();
        }
        let unknown = self.roll(self.script.unknown_pct);
        let mut rec = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        let mut conflicts = Vec::new();
        let outcomes = items
            .iter()
            .map(|item| {
                if item.bad {
                    ItemOutcome::Failed(err(ErrorClass::Permanent, "bad item"))
                } else if replay && !unknown && self.ambiguous.remove(&item.id) {
                    // Stored by the lost answer's request: ours.
                    ItemOutcome::Written
                } else if item.conflict || !self.stored.insert(item.id) {
                    conflicts.push(item.id);
                    ItemOutcome::Conflict
                } else {
                    rec.written.push(item.clone());
                    if unknown {
                        self.ambiguous.insert(item.id);
                    }
                    ItemOutcome::Written
                }
            })
            .collect();
        if unknown {
            return Err(err(
                ErrorClass::OutcomeUnknown,
                "applied, then the answer was lost",
            ));
        }
        rec.conflicts.extend(conflicts);
        Ok(outcomes)
    }
}

fn err(class: ErrorClass, message: &str) -> FakeError {
    FakeError {
        class,
        message: message.to_owned(),
    }
}

impl Sink for FakeSink {
    type Item = FakeItem;
    type Error = FakeError;

    fn write_batch(
        &mut self,
        items: &[FakeItem],
    ) -> Result<Vec<ItemOutcome<FakeError>>, FakeError> {
        self.request(items, false)
    }

    fn replay_batch(
        &mut self,
        items: &[FakeItem],
    ) -> Result<Vec<ItemOutcome<FakeError>>, FakeError> {
        self.request(items, true)
    }

    fn sibling(&self) -> Option<Self> {
        Some(FakeSink::sibling(self))
    }

    fn item_key(item: &FakeItem) -> Option<String> {
        Some(item.key.to_string())
    }

    fn limits(&self) -> SinkLimits {
        self.script.limits
    }

    fn encoded_size(item: &FakeItem) -> usize {
        item.size
    }

    #[cfg(feature = "durable")]
    fn codec() -> Option<crate::Codec<FakeItem>> {
        Some(crate::Codec::json())
    }

    fn item_check(&self) -> Option<ItemCheck<FakeItem>> {
        if !self.script.check_at_add {
            return None;
        }
        Some(Arc::new(|item: &FakeItem| {
            if item.bad {
                Err(format!("fake item {} is bad", item.id))
            } else {
                Ok(())
            }
        }))
    }
}
