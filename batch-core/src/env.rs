//! ENV configuration with UDS3 v2.2's variable names, read when asked.
//!
//! UDS3 v2.2 read these once at import time and fell back to the default on
//! a bad value. Here every read happens when the function is called, and a
//! bad value is a [`ConfigError`] naming the variable, the value and what is
//! allowed: never a panic, never a silent default.

use std::num::NonZeroUsize;

use crate::error::ConfigError;

/// The two ENV variables of one backend: an on/off switch and a batch size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendEnv {
    /// The backend's name, used as the batcher's name in logs and for its
    /// flusher thread (e.g. `"chroma"`).
    pub name: &'static str,
    /// Name of the boolean switch, e.g. `ENABLE_CHROMA_BATCH_INSERT`.
    pub enable_var: &'static str,
    /// Name of the batch size variable, e.g. `CHROMA_BATCH_INSERT_SIZE`.
    pub size_var: &'static str,
    /// Batch size used when the size variable is unset.
    pub default_size: usize,
    /// Largest allowed batch size (the smallest is 1).
    pub max_size: usize,
}

/// ChromaDB: `ENABLE_CHROMA_BATCH_INSERT` (false), `CHROMA_BATCH_INSERT_SIZE` (100, 1-1000).
pub const CHROMA: BackendEnv = BackendEnv {
    name: "chroma",
    enable_var: "ENABLE_CHROMA_BATCH_INSERT",
    size_var: "CHROMA_BATCH_INSERT_SIZE",
    default_size: 100,
    max_size: 1000,
};

/// Neo4j: `ENABLE_NEO4J_BATCHING` (false), `NEO4J_BATCH_SIZE` (1000, 1-10000).
pub const NEO4J: BackendEnv = BackendEnv {
    name: "neo4j",
    enable_var: "ENABLE_NEO4J_BATCHING",
    size_var: "NEO4J_BATCH_SIZE",
    default_size: 1000,
    max_size: 10_000,
};

/// PostgreSQL: `ENABLE_POSTGRES_BATCH_INSERT` (false), `POSTGRES_BATCH_INSERT_SIZE` (100, 1-1000).
pub const POSTGRES: BackendEnv = BackendEnv {
    name: "postgres",
    enable_var: "ENABLE_POSTGRES_BATCH_INSERT",
    size_var: "POSTGRES_BATCH_INSERT_SIZE",
    default_size: 100,
    max_size: 1000,
};

/// CouchDB: `ENABLE_COUCHDB_BATCH_INSERT` (false), `COUCHDB_BATCH_INSERT_SIZE` (100, 1-1000).
pub const COUCHDB: BackendEnv = BackendEnv {
    name: "couch",
    enable_var: "ENABLE_COUCHDB_BATCH_INSERT",
    size_var: "COUCHDB_BATCH_INSERT_SIZE",
    default_size: 100,
    max_size: 1000,
};

impl BackendEnv {
    /// Whether batching is switched on (unset means off, as in UDS3 v2.2).
    pub fn enabled(&self) -> Result<bool, ConfigError> {
        self.enabled_from(|name| std::env::var_os(name))
    }

    /// The batch size (unset means the default).
    pub fn batch_size(&self) -> Result<NonZeroUsize, ConfigError> {
        self.batch_size_from(|name| std::env::var_os(name))
    }

    /// [`enabled`](Self::enabled) with a custom variable lookup (for tests and embedding).
    pub fn enabled_from(
        &self,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<bool, ConfigError> {
        let Some(raw) = lookup(self.enable_var) else {
            return Ok(false);
        };
        let value = to_utf8(self.enable_var, raw)?;
        parse_bool(self.enable_var, &value)
    }

    /// [`batch_size`](Self::batch_size) with a custom variable lookup.
    pub fn batch_size_from(
        &self,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<NonZeroUsize, ConfigError> {
        let Some(raw) = lookup(self.size_var) else {
            return NonZeroUsize::new(self.default_size).ok_or(ConfigError::OutOfRange {
                var: self.size_var,
                value: self.default_size.to_string(),
                min: 1,
                max: self.max_size,
            });
        };
        let value = to_utf8(self.size_var, raw)?;
        parse_size(self.size_var, &value, self.max_size)
    }
}

fn to_utf8(var: &'static str, raw: std::ffi::OsString) -> Result<String, ConfigError> {
    raw.into_string().map_err(|raw| ConfigError::NotUnicode {
        var,
        value: raw.to_string_lossy().into_owned(),
    })
}

/// Accepts `true/false`, `1/0`, `yes/no`, `on/off` in any case, with
/// surrounding white space ignored. Anything else, the empty string
/// included, is an error.
pub(crate) fn parse_bool(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::InvalidBool {
            var,
            value: value.to_owned(),
        }),
    }
}

/// Parses a whole number in `1..=max`.
pub(crate) fn parse_size(
    var: &'static str,
    value: &str,
    max: usize,
) -> Result<NonZeroUsize, ConfigError> {
    let n: u64 = value.trim().parse().map_err(|_| ConfigError::NotANumber {
        var,
        value: value.to_owned(),
        min: 1,
        max,
    })?;
    match usize::try_from(n).ok().and_then(NonZeroUsize::new) {
        Some(size) if size.get() <= max => Ok(size),
        _ => Err(ConfigError::OutOfRange {
            var,
            value: value.to_owned(),
            min: 1,
            max,
        }),
    }
}

/// UDS3 v2.2's `should_use_chroma_batch_insert()`: `ENABLE_CHROMA_BATCH_INSERT`.
pub fn should_use_chroma_batch_insert() -> Result<bool, ConfigError> {
    CHROMA.enabled()
}

/// UDS3 v2.2's `should_use_neo4j_batching()`: `ENABLE_NEO4J_BATCHING`.
pub fn should_use_neo4j_batching() -> Result<bool, ConfigError> {
    NEO4J.enabled()
}

/// UDS3 v2.2's `should_use_postgres_batch_insert()`: `ENABLE_POSTGRES_BATCH_INSERT`.
pub fn should_use_postgres_batch_insert() -> Result<bool, ConfigError> {
    POSTGRES.enabled()
}

/// UDS3 v2.2's `should_use_couchdb_batch_insert()`: `ENABLE_COUCHDB_BATCH_INSERT`.
pub fn should_use_couchdb_batch_insert() -> Result<bool, ConfigError> {
    COUCHDB.enabled()
}

/// UDS3 v2.2's `get_chroma_batch_size()`: `CHROMA_BATCH_INSERT_SIZE` (100, 1-1000).
pub fn get_chroma_batch_size() -> Result<usize, ConfigError> {
    CHROMA.batch_size().map(NonZeroUsize::get)
}

/// UDS3 v2.2's `get_neo4j_batch_size()`: `NEO4J_BATCH_SIZE` (1000, 1-10000).
pub fn get_neo4j_batch_size() -> Result<usize, ConfigError> {
    NEO4J.batch_size().map(NonZeroUsize::get)
}

/// UDS3 v2.2's `get_postgres_batch_size()`: `POSTGRES_BATCH_INSERT_SIZE` (100, 1-1000).
pub fn get_postgres_batch_size() -> Result<usize, ConfigError> {
    POSTGRES.batch_size().map(NonZeroUsize::get)
}

/// UDS3 v2.2's `get_couchdb_batch_size()`: `COUCHDB_BATCH_INSERT_SIZE` (100, 1-1000).
pub fn get_couchdb_batch_size() -> Result<usize, ConfigError> {
    COUCHDB.batch_size().map(NonZeroUsize::get)
}
