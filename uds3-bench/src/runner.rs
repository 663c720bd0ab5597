//! Runs each backend's modes in interleaved rounds and turns the samples
//! into records: medians, speedups over per-item, fractions of raw.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use batch_core::Fsync;
use indicatif::{ProgressBar, ProgressStyle};

/// One measured write of `items` items.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub items: usize,
    pub seconds: f64,
    pub requests: u64,
    /// Durable modes: how long one `add` took, median and 99th
    /// percentile, in microseconds.
    pub add_us: Option<(f64, f64)>,
    /// Library runs: the hand-off between batches (see
    /// `batch_core::Timings`): median and 99th percentile in
    /// microseconds, and its sum as a share of the run's seconds.
    pub handoff: Option<Handoff>,
}

/// One library run's hand-off figures.
#[derive(Debug, Clone, Copy)]
pub struct Handoff {
    pub p50_us: f64,
    pub p99_us: f64,
    pub share: f64,
}

impl Run {
    /// Items per second.
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.seconds
    }

    /// The run with `seconds` of setup (starting the inserter, which
    /// may connect) on its clock: the raw paths connect on theirs.
    pub fn after_setup(self, seconds: f64) -> Run {
        Run {
            seconds: self.seconds + seconds,
            ..self
        }
    }
}

/// `make()`, and the seconds it took.
pub fn timed<T>(make: impl FnOnce() -> Result<T, String>) -> Result<(T, f64), String> {
    let started = Instant::now();
    let made = make()?;
    Ok((made, started.elapsed().as_secs_f64()))
}

/// How a durable-buffer run keeps accepted items: in memory (the
/// reference, timed the same way) or on disk under an fsync policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// No durable buffer.
    Off,
    /// `Fsync::Always`: `add` returns once its item is on disk.
    Always,
    /// `Fsync::EveryBatch`.
    EveryBatch,
    /// `Fsync::Interval(100 ms)`.
    Interval100ms,
    /// `Fsync::Always`, items added [`ADD_MANY_CHUNK`] at a time with
    /// `add_many`: one append and one fsync wait per call.
    AlwaysMany,
}

/// Items per `add_many` call in [`Durability::AlwaysMany`] runs (issue
/// 33: "with add_many of 100").
pub const ADD_MANY_CHUNK: usize = 100;

impl Durability {
    /// Every durability, the reference first.
    pub const ALL: [Durability; 5] = [
        Durability::Off,
        Durability::Always,
        Durability::AlwaysMany,
        Durability::EveryBatch,
        Durability::Interval100ms,
    ];

    fn fsync(self) -> Option<Fsync> {
        match self {
            Durability::Off => None,
            Durability::Always | Durability::AlwaysMany => Some(Fsync::Always),
            Durability::EveryBatch => Some(Fsync::EveryBatch),
            Durability::Interval100ms => Some(Fsync::Interval(Duration::from_millis(100))),
        }
    }
}

/// Threads sharing one batcher in durable-buffer runs. Under
/// `Fsync::Always` each `add` waits for an fsync, so one thread writes
/// one item per fsync; group commit lets every waiting thread share one.
pub const DURABLE_THREADS: usize = 16;

/// Where durable-buffer runs keep their buffers: beside the results
/// (set by `main`), not in `/tmp`, which may be a tmpfs where an fsync
/// costs nothing.
static BUFFER_ROOT: OnceLock<PathBuf> = OnceLock::new();

/// Sets [`BUFFER_ROOT`] (once).
pub fn set_buffer_root(dir: PathBuf) {
    let _ = BUFFER_ROOT.set(dir);
}

/// A durable buffer directory for one run, removed when dropped.
pub type BufferDir = Option<tempfile::TempDir>;

/// A new durable buffer directory under [`BUFFER_ROOT`], removed when
/// dropped (keep it until the run's batcher is closed).
pub fn buffer_dir() -> Result<tempfile::TempDir, String> {
    let root = BUFFER_ROOT.get_or_init(std::env::temp_dir);
    std::fs::create_dir_all(root).map_err(|e| format!("{}: {e}", root.display()))?;
    tempfile::Builder::new()
        .prefix("buffer-")
        .tempdir_in(root)
        .map_err(|e| format!("a buffer directory in {}: {e}", root.display()))
}

