//! Entry points for the project's fuzz targets (`fuzz/` at the workspace
//! root) and for the smoke runs in the test suite: not API. Each takes any
//! bytes, never panics on its own account, and panics (which the fuzzer
//! reports) only when an invariant of the code under test is broken.

#[cfg(feature = "durable")]
pub use segments::{segment_recovery, segment_seeds};

/// `&[u8]` as text for the string parsers: lossy, so every input reaches
/// them (invalid UTF-8 becomes U+FFFD).
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The password of `scheme://user:password@host/...`, if the URL has one
/// that occurs nowhere else in it and is long enough to mean something.
/// URLs that `{:?}` would escape are left out: the escapes (`\0` for a
/// NUL) can spell a password that the message never showed.
pub fn unique_password(url: &str) -> Option<&str> {
    if format!("{url:?}") != format!("\"{url}\"") {
        return None;
    }
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (password.len() >= 4 && url.matches(password).count() == 1).then_some(password)
}

/// Whether the message `message_of` gives for `url` shows the URL's
/// password: more often than the message for the same URL with another
/// password does (a password such as `http` may be a word of the message
/// itself), or a marker put in its place shows up.
pub fn shows_password(url: &str, message_of: impl Fn(&str) -> Option<String>) -> bool {
    const MARKER: &str = "Zq9Secret";
    let Some(password) = unique_password(url) else {
        return false;
    };
    let Some(message) = message_of(url) else {
        return false;
    };
    let other = url.replacen(password, MARKER, 1);
    let baseline = message_of(&other).unwrap_or_default();
    // The marker is the other URL's password only if the swap kept the
    // URL's shape (a password of colons, say, does not).
    (unique_password(&other) == Some(MARKER) && baseline.contains(MARKER))
        || message.matches(password).count() > baseline.matches(password).count()
}

/// URL and ENV parsing: the first byte picks the parser, the rest is the
/// URL or the variable's value. Invariants: no panic; an error names the
/// variable (ENV) and never shows a URL's password; a parsed URL shows
/// its password only when asked for it.
pub fn url_env(data: &[u8]) {
    use crate::durable_settings::{BUFFER_DIR_VAR, BUFFER_FSYNC_VAR, BUFFER_MAX_BYTES_VAR};
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let value = text(rest);
    match which % 6 {
        0 => {
            let message_of = |url: &str| crate::http::check_url(url).err();
            assert!(
                !shows_password(&value, message_of),
                "check_url({value:?}) shows the password: {:?}",
                message_of(&value)
            );
        }
        1 => {
            // A parsed URL shows its password nowhere but `password()`.
            let shown = |url: &str| {
                crate::server_url::ServerUrl::parse(url).ok().map(|url| {
                    let _ = url.address(1);
                    format!("{} {url} {url:?}", url.without_credentials())
                })
            };
            assert!(
                !shows_password(&value, shown),
                "{value:?}: a parsed URL shows the password: {:?}",
                shown(&value)
            );
        }
        2 => {
            for env in [crate::env::CHROMA, crate::env::NEO4J] {
                let lookup = |_: &str| Some(std::ffi::OsString::from(&value));
                if let Err(e) = env.enabled_from(lookup) {
                    assert!(e.to_string().contains(env.enable_var), "{e}");
                }
                match env.batch_size_from(lookup) {
                    Ok(size) => assert!(size.get() <= env.max_size, "{value:?}: {size}"),
                    Err(e) => assert!(e.to_string().contains(env.size_var), "{e}"),
                }
            }
        }
        3 => {
            for var in [BUFFER_FSYNC_VAR, BUFFER_MAX_BYTES_VAR, BUFFER_DIR_VAR] {
                let lookup = |name: &str| {
                    if name == var {
                        Some(std::ffi::OsString::from(&value))
                    } else if name == BUFFER_DIR_VAR {
                        Some("/nonexistent/uds3-fuzz".into())
                    } else {
                        None
                    }
                };
                match crate::durable_settings::from_env_with(lookup) {
                    Ok(Some(settings)) => {
                        if let crate::Fsync::Interval(every) = settings.fsync {
                            assert!(!every.is_zero(), "{value:?}: a zero interval");
                        }
                        assert_ne!(settings.max_buffer_bytes, Some(0), "{value:?}");
                    }
                    Ok(None) => panic!("{var}={value:?}: the buffer directory was lost"),
                    Err(e) => assert!(e.to_string().contains(var), "{var}={value:?}: {e}"),
                }
            }
        }
        4 => {
            let lookup = |_: &str| Some(std::ffi::OsString::from(&value));
            #[cfg(feature = "tls")]
            if let Err(e) =
                crate::tls::TlsSettings::from_env_with(crate::tls::CHROMA_CA_FILE_VAR, lookup)
            {
                assert!(
                    e.to_string().contains(crate::tls::CHROMA_CA_FILE_VAR),
                    "{e}"
                );
            }
            #[cfg(not(feature = "tls"))]
            let _ = lookup;
        }
        _ => {
            // Not UTF-8: refused with the variable named, never a panic.
            use std::os::unix::ffi::OsStringExt;
            let raw = std::ffi::OsString::from_vec(rest.to_vec());
            let lookup = |_: &str| Some(raw.clone());
            if let Err(e) = crate::env::POSTGRES.batch_size_from(lookup) {
                assert!(e.to_string().contains("POSTGRES_BATCH_INSERT_SIZE"), "{e}");
            }
        }
    }
}

