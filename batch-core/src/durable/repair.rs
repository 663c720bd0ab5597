//! Salvaging a damaged durable log: every sound record of a damaged
//! segment goes to a new segment in its place, the damaged bytes to a
//! quarantine file, so that an open refused for damage can go on with
//! everything that can still be trusted, and a person can look at the
//! rest. Run by `uds3-buffer-repair DIR` (this crate's binary, feature
//! `durable`) while no batcher has the directory open.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::record::{
    self, BadHeader, FORMAT_VERSION, Header, Read, Record, SALVAGED, SEGMENT_HEADER,
};
use super::recover::{header_problem, segment_ids, segment_path};

/// The folder in the buffer directory where [`repair`] puts damaged bytes.
pub const QUARANTINE_DIR: &str = "quarantine";

/// What [`repair`] did to a log directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// Segment files read.
    pub segments: usize,
    /// The segments rewritten from their sound records, oldest first.
    pub repaired: Vec<RepairedSegment>,
}

/// One segment [`repair`] rewrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairedSegment {
    /// The segment file (rewritten in place).
    pub file: PathBuf,
    /// Why: the header's or the first damaged record's problem.
    pub problem: String,
    /// Sound records kept (items, resolutions, failures).
    pub records_kept: usize,
    /// Items among them.
    pub items_kept: usize,
    /// Sequence numbers of items whose records were damaged, as
    /// `(first, count)` ranges: those items are lost, and the caller
    /// must send them again from its own source.
    pub items_lost: Vec<(u64, u64)>,
    /// Damaged bytes moved to [`QUARANTINE_DIR`].
    pub quarantined_bytes: u64,
    /// The quarantine files written, one per damaged stretch.
    pub quarantine: Vec<PathBuf>,
}

/// Rewrites every damaged segment of the durable buffer in `dir` from its
/// sound records, and writes the damaged bytes to
/// `dir/quarantine/<segment>-<offset>.bin`. Sound segments are left as
/// they are. Afterwards a batcher opens the directory and replays the
/// kept items; an item whose resolution record was damaged is sent again
/// (every sink takes a replay as such), an item whose own record was
/// damaged is lost and named in the report by its sequence number.
///
/// Refuses while a batcher has the directory open, and refuses a
/// segment of another format version (open it with the release that
/// wrote it).
pub fn repair(dir: impl AsRef<Path>) -> io::Result<RepairReport> {
    let dir = dir.as_ref();
    let _lock = super::lock_dir(dir, Duration::ZERO, "a batcher has it open; close it first")?;
    let ids = segment_ids(dir)?;
    let mut report = RepairReport {
        segments: ids.len(),
        ..RepairReport::default()
    };
    // The first sequence number the next segment should have, and
    // whether the segment before may have lost items at its end.
    let mut expected: Option<(u64, bool)> = None;
    for id in ids {
        let path = segment_path(dir, id);
        let bytes = fs::read(&path)?;
        let salvage = salvage(&bytes, id, expected).map_err(|what| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("durable buffer {}: {what}", path.display()),
            )
        })?;
        // Items lost at the end of the segment before, repaired.
        if let (Some((want, true)), Some(before)) = (expected, report.repaired.last_mut())
            && salvage.header.first_seq > want
        {
            before
                .items_lost
                .push((want, salvage.header.first_seq - want));
        }
        expected = Some((salvage.next_item, salvage.header.salvaged()));
        let Some(problem) = salvage.problem.clone() else {
            continue;
        };
        report
            .repaired
            .push(write_salvaged(dir, &path, id, salvage, problem)?);
    }
    Ok(report)
}

/// What one segment held that can be trusted.
struct Salvage {
    header: Header,
    /// Sound records, as their bytes, in order (sync markers left out:
    /// their offsets mean nothing in the rewritten file).
    kept: Vec<Vec<u8>>,
    items_kept: usize,
    items_lost: Vec<(u64, u64)>,
    /// Damaged stretches: (offset, bytes).
    damaged: Vec<(usize, Vec<u8>)>,
    /// The sequence number after the last item kept.
    next_item: u64,
    /// The first thing found wrong; `None`: the segment is sound.
    problem: Option<String>,
}