/// What a benchmark mode writes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The library at batch size 1: one request per item.
    PerItem,
    /// The library at a batch size, with this many batches in flight.
    Batched { batch_size: usize, in_flight: usize },
    /// The library at a batch size, batches in flight adapted to latency,
    /// up to `max`.
    Adaptive { batch_size: usize, max: usize },
    /// The library at a batch size, with several threads sharing one batcher.
    Shared { batch_size: usize, threads: usize },
    /// The library's own statement or request at a batch size, sent
    /// batch after batch without the library: its overhead reference.
    Raw(usize),
    /// The server's fastest bulk path without the library (`COPY`, one
    /// `UNWIND` of all rows, one request of all items).
    Ceiling,
    /// The library at a batch size, insert-only (a backend's own fastest
    /// method where it has one: PostgreSQL's `WriteMethod::CopyInsert`).
    InsertOnly(usize),
    /// The insert-only method's own statement at a batch size, sent batch
    /// after batch without the library: [`Mode::InsertOnly`]'s overhead
    /// reference (PostgreSQL: one binary `COPY` per batch).
    RawInsertOnly(usize),
    /// The library at a batch size, over TLS (the server's TLS endpoint,
    /// trusting the test CA, host name verified).
    BatchedTls(usize),
    /// The library at batch 1000 from [`DURABLE_THREADS`] threads, with
    /// or without a durable buffer, every `add` timed.
    Durable(Durability),
}

impl Mode {
    pub fn label(&self) -> &'static str {
        match self {
            Mode::PerItem => "per-item",
            Mode::Batched { .. } => "batched",
            Mode::Adaptive { .. } => "adaptive",
            Mode::Shared { .. } => "shared",
            Mode::Raw(_) => "raw",
            Mode::Ceiling => "ceiling",
            Mode::BatchedTls(_) => "batched-tls",
            Mode::InsertOnly(_) => "insert-only",
            Mode::RawInsertOnly(_) => "raw-insert-only",
            Mode::Durable(Durability::Off) => "durable-off",
            Mode::Durable(Durability::Always) => "durable-always",
            Mode::Durable(Durability::EveryBatch) => "durable-every-batch",
            Mode::Durable(Durability::Interval100ms) => "durable-100ms",
            Mode::Durable(Durability::AlwaysMany) => "durable-always-many",
        }
    }

    pub fn batch_size(&self) -> usize {
        match self {
            Mode::PerItem => 1,
            Mode::Batched { batch_size: n, .. }
            | Mode::Adaptive { batch_size: n, .. }
            | Mode::BatchedTls(n)
            | Mode::InsertOnly(n)
            | Mode::Shared { batch_size: n, .. } => *n,
            Mode::Raw(n) | Mode::RawInsertOnly(n) => *n,
            Mode::Durable(_) => 1000,
            Mode::Ceiling => 0,
        }
    }

    /// Batches in flight at once.
    pub fn in_flight(&self) -> usize {
        match self {
            Mode::Batched { in_flight, .. } => *in_flight,
            Mode::Adaptive { max, .. } => *max,
            _ => 1,
        }
    }

    /// The batcher settings of a library run of this mode, and the
    /// durable buffer directory they use (keep it until the run is
    /// closed).
    pub fn settings(&self, name: &str) -> Result<(batch_core::BatcherSettings, BufferDir), String> {
        let builder = batch_core::BatcherSettings::builder()
            .name(name)
            .batch_size(self.batch_size())
            .max_in_flight(self.in_flight())
            .adaptive_concurrency(matches!(self, Mode::Adaptive { .. }));
        let fsync = match self {
            Mode::Durable(d) => d.fsync(),
            _ => None,
        };
        let (builder, dir) = match fsync {
            Some(fsync) => {
                let dir = buffer_dir()?;
                (builder.durable(dir.path()).fsync(fsync), Some(dir))
            }
            None => (builder, None),
        };
        let settings = builder.build().map_err(|e| e.to_string())?;
        Ok((settings, dir))
    }

    /// Items per `add_many` call for modes that add in chunks; `None`:
    /// one `add` per item.
    pub fn chunk(&self) -> Option<usize> {
        matches!(self, Mode::Durable(Durability::AlwaysMany)).then_some(ADD_MANY_CHUNK)
    }

    /// Whether every `add` of a run of this mode is timed.
    fn times_adds(&self) -> bool {
        matches!(self, Mode::Durable(_))
    }

    /// The library mode a raw mode is the overhead reference of.
    fn reference_of(&self) -> Option<Mode> {
        match *self {
            Mode::Raw(batch_size) => Some(Mode::Batched {
                batch_size,
                in_flight: 1,
            }),
            Mode::RawInsertOnly(n) => Some(Mode::InsertOnly(n)),
            _ => None,
        }
    }

    /// Whether this mode talks to the TLS endpoint.
    pub fn is_tls(&self) -> bool {
        matches!(self, Mode::BatchedTls(_))
    }

    pub fn threads(&self) -> usize {
        match self {
            Mode::Shared { threads, .. } => *threads,
            Mode::Durable(_) => DURABLE_THREADS,
            _ => 1,
        }
    }
}

