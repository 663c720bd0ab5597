//! Dead letters: failed items nobody collected, one JSON document per
//! line in `dead_letters.jsonl` beside the log, with their errors, so
//! that a batcher dropped (or killed) before its caller took its failures
//! still leaves them somewhere a person or a retry job can read.

use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

/// The dead letters' file name in the buffer directory.
pub const DEAD_LETTERS_FILE: &str = "dead_letters.jsonl";

/// One failed item read back from the dead letters.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[non_exhaustive]
pub struct DeadLetter<T> {
    /// The error it failed with, as the batcher printed it.
    pub error: String,
    /// The item.
    pub item: T,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(DEAD_LETTERS_FILE)
}

/// Appends `(error, item as JSON)` lines and syncs the file.
pub(crate) fn append(dir: &Path, letters: &[(String, Vec<u8>)]) -> io::Result<()> {
    if letters.is_empty() {
        return Ok(());
    }
    let mut out = Vec::new();
    for (error, item) in letters {
        let item: serde_json::Value = serde_json::from_slice(item).map_err(io::Error::other)?;
        let line = serde_json::json!({ "error": error, "item": item });
        serde_json::to_writer(&mut out, &line).map_err(io::Error::other)?;
        out.push(b'\n');
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path(dir))?;
    file.write_all(&out)?;
    file.sync_data()
}

/// The dead letters in the buffer directory `dir`, oldest first (none if
/// there is no file). A line that does not read as an item of type `T` is
/// an error naming its line number.
pub fn read_dead_letters<T: serde::de::DeserializeOwned>(
    dir: impl AsRef<Path>,
) -> io::Result<Vec<DeadLetter<T>>> {
    read_file(&path(dir.as_ref()))
}

/// Takes the dead letters of `dir` for a retry that adds them again: the
/// file is renamed first, so a letter written meanwhile goes to a new file
/// and is neither lost nor taken twice. On a read error the taken file
/// stays as `dead_letters.jsonl.taken`.
pub fn take_dead_letters<T: serde::de::DeserializeOwned>(
    dir: impl AsRef<Path>,
) -> io::Result<Vec<DeadLetter<T>>> {
    let dir = dir.as_ref();
    let taken = dir.join(format!("{DEAD_LETTERS_FILE}.taken"));
    if !taken.exists() {
        match fs::rename(path(dir), &taken) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    }
    let letters = read_file(&taken)?;
    fs::remove_file(&taken)?;
    Ok(letters)
}

fn read_file<T: serde::de::DeserializeOwned>(file: &Path) -> io::Result<Vec<DeadLetter<T>>> {
    let reader = match fs::File::open(file) {
        Ok(f) => io::BufReader::new(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut letters = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let letter = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} line {}: {e}", file.display(), n + 1),
            )
        })?;
        letters.push(letter);
    }
    Ok(letters)
}
