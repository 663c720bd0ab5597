//! Reading a durable log back on open: every segment in order, the items
//! no record resolved, a torn tail cut, anything else that does not add up
//! refused with the file, the field and what was expected.
//!
//! What recovery checks, so that no damage is taken for data:
//! - segment ids follow each other (a missing file in the middle is
//!   refused, not skipped);
//! - each header's checksum, and that its id is the file name's and its
//!   first sequence number follows the previous segment's items;
//! - each record's checksum, and that item sequence numbers follow each
//!   other (a repaired segment may skip the numbers of the items it lost,
//!   never go back);
//! - damage is cut as a torn tail only in the last segment, after its last
//!   sync marker (bytes before it were on disk: they were damaged, not
//!   torn), with no sound record behind it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::record::{self, BadHeader, FORMAT_VERSION, Read, Record, SEGMENT_HEADER};

/// An item accepted before and not resolved: to replay, or, when it had
/// failed and nobody collected it, to the dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unresolved {
    pub(crate) data: Vec<u8>,
    /// The error it failed with, if it had failed.
    pub(crate) failed: Option<String>,
    /// The id of the segment its record is in.
    pub(crate) segment: u64,
}

/// One segment file found on open.
#[derive(Debug, Clone)]
pub(crate) struct FoundSegment {
    pub(crate) id: u64,
    pub(crate) first_seq: u64,
    pub(crate) bytes: u64,
}

/// What a log directory held.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) unresolved: BTreeMap<u64, Unresolved>,
    pub(crate) segments: Vec<FoundSegment>,
    /// The next sequence number to hand out.
    pub(crate) next_seq: u64,
    /// The next segment id.
    pub(crate) next_segment: u64,
    /// Bytes cut from a torn tail, if any: (file, offset, bytes).
    pub(crate) cut: Option<(PathBuf, u64, u64)>,
}

/// The path of segment `id` in `dir`.
pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// The segment files of `dir`, by id.
pub(crate) fn segment_ids(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = name
            .strip_suffix(".seg")
            .filter(|s| s.len() == 20)
            .and_then(|s| s.parse::<u64>().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// An error naming the file, where, and what was wrong; nothing was
/// replayed.
pub(crate) fn refused(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "durable buffer {}: {what}. Nothing was replayed; `uds3-buffer-repair {}` keeps \
             every sound record and moves the damaged bytes to a quarantine file",
            path.display(),
            path.parent()
                .map_or_else(String::new, |d| d.display().to_string()),
        ),
    )
}

/// What is wrong with a header, in words.
pub(crate) fn header_problem(bad: BadHeader) -> String {
    match bad {
        BadHeader::Short => "a segment shorter than its header".to_owned(),
        BadHeader::Magic => "not a uds3-batch segment (field magic, bytes 0-7)".to_owned(),
        BadHeader::Version(v) => format!(
            "format version {v} (field version, byte 8; this release reads version \
             {FORMAT_VERSION}): open it with the release that wrote it and let it drain"
        ),
        BadHeader::Checksum => "the segment header fails its checksum (bytes 0-31: magic, \
             version, flags, first sequence number, segment id)"
            .to_owned(),
        BadHeader::Flags(f) => format!("unknown flags {f:#04x} in the segment header (byte 9)"),
    }
}

