//! `BatcherSettings`: the knobs of a batcher, with non-zero limits, built
//! from defaults or ENV and overridden with a builder.

use std::num::NonZeroUsize;
use std::time::Duration;

use crate::durable_settings::{DurableSettings, Fsync};
use crate::env::BackendEnv;
use crate::error::ConfigError;
use crate::retry::RetryPolicy;

/// What `add` does when the pending-item bound is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// Wait until the flusher has made room (backpressure). The default.
    #[default]
    Block,
    /// Return the item at once with [`BatchError::Full`](crate::BatchError::Full).
    Reject,
}

/// What to do with a batch that failed for good (a permanent error, or a
/// request the sink refused as a whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fallback {
    /// Split the batch in halves and write each, recursively, down to single
    /// items: k bad items among n cost O(k log n) requests. The default.
    #[default]
    Bisect,
    /// Write every item of the failed batch on its own (UDS3 v2.2's behaviour).
    PerItem,
    /// No fallback: every item of the batch comes back with the batch's error.
    None,
}

/// Settings of a [`Batcher`](crate::Batcher).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatcherSettings {
    /// A name for logs and the flusher thread (e.g. `"chroma"`).
    pub name: String,
    /// Flush when this many items are buffered.
    pub batch_size: NonZeroUsize,
    /// Flush before the buffered items' encoded size would pass this.
    pub max_batch_bytes: Option<NonZeroUsize>,
    /// Flush this long after the first item of a batch was added, even if
    /// the batch is not full. Off by default, like UDS3 v2.2.
    pub linger: Option<Duration>,
    /// Most items buffered or in flight at once; at least `batch_size`.
    pub max_pending: NonZeroUsize,
    /// What `add` does at `max_pending`.
    pub when_full: WhenFull,
    /// Retry of transient whole-batch errors.
    pub retry: RetryPolicy,
    /// What to do with a batch that failed for good.
    pub fallback: Fallback,
    /// How long `Drop` waits for the last flush before giving up.
    pub close_timeout: Duration,
    /// Most batches written at once, each on a sink of its own (default 1:
    /// one batch at a time). Items with the same
    /// [`item_key`](crate::Sink::item_key) never overtake each other: a
    /// batch waits while any of its keys is in flight. At most as many as
    /// the sinks the batcher was given ([`Batcher::with_sinks`](crate::Batcher::with_sinks)).
    pub max_in_flight: NonZeroUsize,
    /// Adjust the batches in flight from the requests' latency and
    /// throughput, between 1 and `max_in_flight` (off by default: always
    /// `max_in_flight`). The rule is described once, in batch-core's
    /// `src/adaptive.rs`. Every writer's connection is opened as the
    /// batcher starts ([`Sink::connect_ahead`](crate::Sink::connect_ahead)),
    /// `max_in_flight` of them, whether or not the count climbs.
    pub adaptive_concurrency: bool,
    /// Under [`adaptive_concurrency`](Self::adaptive_concurrency), the
    /// level to start from instead of one batch in slow start: the last
    /// good level of an earlier batcher on the same server
    /// ([`Stats::adaptive_limit`](crate::Stats::adaptive_limit)), so that
    /// a new batcher does not climb again. At most `max_in_flight`.
    ///
    /// Why a setting and not a memo inside the library: a level is only
    /// good for the server, network and batch size it was found on, which
    /// the caller knows and a process-wide table keyed by name would guess
    /// (two batchers of one name may write to different servers, and tests
    /// would leak levels into each other).
    pub adaptive_start: Option<NonZeroUsize>,
    /// Keep every accepted item in a log on disk until it is resolved, so
    /// that a crash loses nothing accepted (feature `durable`; the sink
    /// must give a [`Codec`](crate::Codec)). Off by default: items live in
    /// memory only.
    pub durable: Option<DurableSettings>,
}

/// The largest [`BatcherSettings::max_in_flight`]: each batch in flight
/// holds a thread and a connection.
pub const MAX_IN_FLIGHT: usize = 64;

impl Default for BatcherSettings {
    fn default() -> Self {
        Self::with_batch_size(NonZeroUsize::new(100).unwrap_or(NonZeroUsize::MIN))
    }
}

impl BatcherSettings {
    fn with_batch_size(batch_size: NonZeroUsize) -> Self {
        Self {
            name: "batch".to_owned(),
            batch_size,
            max_batch_bytes: None,
            linger: None,
            max_pending: batch_size
                .saturating_mul(NonZeroUsize::new(4).unwrap_or(NonZeroUsize::MIN)),
            when_full: WhenFull::Block,
            retry: RetryPolicy::default(),
            fallback: Fallback::Bisect,
            close_timeout: Duration::from_secs(30),
            max_in_flight: NonZeroUsize::MIN,
            adaptive_concurrency: false,
            adaptive_start: None,
            durable: None,
        }
    }