/// A backend under benchmark. Every call sets up a fresh target (table,
/// collection, database, labels) untimed, writes, checks on the server
/// that every item arrived, and returns the timed part.
pub trait Backend {
    /// What is measured: the constants of this backend's runs.
    fn profile(&self) -> &'static Profile;
    /// Whether the backend has an insert-only method ([`Mode::InsertOnly`]).
    fn insert_only(&self) -> bool {
        false
    }
    /// Whether the durable buffer is measured on this backend
    /// ([`Mode::Durable`]; its items have a codec).
    fn durable(&self) -> bool {
        false
    }
    fn run(&mut self, mode: Mode, items: usize) -> Result<Run, String>;
}

/// A backend's name, UDS3 v2.2's claim, and how much each run writes.
pub struct Profile {
    pub name: &'static str,
    /// UDS3 v2.2's claimed speedup, as text.
    pub claimed: &'static str,
    pub batch_sizes: &'static [usize],
    /// Items per per-item run without added round trip: (quick, full).
    pub per_item: (usize, usize),
    /// Items per run of modes below batch 1000: (quick, full).
    pub batched: (usize, usize),
    /// Items per run at batch 1000 and more, and of the ceiling, where
    /// the goals are read: long enough that connecting, the first batch
    /// and the last one weigh little, also at 10 ms, where 8 or 16
    /// connections each take several round trips to open and the goal
    /// compares with loopback: (quick, full). A third of it from 50 ms
    /// (see [`Profile::items`]).
    pub large: (usize, usize),
}

impl Profile {
    /// Items written per run of `mode` with `rtt_ms` added per round
    /// trip. Per-item runs shrink as the round trip grows, so that one
    /// takes about `PER_ITEM_BUDGET_MS` of round trips (at least 20 items).
    /// Large runs write a third from 50 ms on: there a run with one batch
    /// in flight pays 50 ms per batch (300 PostgreSQL batches, 15 s), and
    /// no goal compares 50 ms with another round trip.
    pub fn items(&self, mode: Mode, quick: bool, rtt_ms: u32) -> usize {
        let large = matches!(mode, Mode::Ceiling | Mode::Durable(_)) || mode.batch_size() >= 1000;
        let (quick_items, full_items) = match mode {
            Mode::PerItem => self.per_item,
            _ if large => self.large,
            _ => self.batched,
        };
        let items = if quick { quick_items } else { full_items };
        match mode {
            Mode::PerItem if rtt_ms > 0 => {
                let budget = if quick { 1000 } else { 6000 };
                items.min((budget / rtt_ms as usize).max(20))
            }
            _ if large && !quick && rtt_ms >= 50 => items / 3,
            _ => items,
        }
    }
}

/// A result line: also the shape of `results.json` records.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Record {
    pub backend: String,
    pub mode: String,
    /// Round trip added between library and server, ms.
    pub rtt_ms: u32,
    pub batch_size: usize,
    /// Batches in flight at once.
    pub in_flight: usize,
    pub threads: usize,
    pub items: usize,
    pub seconds: f64,
    pub items_per_s: f64,
    pub requests: u64,
    pub speedup: Option<f64>,
    /// Items/s over the same statement sent raw at the same batch size.
    pub fraction_of_raw: Option<f64>,
    /// Items/s over the server's fastest bulk path.
    pub fraction_of_ceiling: Option<f64>,
    /// TLS rows only: items/s over TLS / items/s of plaintext `batched` at
    /// the same batch size, in the same run.
    pub fraction_of_plaintext: Option<f64>,
    /// Adaptive rows only: items/s over the best fixed in-flight setting at
    /// the same batch size (the one with the highest median), the median
    /// of the two runs' ratios round by round. Against the best of several
    /// medians taken alone, every noisy setting's luckiest figure, adaptive
    /// would be read low.
    pub fraction_of_best_fixed: Option<f64>,
    /// Durable-buffer rows only: items/s over `durable-off` (the same
    /// threads and timing without the buffer), the median of the two
    /// runs' ratios round by round.
    pub fraction_of_in_memory: Option<f64>,
    /// Durable-buffer rows only: the median, over rounds, of each run's
    /// median `add` latency, in microseconds.
    pub add_median_us: Option<f64>,
    /// Durable-buffer rows only: the median, over rounds, of each run's
    /// 99th-percentile `add` latency, in microseconds.
    pub add_p99_us: Option<f64>,
    /// Library rows: the median over rounds of each run's median and
    /// 99th-percentile hand-off between batches, in microseconds, and of
    /// its sum as a share of the run.
    pub handoff_p50_us: Option<f64>,
    pub handoff_p99_us: Option<f64>,
    pub handoff_share: Option<f64>,
    pub claimed_speedup: String,
    pub rounds: usize,
}

