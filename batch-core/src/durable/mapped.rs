//! A segment file mapped into memory (`MAP_SHARED`), the one place of the
//! workspace with `unsafe` code.
//!
//! Bytes copied into a shared mapping are in the kernel's page cache the
//! moment the copy ends: a crash of the process (SIGKILL, OOM, a panic
//! that aborts) cannot lose them, without a system call per record. This
//! is how Logstash's persistent queue and Fluent Bit's filesystem buffer
//! keep records; an `fdatasync`-range (`msync`) then takes them to disk.
//! The file's blocks are reserved up front (`fallocate`, through `fs4`),
//! so that a full disk is an error when a segment is created, not a
//! SIGBUS when a page of a sparse file is first written.
//!
//! `memmap2` (well kept, used by ripgrep and cargo) maps the file; its
//! raw map gives pointers only, so Rust code never holds a reference to
//! memory the kernel may read concurrently while syncing.

#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use fs4::FileExt;
use memmap2::MmapRaw;

/// The writable end of a mapped segment: one owner copies records in.
pub(crate) struct Mapped {
    map: Arc<MmapRaw>,
    /// Bytes the file holds (written and preallocated).
    capacity: usize,
    _file: File,
}

/// A handle that syncs a mapped segment; shared with the thread that
/// syncs, and never reads or writes the memory itself.
#[derive(Clone)]
pub(crate) struct Flusher(Arc<MmapRaw>);

impl Mapped {
    /// Creates the file at `path` (it must not exist) starting with
    /// `header`, reserves `capacity` bytes on disk, and maps it. On error
    /// the file it created is removed again.
    pub(crate) fn create(path: &Path, header: &[u8], capacity: usize) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let made = (|| {
            // The header first, with write(2): a crash before the space is
            // reserved leaves a short file, which recovery knows as empty.
            file.write_all(header)?;
            file.allocate(capacity as u64)?;
            if file.metadata()?.len() < capacity as u64 {
                file.set_len(capacity as u64)?;
            }
            let map = MmapRaw::map_raw(&file)?;
            if map.len() < capacity {
                return Err(io::Error::other("the mapping is shorter than the file"));
            }
            Ok(map)
        })();
        match made {
            Ok(map) => Ok(Self {
                map: Arc::new(map),
                capacity,
                _file: file,
            }),
            Err(e) => {
                drop(file);
                let _ = std::fs::remove_file(path);
                Err(e)
            }
        }
    }

    /// Bytes the segment can hold.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Copies `bytes` to `offset`. `false` (nothing copied) when they do
    /// not fit.
    pub(crate) fn write(&mut self, offset: usize, bytes: &[u8]) -> bool {
        if offset
            .checked_add(bytes.len())
            .is_none_or(|end| end > self.capacity)
        {
            return false;
        }
        // SAFETY: `offset + bytes.len()` is within the mapping (checked
        // above, and the mapping is at least `capacity` long); the file is
        // this process's own (the directory's LOCK keeps other batchers
        // out) and never truncated while mapped; `&mut self` makes this
        // the only writer, and no Rust reference into the mapping exists
        // anywhere (the flusher passes the range to msync only), so the
        // copy races with nothing.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.as_mut_ptr().add(offset),
                bytes.len(),
            );
        }
        true
    }

    /// A handle that syncs this segment.
    pub(crate) fn flusher(&self) -> Flusher {
        Flusher(Arc::clone(&self.map))
    }
}

impl Flusher {
    /// Takes bytes `from..to` of the segment to disk (`msync`, which on
    /// Linux is an `fdatasync` of that range).
    pub(crate) fn sync(&self, from: usize, to: usize) -> io::Result<()> {
        if to <= from {
            return Ok(());
        }
        self.0.flush_range(from, to - from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_bytes_are_in_the_file_without_a_write() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("0.seg");
        let mut mapped = Mapped::create(&path, b"HEAD", 64).expect("create");
        assert_eq!(mapped.capacity(), 64);
        assert!(mapped.write(4, b"record"));
        assert!(!mapped.write(60, b"too long"), "past the end");
        mapped.flusher().sync(0, 10).expect("sync");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), 64);
        assert_eq!(&bytes[..10], b"HEADrecord");
        assert!(bytes[10..].iter().all(|&b| b == 0));
        assert!(
            Mapped::create(&path, b"HEAD", 64).is_err(),
            "never over an existing segment"
        );
        assert!(path.exists(), "a failed create leaves the existing file");
    }
}
