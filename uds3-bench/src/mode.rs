//! The benchmark's modes: what each one writes with (batch size, batches
//! in flight, threads, TLS, durable buffer, raw and ceiling paths), how
//! many items a run writes, and which modes run at a round trip.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use batch_core::Fsync;

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
    pub fn times_adds(&self) -> bool {
        matches!(self, Mode::Durable(_))
    }

    /// The library mode a raw mode is the overhead reference of.
    pub fn reference_of(&self) -> Option<Mode> {
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

/// The smallest batch size worth running at `rtt_ms`: every size without
/// added round trip; from 100 with one (batch 10 is per-item divided by
/// ten, nothing new); from 1000 at 50 ms and more.
/// `--quick` starts at 100 everywhere.
pub fn smallest_batch(rtt_ms: u32, quick: bool) -> usize {
    match rtt_ms {
        0 if !quick => 1,
        0..50 => 100,
        _ => 1000,
    }
}

/// Batches in flight compared at batch 1000 (1 is `batched` itself);
/// adaptive runs up to the largest.
pub const IN_FLIGHT: [usize; 4] = [2, 4, 8, 16];

#[cfg(test)]
mod tests {
    use super::*;

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
}
