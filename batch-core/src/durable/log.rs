//! The durable log: an append-only sequence of segment files holding every
//! accepted item and what became of it, with group commits, and deletion
//! of segments whose items are all resolved.
//!
//! Segments are mapped into memory ([`Mapped`]): an adder copies its
//! record into the mapping under a short lock, and from then on the record
//! is in the kernel's page cache, safe from a crash of the process,
//! without a system call and without waiting for anyone. Reaching the disk
//! is a sync of the mapped range: under `Fsync::Always` the first adder
//! that finds no sync in progress syncs everything appended so far, its
//! own record and everybody else's, and the others wait for it; one sync
//! thus covers every adder that appended before it (a group commit, as
//! Vector's disk buffer and PostgreSQL's WAL do it). Under the other
//! policies a background thread syncs.
//!
//! After each sync a [`Record::Synced`] marker says how far the open
//! segment was on disk, so that recovery tells a torn write from damage.
//! Markers are not data: they never wake the syncer, and the next sync
//! (or the last one, at close) takes them along.
//!
//! Resolutions never need room a full disk could refuse: the open segment
//! always keeps [`RESOLUTION_BYTES`] free per unresolved item, and an item
//! that would leave less rolls to a new segment first, so a disk that
//! fills refuses new items at `add` (handed back), never the record that
//! an item was written.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::mapped::{Flusher, Mapped};
use super::record::{self, Header, RESOLUTION_BYTES, Record, SEGMENT_HEADER};
use super::recover::{Recovered, segment_path};

/// Segment files are cut at about this size (a record is never split);
/// each is reserved on disk at this size when it is created.
pub(crate) const SEGMENT_BYTES: u64 = 32 << 20;

/// Syncs that may run at once: an adder that appended while one runs
/// starts the next at once, rather than waiting for the first to end and
/// then for its own (one sync of waiting, not one and a half).
const SYNCS_IN_FLIGHT: usize = 1;

/// Where a record's bytes end in the log's stream since open: the ticket
/// an adder waits on.
pub(crate) type Position = u64;

/// The durable log of one batcher.
pub(crate) struct Log {
    dir: PathBuf,
    max_bytes: Option<u64>,
    segment_bytes: u64,
    inner: Mutex<Inner>,
    /// Signalled when a sync ends and when a segment is deleted.
    progress: Condvar,
    /// Tests: creating a segment fails as on a full disk.
    #[cfg(test)]
    disk_full: std::sync::atomic::AtomicBool,
    /// Tests: appends of items (each one lock) and syncs done.
    #[cfg(test)]
    pub(crate) counted: Counted,
}

/// What a test counts of a log's work.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Counted {
    /// Calls that appended items, one lock each.
    pub(crate) appends: std::sync::atomic::AtomicU64,
    /// Syncs to disk.
    pub(crate) syncs: std::sync::atomic::AtomicU64,
}

struct Inner {
    next_seq: u64,
    appended: Position,
    /// Where the last record that is not a sync marker ends: what the
    /// background syncer must take to disk.
    appended_data: Position,
    /// Items in the log not yet resolved (the sum of the segments' `live`).
    live: u64,
    synced: Position,
    /// Syncs in progress, at most [`SYNCS_IN_FLIGHT`].
    syncing: usize,
    /// How far the syncs in progress reach.
    syncing_upto: Position,
    /// Stream ranges whose sync failed, with the error (the latest few).
    failed: VecDeque<(Range<Position>, Arc<io::Error>)>,
    /// Live segments, oldest first; the last one is appended to.
    segments: VecDeque<Segment>,
    /// The mapping of the last segment, once this log made one.
    open: Option<Mapped>,
    /// Bytes of every live segment in use (records and headers).
    total_bytes: u64,
    next_segment: u64,
    /// A segment file was created since the last sync of the directory.
    dir_dirty: bool,
    /// Where a record is encoded before it is copied into the mapping.
    scratch: Vec<u8>,
}

struct Segment {
    id: u64,
    first_seq: u64,
    /// Items in it not yet resolved.
    live: u64,
    /// Bytes in use: where the next record goes.
    bytes: u64,
    /// Bytes known to be on disk.
    synced_bytes: u64,
    /// How far the segment's last sync marker says it was on disk.
    marked: u64,
    /// Where its last record that is not a sync marker ends.
    data_end: u64,
    /// Syncs it (`None`: found on open, on disk already).
    flusher: Option<Flusher>,
}

/// The bytes an append would bring the log to, over `max_buffer_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full {
    pub(crate) bytes: u64,
    pub(crate) limit: u64,
}

