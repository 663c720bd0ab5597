//! The durable log: an append-only sequence of segment files holding every
//! accepted item and what became of it, with group writes and group
//! commits, and deletion of segments whose items are all resolved.
//!
//! Adders append under a short lock (a copy into memory), then wait for
//! the bytes to reach the kernel (every policy: what survives a crash of
//! the process) or the disk (`Fsync::Always`). The first waiter that finds
//! no write in progress writes everything appended so far, its own record
//! and everybody else's, with one `write` and (when asked) one
//! `fdatasync`; the others wait for it. One fsync thus covers every adder
//! that appended before it: a group commit, as Vector's disk buffer and
//! PostgreSQL's WAL do it.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::record::{self, Record, SEGMENT_HEADER};
use super::recover::{Recovered, segment_path};
use crate::durable_settings::Fsync;

/// Segment files are cut at about this size (a record is never split).
pub(crate) const SEGMENT_BYTES: u64 = 32 << 20;

/// Where a record's bytes end in the log's stream since open: the ticket
/// an adder waits on.
pub(crate) type Position = u64;

/// The durable log of one batcher.
pub(crate) struct Log {
    dir: PathBuf,
    fsync: Fsync,
    max_bytes: Option<u64>,
    segment_bytes: u64,
    inner: Mutex<Inner>,
    /// Signalled when a write or sync ends and when a segment is deleted.
    progress: Condvar,
    /// The open segment file; only the writing leader touches it.
    io: Mutex<Io>,
}

struct Inner {
    next_seq: u64,
    /// Bytes appended and not yet written, per segment.
    pending: Vec<Chunk>,
    appended: Position,
    written: Position,
    synced: Position,
    /// A leader is writing.
    writing: bool,
    /// Stream ranges whose write failed, with the error (the latest few).
    failed: VecDeque<(Range<Position>, Arc<io::Error>)>,
    /// Live segments, oldest first; the last one is appended to.
    segments: VecDeque<Segment>,
    /// Bytes of every live segment, pending ones included.
    total_bytes: u64,
    next_segment: u64,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    first_seq: u64,
    /// Items in it not yet resolved.
    live: u64,
    bytes: u64,
    /// Where its last byte ends in the stream (0: written before open).
    end: Position,
}

struct Chunk {
    segment: u64,
    first_seq: u64,
    bytes: Vec<u8>,
}

struct Io {
    dir: PathBuf,
    /// The segment being written: id, file, length.
    file: Option<(u64, File, u64)>,
    /// A segment file was created since the last sync of the directory.
    dir_dirty: bool,
}

/// The bytes an append would bring the log to, over `max_buffer_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full {
    pub(crate) bytes: u64,
    pub(crate) limit: u64,
}

impl Log {
    /// Opens the log over what `recovered` found in `dir`: its segments
    /// stay until their items are resolved; new records go to a new one.
    pub(crate) fn open(
        dir: &Path,
        fsync: Fsync,
        max_bytes: Option<u64>,
        segment_bytes: u64,
        recovered: &Recovered,
    ) -> Self {
        let mut segments: VecDeque<Segment> = recovered
            .segments
            .iter()
            .map(|s| Segment {
                id: s.id,
                first_seq: s.first_seq,
                live: 0,
                bytes: s.bytes,
                end: 0,
            })
            .collect();
        let mut inner = Inner {
            next_seq: recovered.next_seq,
            pending: Vec::new(),
            appended: 0,
            written: 0,
            synced: 0,
            writing: false,
            failed: VecDeque::new(),
            total_bytes: segments.iter().map(|s| s.bytes).sum(),
            segments: VecDeque::new(),
            next_segment: recovered.next_segment,
        };
        for seq in recovered.unresolved.keys() {
            if let Some(s) = segments.iter_mut().rev().find(|s| s.first_seq <= *seq) {
                s.live += 1;
            }
        }
        inner.segments = std::mem::take(&mut segments);
        inner.start_segment();
        let log = Self {
            dir: dir.to_owned(),
            fsync,
            max_bytes,
            segment_bytes: segment_bytes.max(SEGMENT_HEADER as u64 + 1),
            inner: Mutex::new(inner),
            progress: Condvar::new(),
            io: Mutex::new(Io {
                dir: dir.to_owned(),
                file: None,
                dir_dirty: false,
            }),
        };
        // Segments whose items were all resolved before the crash go now.
        log.collect(&mut log.lock());
        log
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The directory the log lives in.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes of every live segment.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.lock().total_bytes
    }

