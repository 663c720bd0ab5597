//! Python wheels from PyPI: downloaded once into the cache, unpacked once.
//!
//! Only `pip download` is used (no venv, no install): the servers we need are
//! native code (Chroma's Rust server) or Java jars plus a bundled JRE inside
//! the wheels.

use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::run_logged;

/// The cached wheel whose file name starts with `prefix`, downloading it with
/// `pip download --no-deps --only-binary=:all: REQUIREMENT EXTRA..` if absent.
pub fn fetch(
    cache: &Path,
    requirement: &str,
    prefix: &str,
    extra: &[&str],
    log: &Path,
) -> Result<PathBuf> {
    let dir = cache.join("wheels");
    if let Some(found) = find(&dir, prefix) {
        return Ok(found);
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Download into a private folder first, so a partial file is never taken
    // for a cached wheel.
    // Unique per process and wheel: `up` fetches several wheels in parallel.
    let tmp = dir.join(format!(".download-{}-{prefix}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let mut cmd = Command::new(python());
    cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args([
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
        ])
        .args(extra)
        .arg("-d")
        .arg(&tmp)
        .arg(requirement);
    eprintln!("[wheel] pip download {requirement}");
    let result = run_logged(cmd, log, &format!("pip download {requirement}"))
        .map_err(anyhow::Error::msg)
        .and_then(|()| {
            let wheel = find(&tmp, prefix)
                .with_context(|| format!("pip download {requirement} left no {prefix}*.whl"))?;
            let name = wheel.file_name().context("no file name")?.to_owned();
            let dest = dir.join(name);
            fs::rename(&wheel, &dest).context("cannot move wheel")?;
            Ok(dest)
        });
    let _ = fs::remove_dir_all(&tmp);
    result
}

/// Unpacks the members of `wheel` matching `patterns` into `dest` once; the
/// file `dest/.complete` marks a finished unpack.
pub fn unpack(wheel: &Path, patterns: &[&str], dest: &Path, log: &Path) -> Result<()> {
    let done = dest.join(".complete");
    if done.is_file() {
        return Ok(());
    }
    let parent = dest.parent().context("no parent folder")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".unpack-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    // unzip keeps the executable bits (the bundled JRE needs them).
    let mut cmd = Command::new("unzip");
    cmd.args(["-q", "-o"])
        .arg(wheel)
        .args(patterns)
        .arg("-d")
        .arg(&tmp);
    eprintln!(
        "[wheel] unzip {}",
        wheel
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let result = run_logged(cmd, log, "unzip")
        .map_err(anyhow::Error::msg)
        .and_then(|()| {
            let _ = fs::remove_dir_all(dest);
            fs::rename(&tmp, dest).context("cannot move unpacked wheel")?;
            fs::write(&done, b"").with_context(|| format!("cannot write {}", done.display()))
        });
    let _ = fs::remove_dir_all(&tmp);
    result
}

/// The Python interpreter: `$UDS3_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("UDS3_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

fn find(dir: &Path, prefix: &str) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            (name.starts_with(prefix) && name.ends_with(".whl")).then(|| e.path())
        })
}