/// Reads every segment of `dir` (created if missing); a segment ends at
/// its first byte of unused, zeroed room. The last segment's torn tail (a
/// damaged record after the segment's last sync marker with no sound
/// record behind it, as a crash or a power loss leaves it) is cut from
/// the file with a warning; anything else that does not check out is an
/// error naming the file, the field or offset, and what was expected.
pub(crate) fn recover(dir: &Path) -> io::Result<Recovered> {
    fs::create_dir_all(dir)?;
    let ids = segment_ids(dir)?;
    if ids.last() == Some(&u64::MAX) {
        return Err(refused(
            &segment_path(dir, u64::MAX),
            "field segment id (the file name): the last number there is, which no log hands \
             out (no segment could follow it)",
        ));
    }
    for pair in ids.windows(2) {
        if pair[1] != pair[0] + 1 {
            return Err(refused(
                &segment_path(dir, pair[0] + 1),
                &format!(
                    "missing: segments {} to {} are there, so their items' records are lost",
                    pair[0], pair[1]
                ),
            ));
        }
    }
    let mut out = Recovered {
        next_seq: 1,
        ..Recovered::default()
    };
    // The first sequence number the next segment must have, and whether
    // the segment before it was repaired (gaps allowed).
    let mut expected: Option<(u64, bool)> = None;
    let last = ids.last().copied();
    for id in ids {
        let path = segment_path(dir, id);
        let bytes = fs::read(&path)?;
        let is_last = Some(id) == last;
        if bytes.len() < SEGMENT_HEADER && is_last {
            // Created, header not yet complete: no record was in it.
            fs::remove_file(&path)?;
            out.next_segment = id + 1;
            continue;
        }
        let header = record::read_header(&bytes).map_err(|b| refused(&path, &header_problem(b)))?;
        if header.id != id {
            return Err(refused(
                &path,
                &format!(
                    "field segment id (bytes 24-31): the header says {}, the file name {id}",
                    header.id
                ),
            ));
        }
        if let Some((want, gaps)) = expected
            && (header.first_seq < want || (!gaps && header.first_seq != want))
        {
            return Err(refused(
                &path,
                &format!(
                    "field first sequence number (bytes 16-23): expected {want} after the segment \
                     before, found {}",
                    header.first_seq
                ),
            ));
        }
        let mut next_item = header.first_seq;
        // How far the last sync marker says this segment was on disk.
        let mut synced_through = 0_u64;
        let mut at = SEGMENT_HEADER;
        while at < bytes.len() {
            let rest = &bytes[at..];
            if let Read::Record(rec, len) = record::read(rest) {
                match rec {
                    // No number follows it: a log never hands it out.
                    Record::Item { seq: u64::MAX, .. } => {
                        return Err(refused(
                            &path,
                            &format!(
                                "field item sequence number of the record at byte {at}: {}, the \
                                 last number there is, which no log hands out",
                                u64::MAX
                            ),
                        ));
                    }
                    Record::Item { seq, .. }
                        if seq < next_item || (!header.salvaged() && seq != next_item) =>
                    {
                        return Err(refused(
                            &path,
                            &format!(
                                "field item sequence number of the record at byte {at}: expected \
                                 {next_item}, found {seq}"
                            ),
                        ));
                    }
                    Record::Item { seq, .. } => next_item = seq + 1,
                    Record::Synced { through } if through > at as u64 => {
                        return Err(refused(
                            &path,
                            &format!(
                                "the sync marker at byte {at} claims bytes up to {through}, past itself"
                            ),
                        ));
                    }
                    Record::Synced { through } => synced_through = synced_through.max(through),
                    _ => {}
                }
                apply(&mut out, rec, id);
                at += len;
                continue;
            }
            // Segments are reserved at full size: zeros are room not used.
            if rest.iter().all(|&b| b == 0) {
                break;
            }
            if (at as u64) < synced_through {
                return Err(refused(
                    &path,
                    &format!(
                        "a damaged record at byte {at}, before the sync marker that says bytes up \
                         to {synced_through} were on disk: it was written whole and changed since"
                    ),
                ));
            }
            // A record cut short by a crash, or pages a power loss did
            // not write, end the log: no sound record follows them.
            let followed =
                (1..rest.len()).any(|i| matches!(record::read(&rest[i..]), Read::Record(..)));
            if followed || !is_last {
                return Err(refused(
                    &path,
                    &format!(
                        "a damaged record at byte {at} with sound records after it{}",
                        if is_last {
                            ""
                        } else {
                            " (not the last segment)"
                        }
                    ),
                ));
            }
            let cut = (bytes.len() - at) as u64;
            tracing::warn!(
                file = %path.display(),
                offset = at,
                bytes = cut,
                "durable buffer: torn tail cut (a write the crash interrupted, after the last sync); the records before it are replayed"
            );
            fs::OpenOptions::new()
                .write(true)
                .open(&path)?
                .set_len(at as u64)?;
            out.cut = Some((path.clone(), at as u64, cut));
            break;
        }
        out.next_seq = out.next_seq.max(next_item);
        expected = Some((next_item, header.salvaged()));
        out.segments.push(FoundSegment {
            id,
            first_seq: header.first_seq,
            bytes: at as u64,
        });
        out.next_segment = id + 1;
    }
    Ok(out)
}