    /// Appends an accepted item; returns its sequence number and the
    /// position to wait for ([`Log::wait`]). `Err` when the log would grow
    /// past `max_buffer_bytes`: nothing was appended.
    pub(crate) fn append_item(&self, data: &[u8]) -> Result<(u64, Position), Full> {
        let mut g = self.lock();
        let seq = g.next_seq;
        let rec = Record::Item { seq, data };
        let len = record::encoded_len(&rec) as u64;
        if let Some(limit) = self.max_bytes {
            let header = if self.rolls(&g, len) {
                SEGMENT_HEADER as u64
            } else {
                0
            };
            let bytes = g.total_bytes + len + header;
            // One item always fits in an empty log, however large.
            if bytes > limit && g.total_bytes > SEGMENT_HEADER as u64 {
                return Err(Full { bytes, limit });
            }
        }
        // A segment this record starts begins at `seq`: count it after.
        let at = self.append(&mut g, &rec, len);
        g.next_seq += 1;
        if let Some(s) = g.segments.back_mut() {
            s.live += 1;
        }
        Ok((seq, at))
    }

    /// Records that `seqs` are resolved for good. Nobody waits for it: a
    /// resolution lost in a crash only means the item is sent again, which
    /// every sink takes as a replay.
    pub(crate) fn resolve(&self, seqs: &[u64]) {
        if seqs.is_empty() {
            return;
        }
        let mut g = self.lock();
        let rec = Record::Resolved(record::ranges(seqs.iter().copied()));
        let len = record::encoded_len(&rec) as u64;
        self.append(&mut g, &rec, len);
        for &seq in seqs {
            if let Some(s) = g.segments.iter_mut().rev().find(|s| s.first_seq <= seq) {
                debug_assert!(s.live > 0, "seq {seq} resolved twice");
                s.live = s.live.saturating_sub(1);
            }
        }
        self.collect(&mut g);
    }

    /// Forgets an item whose append failed to reach the file: it was
    /// handed back, so it no longer keeps its segment alive.
    pub(crate) fn forget(&self, seq: u64) {
        let mut g = self.lock();
        if let Some(s) = g.segments.iter_mut().rev().find(|s| s.first_seq <= seq) {
            s.live = s.live.saturating_sub(1);
        }
        self.collect(&mut g);
    }

    /// Records that item `seq` failed with `error` and waits for the
    /// caller: after a crash it goes to the dead letters, not to replay.
    pub(crate) fn failed(&self, seq: u64, error: &str) {
        let mut g = self.lock();
        let rec = Record::Failed { seq, error };
        let len = record::encoded_len(&rec) as u64;
        self.append(&mut g, &rec, len);
    }

    /// Whether a record of `len` bytes starts a new segment.
    fn rolls(&self, g: &Inner, len: u64) -> bool {
        g.segments
            .back()
            .is_none_or(|s| s.bytes > SEGMENT_HEADER as u64 && s.bytes + len > self.segment_bytes)
    }

    fn append(&self, g: &mut Inner, rec: &Record<'_>, len: u64) -> Position {
        if self.rolls(g, len) {
            g.start_segment();
        }
        let (id, first_seq) = g
            .segments
            .back()
            .map_or((0, g.next_seq), |s| (s.id, s.first_seq));
        if g.pending.last().is_none_or(|c| c.segment != id) {
            g.pending.push(Chunk {
                segment: id,
                first_seq,
                bytes: Vec::new(),
            });
        }
        if let Some(chunk) = g.pending.last_mut() {
            record::encode(rec, &mut chunk.bytes);
        }
        g.appended += len;
        g.total_bytes += len;
        let at = g.appended;
        if let Some(s) = g.segments.back_mut() {
            s.bytes += len;
            s.end = at;
        }
        at
    }