#[cfg(feature = "durable")]
mod segments {
    use std::collections::BTreeMap;
    use std::fs;
    use std::io;
    use std::path::Path;

    use crate::durable::log::Log;
    use crate::durable::record::{self, MAGIC, RECORD_HEADER, Read, Record, SEGMENT_HEADER};
    use crate::durable::recover::{self, Recovered};

    /// At most this many segment files per input: enough for every check
    /// between segments, few enough to stay fast.
    const MAX_SEGMENTS: usize = 8;

    /// A scratch directory: in `/dev/shm` where there is one (no disk
    /// writes, fast syncs), else in the system's temp dir.
    fn scratch() -> tempfile::TempDir {
        let shm = Path::new("/dev/shm");
        let made = if shm.is_dir() {
            tempfile::Builder::new().prefix("uds3-fuzz").tempdir_in(shm)
        } else {
            tempfile::Builder::new().prefix("uds3-fuzz").tempdir()
        };
        made.unwrap_or_else(|e| panic!("harness: no scratch directory: {e}"))
    }

    /// The segment files an input stands for. Byte 0 is the mode: bit 0
    /// fixes every checksum and length before writing (so that mutations
    /// reach the logic behind them); bits 1-2 choose the first segment
    /// id (the first header's own, 0, 1, or near 2^64). The rest is cut
    /// before each segment magic (`UDS3LOG\0`) into segments, at most
    /// [`MAX_SEGMENTS`] (the last takes what is left).
    fn segments_of(data: &[u8]) -> (Vec<Vec<u8>>, u64) {
        let Some((&mode, rest)) = data.split_first() else {
            return (Vec::new(), 1);
        };
        let mut starts: Vec<usize> = (1..rest.len().saturating_sub(MAGIC.len() - 1))
            .filter(|&i| rest[i..].starts_with(&MAGIC))
            .take(MAX_SEGMENTS - 1)
            .collect();
        starts.insert(0, 0);
        starts.push(rest.len());
        let mut segments: Vec<Vec<u8>> = starts
            .windows(2)
            .map(|w| rest[w[0]..w[1]].to_vec())
            .collect();
        if mode & 1 != 0 {
            segments.iter_mut().for_each(|s| fix_checksums(s));
        }
        // The last segment can be numbered u64::MAX.
        let last_first = u64::MAX - (MAX_SEGMENTS as u64 - 1);
        let first_id = match (mode >> 1) & 3 {
            0 => segments
                .first()
                .and_then(|s| record::read_header(s).ok())
                .map_or(0, |h| h.id.min(last_first)),
            1 => 0,
            2 => 1,
            _ => last_first,
        };
        (segments, first_id)
    }

    /// Makes the header's checksum right, and every record's inverted
    /// length and checksum, as far as records chain (a length that runs
    /// past the end is left: a torn tail).
    fn fix_checksums(segment: &mut [u8]) {
        if segment.len() < SEGMENT_HEADER {
            return;
        }
        let mut zeroed = [0_u8; SEGMENT_HEADER];
        zeroed.copy_from_slice(&segment[..SEGMENT_HEADER]);
        zeroed[12..16].fill(0);
        let crc = crc32fast::hash(&zeroed);
        segment[12..16].copy_from_slice(&crc.to_le_bytes());
        let mut at = SEGMENT_HEADER;
        while at + RECORD_HEADER <= segment.len() {
            if segment[at..].iter().all(|&b| b == 0) {
                return;
            }
            let len = u32::from_le_bytes([
                segment[at],
                segment[at + 1],
                segment[at + 2],
                segment[at + 3],
            ]);
            let end = at + RECORD_HEADER + len as usize;
            if end > segment.len() {
                return;
            }
            let crc = crc32fast::hash(&segment[at + RECORD_HEADER..end]);
            segment[at + 4..at + 8].copy_from_slice(&(!len).to_le_bytes());
            segment[at + 8..at + 12].copy_from_slice(&crc.to_le_bytes());
            at = end;
        }
    }