/// The smallest batch size worth running at `rtt_ms`: every size without
/// added round trip; from 100 with one (batch 10 is per-item divided by
/// ten, nothing new); from 1000 at 50 ms and more.
/// `--quick` starts at 100 everywhere.
fn smallest_batch(rtt_ms: u32, quick: bool) -> usize {
    match rtt_ms {
        0 if !quick => 1,
        0..50 => 100,
        _ => 1000,
    }
}

/// Batches in flight compared at batch 1000 (1 is `batched` itself);
/// adaptive runs up to the largest.
pub const IN_FLIGHT: [usize; 4] = [2, 4, 8, 16];

/// The modes run at `rtt_ms`: per-item, each batch size, 2, 4, 8 and 16
/// batches in flight and adaptive (up to 16) at the largest size up to 1000, the
/// library's statement sent raw at 100 and 1000, and the ceiling; without
/// added round trip also TLS and shared use. Batch 10 only without added
/// round trip (see [`smallest_batch`]).
///
/// `--quick` leaves out batch 10, 8 and 16 in flight (adaptive still goes
/// up to 16) and shared use from one thread (batch 100 again).
pub fn modes(backend: &dyn Backend, rtt_ms: u32, quick: bool) -> Vec<Mode> {
    let sizes = backend.profile().batch_sizes;
    let mut modes = vec![Mode::PerItem];
    // Each raw run right after the library run at its batch size: every
    // round rotates the list (and swaps the two every other round), so the
    // two stay neighbours and their ratio is taken within a round (see
    // `paired_with` below).
    for batch_size in sizes
        .iter()
        .copied()
        .filter(|&n| n >= smallest_batch(rtt_ms, quick))
    {
        modes.push(Mode::Batched {
            batch_size,
            in_flight: 1,
        });
        if batch_size >= smallest_batch(rtt_ms, quick).max(100) && batch_size <= 1000 {
            modes.push(Mode::Raw(batch_size));
        }
    }
    // In flight and TLS at batch 1000, where the goals are set (or the largest).
    let size = sizes
        .iter()
        .copied()
        .find(|&n| n == 1000)
        .or(sizes.iter().copied().max());
    if let Some(batch_size) = size {
        for in_flight in IN_FLIGHT.into_iter().filter(|&n| !quick || n < 8) {
            modes.push(Mode::Batched {
                batch_size,
                in_flight,
            });
        }
        modes.push(Mode::Adaptive {
            batch_size,
            max: IN_FLIGHT[IN_FLIGHT.len() - 1],
        });
    }
    modes.push(Mode::Ceiling);
    if backend.insert_only()
        && let Some(size) = size
    {
        modes.push(Mode::InsertOnly(size));
        modes.push(Mode::RawInsertOnly(size));
    }
    if rtt_ms == 0 {
        if let Some(size) = size {
            modes.push(Mode::BatchedTls(size));
        }
        if backend.durable() {
            modes.extend(Durability::ALL.map(Mode::Durable));
        }
        if !quick {
            modes.push(Mode::Shared {
                batch_size: 100,
                threads: 1,
            });
        }
        modes.push(Mode::Shared {
            batch_size: 100,
            threads: 4,
        });
    }
    modes
}

/// One backend at one round trip: its modes, and the samples of the
/// rounds run so far. `cargo xtask bench` runs a round of every round
/// trip before the next round, so that a server's drift over the run
/// (ArcadeDB slows as relationships are deleted and recreated) hits
/// every round trip alike, as the rotated order within a round makes it
/// hit every mode alike.
pub struct Bench {
    rtt_ms: u32,
    quick: bool,
    modes: Vec<Mode>,
    samples: Vec<Vec<Run>>,
    rounds: usize,
    /// Wall time spent in this bench's rounds and warm-up.
    wall: f64,
}

impl Bench {
    pub fn new(backend: &dyn Backend, rtt_ms: u32, quick: bool) -> Self {
        let modes = modes(backend, rtt_ms, quick);
        Bench {
            rtt_ms,
            quick,
            samples: vec![Vec::new(); modes.len()],
            modes,
            rounds: 0,
            wall: 0.0,
        }
    }

    /// Runs the benchmark will make: modes times `rounds`.
    pub fn runs(&self, rounds: usize) -> usize {
        self.modes.len() * rounds
    }