/// Reads segment `id`'s `bytes`, keeping what is sound. `expected`: the
/// first sequence number the segment should have, from the one before,
/// and whether it may be higher (the one before was repaired).
fn salvage(bytes: &[u8], id: u64, expected: Option<(u64, bool)>) -> Result<Salvage, String> {
    let mut problem = None;
    let mut damaged = Vec::new();
    let header = match record::read_header(bytes) {
        Ok(h) if h.id != id => {
            problem = Some(format!("the header names segment {}, the file {id}", h.id));
            None
        }
        Ok(h)
            if expected.is_some_and(|(want, gaps)| {
                h.first_seq < want || (!gaps && h.first_seq != want)
            }) =>
        {
            problem = Some(format!(
                "the header's first sequence number {} does not follow the segment before",
                h.first_seq
            ));
            None
        }
        Ok(h) => Some(h),
        Err(BadHeader::Version(v)) => {
            // Damage to the version byte, when the header is sound with
            // this release's; else a segment of another format.
            let mut ours = bytes[..SEGMENT_HEADER].to_vec();
            ours[8] = FORMAT_VERSION;
            if record::read_header(&ours).is_err() {
                return Err(header_problem(BadHeader::Version(v)));
            }
            problem = Some(format!("a damaged version byte ({v})"));
            None
        }
        Err(bad) => {
            problem = Some(header_problem(bad));
            None
        }
    };
    if header.is_none() {
        damaged.push((0, bytes[..bytes.len().min(SEGMENT_HEADER)].to_vec()));
    }
    let mut kept = Vec::new();
    let mut items: Vec<u64> = Vec::new();
    // No item may go below the header's first number (when sound) or
    // the number the segment before leads to.
    let floor = header.map_or(expected.map_or(0, |(want, _)| want), |h| h.first_seq);
    // Where numbers must follow each other without a gap, the next one.
    let mut next = header.filter(|h| !h.salvaged()).map(|h| h.first_seq);
    let mut at = SEGMENT_HEADER.min(bytes.len());
    while at < bytes.len() {
        let rest = &bytes[at..];
        match record::read(rest) {
            // A marker that claims bytes past itself is nonsense however
            // sound: quarantined. Others mean nothing in a rewritten file.
            Read::Record(Record::Synced { through }, len) => {
                if through > at as u64 {
                    problem.get_or_insert_with(|| {
                        format!(
                            "the sync marker at byte {at} claims bytes up to {through}, past itself"
                        )
                    });
                    damaged.push((at, rest[..len].to_vec()));
                }
                at += len;
            }
            Read::Record(rec, len) => {
                if let Record::Item { seq, .. } = rec {
                    // u64::MAX: no number follows it, no log hands it out.
                    if seq == u64::MAX
                        || seq < floor
                        || items.last().is_some_and(|&last| seq <= last)
                    {
                        problem
                            .get_or_insert_with(|| format!("item {seq} out of order at byte {at}"));
                        damaged.push((at, rest[..len].to_vec()));
                        at += len;
                        continue;
                    }
                    if let Some(want) = next
                        && seq != want
                    {
                        problem.get_or_insert_with(|| {
                            format!("item sequence numbers skip from {want} to {seq} at byte {at}")
                        });
                    }
                    next = next.map(|_| seq + 1);
                    items.push(seq);
                }
                kept.push(rest[..len].to_vec());
                at += len;
            }
            _ if rest.iter().all(|&b| b == 0) => break,
            _ => {
                problem.get_or_insert_with(|| format!("a damaged record at byte {at}"));
                // The next sound record, if any, starts the rest.
                let next = (1..rest.len())
                    .find(|&i| matches!(record::read(&rest[i..]), Read::Record(..)))
                    .unwrap_or(rest.len());
                let used = rest[..next]
                    .iter()
                    .rposition(|&b| b != 0)
                    .map_or(0, |i| i + 1);
                damaged.push((at, rest[..used].to_vec()));
                at += next;
            }
        }
    }
    // The first sequence number: the header's when sound; else the one
    // the segment before leads to, or the first item kept.
    let first_seq = header.map_or_else(
        || {
            expected
                .map(|(want, _)| want)
                .or(items.first().copied())
                .unwrap_or(1)
        },
        |h| h.first_seq,
    );
    let first_seq = items.first().map_or(first_seq, |&f| first_seq.min(f));
    let mut items_lost = Vec::new();
    let mut next_item = first_seq;
    let mut gap = |from: u64, to: u64| {
        if to > from && problem.is_some() {
            items_lost.push((from, to - from));
        }
    };
    for &seq in &items {
        gap(next_item, seq);
        next_item = seq + 1;
    }
    let salvaged = header.is_some_and(|h| h.salvaged()) || problem.is_some();
    Ok(Salvage {
        header: Header {
            first_seq,
            id,
            flags: if salvaged { SALVAGED } else { 0 },
        },
        kept,
        items_kept: items.len(),
        items_lost,
        damaged,
        next_item,
        problem,
    })
}