/// Why an item was not appended.
#[derive(Debug)]
pub(crate) enum Refused {
    /// At `max_buffer_bytes`.
    Full(Full),
    /// A new segment could not be created (disk full, permissions).
    Io(io::Error),
}

impl Log {
    /// Opens the log over what `recovered` found in `dir`: its segments
    /// stay until their items are resolved; new records go to a new one.
    ///
    /// With unresolved items, a new segment is made at once, with room to
    /// record their resolutions: `Err` when the disk has none (nothing is
    /// replayed then, and nothing lost).
    pub(crate) fn open(
        dir: &Path,
        max_bytes: Option<u64>,
        segment_bytes: u64,
        recovered: &Recovered,
    ) -> io::Result<Self> {
        let mut segments: VecDeque<Segment> = recovered
            .segments
            .iter()
            .map(|s| Segment {
                id: s.id,
                first_seq: s.first_seq,
                live: 0,
                bytes: s.bytes,
                synced_bytes: s.bytes,
                marked: s.bytes,
                data_end: s.bytes,
                flusher: None,
            })
            .collect();
        // Each item keeps alive the segment its record was read from.
        for item in recovered.unresolved.values() {
            if let Some(s) = segments.iter_mut().find(|s| s.id == item.segment) {
                s.live += 1;
            }
        }
        let live = recovered.unresolved.len() as u64;
        let inner = Inner {
            next_seq: recovered.next_seq,
            appended: 0,
            appended_data: 0,
            live,
            synced: 0,
            syncing: 0,
            syncing_upto: 0,
            failed: VecDeque::new(),
            total_bytes: segments.iter().map(|s| s.bytes).sum(),
            segments,
            open: None,
            next_segment: recovered.next_segment,
            dir_dirty: false,
            scratch: Vec::new(),
        };
        let log = Self {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes: segment_bytes.max(SEGMENT_HEADER as u64 + 1),
            inner: Mutex::new(inner),
            progress: Condvar::new(),
            #[cfg(test)]
            disk_full: std::sync::atomic::AtomicBool::new(false),
            #[cfg(test)]
            counted: Counted::default(),
        };
        {
            let mut g = log.lock();
            if live > 0 {
                log.roll(&mut g, RESOLUTION_BYTES * live).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "durable buffer {}: no room to record what becomes of the {live} \
                             unresolved items it holds ({e}); nothing was replayed",
                            dir.display()
                        ),
                    )
                })?;
            }
            // Segments whose items were all resolved before the crash go
            // now (all but the last, which goes once a record follows it).
            log.collect(&mut g);
        }
        Ok(log)
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
    /// position to wait for ([`Log::wait_synced`]). Once this returns the
    /// item survives a crash of the process. `Err`: nothing was appended.
    pub(crate) fn append_item(&self, data: &[u8]) -> Result<(u64, Position), Refused> {
        let mut g = self.lock();
        #[cfg(test)]
        self.counted
            .appends
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.append_one(&mut g, data)
    }

    /// Appends accepted items in order under one lock, until one is
    /// refused: returns the sequence numbers of those appended (one run),
    /// the position to wait for that covers all of them, and why the next
    /// one was refused, if one was (it and those after it were not
    /// appended).
    pub(crate) fn append_items<'a>(
        &self,
        items: impl IntoIterator<Item = &'a [u8]>,
    ) -> (Range<u64>, Position, Option<Refused>) {
        let mut g = self.lock();
        #[cfg(test)]
        self.counted
            .appends
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (first, mut at) = (g.next_seq, g.appended);
        for data in items {
            match self.append_one(&mut g, data) {
                Ok((_, end)) => at = end,
                Err(refused) => return (first..g.next_seq, at, Some(refused)),
            }
        }
        (first..g.next_seq, at, None)
    }

    /// [`append_item`](Self::append_item) under the lock already taken.
    fn append_one(&self, g: &mut Inner, data: &[u8]) -> Result<(u64, Position), Refused> {
        let seq = g.next_seq;
        let rec = Record::Item { seq, data };
        let len = record::encoded_len(&rec) as u64;
        // Room for this item's resolution, and every other's, stays free.
        let keep = RESOLUTION_BYTES * (g.live + 1);
        if let Some(limit) = self.max_bytes {
            let header = if Self::rolls(g, len + keep) {
                SEGMENT_HEADER as u64
            } else {
                0
            };
            let bytes = g.total_bytes + len + header;
            // One item always fits in an empty log, however large.
            if bytes > limit && g.total_bytes > SEGMENT_HEADER as u64 {
                return Err(Refused::Full(Full { bytes, limit }));
            }
        }
        // A segment this record starts begins at `seq`: count it after.
        let at = self.append(g, &rec, len, keep).map_err(Refused::Io)?;
        g.next_seq += 1;
        g.live += 1;
        g.appended_data = at;
        if let Some(s) = g.segments.back_mut() {
            s.live += 1;
            s.data_end = s.bytes;
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
        // The room kept for these items' resolutions takes it.
        match self.append(&mut g, &rec, len, 0) {
            Ok(at) => {
                g.appended_data = at;
                if let Some(s) = g.segments.back_mut() {
                    s.data_end = s.bytes;
                }
            }
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "durable buffer: cannot record resolved items; after a crash they are sent again");
            }
        }
        for &seq in seqs {
            self.release(&mut g, seq);
        }
        self.collect(&mut g);
    }

    /// Forgets an item that `add` refused after appending it: it was
    /// handed back, so it no longer keeps its segment alive.
    pub(crate) fn forget(&self, seq: u64) {
        let mut g = self.lock();
        self.release(&mut g, seq);
        self.collect(&mut g);
    }

    /// Item `seq` no longer keeps its segment alive.
    fn release(&self, g: &mut Inner, seq: u64) {
        if let Some(s) = g.segments.iter_mut().rev().find(|s| s.first_seq <= seq) {
            debug_assert!(s.live > 0, "seq {seq} resolved twice");
            if s.live > 0 {
                s.live -= 1;
                g.live = g.live.saturating_sub(1);
            }
        }
    }

    /// Records that item `seq` failed with `error` and waits for the
    /// caller: after a crash it goes to the dead letters, not to replay.
    pub(crate) fn failed(&self, seq: u64, error: &str) {
        let mut g = self.lock();
        let rec = Record::Failed { seq, error };
        let len = record::encoded_len(&rec) as u64;
        let keep = RESOLUTION_BYTES * g.live;
        match self.append(&mut g, &rec, len, keep) {
            Ok(at) => {
                g.appended_data = at;
                if let Some(s) = g.segments.back_mut() {
                    s.data_end = s.bytes;
                }
            }
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), seq, error = %e, "durable buffer: cannot record a failed item; after a crash it is sent again");
            }
        }
    }

    /// Whether `len` bytes do not fit the open segment (or none is open).
    fn rolls(g: &Inner, len: u64) -> bool {
        match (&g.open, g.segments.back()) {
            (Some(open), Some(s)) => s.bytes + len > open.capacity() as u64,
            _ => true,
        }
    }

    /// Copies `rec` (`len` bytes) into the mapped segment, first creating
    /// a new one when it does not fit with `keep` bytes left over (or
    /// none is mapped yet).
    fn append(&self, g: &mut Inner, rec: &Record<'_>, len: u64, keep: u64) -> io::Result<Position> {
        if Self::rolls(g, len + keep) {
            self.roll(g, len + keep)?;
        }
        let Inner {
            scratch,
            open,
            segments,
            ..
        } = g;
        scratch.clear();
        record::encode(rec, scratch);
        let (Some(open), Some(segment)) = (open.as_mut(), segments.back_mut()) else {
            return Err(io::Error::other("no segment is open"));
        };
        if !open.write(segment.bytes as usize, scratch) {
            return Err(io::Error::other("a record did not fit its segment"));
        }
        segment.bytes += len;
        g.appended += len;
        g.total_bytes += len;
        Ok(g.appended)
    }

    /// Creates, reserves and maps the next segment, large enough for a
    /// record of `len` bytes.
    fn roll(&self, g: &mut Inner, len: u64) -> io::Result<()> {
        #[cfg(test)]
        if self.disk_full.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(io::Error::from_raw_os_error(28));
        }
        let id = g.next_segment;
        let capacity = self.segment_bytes.max(SEGMENT_HEADER as u64 + len);
        let capacity = usize::try_from(capacity).map_err(io::Error::other)?;
        let path = segment_path(&self.dir, id);
        let header = Header {
            first_seq: g.next_seq,
            id,
            flags: 0,
        };
        let mapped = Mapped::create(&path, &header.encode(), capacity)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        g.next_segment += 1;
        g.segments.push_back(Segment {
            id,
            first_seq: g.next_seq,
            live: 0,
            bytes: SEGMENT_HEADER as u64,
            synced_bytes: 0,
            // Nothing to mark until a record follows the header (which
            // has its own checksum).
            marked: SEGMENT_HEADER as u64,
            data_end: SEGMENT_HEADER as u64,
            flusher: Some(mapped.flusher()),
        });
        g.open = Some(mapped);
        g.total_bytes += SEGMENT_HEADER as u64;
        g.dir_dirty = true;
        // The segment before may have no live item left.
        self.collect(g);
        Ok(())
    }

    /// Waits until the record ending at `at` is on disk, syncing it and
    /// every record appended before it when no sync in progress covers
    /// it. `Err`: the sync that covered it failed (an I/O error).
    pub(crate) fn wait_synced(&self, at: Position) -> io::Result<()> {
        let mut g = self.lock();
        loop {
            if let Some((_, e)) = g.failed.iter().find(|(r, _)| r.contains(&(at - 1))) {
                return Err(io::Error::new(e.kind(), e.to_string()));
            }
            if g.synced >= at {
                return Ok(());
            }
            if g.syncing_upto >= at || g.syncing >= SYNCS_IN_FLIGHT {
                g = self
                    .progress
                    .wait(g)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Each sync reaches from what is known on disk to all that is
            // appended: it covers any sync still running before it.
            g.syncing += 1;
            drop(g);
            std::thread::yield_now();
            g = self.lock();
            let (from, upto) = (g.synced, g.appended);
            g.syncing_upto = g.syncing_upto.max(upto);
            let ranges: Vec<(u64, Flusher, u64, u64)> = g
                .segments
                .iter()
                .filter(|s| s.bytes > s.synced_bytes)
                .filter_map(|s| {
                    let f = s.flusher.clone()?;
                    Some((s.id, f, s.synced_bytes, s.bytes))
                })
                .collect();
            let dir_dirty = std::mem::take(&mut g.dir_dirty);
            drop(g);
            #[cfg(test)]
            self.counted
                .syncs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let result = ranges
                .iter()
                .try_for_each(|(_, f, a, b)| f.sync(*a as usize, *b as usize))
                .and_then(|()| {
                    if dir_dirty {
                        File::open(&self.dir)?.sync_all()
                    } else {
                        Ok(())
                    }
                });
            g = self.lock();
            g.syncing -= 1;
            g.synced = g.synced.max(upto);
            match result {
                Ok(()) => {
                    for (id, _, _, to) in ranges {
                        if let Some(s) = g.segments.iter_mut().find(|s| s.id == id) {
                            s.synced_bytes = s.synced_bytes.max(to);
                        }
                    }
                    self.mark_synced(&mut g);
                }
                Err(e) => {
                    tracing::error!(dir = %self.dir.display(), error = %e, "durable buffer: sync failed; the items waiting for it are handed back");
                    g.dir_dirty |= dir_dirty;
                    if g.failed.len() >= 16 {
                        g.failed.pop_front();
                    }
                    g.failed.push_back((from..upto, Arc::new(e)));
                }
            }
            self.progress.notify_all();
        }
    }

    /// After a sync: a marker saying how far the open segment is on disk,
    /// when the sync took data the last marker did not cover. Only where
    /// it fits beside the room kept for resolutions: a marker never rolls
    /// a segment here (see [`Log::sync`] for what stands in for it).
    fn mark_synced(&self, g: &mut Inner) {
        let Some(s) = g.segments.back() else { return };
        let through = s.synced_bytes.min(s.bytes);
        if g.open.is_none() || s.data_end.min(through) <= s.marked {
            return;
        }
        let rec = Record::Synced { through };
        let len = record::encoded_len(&rec) as u64;
        let keep = RESOLUTION_BYTES * g.live;
        if Self::rolls(g, len + keep) {
            return;
        }
        if self.append(g, &rec, len, keep).is_ok()
            && let Some(s) = g.segments.back_mut()
        {
            s.marked = through;
        }
    }

    /// Syncs everything appended so far, and what says so: the sync
    /// marker, or, where the open segment had no room left for one, a new
    /// segment (damage in a segment before the last is never taken for a
    /// torn tail). Without either, recovery would take damage to the
    /// records after the last marker for a write the crash interrupted.
    pub(crate) fn sync(&self) -> io::Result<()> {
        let at = self.lock().appended;
        if at == 0 {
            return Ok(());
        }
        self.wait_synced(at)?;
        {
            let mut g = self.lock();
            let unmarked = g.segments.back().is_some_and(|s| s.data_end > s.marked);
            if unmarked && g.open.is_some() && g.synced >= g.appended_data {
                let keep = RESOLUTION_BYTES * g.live;
                if let Err(e) = self.roll(&mut g, keep) {
                    tracing::debug!(dir = %self.dir.display(), error = %e, "durable buffer: no room for a sync marker");
                }
            }
        }
        let at = self.lock().appended;
        self.wait_synced(at)
    }

    /// `true` when data (not only markers) was appended since the last sync.
    pub(crate) fn unsynced(&self) -> bool {
        let g = self.lock();
        g.appended_data > g.synced
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

    /// Deletes the oldest segments whose items are all resolved, in order
    /// (a segment's resolutions may be about items of older ones, so none
    /// goes before them); never the last, which records go to.
    fn collect(&self, g: &mut Inner) {
        let mut freed = false;
        while g.segments.len() > 1 {
            let Some(front) = g.segments.front() else {
                break;
            };
            if front.live > 0 {
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

#[cfg(test)]
mod tests {
    use super::super::recover::recover;
    use super::*;

    fn open(dir: &Path, segment_bytes: u64) -> (Log, Recovered) {
        let recovered = recover(dir).expect("recover");
        let log = Log::open(dir, None, segment_bytes, &recovered).expect("open");
        (log, recovered)
    }

    fn add(log: &Log, data: &[u8]) -> u64 {
        let (seq, _) = log.append_item(data).expect("room");
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
        // A few records of 41 bytes per segment, beside the room kept for
        // resolutions.
        let (log, _) = open(dir.path(), SEGMENT_HEADER as u64 + 8 * 41);
        // The items of each segment, by segment id.
        let mut groups: Vec<(u64, Vec<u64>)> = Vec::new();
        for _ in 0..9 {
            let seq = add(&log, &[7_u8; 20]);
            let id = log.live().last().expect("a segment").0;
            match groups.last_mut() {
                Some((last, seqs)) if *last == id => seqs.push(seq),
                _ => groups.push((id, vec![seq])),
            }
        }
        assert!(groups.len() >= 3, "{groups:?}");
        let exists = |id: u64| segment_path(dir.path(), id).exists();
        // The middle segment's items first: it must wait for the first.
        log.resolve(&groups[1].1);
        assert!(
            exists(groups[0].0) && exists(groups[1].0),
            "{:?}",
            log.live()
        );
        log.resolve(&groups[0].1);
        assert!(
            !exists(groups[0].0) && !exists(groups[1].0),
            "both old ones gone: {:?}",
            log.live()
        );
        for (_, seqs) in &groups[2..] {
            log.resolve(seqs);
        }
        log.sync().expect("sync");
        drop(log);
        let (_, found) = open(dir.path(), SEGMENT_BYTES);
        assert!(found.unresolved.is_empty());
    }

    /// Issue 30, defect 2: with the disk full, items that were written
    /// must still be recorded as resolved, or the next open sends them
    /// again over what others wrote since.
    #[test]
    fn a_full_disk_refuses_new_items_but_never_the_record_of_a_resolution() {
        let dir = tempfile::tempdir().expect("dir");
        let (log, _) = open(dir.path(), SEGMENT_HEADER as u64 + 1000);
        let mut seqs = vec![add(&log, &[3_u8; 20])];
        // Fill the open segment until the next item needs a new one,
        // which the full disk refuses.
        log.disk_full
            .store(true, std::sync::atomic::Ordering::Relaxed);
        loop {
            match log.append_item(&[3_u8; 20]) {
                Ok((seq, _)) => seqs.push(seq),
                Err(Refused::Io(e)) => {
                    assert_eq!(e.raw_os_error(), Some(28), "{e}");
                    break;
                }
                Err(Refused::Full(f)) => panic!("{f:?}"),
            }
        }
        assert!(seqs.len() > 5, "{}", seqs.len());
        // Every item is written and resolved one at a time, the worst
        // case for room (one range each).
        for &seq in &seqs {
            log.resolve(&[seq]);
        }
        // Still full at close.
        log.sync().expect("sync");
        drop(log);
        let (_, found) = open(dir.path(), SEGMENT_BYTES);
        assert!(
            found.unresolved.is_empty(),
            "{} written items would be sent again",
            found.unresolved.len()
        );
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
                            log.wait_synced(at).expect("synced");
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
        let log = Log::open(dir.path(), Some(3 * seg), seg, &recovered).expect("open");
        let mut seqs = Vec::new();
        let full = loop {
            match log.append_item(&[1_u8; 20]) {
                Ok((seq, _)) => seqs.push(seq),
                Err(Refused::Full(full)) => break full,
                Err(Refused::Io(e)) => panic!("{e}"),
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