    /// Waits until the record ending at `at` is in the kernel (and on disk
    /// with `sync`, or always under `Fsync::Always`), writing it and every
    /// record appended before it when no other thread is. `Err`: the
    /// write of that record failed (disk full, I/O error); the record is
    /// not in the file.
    pub(crate) fn wait(&self, at: Position, sync: bool) -> io::Result<()> {
        let sync = sync || self.fsync == Fsync::Always;
        let mut g = self.lock();
        loop {
            if let Some((_, e)) = g.failed.iter().find(|(r, _)| r.contains(&(at - 1))) {
                return Err(io::Error::new(e.kind(), e.to_string()));
            }
            if (if sync { g.synced } else { g.written }) >= at {
                return Ok(());
            }
            if g.writing {
                g = self
                    .progress
                    .wait(g)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            g.writing = true;
            let chunks = std::mem::take(&mut g.pending);
            let (from, upto) = (g.written, g.appended);
            drop(g);
            let result = self
                .io
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write(&chunks, sync);
            g = self.lock();
            g.writing = false;
            g.written = upto;
            if sync {
                g.synced = upto;
            }
            if let Err(e) = result {
                tracing::error!(dir = %self.dir.display(), error = %e, "durable buffer: write failed; the items in it are handed back");
                if g.failed.len() >= 16 {
                    g.failed.pop_front();
                }
                g.failed.push_back((from..upto, Arc::new(e)));
            }
            self.collect(&mut g);
            self.progress.notify_all();
        }
    }

    /// Writes and syncs everything appended so far.
    pub(crate) fn sync(&self) -> io::Result<()> {
        let at = self.lock().appended;
        if at == 0 {
            return Ok(());
        }
        self.wait(at, true)
    }

    /// Writes everything appended so far (no sync unless the policy is
    /// `Always`, whose every write is synced).
    pub(crate) fn write(&self) -> io::Result<()> {
        let at = self.lock().appended;
        if at == 0 {
            return Ok(());
        }
        self.wait(at, false)
    }

    /// `true` when something was appended since the last sync.
    pub(crate) fn unsynced(&self) -> bool {
        let g = self.lock();
        g.appended > g.synced
    }

    /// Waits until the log has room for `len` more bytes, or `timeout`.
    pub(crate) fn wait_for_room(&self, len: u64, timeout: std::time::Duration) {
        let Some(limit) = self.max_bytes else { return };
        let g = self.lock();
        if g.total_bytes + len <= limit {
            return;
        }
        let _ = self
            .progress
            .wait_timeout(g, timeout)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Deletes the oldest segments whose items are all resolved and whose
    /// bytes are all written, in order (a segment's resolutions may be
    /// about items of older ones, so none goes before them).
    fn collect(&self, g: &mut Inner) {
        let mut freed = false;
        while g.segments.len() > 1 {
            let Some(front) = g.segments.front() else {
                break;
            };
            if front.live > 0 || front.end > g.written {
                break;
            }
            let path = segment_path(&self.dir, front.id);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "durable buffer: cannot delete a resolved segment; it is replayed as already resolved");
                    break;
                }
            }
            g.total_bytes = g.total_bytes.saturating_sub(front.bytes);
            g.segments.pop_front();
            freed = true;
        }
        if freed {
            self.progress.notify_all();
        }
    }

    /// Ids and live item counts of the segments (for tests).
    #[cfg(test)]
    fn live(&self) -> Vec<(u64, u64)> {
        self.lock()
            .segments
            .iter()
            .map(|s| (s.id, s.live))
            .collect()
    }
}

impl Inner {
    fn start_segment(&mut self) {
        let id = self.next_segment;
        self.next_segment += 1;
        self.segments.push_back(Segment {
            id,
            first_seq: self.next_seq,
            live: 0,
            bytes: SEGMENT_HEADER as u64,
            end: self.appended,
        });
        self.total_bytes += SEGMENT_HEADER as u64;
    }
}

