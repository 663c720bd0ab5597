//! The on-disk shape of the durable log: a segment header, then records,
//! each `[len: u32][!len: u32][crc32 of body: u32][body]`, little endian.
//!
//! Every byte recovery trusts is covered by a checksum: the header has its
//! own CRC over all its fields, each record its body's. The length is
//! stored twice so that a damaged length is told from a record cut short
//! by a crash. A write that never finished (a crash tore it) is told from
//! one that finished and was damaged later by the [`Record::Synced`]
//! markers: a sync that reached the disk is followed by a marker naming
//! how far it reached, so damage before the last marker of a segment is
//! damage (the bytes were on disk), and only damage after it, with no
//! sound record behind it, can be a torn tail (see
//! [`recover`](super::recover)).

/// Every segment file starts with these 8 bytes.
pub(crate) const MAGIC: [u8; 8] = *b"UDS3LOG\0";
/// The format this release writes and reads. Version 1 (the first
/// release's, never published) had no header checksum and no sync
/// markers; this release refuses it, and any other, with a clear error.
pub(crate) const FORMAT_VERSION: u8 = 2;
/// Magic, version, flags, 2 reserved bytes, the header's CRC, the
/// segment's first sequence number, the segment's id.
pub(crate) const SEGMENT_HEADER: usize = 32;
/// Length, inverted length, checksum.
pub(crate) const RECORD_HEADER: usize = 12;
/// The most bytes the resolution of one item can take in a
/// [`Record::Resolved`]: a record of one range. The log keeps this much
/// room per unresolved item, so that resolutions never need a new
/// segment (which a full disk could refuse).
pub(crate) const RESOLUTION_BYTES: u64 = (RECORD_HEADER + 1 + 12) as u64;

/// Header flag: the segment was rewritten by [`repair`](super::repair)
/// from the sound records of a damaged one, so its item sequence numbers
/// may have gaps (the damaged items' numbers).
pub(crate) const SALVAGED: u8 = 1;

const ITEM: u8 = 1;
const RESOLVED: u8 = 2;
const FAILED: u8 = 3;
const SYNCED: u8 = 4;

/// A segment header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The sequence number of the segment's first item (or, with no item
    /// in it, of the next item appended after it).
    pub(crate) first_seq: u64,
    /// The segment's id, as in its file name.
    pub(crate) id: u64,
    /// [`SALVAGED`], or 0.
    pub(crate) flags: u8,
}

impl Header {
    /// The header's bytes, its checksum included.
    pub(crate) fn encode(&self) -> [u8; SEGMENT_HEADER] {
        let mut h = [0_u8; SEGMENT_HEADER];
        h[..8].copy_from_slice(&MAGIC);
        h[8] = FORMAT_VERSION;
        h[9] = self.flags;
        h[16..24].copy_from_slice(&self.first_seq.to_le_bytes());
        h[24..32].copy_from_slice(&self.id.to_le_bytes());
        let crc = crc32fast::hash(&h);
        h[12..16].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Whether the segment came out of a repair.
    pub(crate) fn salvaged(&self) -> bool {
        self.flags & SALVAGED != 0
    }
}

/// Why a segment header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadHeader {
    /// Fewer bytes than a header.
    Short,
    /// Not a segment of this library.
    Magic,
    /// Another format version (the one found).
    Version(u8),
    /// The checksum over the header's fields is wrong.
    Checksum,
    /// Flags this release does not know.
    Flags(u8),
}