    /// One untimed run (a JVM server compiles its hot paths in the first
    /// seconds; caches settle).
    pub fn warm_up(&mut self, backend: &mut dyn Backend, bar: &ProgressBar) -> Result<(), String> {
        let began = Instant::now();
        let Some(&mode) = self
            .modes
            .iter()
            .find(|m| matches!(m, Mode::Batched { in_flight: 1, .. }) && m.batch_size() >= 1000)
        else {
            return Ok(());
        };
        bar.set_message(format!(
            "{} rtt={}ms warm-up",
            backend.profile().name,
            self.rtt_ms
        ));
        let items = backend.profile().items(mode, self.quick, self.rtt_ms);
        backend
            .run(mode, items)
            .map_err(|e| format!("{} warm-up {mode:?}: {e}", backend.profile().name))?;
        self.wall += began.elapsed().as_secs_f64();
        Ok(())
    }

    /// One round of every mode, the order rotated by the round number so
    /// that slow drifts of a shared machine hit every mode alike. Every
    /// other round a raw run goes before the library run it is paired
    /// with: the first of the two meets whatever the mode before left
    /// behind (a server still busy after thousands of commits), which
    /// would otherwise always be the library.
    pub fn round(&mut self, backend: &mut dyn Backend, bar: &ProgressBar) -> Result<(), String> {
        let began = Instant::now();
        let round = self.rounds;
        for i in round_order(&self.modes, round) {
            let mode = self.modes[i];
            let items = backend.profile().items(mode, self.quick, self.rtt_ms);
            bar.set_message(format!(
                "{} rtt={}ms {} b={} f={} t={}",
                backend.profile().name,
                self.rtt_ms,
                mode.label(),
                mode.batch_size(),
                mode.in_flight(),
                mode.threads()
            ));
            let run = backend
                .run(mode, items)
                .map_err(|e| format!("{} {:?}: {e}", backend.profile().name, mode))?;
            if run.items != items {
                return Err(format!(
                    "{} {:?}: wrote {} of {items} items",
                    backend.profile().name,
                    mode,
                    run.items
                ));
            }
            self.samples[i].push(run);
            bar.inc(1);
        }
        self.rounds += 1;
        self.wall += began.elapsed().as_secs_f64();
        Ok(())
    }

    /// The records of the rounds run: medians, speedups, paired ratios.
    pub fn finish(self, backend: &dyn Backend, bar: &ProgressBar) -> Vec<Record> {
        let Bench {
            rtt_ms,
            modes,
            samples,
            rounds,
            wall,
            ..
        } = self;
        let timed: f64 = samples.iter().flatten().map(|r| r.seconds).sum();
        let line = format!(
            "{} rtt {rtt_ms} ms: {} modes x {rounds} rounds in {wall:.0} s ({timed:.0} s timed)",
            backend.profile().name,
            modes.len(),
        );
        say(bar, line);
        let rate = |runs: &[Run]| median(runs.iter().map(Run::rate).collect());
        let per_item = modes
            .iter()
            .position(|m| *m == Mode::PerItem)
            .map(|i| rate(&samples[i]));
        let rate_of = |wanted: Mode| {
            modes
                .iter()
                .position(|m| *m == wanted)
                .map(|i| rate(&samples[i]))
        };
        let ceiling = rate_of(Mode::Ceiling);
        modes
            .iter()
            .zip(&samples)
            .map(|(mode, runs)| {
                // This mode's rate over `other`'s, round by round (the two
                // ran minutes apart at most), the median of those ratios.
                let paired_with = |other: Mode| {
                    modes.iter().position(|m| *m == other).map(|j| {
                        median(
                            runs.iter()
                                .zip(&samples[j])
                                .map(|(a, b)| a.rate() / b.rate())
                                .collect(),
                        )
                    })
                };
                let items_per_s = rate(runs);
                let items: usize = runs.iter().map(|r| r.items).sum();
                let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
                let requests: u64 = runs.iter().map(|r| r.requests).sum();
                let fraction_of_plaintext = match mode {
                    Mode::BatchedTls(n) => paired_with(Mode::Batched {
                        batch_size: *n,
                        in_flight: 1,
                    }),
                    _ => None,
                };
                let fraction_of_in_memory = match mode {
                    Mode::Durable(d) if *d != Durability::Off => {
                        paired_with(Mode::Durable(Durability::Off))
                    }
                    _ => None,
                };
                let latency = |pick: fn((f64, f64)) -> f64| {
                    let xs: Vec<f64> = runs.iter().filter_map(|r| r.add_us.map(pick)).collect();
                    (!xs.is_empty()).then(|| median(xs))
                };
                let handoff = |pick: fn(&Handoff) -> f64| {
                    let xs: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| r.handoff.as_ref().map(pick))
                        .collect();
                    (!xs.is_empty()).then(|| median(xs))
                };
                let fraction_of_best_fixed = match mode {
                    Mode::Adaptive { batch_size, max } => {
                        best_fixed(&modes, &samples, *batch_size, *max).and_then(paired_with)
                    }
                    _ => None,
                };
                Record {
                    backend: backend.profile().name.to_owned(),
                    mode: mode.label().to_owned(),
                    rtt_ms,
                    batch_size: mode.batch_size(),
                    in_flight: mode.in_flight(),
                    threads: mode.threads(),
                    items,
                    seconds,
                    items_per_s,
                    requests,
                    speedup: per_item.map(|p| items_per_s / p),
                    fraction_of_raw: match mode {
                        Mode::Raw(_) | Mode::RawInsertOnly(_) | Mode::Ceiling | Mode::PerItem => {
                            None
                        }
                        Mode::InsertOnly(n) => paired_with(Mode::RawInsertOnly(*n)),
                        Mode::Durable(_) => None,
                        _ => paired_with(Mode::Raw(mode.batch_size())),
                    },
                    fraction_of_ceiling: ceiling.map(|c| items_per_s / c),
                    fraction_of_plaintext,
                    fraction_of_best_fixed,
                    fraction_of_in_memory,
                    add_median_us: latency(|(median, _)| median),
                    add_p99_us: latency(|(_, p99)| p99),
                    handoff_p50_us: handoff(|h| h.p50_us),
                    handoff_p99_us: handoff(|h| h.p99_us),
                    handoff_share: handoff(|h| h.share),
                    claimed_speedup: backend.profile().claimed.to_owned(),
                    rounds: runs.len(),
                }
            })
            .collect()
    }
}