    /// The item records of the input, as far as recovery or repair can
    /// read them (from each header on, one sound record after another,
    /// skipping to the next sound record over damage): sequence number
    /// and data, however often each occurs.
    fn items_written(segments: &[Vec<u8>]) -> BTreeMap<u64, Vec<Vec<u8>>> {
        let mut items: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
        for segment in segments {
            let mut at = SEGMENT_HEADER.min(segment.len());
            while let Some(rest) = segment.get(at..).filter(|r| !r.is_empty()) {
                if let Read::Record(rec, len) = record::read(rest) {
                    if let Record::Item { seq, data } = rec {
                        items.entry(seq).or_default().push(data.to_vec());
                    }
                    at += len;
                    continue;
                }
                match (1..rest.len())
                    .find(|&i| matches!(record::read(&rest[i..]), Read::Record(..)))
                {
                    Some(skip) => at += skip,
                    None => break,
                }
            }
        }
        items
    }

    /// What recovery found, comparable across calls: sequence number,
    /// data, failure.
    type Found = BTreeMap<u64, (Vec<u8>, Option<String>)>;

    fn found(r: &Recovered) -> Found {
        r.unresolved
            .iter()
            .map(|(&seq, u)| (seq, (u.data.clone(), u.failed.clone())))
            .collect()
    }

    /// Every item recovered was written (once, when `once`: a repair
    /// keeps one of the copies of an item a damaged log holds twice), with
    /// these bytes, and sits in a segment recovery found.
    fn check_recovered(
        r: &Recovered,
        written: &BTreeMap<u64, Vec<Vec<u8>>>,
        once: bool,
        what: &str,
    ) {
        for (seq, item) in &r.unresolved {
            let copies = written.get(seq).map_or(0, Vec::len);
            assert!(
                copies == 1 || (!once && copies > 1),
                "{what}: item {seq} recovered, but {copies} item records of the input have that number"
            );
            assert!(
                written[seq].contains(&item.data),
                "{what}: item {seq} recovered with bytes no record of the input held"
            );
            assert!(
                r.segments.iter().any(|s| s.id == item.segment),
                "{what}: item {seq} kept alive by segment {}, which recovery did not find",
                item.segment
            );
        }
        assert!(
            r.unresolved
                .keys()
                .next_back()
                .is_none_or(|&last| last < r.next_seq),
            "{what}: next sequence number {} not after the items recovered",
            r.next_seq
        );
    }

    /// A refusal is `InvalidData` naming the directory, never a bare I/O
    /// error about the harness's files.
    fn check_refusal(e: &io::Error, dir: &Path, what: &str) {
        let message = e.to_string();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{what}: {message}");
        assert!(
            message.contains(&*dir.to_string_lossy()),
            "{what}: the refusal does not name the buffer: {message}"
        );
    }