/// Reads the header at the start of a segment file.
pub(crate) fn read_header(bytes: &[u8]) -> Result<Header, BadHeader> {
    let h: &[u8; SEGMENT_HEADER] = bytes
        .get(..SEGMENT_HEADER)
        .and_then(|h| h.try_into().ok())
        .ok_or(BadHeader::Short)?;
    if h[..8] != MAGIC {
        return Err(BadHeader::Magic);
    }
    if h[8] != FORMAT_VERSION {
        return Err(BadHeader::Version(h[8]));
    }
    let mut zeroed = *h;
    zeroed[12..16].fill(0);
    if crc32fast::hash(&zeroed).to_le_bytes() != h[12..16] {
        return Err(BadHeader::Checksum);
    }
    let word = |at: usize| {
        let mut b = [0_u8; 8];
        b.copy_from_slice(&h[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let header = Header {
        first_seq: word(16),
        id: word(24),
        flags: h[9],
    };
    if header.flags & !SALVAGED != 0 || h[10..12] != [0, 0] {
        return Err(BadHeader::Flags(h[9]));
    }
    Ok(header)
}

/// One record's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// An accepted item: its sequence number and encoded bytes.
    Item { seq: u64, data: &'a [u8] },
    /// Items resolved for good (written, conflict, or handed back and
    /// collected): ranges of sequence numbers, `(first, count)`.
    Resolved(Vec<(u64, u32)>),
    /// An item that failed and waits for the caller to collect it: after
    /// a crash it goes to the dead letters with this error, not to replay.
    Failed { seq: u64, error: &'a str },
    /// A sync ended: every byte of this segment before offset `through`
    /// (and every earlier segment) was on disk before this record was
    /// written.
    Synced { through: u64 },
}

/// The bytes [`encode`] appends for `record`, header included.
pub(crate) fn encoded_len(record: &Record<'_>) -> usize {
    RECORD_HEADER
        + 1
        + match record {
            Record::Item { data, .. } => 8 + data.len(),
            Record::Resolved(ranges) => 12 * ranges.len(),
            Record::Failed { error, .. } => 8 + error.len(),
            Record::Synced { .. } => 8,
        }
}

/// Appends `record` to `out` with its header.
pub(crate) fn encode(record: &Record<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0_u8; RECORD_HEADER]);
    match record {
        Record::Item { seq, data } => {
            out.push(ITEM);
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(data);
        }
        Record::Resolved(ranges) => {
            out.push(RESOLVED);
            for (first, count) in ranges {
                out.extend_from_slice(&first.to_le_bytes());
                out.extend_from_slice(&count.to_le_bytes());
            }
        }
        Record::Failed { seq, error } => {
            out.push(FAILED);
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(error.as_bytes());
        }
        Record::Synced { through } => {
            out.push(SYNCED);
            out.extend_from_slice(&through.to_le_bytes());
        }
    }
    let body = &out[start + RECORD_HEADER..];
    // Records are far below 4 GiB: an item is bounded by max_buffer_bytes
    // and by what a request may carry.
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&(!len).to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// What reading one record at the start of `bytes` found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read<'a> {
    /// A sound record and its whole length, header included.
    Record(Record<'a>, usize),
    /// The bytes end inside the header or the body: a write cut short.
    Short,
    /// The two copies of the length disagree.
    BadHeader,
    /// The header is sound but the body's checksum is wrong; its length.
    BadChecksum(usize),
    /// The checksum is right but the body makes no sense (a kind this
    /// release does not know, a short field): written by another format.
    BadBody(usize),
}

/// Reads the record at the start of `bytes`.
pub(crate) fn read(bytes: &[u8]) -> Read<'_> {
    let Some(header) = bytes.get(..RECORD_HEADER) else {
        return Read::Short;
    };
    let word =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let (len, inverted, crc) = (word(0), word(4), word(8));
    if len != !inverted {
        return Read::BadHeader;
    }
    let total = RECORD_HEADER + len as usize;
    let Some(body) = bytes.get(RECORD_HEADER..total) else {
        return Read::Short;
    };
    if crc32fast::hash(body) != crc {
        return Read::BadChecksum(total);
    }
    match parse(body) {
        Some(record) => Read::Record(record, total),
        None => Read::BadBody(total),
    }
}

fn parse(body: &[u8]) -> Option<Record<'_>> {
    let (&kind, rest) = body.split_first()?;
    let seq_of = |b: &[u8]| {
        b.get(..8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_le_bytes)
    };
    match kind {
        ITEM => Some(Record::Item {
            seq: seq_of(rest)?,
            data: &rest[8..],
        }),
        RESOLVED if rest.len() % 12 == 0 => Some(Record::Resolved(
            rest.chunks_exact(12)
                .map(|c| {
                    let first = u64::from_le_bytes(c[..8].try_into().unwrap_or_default());
                    let count = u32::from_le_bytes(c[8..].try_into().unwrap_or_default());
                    (first, count)
                })
                .collect(),
        )),
        FAILED => Some(Record::Failed {
            seq: seq_of(rest)?,
            error: std::str::from_utf8(&rest[8..]).ok()?,
        }),
        SYNCED if rest.len() == 8 => Some(Record::Synced {
            through: seq_of(rest)?,
        }),
        _ => None,
    }
}

/// `seqs` as `(first, count)` ranges of consecutive numbers, in order.
pub(crate) fn ranges(seqs: impl IntoIterator<Item = u64>) -> Vec<(u64, u32)> {
    let mut out: Vec<(u64, u32)> = Vec::new();
    for seq in seqs {
        match out.last_mut() {
            Some((first, count)) if *first + u64::from(*count) == seq && *count < u32::MAX => {
                *count += 1;
            }
            _ => out.push((seq, 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(record: &Record<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode(record, &mut out);
        out
    }

    #[test]
    fn every_kind_reads_back() {
        for record in [
            Record::Item {
                seq: 7,
                data: b"{\"id\":1}",
            },
            Record::Item {
                seq: u64::MAX,
                data: b"",
            },
            Record::Resolved(vec![(1, 3), (9, 1)]),
            Record::Resolved(vec![]),
            Record::Failed {
                seq: 4,
                error: "HTTP 400: bad vector",
            },
            Record::Synced { through: 4096 },
        ] {
            let bytes = encoded(&record);
            assert_eq!(bytes.len(), encoded_len(&record));
            assert_eq!(read(&bytes), Read::Record(record.clone(), bytes.len()));
        }
    }

    #[test]
    fn a_cut_record_is_short_and_a_flipped_byte_is_caught() {
        let bytes = encoded(&Record::Item {
            seq: 1,
            data: b"hello world",
        });
        for cut in 0..bytes.len() {
            assert_eq!(read(&bytes[..cut]), Read::Short, "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            let got = read(&bad);
            assert!(
                matches!(got, Read::BadHeader | Read::BadChecksum(_) | Read::Short),
                "byte {i}: {got:?}"
            );
        }
    }

    #[test]
    fn a_header_reads_back_and_any_flipped_byte_is_refused() {
        let header = Header {
            first_seq: 0x0102_0304_0506,
            id: 42,
            flags: 0,
        };
        let bytes = header.encode();
        assert_eq!(read_header(&bytes), Ok(header));
        assert_eq!(
            read_header(&bytes[..SEGMENT_HEADER - 1]),
            Err(BadHeader::Short)
        );
        for i in 0..SEGMENT_HEADER {
            for flip in [0x01_u8, 0x40, 0xff] {
                let mut bad = bytes;
                bad[i] ^= flip;
                assert!(read_header(&bad).is_err(), "byte {i} ^ {flip:#x} accepted");
            }
        }
        let salvaged = Header {
            flags: SALVAGED,
            ..header
        };
        assert!(read_header(&salvaged.encode()).is_ok_and(|h| h.salvaged()));
    }

    #[test]
    fn consecutive_numbers_make_one_range() {
        assert_eq!(ranges([1, 2, 3, 5, 6, 9]), vec![(1, 3), (5, 2), (9, 1)]);
        assert_eq!(ranges([]), vec![]);
    }
}