fn apply(out: &mut Recovered, record: Record<'_>, segment: u64) {
    match record {
        Record::Item { seq, data } => {
            out.unresolved.insert(
                seq,
                Unresolved {
                    data: data.to_vec(),
                    failed: None,
                    segment,
                },
            );
        }
        Record::Resolved(ranges) => {
            for (first, count) in ranges {
                // By the items there, not by the range: a range is up to
                // 2^32 numbers long.
                let end = first.saturating_add(u64::from(count));
                let seqs: Vec<u64> = out.unresolved.range(first..end).map(|(s, _)| *s).collect();
                for seq in seqs {
                    out.unresolved.remove(&seq);
                }
            }
        }
        Record::Failed { seq, error } => {
            if let Some(item) = out.unresolved.get_mut(&seq) {
                item.failed = Some(error.to_owned());
            }
        }
        Record::Synced { .. } => {}
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::log::Log;
    use super::*;

    /// A small log with items in several segments, some resolved, one
    /// failed, closed cleanly; returns its directory and what a reopen
    /// must find unresolved. Item `i` (0-based) has sequence number
    /// `i + 1` and 24 bytes `b'a' + i`.
    pub(crate) fn small_log() -> (tempfile::TempDir, BTreeMap<u64, Unresolved>) {
        let dir = tempfile::tempdir().expect("dir");
        let log = Log::open(
            dir.path(),
            None,
            300,
            &recover(dir.path()).expect("recover"),
        )
        .expect("open");
        let seqs: Vec<u64> = (0..8_u8)
            .map(|i| log.append_item(&[b'a' + i; 24]).expect("room").0)
            .collect();
        log.resolve(&[seqs[0], seqs[2], seqs[5]]);
        log.failed(seqs[3], "HTTP 400");
        log.sync().expect("sync");
        drop(log);
        let found = recover(dir.path()).expect("reopen").unresolved;
        assert_eq!(found.len(), 5, "{found:?}");
        (dir, found)
    }

    /// Writes segment 0 of `dir`: a header with `first_seq`, then `records`.
    pub(crate) fn write_segment(dir: &Path, first_seq: u64, records: &[Record<'_>]) {
        let mut bytes = record::Header {
            first_seq,
            id: 0,
            flags: 0,
        }
        .encode()
        .to_vec();
        for rec in records {
            record::encode(rec, &mut bytes);
        }
        fs::write(segment_path(dir, 0), &bytes).expect("write");
    }

    pub(crate) fn copy_dir(from: &Path) -> tempfile::TempDir {
        let to = tempfile::tempdir().expect("dir");
        for id in segment_ids(from).expect("ls") {
            fs::copy(segment_path(from, id), segment_path(to.path(), id)).expect("copy");
        }
        to
    }

    fn message(e: &io::Error) -> String {
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        e.to_string()
    }

    #[test]
    fn a_changed_first_sequence_number_is_refused_with_file_and_field() {
        let (dir, _) = small_log();
        let ids = segment_ids(dir.path()).expect("ls");
        assert!(ids.len() >= 3, "{ids:?}");
        let path = segment_path(dir.path(), ids[1]);
        let mut bytes = fs::read(&path).expect("read");
        // Byte 17: the second byte of the first sequence number.
        bytes[17] ^= 0x01;
        fs::write(&path, &bytes).expect("write");
        let m = message(&recover(dir.path()).expect_err("refused"));
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(m.contains(name) && m.contains("checksum"), "{m}");
    }

    #[test]
    fn a_header_with_a_sound_checksum_that_does_not_follow_is_refused() {
        let (dir, _) = small_log();
        let ids = segment_ids(dir.path()).expect("ls");
        let path = segment_path(dir.path(), ids[1]);
        let mut bytes = fs::read(&path).expect("read");
        let mut header = record::read_header(&bytes).expect("header");
        header.first_seq += 256;
        bytes[..SEGMENT_HEADER].copy_from_slice(&header.encode());
        fs::write(&path, &bytes).expect("write");
        let m = message(&recover(dir.path()).expect_err("refused"));
        assert!(
            m.contains("first sequence number") && m.contains("expected"),
            "{m}"
        );
    }

    #[test]
    fn a_missing_middle_segment_and_a_renamed_one_are_refused() {
        let (dir, _) = small_log();
        let ids = segment_ids(dir.path()).expect("ls");
        let gone = copy_dir(dir.path());
        fs::remove_file(segment_path(gone.path(), ids[1])).expect("rm");
        let m = message(&recover(gone.path()).expect_err("refused"));
        assert!(m.contains("missing"), "{m}");
        let renamed = copy_dir(dir.path());
        let last = *ids.last().expect("ids");
        fs::rename(
            segment_path(renamed.path(), last),
            segment_path(renamed.path(), last + 1),
        )
        .expect("mv");
        let m = message(&recover(renamed.path()).expect_err("refused"));
        assert!(m.contains("missing") || m.contains("segment id"), "{m}");
    }

    /// Issue 30's goal: flipping any byte of a log, one at a time, either
    /// refuses the open or recovers exactly what the log held.
    #[test]
    fn every_flipped_byte_is_refused_or_recovers_every_record() {
        let (dir, want) = small_log();
        let ids = segment_ids(dir.path()).expect("ls");
        let (mut refusals, mut recoveries) = (0, 0);
        for &id in &ids {
            let len = fs::metadata(segment_path(dir.path(), id))
                .expect("meta")
                .len() as usize;
            for at in 0..len {
                for flip in [0x01_u8, 0xff] {
                    let copy = copy_dir(dir.path());
                    let path = segment_path(copy.path(), id);
                    let mut bytes = fs::read(&path).expect("read");
                    bytes[at] ^= flip;
                    fs::write(&path, &bytes).expect("write");
                    match recover(copy.path()) {
                        Err(e) => {
                            message(&e);
                            refusals += 1;
                        }
                        Ok(found) => {
                            assert_eq!(
                                found.unresolved, want,
                                "segment {id} byte {at} ^ {flip:#x}: recovered something else"
                            );
                            recoveries += 1;
                        }
                    }
                }
            }
        }
        assert!(refusals > 0 && recoveries > 0, "{refusals} {recoveries}");
    }

    /// Found by the `segment_recovery` fuzz target: an item numbered
    /// `u64::MAX` (no number can follow it; a log never hands it out)
    /// overflowed `seq + 1` (a panic where overflow is checked, a wrap to
    /// 0 elsewhere). It is refused with the file and field named.
    #[test]
    fn an_item_with_the_last_sequence_number_is_refused_not_a_panic() {
        let dir = tempfile::tempdir().expect("dir");
        write_segment(
            dir.path(),
            u64::MAX,
            &[Record::Item {
                seq: u64::MAX,
                data: b"{}",
            }],
        );
        let m = message(&recover(dir.path()).expect_err("refused"));
        assert!(
            m.contains("00000000000000000000.seg") && m.contains("sequence number"),
            "{m}"
        );
    }

    /// Found by the `segment_recovery` fuzz target: a segment file
    /// numbered `u64::MAX` (a log never gets there; a renamed file)
    /// overflowed `id + 1`, the next segment's id. It is refused with the
    /// file named.
    #[test]
    fn a_segment_with_the_last_id_is_refused_not_a_panic() {
        let dir = tempfile::tempdir().expect("dir");
        let header = record::Header {
            first_seq: 1,
            id: u64::MAX,
            flags: 0,
        };
        let path = segment_path(dir.path(), u64::MAX);
        fs::write(&path, header.encode()).expect("write");
        let m = message(&recover(dir.path()).expect_err("refused"));
        assert!(
            m.contains("18446744073709551615.seg") && m.contains("segment id"),
            "{m}"
        );
    }
}