/// The fixed in-flight setting at `batch_size`, up to `max` in flight,
/// with the highest median rate.
fn best_fixed(modes: &[Mode], samples: &[Vec<Run>], batch_size: usize, max: usize) -> Option<Mode> {
    modes
        .iter()
        .zip(samples)
        .filter(|(m, runs)| {
            !runs.is_empty()
                && matches!(m, Mode::Batched { batch_size: b, in_flight } if *b == batch_size && *in_flight <= max)
        })
        .map(|(m, runs)| (*m, median(runs.iter().map(Run::rate).collect())))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(m, _)| m)
}

/// The indices of `modes` in the order of round `round`: rotated by the
/// round number, a raw mode and the library mode it follows moved as one
/// (so the two stay neighbours), the raw one first in odd rounds.
fn round_order(modes: &[Mode], round: usize) -> Vec<usize> {
    let mut units: Vec<Vec<usize>> = Vec::with_capacity(modes.len());
    for (i, mode) in modes.iter().enumerate() {
        match units.last_mut() {
            Some(last) if last.len() == 1 && mode.reference_of() == Some(modes[last[0]]) => {
                last.push(i);
            }
            _ => units.push(vec![i]),
        }
    }
    if units.is_empty() {
        return Vec::new();
    }
    let start = round % units.len();
    units.rotate_left(start);
    if round % 2 == 1 {
        units.iter_mut().for_each(|unit| unit.reverse());
    }
    units.into_iter().flatten().collect()
}

/// The median (0 for none).
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => 0.0,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// Prints `line` above the progress bar, or to stderr when the bar is
/// hidden (no terminal).
pub fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// The progress bar of `total` runs.
pub fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} runs  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Times one library run of `mode`: its threads share one inserter
/// (thread `t` adds every `t`-th item of `data` through `add`, moving it
/// in as a user with owned items would; the raw paths borrow theirs, so
/// neither pays a copy), then `close` flushes it; its report must be
/// complete, and its stats give the run. Durable modes time every `add`.
pub fn drive<D: Send, T, E: std::fmt::Display>(
    data: Vec<D>,
    mode: Mode,
    add: impl Fn(D) -> Result<(), String> + Sync,
    close: impl FnOnce() -> (
        batch_core::FlushReport<T, E>,
        batch_core::Stats,
        batch_core::Timings,
    ),
) -> Result<Run, String> {
    let one_by_one = |share: Vec<D>, mut took: Option<&mut Vec<u32>>| -> Result<(), String> {
        for item in share {
            timed_call(took.as_deref_mut(), || add(item))?;
        }
        Ok(())
    };
    drive_shares(data, mode, &one_by_one, close)
}

/// [`drive`] for modes that add in chunks ([`Mode::chunk`]): each thread
/// hands its items to `add_many` [`ADD_MANY_CHUNK`] at a time, each call
/// timed as one `add` is; other modes go through `add` as in `drive`.
pub fn drive_many<D: Send, T, E: std::fmt::Display>(
    data: Vec<D>,
    mode: Mode,
    add: impl Fn(D) -> Result<(), String> + Sync,
    add_many: impl Fn(Vec<D>) -> Result<(), String> + Sync,
    close: impl FnOnce() -> (
        batch_core::FlushReport<T, E>,
        batch_core::Stats,
        batch_core::Timings,
    ),
) -> Result<Run, String> {
    let Some(chunk) = mode.chunk() else {
        return drive(data, mode, add, close);
    };
    let in_chunks = |share: Vec<D>, mut took: Option<&mut Vec<u32>>| -> Result<(), String> {
        let mut share = share.into_iter().peekable();
        while share.peek().is_some() {
            let part: Vec<D> = share.by_ref().take(chunk).collect();
            timed_call(took.as_deref_mut(), || add_many(part))?;
        }
        Ok(())
    };
    drive_shares(data, mode, &in_chunks, close)
}

