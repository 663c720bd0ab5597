//! Settings of the durable buffer: where it lives, when it reaches the
//! disk, how large it may grow. Plain data, there with or without the
//! `durable` feature, so that a durable setting is never dropped
//! silently: a batcher built without the feature refuses it.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConfigError;

/// When the durable log reaches the disk (`fdatasync`). Under every policy
/// `add` returns only once its item is in the log file (copied into the
/// file's memory mapping, so in the kernel's page cache), so a crash of
/// the process loses no accepted item; the policy says what a crash of
/// the machine (power loss, a kernel panic) may lose.
///
/// | policy | `add` returns when | a process crash loses | a power loss loses |
/// |---|---|---|---|
/// | `Always` | the item is on disk | nothing | nothing |
/// | `EveryBatch` | the item is in the page cache | nothing | the batch being filled and the batches not yet synced |
/// | `Interval(d)` | the item is in the page cache | nothing | about the last `d` of items |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// `add` returns once its item is on disk. Concurrent adders share one
    /// fsync (group commit). Nothing accepted is lost, even on power loss.
    #[default]
    Always,
    /// The log is synced as each batch leaves the buffer: a power loss may
    /// lose the items of the batch being filled.
    EveryBatch,
    /// The log is synced at this interval: a power loss may lose about
    /// that much of the latest items.
    Interval(Duration),
}

/// The durable buffer of a batcher
/// ([`BatcherSettingsBuilder::durable`](crate::BatcherSettingsBuilder::durable)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DurableSettings {
    /// The directory of the log and the dead letters; one batcher at a
    /// time per directory.
    pub dir: PathBuf,
    /// When the log reaches the disk.
    pub fsync: Fsync,
    /// Most bytes the log's records may take; at the bound `add` blocks or
    /// rejects as [`when_full`](crate::BatcherSettings::when_full) says.
    /// Segments are reserved on disk whole (an eighth of the bound each),
    /// so the directory takes up to about 9/8 of it. `None`: no bound but
    /// the disk (32 MiB segments).
    pub max_buffer_bytes: Option<u64>,
}

impl DurableSettings {
    /// A buffer in `dir`, synced on every add, without a bound.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            fsync: Fsync::Always,
            max_buffer_bytes: None,
        }
    }
}

/// `UDS3_BUFFER_DIR`: turns the durable buffer on, in this directory.
pub const BUFFER_DIR_VAR: &str = "UDS3_BUFFER_DIR";
/// `UDS3_BUFFER_FSYNC`: `always` (the default), `every-batch`, or an
/// interval such as `100ms`, `2s`.
pub const BUFFER_FSYNC_VAR: &str = "UDS3_BUFFER_FSYNC";
/// `UDS3_BUFFER_MAX_BYTES`: the bound in bytes (unset: none).
pub const BUFFER_MAX_BYTES_VAR: &str = "UDS3_BUFFER_MAX_BYTES";

/// The durable settings the environment asks for (`None` without
/// [`BUFFER_DIR_VAR`]); a bad value is an error naming the variable.
pub(crate) fn from_env_with(
    lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Option<DurableSettings>, ConfigError> {
    let Some(dir) = lookup(BUFFER_DIR_VAR) else {
        return Ok(None);
    };
    if dir.is_empty() {
        return Err(ConfigError::Inconsistent(format!(
            "{BUFFER_DIR_VAR} is set but empty: give a directory, or unset it to keep items in memory only"
        )));
    }
    let mut settings = DurableSettings::new(dir);
    if let Some(raw) = lookup(BUFFER_FSYNC_VAR) {
        let value = raw.into_string().map_err(|raw| ConfigError::NotUnicode {
            var: BUFFER_FSYNC_VAR,
            value: raw.to_string_lossy().into_owned(),
        })?;
        settings.fsync = parse_fsync(&value)?;
    }
    if let Some(raw) = lookup(BUFFER_MAX_BYTES_VAR) {
        let value = raw.to_string_lossy().into_owned();
        let bytes = crate::env::parse_size(BUFFER_MAX_BYTES_VAR, &value, usize::MAX)?;
        settings.max_buffer_bytes = Some(bytes.get() as u64);
    }
    Ok(Some(settings))
}

/// `always`, `every-batch`, or a duration: digits and `ms` or `s`.
fn parse_fsync(value: &str) -> Result<Fsync, ConfigError> {
    let v = value.trim().to_ascii_lowercase();
    let bad = || ConfigError::Invalid {
        var: BUFFER_FSYNC_VAR,
        value: value.to_owned(),
        allowed: "always, every-batch, or an interval such as 100ms or 2s (more than zero)",
    };
    match v.as_str() {
        "always" => return Ok(Fsync::Always),
        "every-batch" | "batch" => return Ok(Fsync::EveryBatch),
        _ => {}
    }
    let (digits, unit) = v
        .strip_suffix("ms")
        .map(|d| (d, 1))
        .or_else(|| v.strip_suffix('s').map(|d| (d, 1000)))
        .ok_or_else(bad)?;
    let n: u64 = digits.trim().parse().map_err(|_| bad())?;
    match n.checked_mul(unit) {
        Some(ms) if ms > 0 => Ok(Fsync::Interval(Duration::from_millis(ms))),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, OsString)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn the_environment_turns_the_buffer_on_and_says_how() {
        assert_eq!(from_env_with(env(&[])), Ok(None));
        let got = from_env_with(env(&[
            (BUFFER_DIR_VAR, "/var/lib/ingest"),
            (BUFFER_FSYNC_VAR, "100ms"),
            (BUFFER_MAX_BYTES_VAR, "1000000"),
        ]));
        let mut want = DurableSettings::new("/var/lib/ingest");
        want.fsync = Fsync::Interval(Duration::from_millis(100));
        want.max_buffer_bytes = Some(1_000_000);
        assert_eq!(got, Ok(Some(want)));
        for (value, fsync) in [
            ("always", Fsync::Always),
            (" Every-Batch ", Fsync::EveryBatch),
            ("2s", Fsync::Interval(Duration::from_secs(2))),
        ] {
            let got = from_env_with(env(&[(BUFFER_DIR_VAR, "d"), (BUFFER_FSYNC_VAR, value)]));
            assert_eq!(got.map(|s| s.map(|s| s.fsync)), Ok(Some(fsync)), "{value}");
        }
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (var, value) in [
            (BUFFER_FSYNC_VAR, "sometimes"),
            (BUFFER_FSYNC_VAR, "0ms"),
            (BUFFER_FSYNC_VAR, "ms"),
            (BUFFER_MAX_BYTES_VAR, "lots"),
            (BUFFER_MAX_BYTES_VAR, "0"),
            (BUFFER_DIR_VAR, ""),
        ] {
            let pairs = if var == BUFFER_DIR_VAR {
                vec![(var, value)]
            } else {
                vec![(BUFFER_DIR_VAR, "d"), (var, value)]
            };
            let err = from_env_with(env(&pairs)).expect_err(value).to_string();
            assert!(err.contains(var), "{var}={value:?}: {err}");
        }
    }
}