    /// Segment recovery on the segment files `data` stands for (see
    /// `segments_of`). Invariants: no panic and bounded work; every item
    /// recovered was in exactly one item record of the input, with its
    /// bytes; a second recovery of the directory (a torn tail cut the
    /// first time) finds the same; a log opened over it, dropped and
    /// recovered finds the same again. A refusal names the buffer, and
    /// after [`repair`](crate::durable::repair) (which refuses only a
    /// segment of another format version) recovery succeeds, again with
    /// only items the input held.
    pub fn segment_recovery(data: &[u8]) {
        let (segments, first_id) = segments_of(data);
        let written = items_written(&segments);
        let tmp = scratch();
        let dir = tmp.path();
        for (i, bytes) in segments.iter().enumerate() {
            let path = recover::segment_path(dir, first_id + i as u64);
            fs::write(&path, bytes).unwrap_or_else(|e| panic!("harness: {e}"));
        }
        match recover::recover(dir) {
            Ok(first) => {
                check_recovered(&first, &written, true, "recover");
                let again = recover::recover(dir)
                    .unwrap_or_else(|e| panic!("recovered once, then refused: {e}"));
                assert_eq!(found(&first), found(&again), "a second recovery differs");
                assert_eq!(first.next_seq, again.next_seq, "next sequence number");
                assert!(
                    again.cut.is_none(),
                    "a second recovery cut again: {:?}",
                    again.cut
                );
                match Log::open(dir, None, 4096, &again) {
                    Ok(log) => {
                        drop(log);
                        let reopened = recover::recover(dir)
                            .unwrap_or_else(|e| panic!("opened, then refused: {e}"));
                        assert_eq!(found(&first), found(&reopened), "reopen differs");
                    }
                    Err(e) => panic!("recovered, then the log did not open: {e}"),
                }
            }
            Err(e) => {
                check_refusal(&e, dir, "recover");
                match crate::durable::repair(dir) {
                    Ok(_) => match recover::recover(dir) {
                        Ok(after) => {
                            check_recovered(&after, &written, false, "recover after repair");
                        }
                        // A segment file numbered u64::MAX: refused by name,
                        // which repair does not change.
                        Err(e) if e.to_string().contains("the last number there is") => {}
                        Err(e) => panic!("repaired, still refused: {e}"),
                    },
                    Err(e) => {
                        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "repair: {e}");
                        assert!(e.to_string().contains("format version"), "repair: {e}");
                    }
                }
            }
        }
    }

    /// Real logs written by the durable log (`Log`), each as one input of
    /// [`segment_recovery`] (mode 0, segments concatenated, the unused
    /// zeroed room cut): for the fuzzers' seed corpus and the smoke runs.
    pub fn segment_seeds() -> Vec<Vec<u8>> {
        let mut seeds = Vec::new();
        for (items, resolve_every, fail, sync) in [
            (1_u8, 0_usize, false, true),
            (8, 3, true, true),
            (10, 2, false, false),
            (5, 1, false, true),
        ] {
            let tmp = scratch();
            let dir = tmp.path();
            let found = recover::recover(dir).unwrap_or_else(|e| panic!("seed: {e}"));
            let log = Log::open(dir, None, 300, &found).unwrap_or_else(|e| panic!("seed: {e}"));
            let mut seqs = Vec::new();
            for i in 0..items {
                let data = format!("{{\"id\":{i},\"text\":\"{}\"}}", "x".repeat(usize::from(i)));
                match log.append_item(data.as_bytes()) {
                    Ok((seq, _)) => seqs.push(seq),
                    Err(e) => panic!("seed: {e:?}"),
                }
            }
            if resolve_every > 0 {
                let done: Vec<u64> = seqs.iter().copied().step_by(resolve_every).collect();
                log.resolve(&done);
            }
            if fail && let Some(&seq) = seqs.get(1) {
                log.failed(seq, "HTTP 400: bad document");
            }
            if sync {
                log.sync().unwrap_or_else(|e| panic!("seed: {e}"));
            }
            drop(log);
            let mut input = vec![0_u8];
            for id in recover::segment_ids(dir).unwrap_or_default() {
                let mut bytes = fs::read(recover::segment_path(dir, id)).unwrap_or_default();
                let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                bytes.truncate(used.max(SEGMENT_HEADER));
                input.extend_from_slice(&bytes);
            }
            seeds.push(input);
        }
        seeds
    }
}

/// The smoke run of a fuzz target on stable Rust: every seed, then
/// `count` deterministic mutations of them (a seeded xorshift flips,
/// sets, inserts, deletes and copies bytes, and splices two seeds; the
/// same inputs every run), each through `entry`. Returns how many inputs
/// ran. A panic names the input's number and bytes, to save under
/// `fuzz/artifacts/` and rerun.
pub fn smoke(seeds: &[Vec<u8>], count: usize, entry: impl Fn(&[u8])) -> usize {
    let run = |i: usize, input: &[u8]| {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| entry(input)));
        if let Err(panic) = outcome {
            eprintln!("fuzz smoke input {i} ({} bytes): {input:?}", input.len());
            std::panic::resume_unwind(panic);
        }
    };
    for (i, seed) in seeds.iter().enumerate() {
        run(i, seed);
    }
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let empty = Vec::new();
    for i in 0..count {
        let pick = |r: u64, n: usize| (r % n.max(1) as u64) as usize;
        let mut input = seeds
            .get(pick(next(), seeds.len()))
            .unwrap_or(&empty)
            .clone();
        for _ in 0..1 + pick(next(), 4) {
            let r = next();
            let at = pick(next(), input.len());
            match r % 7 {
                0 if !input.is_empty() => input[at] ^= 1 << ((r >> 8) % 8),
                1 if !input.is_empty() => input[at] = (r >> 8) as u8,
                2 => input.insert(at.min(input.len()), (r >> 8) as u8),
                3 if !input.is_empty() => {
                    input.remove(at);
                }
                4 if !input.is_empty() => {
                    // An interesting number over 1, 4 or 8 bytes.
                    let value = [0_u64, 1, 0x7f, 0xff, 0xffff_ffff, u64::MAX][pick(r >> 8, 6)];
                    let width = [1, 4, 8][pick(r >> 16, 3)].min(input.len() - at);
                    input[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
                }
                5 if !input.is_empty() => input.truncate(at),
                _ => {
                    let other = seeds.get(pick(next(), seeds.len())).unwrap_or(&empty);
                    let from = pick(next(), other.len());
                    let tail = &other[from..other.len().min(from + 64)];
                    let at = at.min(input.len());
                    input.splice(at..at, tail.iter().copied());
                }
            }
        }
        run(seeds.len() + i, &input);
    }
    seeds.len() + count
}