/// Runs `call`, and records how long it took in `took`, if given.
fn timed_call(
    took: Option<&mut Vec<u32>>,
    call: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let Some(took) = took else {
        return call();
    };
    let began = Instant::now();
    call()?;
    took.push(u32::try_from(began.elapsed().as_nanos()).unwrap_or(u32::MAX));
    Ok(())
}

/// How one thread of a library run adds its share of the items (timing
/// each call into the vector when the mode times its adds).
type AddShare<'a, D> = dyn Fn(Vec<D>, Option<&mut Vec<u32>>) -> Result<(), String> + Sync + 'a;

/// The threads of a library run: thread `t` gets every `t`-th item and
/// `add_share` adds them (timing each call into its vector when the mode
/// times its adds); then `close`, and the run's figures.
fn drive_shares<D: Send, T, E: std::fmt::Display>(
    data: Vec<D>,
    mode: Mode,
    add_share: &AddShare<'_, D>,
    close: impl FnOnce() -> (
        batch_core::FlushReport<T, E>,
        batch_core::Stats,
        batch_core::Timings,
    ),
) -> Result<Run, String> {
    let threads = mode.threads().max(1);
    let timed = mode.times_adds();
    let mut shares: Vec<Vec<D>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, item) in data.into_iter().enumerate() {
        shares[i % threads].push(item);
    }
    let started = Instant::now();
    let took = std::thread::scope(|scope| -> Result<Vec<u32>, String> {
        let workers: Vec<_> = shares
            .into_iter()
            .map(|share| {
                scope.spawn(move || -> Result<Vec<u32>, String> {
                    let mut took = Vec::new();
                    add_share(share, timed.then_some(&mut took))?;
                    Ok(took)
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(
                w.join()
                    .map_err(|_| "adding thread panicked".to_owned())??,
            );
        }
        Ok(all)
    })?;
    let (report, stats, timings) = close();
    let seconds = started.elapsed().as_secs_f64();
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let handoff = (timings.handoff.count() > 0).then(|| Handoff {
        p50_us: us(timings.handoff.quantile(0.5)),
        p99_us: us(timings.handoff.quantile(0.99)),
        share: timings.handoff.total().as_secs_f64() / seconds,
    });
    if !report.is_complete() {
        return Err(incomplete(&report, "items failed"));
    }
    Ok(Run {
        items: stats.total_added as usize,
        seconds,
        requests: stats.total_requests,
        add_us: percentiles_us(took),
        handoff,
    })
}

/// Why a run's final report is not complete: how many of its items
/// came back (`what`: "items failed", ...), the first one's error, and
/// how many were still pending.
pub fn incomplete<T, E: std::fmt::Display>(
    report: &batch_core::FlushReport<T, E>,
    what: &str,
) -> String {
    format!(
        "{} {what} (first: {}), {} pending",
        report.failed.len(),
        report
            .failed
            .first()
            .map_or(String::new(), |f| f.error.to_string()),
        report.pending
    )
}

/// The median and 99th percentile of `ns` (nanoseconds), in microseconds.
fn percentiles_us(mut ns: Vec<u32>) -> Option<(f64, f64)> {
    if ns.is_empty() {
        return None;
    }
    ns.sort_unstable();
    let at = |q: f64| f64::from(ns[((ns.len() - 1) as f64 * q).round() as usize]) / 1000.0;
    Some((at(0.5), at(0.99)))
}

/// How long a benchmark run's final flush may take.
pub const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Times a raw HTTP path without the library, from a new connection: for
/// each chunk of `chunk` items of `data`, `build` encodes its requests
/// (URL, JSON body), on the clock as the library's encoding is, and each
/// is POSTed in turn; every answer must be a success and pass `check`.
/// `data` is freed on the clock too: a library run frees the items it was
/// given before its `close` returns, so both runs end with the same work
/// done.
pub fn post_each<D>(
    mut data: Vec<D>,
    chunk: usize,
    mut build: impl FnMut(&mut [D]) -> Result<Vec<(String, Vec<u8>)>, String>,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<Run, String> {
    let items = data.len();
    let started = Instant::now();
    // A new agent per run: its connections start cold, as a new
    // inserter's do.
    let agent = ureq::Agent::new_with_defaults();
    let mut requests = 0;
    for chunk in data.chunks_mut(chunk.max(1)) {
        for (url, body) in build(chunk)? {
            let mut response = agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(&body[..])
                .map_err(|e| e.to_string())?;
            let text = response
                .body_mut()
                .with_config()
                .limit(u64::MAX)
                .read_to_string()
                .map_err(|e| e.to_string())?;
            check(&text)?;
            requests += 1;
        }
    }
    drop(data);
    Ok(Run {
        items,
        seconds: started.elapsed().as_secs_f64(),
        requests,
        add_us: None,
        handoff: None,
    })
}

/// How many items of a `mode` run go in one raw request: the batch size
/// of `Raw`, everything for `Ceiling`.
pub fn raw_chunk(mode: Mode, items: usize) -> usize {
    match mode {
        Mode::Raw(n) => n.max(1),
        _ => items.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_is_read_against_the_fixed_setting_with_the_best_median() {
        let fixed = |in_flight| Mode::Batched {
            batch_size: 1000,
            in_flight,
        };
        let runs = |rates: &[f64]| -> Vec<Run> {
            rates
                .iter()
                .map(|r| Run {
                    items: 1000,
                    seconds: 1000.0 / r,
                    requests: 1,
                    add_us: None,
                    handoff: None,
                })
                .collect()
        };
        let modes = [fixed(1), fixed(2), fixed(8), Mode::Raw(1000)];
        // x2 has the best median (100), x8 the single best run (150).
        let samples = [
            runs(&[50.0, 50.0, 50.0]),
            runs(&[90.0, 100.0, 110.0]),
            runs(&[150.0, 60.0, 70.0]),
            runs(&[500.0, 500.0, 500.0]),
        ];
        assert_eq!(best_fixed(&modes, &samples, 1000, 8), Some(fixed(2)));
        assert_eq!(best_fixed(&modes, &samples, 1000, 1), Some(fixed(1)));
        assert_eq!(best_fixed(&modes, &samples, 100, 8), None);
    }

    #[test]
    fn add_latency_is_read_as_median_and_p99_in_microseconds() {
        assert_eq!(percentiles_us(Vec::new()), None);
        // 1..=100 µs in nanoseconds, shuffled: the median rounds to the
        // 51st (index 49.5 -> 50), the p99 to the 99th value.
        let mut ns: Vec<u32> = (1..=100).map(|us| us * 1000).collect();
        ns.reverse();
        ns.swap(3, 70);
        assert_eq!(percentiles_us(ns), Some((51.0, 99.0)));
    }

    #[test]
    fn large_runs_write_a_third_from_50_ms_and_per_item_runs_shrink() {
        let profile = Profile {
            name: "test",
            claimed: "-",
            batch_sizes: &[100, 1000],
            per_item: (100, 1000),
            batched: (2000, 6000),
            large: (9000, 30_000),
        };
        let x8 = Mode::Batched {
            batch_size: 1000,
            in_flight: 8,
        };
        let b100 = Mode::Batched {
            batch_size: 100,
            in_flight: 1,
        };
        let at = |mode, quick, rtt| profile.items(mode, quick, rtt);
        assert_eq!(at(x8, false, 10), 30_000);
        assert_eq!(at(Mode::Ceiling, false, 10), 30_000);
        assert_eq!(at(x8, false, 50), 10_000);
        assert_eq!(at(Mode::Ceiling, false, 50), 10_000);
        assert_eq!(at(x8, true, 50), 9000, "--quick is short already");
        assert_eq!(at(b100, false, 50), 6000);
        assert_eq!(at(Mode::PerItem, false, 0), 1000);
        assert_eq!(at(Mode::PerItem, false, 10), 600);
        assert_eq!(at(Mode::PerItem, false, 50), 120);
        assert_eq!(at(Mode::PerItem, true, 50), 20);
    }

    #[test]
    fn library_and_raw_take_turns_going_first() {
        let lib = Mode::Batched {
            batch_size: 100,
            in_flight: 1,
        };
        let modes = [Mode::PerItem, lib, Mode::Raw(100), Mode::Ceiling];
        let position = |order: &[usize], i: usize| order.iter().position(|&j| j == i);
        for round in 0..6 {
            let order = round_order(&modes, round);
            let (l, r) = (position(&order, 1), position(&order, 2));
            let (Some(l), Some(r)) = (l, r) else {
                panic!("round {round}: {order:?}")
            };
            assert_eq!(l.abs_diff(r), 1, "neighbours in round {round}: {order:?}");
            assert_eq!(l < r, round % 2 == 0, "round {round}: {order:?}");
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2, 3], "every mode once: {order:?}");
        }
    }
}
