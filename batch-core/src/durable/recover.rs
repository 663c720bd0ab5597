//! Reading a durable log back on open: every segment in order, the items
//! no record resolved, a torn tail cut, corruption refused.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::record::{self, FORMAT_VERSION, MAGIC, Read, Record, SEGMENT_HEADER};

/// An item accepted before and not resolved: to replay, or, when it had
/// failed and nobody collected it, to the dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unresolved {
    pub(crate) data: Vec<u8>,
    /// The error it failed with, if it had failed.
    pub(crate) failed: Option<String>,
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
fn segment_ids(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = name
            .strip_suffix(".seg")
            .and_then(|s| s.parse::<u64>().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

fn corrupt(path: &Path, offset: usize, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "durable buffer {}: {what} at byte {offset}; the records after it cannot be trusted. \
             Nothing was replayed; move the file away to start without it",
            path.display()
        ),
    )
}

/// Reads every segment of `dir` (created if missing); a segment ends at
/// its first byte of unused, zeroed room. The last segment's torn tail (a
/// damaged record no sound record follows, as a crash or a power loss
/// leaves it) is cut from the file with a warning; a damaged record
/// anywhere else, or one a sound record follows, is an error naming the
/// file and offset, never skipped.
pub(crate) fn recover(dir: &Path) -> io::Result<Recovered> {
    fs::create_dir_all(dir)?;
    let ids = segment_ids(dir)?;
    let mut out = Recovered {
        next_seq: 1,
        ..Recovered::default()
    };
    let last = ids.last().copied();
    for id in ids {
        let path = segment_path(dir, id);
        let bytes = fs::read(&path)?;
        let is_last = Some(id) == last;
        if bytes.len() < SEGMENT_HEADER {
            if is_last {
                // Created, header not yet complete: no record was in it.
                fs::remove_file(&path)?;
                out.next_segment = id + 1;
                continue;
            }
            return Err(corrupt(&path, 0, "a segment shorter than its header"));
        }
        if bytes[..8] != MAGIC {
            return Err(corrupt(&path, 0, "not a uds3-batch segment (bad magic)"));
        }
        if bytes[8] != FORMAT_VERSION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "durable buffer {}: format version {} (this release reads version {FORMAT_VERSION}); \
                     open it with the release that wrote it and let it drain",
                    path.display(),
                    bytes[8]
                ),
            ));
        }
        let first_seq = u64::from_le_bytes(bytes[16..24].try_into().unwrap_or_default());
        out.next_seq = out.next_seq.max(first_seq);
        let mut at = SEGMENT_HEADER;
        while at < bytes.len() {
            let rest = &bytes[at..];
            if let Read::Record(rec, len) = record::read(rest) {
                apply(&mut out, rec);
                at += len;
                continue;
            }
            // Segments are reserved at full size: zeros are room not used.
            if rest.iter().all(|&b| b == 0) {
                break;
            }
            // A record cut short by a crash, or pages a power loss did
            // not write, end the log: no sound record follows them.
            let torn =
                !(1..rest.len()).any(|i| matches!(record::read(&rest[i..]), Read::Record(..)));
            if !(torn && is_last) {
                return Err(corrupt(&path, at, "a damaged record"));
            }
            let cut = (bytes.len() - at) as u64;
            tracing::warn!(
                file = %path.display(),
                offset = at,
                bytes = cut,
                "durable buffer: torn tail cut (a write the crash interrupted); the records before it are replayed"
            );
            fs::OpenOptions::new()
                .write(true)
                .open(&path)?
                .set_len(at as u64)?;
            out.cut = Some((path.clone(), at as u64, cut));
            break;
        }
        out.segments.push(FoundSegment {
            id,
            first_seq,
            bytes: at as u64,
        });
        out.next_segment = id + 1;
    }
    Ok(out)
}

fn apply(out: &mut Recovered, record: Record<'_>) {
    match record {
        Record::Item { seq, data } => {
            out.next_seq = out.next_seq.max(seq + 1);
            out.unresolved.insert(
                seq,
                Unresolved {
                    data: data.to_vec(),
                    failed: None,
                },
            );
        }
        Record::Resolved(ranges) => {
            for (first, count) in ranges {
                for seq in first..first + u64::from(count) {
                    out.unresolved.remove(&seq);
                }
            }
        }
        Record::Failed { seq, error } => {
            if let Some(item) = out.unresolved.get_mut(&seq) {
                item.failed = Some(error.to_owned());
            }
        }
    }
}