    /// A builder starting from the defaults (batch size 100).
    pub fn builder() -> BatcherSettingsBuilder {
        let settings = Self::default();
        BatcherSettingsBuilder {
            batch_size: settings.batch_size.get(),
            max_pending: None,
            max_in_flight: settings.max_in_flight.get(),
            adaptive_start: None,
            fsync: None,
            max_buffer_bytes: None,
            settings,
        }
    }

    /// A builder named after a backend, starting from its ENV batch size
    /// (e.g. `CHROMA_BATCH_INSERT_SIZE`) and the durable buffer's
    /// variables ([`BUFFER_DIR_VAR`](crate::BUFFER_DIR_VAR) and the two
    /// beside it); a bad value is an error naming the variable.
    pub fn from_env(env: &BackendEnv) -> Result<BatcherSettingsBuilder, ConfigError> {
        let mut builder = Self::builder()
            .name(env.name)
            .batch_size(env.batch_size()?.get());
        builder.settings.durable =
            crate::durable_settings::from_env_with(|name| std::env::var_os(name))?;
        Ok(builder)
    }

    /// Settings named after a backend with `batch_size` items per batch (0
    /// is an error) and every other setting at its default: what each
    /// inserter's `new(target, batch_size)` uses.
    pub fn for_backend(env: &BackendEnv, batch_size: usize) -> Result<Self, ConfigError> {
        Self::builder()
            .name(env.name)
            .batch_size(batch_size)
            .build()
    }
}

/// Builds [`BatcherSettings`]; [`build`](Self::build) checks them.
#[derive(Debug, Clone)]
#[must_use]
pub struct BatcherSettingsBuilder {
    settings: BatcherSettings,
    /// Kept raw until `build`, so that 0 is reported there.
    batch_size: usize,
    max_pending: Option<usize>,
    max_in_flight: usize,
    /// Kept raw until `build`, so that 0 is reported there.
    adaptive_start: Option<usize>,
    fsync: Option<Fsync>,
    max_buffer_bytes: Option<u64>,
}

