//! The durable buffer (feature `durable`): every item `add` accepts is
//! first appended to a log on disk, so that a crash of the process (OOM,
//! `kill -9`, a deploy) or of the machine loses nothing accepted. On
//! start the batcher replays what the log holds unresolved, before
//! anything new; failed items nobody collected go to the dead letters.
//!
//! # Why a log of its own
//! The log is about 500 lines on `crc32fast`, `memmap2` and `fs4` (both
//! well kept: memmap2 maps files for ripgrep and cargo, fs4 is fs2's
//! successor). The well-kept WAL and queue crates were read against what
//! this buffer needs; none was benchmarked, because none fits it:
//! - `okaywal` (khonsulabs): a WAL with group commit and checkpoints,
//!   but its README asks not to use it in production and calls its file
//!   format unstable, where this buffer must read what an older release
//!   wrote; and its checkpoints free space by position, whereas batches
//!   resolve out of order across lanes.
//! - `yaque`, `queue-file`: disk queues that pop in order, one reader.
//!   Items here resolve out of order and several at a time, and a failed
//!   item stays until its caller collects it.
//!
//! What was measured is the log's own design (`cargo bench -p batch-core
//! --bench durable_add`: 16 threads, one batcher, a sink that writes
//! nothing). Appending with `write(2)`, one leader writing for everybody
//! and the others waiting on a condvar, an add took 2.1-2.2 us against
//! 0.11 us in memory: most of it was threads put to sleep and woken. A
//! record copied into a mapped segment instead is safe from a crash of
//! the process as soon as the copy ends, with no system call and no
//! waiting: 0.30 us (`Interval(100ms)`) and 0.42 us (`EveryBatch`).
//! `Always` waits for a sync whatever the design: 19-22 us per add at 16
//! threads (one sync of about 100 us covers the adders that arrived
//! during the one before), 17.5 us with the leader yielding once before
//! it syncs so that the adders it woke can join.
//!
//! # Layout
//! `NNNNNNNNNNNNNNNNNNNN.seg` segment files (32 MiB, reserved on disk when
//! created, zeros after the last record), each a header with its own
//! checksum, then length-prefixed, CRC-32-checked records: accepted
//! items, what was resolved, what failed, and after each sync a marker of
//! how far it reached; `dead_letters.jsonl`; `LOCK`, held while a batcher
//! has the directory open; `quarantine/`, if [`repair`] found damage.
//!
//! # Damage
//! Opening refuses a log it cannot prove whole, naming the file, the field
//! or offset, and what was expected: a header or record failing its
//! checksum, a segment missing between two others, sequence numbers that
//! do not follow, damage before a sync marker. The only thing cut without
//! asking is a torn tail: damage after the last segment's last sync
//! marker with no sound record behind it, which is what a crash leaves.
//! [`repair`] (the `uds3-buffer-repair` binary) then keeps every sound
//! record of a refused log and quarantines the rest. A log's last segment
//! deleted whole cannot be noticed (nothing after it names it).

mod dead_letters;
pub(crate) mod log;
mod mapped;
pub(crate) mod record;
pub(crate) mod recover;
mod repair;

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};

pub use dead_letters::{DEAD_LETTERS_FILE, DeadLetter, read_dead_letters, take_dead_letters};
pub(crate) use log::{Position, Refused};
pub(crate) use recover::Unresolved;
pub use repair::{QUARANTINE_DIR, RepairReport, RepairedSegment, repair};

use crate::durable_settings::{DurableSettings, Fsync};
use log::Log;

/// Items found unresolved on open, by sequence number.
pub(crate) type Found = Vec<(u64, Unresolved)>;

/// A batcher's durable log and the thread that syncs it in the background.
pub(crate) struct Journal {
    log: Log,
    fsync: Fsync,
    /// Wakes the syncer (a batch left the buffer, under `EveryBatch`).
    hint: Sender<()>,
    /// Held while the batcher has the directory.
    _lock: File,
}