/// Writes the quarantine files, then the salvaged segment over `path`
/// (through a temporary file and a rename, each synced).
fn write_salvaged(
    dir: &Path,
    path: &Path,
    id: u64,
    salvage: Salvage,
    problem: String,
) -> io::Result<RepairedSegment> {
    let quarantine_dir = dir.join(QUARANTINE_DIR);
    fs::create_dir_all(&quarantine_dir)?;
    let mut quarantine = Vec::new();
    let mut quarantined_bytes = 0;
    for (offset, bytes) in &salvage.damaged {
        let file = quarantine_dir.join(format!("{id:020}-{offset}.bin"));
        write_synced(&file, bytes)?;
        quarantined_bytes += bytes.len() as u64;
        quarantine.push(file);
    }
    sync_dir(&quarantine_dir)?;
    let mut out = salvage.header.encode().to_vec();
    for rec in &salvage.kept {
        out.extend_from_slice(rec);
    }
    // Written whole and synced: damage to any of it later is damage.
    let through = out.len() as u64;
    record::encode(&Record::Synced { through }, &mut out);
    let tmp = path.with_extension("seg.repair");
    write_synced(&tmp, &out)?;
    fs::rename(&tmp, path)?;
    sync_dir(dir)?;
    tracing::warn!(
        file = %path.display(),
        problem = %problem,
        kept = salvage.kept.len(),
        quarantined = quarantined_bytes,
        "durable buffer: segment repaired"
    );
    Ok(RepairedSegment {
        file: path.to_owned(),
        problem,
        records_kept: salvage.kept.len(),
        items_kept: salvage.items_kept,
        items_lost: salvage.items_lost,
        quarantined_bytes,
        quarantine,
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::super::recover::recover;
    use super::super::recover::tests::{copy_dir, small_log, write_segment};
    use super::*;

    /// Issue 30: for every byte of a small log flipped (one at a time)
    /// that makes the open refuse, repair makes it open again with every
    /// item whose record is sound, names the items it lost, and invents
    /// none.
    #[test]
    fn after_any_flipped_byte_repair_keeps_every_sound_item() {
        let (dir, want) = small_log();
        let original = |seq: u64| vec![b'a' + (seq - 1) as u8; 24];
        let ids = segment_ids(dir.path()).expect("ls");
        let mut repaired = 0;
        for &id in &ids {
            let len = fs::metadata(segment_path(dir.path(), id))
                .expect("meta")
                .len() as usize;
            for at in 0..len {
                let copy = copy_dir(dir.path());
                let path = segment_path(copy.path(), id);
                let mut bytes = fs::read(&path).expect("read");
                bytes[at] ^= 0x20;
                fs::write(&path, &bytes).expect("write");
                if recover(copy.path()).is_ok() {
                    continue;
                }
                let report = repair(copy.path()).expect("repair");
                assert_eq!(
                    report.repaired.len(),
                    1,
                    "segment {id} byte {at}: {report:?}"
                );
                let fixed = &report.repaired[0];
                assert!(fixed.quarantined_bytes > 0 && !fixed.quarantine.is_empty());
                let found = recover(copy.path())
                    .unwrap_or_else(|e| panic!("segment {id} byte {at}: still refused: {e}"))
                    .unresolved;
                let lost = |seq: u64| {
                    fixed
                        .items_lost
                        .iter()
                        .any(|&(first, n)| (first..first + n).contains(&seq))
                };
                for (seq, item) in &want {
                    assert!(
                        found.get(seq).is_some_and(|f| f.data == item.data) || lost(*seq),
                        "segment {id} byte {at}: item {seq} neither kept nor named lost: {report:?}"
                    );
                }
                for (seq, item) in &found {
                    assert_eq!(
                        item.data,
                        original(*seq),
                        "segment {id} byte {at}: item {seq} made up"
                    );
                }
                repaired += 1;
            }
        }
        assert!(repaired > 100, "{repaired}");
        // A sound log is left alone.
        let report = repair(dir.path()).expect("repair");
        assert!(report.repaired.is_empty(), "{report:?}");
        assert!(!dir.path().join(QUARANTINE_DIR).exists());
    }

    /// Found by the `segment_recovery` fuzz target (issue 30; input in
    /// `fuzz/artifacts/segment_recovery/`): a segment whose records are
    /// all sound but whose item sequence numbers skip one (1, then 3) is
    /// refused by the open; repair rewrites it as salvaged (gaps allowed)
    /// and names the skipped number as lost.
    #[test]
    fn a_skipped_sequence_number_is_repaired_to_an_open() {
        let dir = tempfile::tempdir().expect("dir");
        let items = [1, 3].map(|seq| Record::Item { seq, data: b"{}" });
        write_segment(dir.path(), 1, &items);
        let refused = recover(dir.path()).expect_err("a skipped number is refused");
        assert!(
            refused.to_string().contains("expected 2, found 3"),
            "{refused}"
        );
        let report = repair(dir.path()).expect("repair");
        assert_eq!(report.repaired[0].items_lost, [(2, 1)], "{report:?}");
        let found = recover(dir.path()).expect("repaired: opens");
        assert_eq!(found.unresolved.keys().copied().collect::<Vec<_>>(), [1, 3]);
    }

    /// Found by the `segment_recovery` fuzz target (input in
    /// `fuzz/artifacts/segment_recovery/crash-64b9ac7d...`): an item
    /// numbered `u64::MAX` in a damaged segment overflowed `seq + 1` in
    /// repair (a panic where overflow is checked). Such an item cannot
    /// have been written (no number follows it): it is quarantined as
    /// damage, and the log opens with the others.
    #[test]
    fn an_item_with_the_last_sequence_number_is_quarantined_not_a_panic() {
        let dir = tempfile::tempdir().expect("dir");
        let items = [1, u64::MAX].map(|seq| Record::Item { seq, data: b"{}" });
        write_segment(dir.path(), 1, &items);
        recover(dir.path()).expect_err("refused before the repair");
        let report = repair(dir.path()).expect("repair");
        assert_eq!(report.repaired.len(), 1, "{report:?}");
        assert!(report.repaired[0].quarantined_bytes > 0, "{report:?}");
        let found = recover(dir.path()).expect("repaired: opens");
        assert_eq!(found.unresolved.keys().copied().collect::<Vec<_>>(), [1]);
    }

    /// Seen while reading repair against recovery for the fuzz finding
    /// above: a sound sync marker that claims bytes past itself is
    /// refused by the open; repair quarantines the marker.
    #[test]
    fn a_sync_marker_past_itself_is_repaired_to_an_open() {
        let dir = tempfile::tempdir().expect("dir");
        write_segment(
            dir.path(),
            1,
            &[
                Record::Item {
                    seq: 1,
                    data: b"{}",
                },
                Record::Synced { through: 10_000 },
            ],
        );
        let refused = recover(dir.path()).expect_err("refused");
        assert!(refused.to_string().contains("past itself"), "{refused}");
        repair(dir.path()).expect("repair");
        let found = recover(dir.path()).expect("repaired: opens");
        assert_eq!(found.unresolved.keys().copied().collect::<Vec<_>>(), [1]);
    }
}