impl BatcherSettingsBuilder {
    /// Name for logs and the flusher thread.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.settings.name = name.into();
        self
    }

    /// Items per batch (at least 1; 0 is reported by `build`).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Bytes per batch, as counted by the sink's `encoded_size`.
    pub fn max_batch_bytes(mut self, bytes: NonZeroUsize) -> Self {
        self.settings.max_batch_bytes = Some(bytes);
        self
    }

    /// Flush a batch this long after its first item, full or not.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.settings.linger = Some(linger);
        self
    }

    /// Bound on items buffered or in flight (default: 4 batches; at least
    /// the batch size).
    pub fn max_pending(mut self, max_pending: usize) -> Self {
        self.max_pending = Some(max_pending);
        self
    }

    /// What `add` does at the bound.
    pub fn when_full(mut self, when_full: WhenFull) -> Self {
        self.settings.when_full = when_full;
        self
    }

    /// Retry policy for transient errors.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.settings.retry = retry;
        self
    }

    /// Fallback for batches that failed for good.
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.settings.fallback = fallback;
        self
    }

    /// How long `Drop` waits for the final flush.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.settings.close_timeout = timeout;
        self
    }

    /// Batches written at once, each on its own sink and connection
    /// (1 to [`MAX_IN_FLIGHT`]; default 1). The default
    /// `max_pending` grows with it, to `batch_size * (max_in_flight + 3)`.
    pub fn max_in_flight(mut self, batches: usize) -> Self {
        self.max_in_flight = batches;
        self
    }

    /// Adjust the batches in flight from the requests' latency and
    /// throughput, up to `max_in_flight` (the rule: batch-core's
    /// `src/adaptive.rs`). Opens all `max_in_flight` connections as the
    /// batcher starts, so that a growing count never waits for one.
    pub fn adaptive_concurrency(mut self, on: bool) -> Self {
        self.settings.adaptive_concurrency = on;
        self
    }

    /// Start the adaptive limit at `level` batches in flight, the last
    /// good level of an earlier batcher
    /// ([`Stats::adaptive_limit`](crate::Stats::adaptive_limit)), instead
    /// of at one. `build` refuses 0, a level above `max_in_flight`, and a
    /// level without [`adaptive_concurrency`](Self::adaptive_concurrency).
    pub fn adaptive_start(mut self, level: usize) -> Self {
        self.adaptive_start = Some(level);
        self
    }

    /// Keep every accepted item in a log in `dir` until it is resolved
    /// (feature `durable`): a crash of the process loses nothing `add`
    /// accepted, and the next batcher on `dir` replays it first. Synced
    /// on every add ([`Fsync::Always`]) unless [`fsync`](Self::fsync)
    /// says otherwise.
    pub fn durable(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        let dir = dir.into();
        match &mut self.settings.durable {
            Some(d) => d.dir = dir,
            None => self.settings.durable = Some(DurableSettings::new(dir)),
        }
        self
    }

    /// When the durable log reaches the disk (needs [`durable`](Self::durable)).
    pub fn fsync(mut self, fsync: Fsync) -> Self {
        self.fsync = Some(fsync);
        self
    }

    /// Most bytes the durable log may hold (needs [`durable`](Self::durable));
    /// at the bound `add` blocks or rejects as [`when_full`](Self::when_full) says.
    pub fn max_buffer_bytes(mut self, bytes: u64) -> Self {
        self.max_buffer_bytes = Some(bytes);
        self
    }

    /// Checks and returns the settings.
    pub fn build(mut self) -> Result<BatcherSettings, ConfigError> {
        match (
            &mut self.settings.durable,
            self.fsync,
            self.max_buffer_bytes,
        ) {
            (Some(d), fsync, bytes) => {
                if let Some(f) = fsync {
                    d.fsync = f;
                }
                if bytes.is_some() {
                    d.max_buffer_bytes = bytes;
                }
            }
            (None, None, None) => {}
            (None, ..) => {
                return Err(ConfigError::Inconsistent(
                    "fsync and max_buffer_bytes need a durable buffer: call durable(dir) too"
                        .to_owned(),
                ));
            }
        }
        if let Some(Fsync::Interval(d)) = self.settings.durable.as_ref().map(|d| d.fsync)
            && d.is_zero()
        {
            return Err(ConfigError::Inconsistent(
                "an fsync interval must be longer than zero (Fsync::Always syncs every add)"
                    .to_owned(),
            ));
        }
        if self
            .settings
            .durable
            .as_ref()
            .and_then(|d| d.max_buffer_bytes)
            == Some(0)
        {
            return Err(ConfigError::OutOfRange {
                var: "max_buffer_bytes",
                value: "0".to_owned(),
                min: 1,
                max: usize::MAX,
            });
        }
        let s = &mut self.settings;
        s.batch_size = NonZeroUsize::new(self.batch_size).ok_or(ConfigError::OutOfRange {
            var: "batch_size",
            value: "0".to_owned(),
            min: 1,
            max: usize::MAX,
        })?;
        s.max_in_flight = NonZeroUsize::new(self.max_in_flight)
            .filter(|n| n.get() <= MAX_IN_FLIGHT)
            .ok_or_else(|| ConfigError::OutOfRange {
                var: "max_in_flight",
                value: self.max_in_flight.to_string(),
                min: 1,
                max: MAX_IN_FLIGHT,
            })?;
        if let Some(level) = self.adaptive_start {
            if !s.adaptive_concurrency {
                return Err(ConfigError::Inconsistent(format!(
                    "adaptive_start ({level}) needs adaptive concurrency: call adaptive_concurrency(true) too"
                )));
            }
            s.adaptive_start = NonZeroUsize::new(level)
                .filter(|l| *l <= s.max_in_flight)
                .map(Some)
                .ok_or_else(|| ConfigError::OutOfRange {
                    var: "adaptive_start",
                    value: level.to_string(),
                    min: 1,
                    max: s.max_in_flight.get(),
                })?;
        }
        let max_pending = self
            .max_pending
            .unwrap_or_else(|| s.batch_size.get().saturating_mul(s.max_in_flight.get() + 3));
        s.max_pending = NonZeroUsize::new(max_pending)
            .filter(|m| *m >= s.batch_size)
            .ok_or_else(|| ConfigError::OutOfRange {
                var: "max_pending",
                value: max_pending.to_string(),
                min: s.batch_size.get(),
                max: usize::MAX,
            })?;
        if s.linger == Some(Duration::ZERO) {
            return Err(ConfigError::Inconsistent(
                "linger must be longer than zero (leave it unset to turn it off)".to_owned(),
            ));
        }
        s.retry.check()?;
        Ok(self.settings)
    }
}