impl Journal {
    /// Opens the log in `settings.dir`: takes the directory's lock, reads
    /// back what it holds, and starts the syncer. Returns the items not
    /// resolved before, by sequence number.
    pub(crate) fn open(settings: &DurableSettings, name: &str) -> io::Result<(Arc<Self>, Found)> {
        let dir = &settings.dir;
        // Room comes back a whole segment at a time: under a bound, eight
        // segments fit in it.
        let segment_bytes = settings
            .max_buffer_bytes
            .map_or(log::SEGMENT_BYTES, |max| (max / 8).min(log::SEGMENT_BYTES));
        std::fs::create_dir_all(dir).map_err(|e| in_dir(dir, e))?;
        // A batcher just dropped may still be ending its threads (they
        // hold the log until they return): give it a moment.
        let lock = lock_dir(
            dir,
            Duration::from_secs(5),
            "another batcher has it open (one batcher per directory)",
        )?;
        let recovered = recover::recover(dir)?;
        let log = Log::open(dir, settings.max_buffer_bytes, segment_bytes, &recovered)?;
        let (hint, wake) = crossbeam_channel::bounded(1);
        let journal = Arc::new(Self {
            log,
            fsync: settings.fsync,
            hint,
            _lock: lock,
        });
        let tick = match settings.fsync {
            Fsync::Interval(d) => d,
            // Writes what was resolved since the last add, so that a crash
            // after a quiet spell replays little.
            Fsync::Always | Fsync::EveryBatch => Duration::from_secs(1),
        };
        let weak: Weak<Self> = Arc::downgrade(&journal);
        let batcher = name.to_owned();
        std::thread::Builder::new()
            .name(format!("batch-{name}-log"))
            .spawn(move || {
                loop {
                    let woken = wake.recv_timeout(tick);
                    let Some(journal) = weak.upgrade() else { return };
                    if woken == Err(RecvTimeoutError::Disconnected) {
                        return;
                    }
                    if journal.log.unsynced()
                        && let Err(e) = journal.log.sync()
                    {
                        tracing::error!(batcher = %batcher, error = %e, "durable buffer: background sync failed");
                    }
                }
            })?;
        Ok((journal, recovered.unresolved.into_iter().collect()))
    }

    /// Appends accepted items in order, one lock for all, until one is
    /// refused (see [`Log::append_items`]).
    pub(crate) fn append_many<'a>(
        &self,
        items: impl IntoIterator<Item = &'a [u8]>,
    ) -> (std::ops::Range<u64>, Position, Option<Refused>) {
        self.log.append_items(items)
    }

    /// What the log counted of its work (tests).
    #[cfg(test)]
    pub(crate) fn counted(&self) -> &log::Counted {
        &self.log.counted
    }

    /// Appends an accepted item (see [`Log::append_item`]).
    pub(crate) fn append(&self, data: &[u8]) -> Result<(u64, Position), Refused> {
        self.log.append_item(data)
    }

    /// Waits until the item at `at` is as durable as the policy asks
    /// before `add` returns: in the log's mapping (so in the kernel: safe
    /// from a crash of the process) once appended, and under `Always` on
    /// disk.
    pub(crate) fn accept(&self, at: Position) -> io::Result<()> {
        if self.fsync == Fsync::Always {
            self.log.wait_synced(at)
        } else {
            Ok(())
        }
    }

    /// An item that `add` refused after appending it: it is no longer
    /// the log's.
    pub(crate) fn forget(&self, seq: u64) {
        self.log.forget(seq);
    }

    /// Items resolved for good.
    pub(crate) fn resolve(&self, seqs: &[u64]) {
        self.log.resolve(seqs);
    }

    /// An item failed and waits for its caller.
    pub(crate) fn failed(&self, seq: u64, error: &str) {
        self.log.failed(seq, error);
    }

    /// Waits up to `timeout` for room for `len` more bytes.
    pub(crate) fn wait_for_room(&self, len: u64, timeout: Duration) {
        self.log.wait_for_room(len, timeout);
    }

    /// A batch left the buffer: under `EveryBatch` the syncer syncs now.
    pub(crate) fn batch_shipped(&self) {
        if self.fsync == Fsync::EveryBatch {
            let _ = self.hint.try_send(());
        }
    }

    /// Writes `(error, encoded item)` to the dead letters, then resolves
    /// `seqs` (those of them that are in the log). On error nothing is
    /// resolved: the items stay in the log and come back at the next start.
    pub(crate) fn dead_letter(
        &self,
        letters: &[(String, Vec<u8>)],
        seqs: &[u64],
    ) -> io::Result<()> {
        dead_letters::append(self.log.dir(), letters)?;
        self.log.resolve(seqs);
        Ok(())
    }

    /// Writes and syncs everything appended so far.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.log.sync()
    }
}

/// Takes the directory's `LOCK`, waiting up to `wait` for a holder to let
/// go; `Err` saying `held` when it does not.
pub(crate) fn lock_dir(dir: &Path, wait: Duration, held: &str) -> io::Result<File> {
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))
        .map_err(|e| in_dir(dir, e))?;
    let began = std::time::Instant::now();
    while lock.try_lock().is_err() {
        if began.elapsed() >= wait {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("durable buffer {}: {held}", dir.display()),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(lock)
}

fn in_dir(dir: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("durable buffer {}: {e}", dir.display()))
}

impl Drop for Journal {
    /// Writes what is left (resolutions, mostly) and syncs it.
    fn drop(&mut self) {
        if let Err(e) = self.log.sync() {
            tracing::error!(dir = %self.log.dir().display(), error = %e, "durable buffer: last sync failed; unresolved items are replayed at the next start");
        }
    }
}