impl Io {
    /// Writes `chunks` in order, creating segment files as they begin;
    /// with `sync`, syncs every file written and the directory. On error
    /// the file is cut back to where this write began.
    fn write(&mut self, chunks: &[Chunk], sync: bool) -> io::Result<()> {
        let mut touched: Vec<File> = Vec::new();
        for chunk in chunks {
            if self
                .file
                .as_ref()
                .is_none_or(|(id, ..)| *id != chunk.segment)
            {
                if let Some((_, file, _)) = self.file.take() {
                    touched.push(file);
                }
                let path = segment_path(&self.dir, chunk.segment);
                let mut file = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?;
                let mut len = file.metadata()?.len();
                if len < SEGMENT_HEADER as u64 {
                    file.set_len(0)?;
                    file.write_all(&record::segment_header(chunk.first_seq))?;
                    len = SEGMENT_HEADER as u64;
                    self.dir_dirty = true;
                }
                self.file = Some((chunk.segment, file, len));
            }
            if let Some((_, file, len)) = &mut self.file {
                if let Err(e) = file.write_all(&chunk.bytes) {
                    let _ = file.set_len(*len);
                    return Err(e);
                }
                *len += chunk.bytes.len() as u64;
            }
        }
        if sync {
            for file in &touched {
                file.sync_data()?;
            }
            if let Some((_, file, _)) = &self.file {
                file.sync_data()?;
            }
            if std::mem::take(&mut self.dir_dirty) {
                File::open(&self.dir)?.sync_all()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::recover::recover;
    use super::*;

    fn open(dir: &Path, segment_bytes: u64) -> (Log, Recovered) {
        let recovered = recover(dir).expect("recover");
        let log = Log::open(dir, Fsync::Always, None, segment_bytes, &recovered);
        (log, recovered)
    }

    fn add(log: &Log, data: &[u8]) -> u64 {
        let (seq, at) = log.append_item(data).expect("room");
        log.wait(at, false).expect("written");
        seq
    }

    #[test]
    fn unresolved_items_come_back_and_resolved_ones_do_not() {
        let dir = tempfile::tempdir().expect("dir");
        let (log, found) = open(dir.path(), SEGMENT_BYTES);
        assert!(found.unresolved.is_empty());
        let seqs: Vec<u64> = (0..5)
            .map(|i| add(&log, format!("item {i}").as_bytes()))
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        log.resolve(&[1, 2, 4]);
        log.failed(5, "HTTP 400");
        log.sync().expect("sync");
        drop(log);
        let (log, found) = open(dir.path(), SEGMENT_BYTES);
        let back: Vec<(u64, &[u8], Option<&str>)> = found
            .unresolved
            .iter()
            .map(|(s, u)| (*s, u.data.as_slice(), u.failed.as_deref()))
            .collect();
        assert_eq!(
            back,
            [
                (3, &b"item 2"[..], None),
                (5, &b"item 4"[..], Some("HTTP 400"))
            ]
        );
        assert_eq!(add(&log, b"next"), 6, "numbers are never reused");
    }

    #[test]
    fn resolved_segments_are_deleted_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        // Three records of 41 bytes per segment.
        let (log, _) = open(dir.path(), SEGMENT_HEADER as u64 + 3 * 41);
        let seqs: Vec<u64> = (0..9).map(|_| add(&log, &[7_u8; 20])).collect();
        let files = || fs::read_dir(dir.path()).expect("ls").count();
        assert_eq!(files(), 3, "{:?}", log.live());
        // The middle segment's items first: it must wait for the first.
        log.resolve(&seqs[3..6]);
        assert_eq!(files(), 3, "{:?}", log.live());
        log.resolve(&seqs[..3]);
        assert_eq!(files(), 1, "both old ones gone: {:?}", log.live());
        log.resolve(&seqs[6..]);
        log.sync().expect("sync");
        drop(log);
        let (_, found) = open(dir.path(), SEGMENT_BYTES);
        assert!(found.unresolved.is_empty());
    }

    #[test]
    fn concurrent_adders_share_fsyncs_and_lose_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let (log, _) = open(dir.path(), 64 << 10);
        let log = Arc::new(log);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    (0..500)
                        .map(|i| {
                            let data = format!("{t}-{i}");
                            let (seq, at) = log.append_item(data.as_bytes()).expect("room");
                            log.wait(at, true).expect("synced");
                            (seq, data)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(u64, String)> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("thread"))
            .collect();
        all.sort();
        drop(log);
        let (_, found) = open(dir.path(), SEGMENT_BYTES);
        let back: Vec<(u64, String)> = found
            .unresolved
            .into_iter()
            .map(|(s, u)| (s, String::from_utf8(u.data).expect("utf8")))
            .collect();
        assert_eq!(back.len(), 2000);
        assert_eq!(back, all);
    }

    #[test]
    fn the_bound_refuses_an_item_until_resolved_segments_are_gone() {
        let dir = tempfile::tempdir().expect("dir");
        let recovered = recover(dir.path()).expect("recover");
        let seg = SEGMENT_HEADER as u64 + 2 * 41;
        let log = Log::open(
            dir.path(),
            Fsync::EveryBatch,
            Some(3 * seg),
            seg,
            &recovered,
        );
        let mut seqs = Vec::new();
        let full = loop {
            match log.append_item(&[1_u8; 20]) {
                Ok((seq, at)) => {
                    log.wait(at, false).expect("written");
                    seqs.push(seq);
                }
                Err(full) => break full,
            }
        };
        assert!(full.bytes > full.limit, "{full:?}");
        assert!(log.bytes() <= 3 * seg);
        log.resolve(&seqs[..2]);
        assert!(
            log.append_item(&[1_u8; 20]).is_ok(),
            "room again: {:?}",
            log.live()
        );
    }
}
