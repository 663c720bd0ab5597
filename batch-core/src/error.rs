//! Errors: configuration errors, the classification every sink error
//! carries, and the error a failed item comes back with.

use std::sync::Arc;

/// A configuration value that cannot be used. Each variant names the
/// variable (or setting), the value seen and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A switch that is not one of `true/false/1/0/yes/no/on/off`.
    #[error("{var}={value:?} is not a boolean; allowed: true, false, 1, 0, yes, no, on, off")]
    InvalidBool {
        /// The variable or setting.
        var: &'static str,
        /// The value seen.
        value: String,
    },
    /// A number that does not parse as a whole number.
    #[error("{var}={value:?} is not a whole number; allowed range {min}-{max}")]
    NotANumber {
        /// The variable or setting.
        var: &'static str,
        /// The value seen.
        value: String,
        /// Smallest allowed value.
        min: usize,
        /// Largest allowed value.
        max: usize,
    },
    /// A number outside its allowed range.
    #[error("{var}={value} is out of range; allowed range {min}-{max}")]
    OutOfRange {
        /// The variable or setting.
        var: &'static str,
        /// The value seen.
        value: String,
        /// Smallest allowed value.
        min: usize,
        /// Largest allowed value.
        max: usize,
    },
    /// A variable whose value is not valid UTF-8.
    #[error("{var}={value:?} is not valid UTF-8")]
    NotUnicode {
        /// The variable.
        var: &'static str,
        /// The value seen, lossily converted.
        value: String,
    },
    /// Two settings that contradict each other.
    #[error("invalid settings: {0}")]
    Inconsistent(String),
    /// A value that is none of the allowed words or forms.
    #[error("{var}={value:?} is not allowed; allowed: {allowed}")]
    Invalid {
        /// The variable or setting.
        var: &'static str,
        /// The value seen.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
}

/// Why a batcher could not start ([`Batcher::new`](crate::Batcher::new)
/// and its siblings). Every backend's constructor passes it on unchanged,
/// so the message is the same whichever backend it comes from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The durable buffer could not be opened (or read back): the message
    /// names the directory and the cause, e.g. `durable buffer /x/y: Not a
    /// directory (os error 20)`.
    #[error("{}", buffer_message(dir, cause))]
    Buffer {
        /// The buffer directory of the settings.
        dir: std::path::PathBuf,
        /// What failed, as the file system (or the log) said it.
        cause: std::io::Error,
    },
    /// A thread of the batcher (its flusher or a writer) could not be
    /// started.
    #[error("cannot start the batcher's thread: {0}")]
    Thread(std::io::Error),
    /// Nothing to run: no sink was given (the message says which batcher).
    #[error("{0}")]
    NoSink(String),
}

/// `durable buffer {dir}: {cause}`, without naming the directory twice
/// when the cause already does.
fn buffer_message(dir: &std::path::Path, cause: &std::io::Error) -> String {
    let text = cause.to_string();
    let dir = dir.display().to_string();
    if text.contains(&dir) {
        text
    } else {
        format!("durable buffer {dir}: {text}")
    }
}

impl StartError {
    /// The I/O error kind of the cause ([`InvalidInput`](std::io::ErrorKind::InvalidInput)
    /// for [`NoSink`](Self::NoSink)).
    pub fn kind(&self) -> std::io::ErrorKind {
        match self {
            Self::Buffer { cause, .. } | Self::Thread(cause) => cause.kind(),
            Self::NoSink(_) => std::io::ErrorKind::InvalidInput,
        }
    }
}

/// So that `Batcher::new(..)?` works in functions returning `io::Result`.
impl From<StartError> for std::io::Error {
    fn from(error: StartError) -> Self {
        std::io::Error::new(error.kind(), error)
    }
}

/// How a sink error should be handled: the one question batch-core asks of
/// every backend error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Worth retrying as is, and nothing was written: lost connection
    /// before the request was sent, deadlock (rolled back), 5xx.
    Transient,
    /// The request may or may not have been applied: it was sent and its
    /// answer never came (a response timeout, a connection lost before the
    /// commit's answer). Retried like [`Transient`](Self::Transient), but
    /// through [`Sink::replay_batch`](crate::Sink::replay_batch), so the
    /// sink can count the batcher's own earlier write as written instead of
    /// as a conflict. Never split or sent to the fallback.
    OutcomeUnknown,
    /// Retrying the same request gives the same answer: bad data,
    /// constraint violation, authentication, 4xx.
    Permanent,
    /// The request was too large for the server (e.g. HTTP 413): split the
    /// batch and try the halves; not a failure of any item by itself.
    TooLarge,
    /// Permanent, and caused by no item: bad credentials, a missing table,
    /// database or collection. Every item of the batch comes back with the
    /// error at once; a fallback would only repeat the refusal 2n times.
    Fatal,
}

/// The classification a sink's error type provides (Vector's `is_retriable`).
pub trait SinkError: std::error::Error + Send + Sync + 'static {
    /// Whether this error is transient, permanent, or asks for a smaller request.
    fn class(&self) -> ErrorClass;

    /// `true` when retrying the same request may succeed
    /// ([`Transient`](ErrorClass::Transient) or
    /// [`OutcomeUnknown`](ErrorClass::OutcomeUnknown)).
    fn is_retriable(&self) -> bool {
        matches!(
            self.class(),
            ErrorClass::Transient | ErrorClass::OutcomeUnknown
        )
    }

    /// `true` when the request lost a lock conflict with another
    /// transaction and the server rolled it back (Neo4j's
    /// `Neo.TransientError.Transaction.DeadlockDetected`, PostgreSQL's
    /// `40P01`). Such an error must also be
    /// [`Transient`](ErrorClass::Transient): the batch is retried whole,
    /// each deadlock is counted in [`Stats::total_deadlocks`](crate::Stats::total_deadlocks),
    /// and an adaptive in-flight limit backs off, since more batches in
    /// flight only make more of them. `false` unless a sink says so.
    fn is_deadlock(&self) -> bool {
        false
    }
}

/// Why an item was not written. Comes back with the item itself in a
/// [`FailedItem`](crate::FailedItem).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError<E> {
    /// The sink refused the item or the request that carried it. Shared
    /// between the items of one failed request, hence the `Arc`.
    #[error(transparent)]
    Sink(Arc<E>),
    /// The sink panicked while writing; the batcher no longer trusts it and
    /// fails every later item with this error too.
    #[error("the sink panicked: {0}")]
    SinkPanicked(Arc<str>),
    /// The sink answered with a wrong number of per-item outcomes (a bug in
    /// the sink): nothing is claimed as written.
    #[error("the sink returned {got} outcomes for {expected} items")]
    OutcomeCount {
        /// Items sent.
        expected: usize,
        /// Outcomes received.
        got: usize,
    },
    /// The batcher was closed before the item was added.
    #[error("the batcher is closed")]
    Closed,
    /// The pending-item bound was reached and the policy is to reject.
    #[error("the batcher is full: {pending} items pending, limit {limit}")]
    Full {
        /// Items pending when the item was refused.
        pending: usize,
        /// The configured bound.
        limit: usize,
    },
    /// The item alone is larger than one request may be.
    #[error("item of {size} bytes exceeds the limit of {limit} bytes per request")]
    TooLarge {
        /// The item's encoded size.
        size: usize,
        /// The per-request limit.
        limit: usize,
    },
    /// The item was refused before it reached the server (bad id, bad
    /// vector dimension, bad relationship type, ...).
    #[error("invalid item: {0}")]
    Invalid(String),
    /// Failed items that nobody collected fill the pending-item bound:
    /// call [`flush`](crate::Batcher::flush) (or set a failure handler) to
    /// take them, then add again. Waiting would not help, since only the
    /// caller can collect them.
    #[error(
        "the batcher is full of uncollected failed items: {failed} failed items wait for flush() to collect them, limit {limit}"
    )]
    Uncollected {
        /// Failed items waiting in the next report.
        failed: usize,
        /// The configured bound (`max_pending`).
        limit: usize,
    },
    /// The durable buffer could not store the item (disk full, I/O
    /// error): `add` hands it back, and nothing of it stays on disk.
    #[error("the durable buffer could not store the item: {0}")]
    Buffer(Arc<std::io::Error>),
    /// The durable buffer is at `max_buffer_bytes` and the policy is to
    /// reject (or nothing is left to write that could free room).
    #[error("the durable buffer is full: {bytes} bytes with this item, limit {limit}")]
    BufferFull {
        /// Bytes the log would hold with the item.
        bytes: u64,
        /// The configured bound.
        limit: u64,
    },
    /// `add` (or `add_async`) was called on the batcher's own thread, from
    /// its failure handler or its sink, while the batcher was full: room
    /// can only come from that very thread, so waiting would hang the
    /// batcher for good. The item comes back at once instead (counted in
    /// `total_refused`); add it again from another thread, or after the
    /// handler returned. An item that finds room is accepted as usual.
    #[error(
        "the batcher is full ({full}) and add() was called on its own thread (from its failure handler or sink), where waiting for room would hang the batcher; add the item from another thread"
    )]
    OwnThread {
        /// What is full: the pending items or the durable buffer, with the
        /// bound. (An `Arc<str>`, not a `String`, to keep `BatchError`, and
        /// every `FailedItem`, as small as before.)
        full: Arc<str>,
    },
    /// The batcher's own flusher panicked (outside the sink and the failure
    /// handler, e.g. in a tracing subscriber) while it held the item. If
    /// the flusher thread itself ended, the batcher accepts nothing more and
    /// hands back every item it still held with this error.
    #[error("the batcher's flusher panicked: {0}")]
    FlusherPanicked(Arc<str>),
}

impl<E> Clone for BatchError<E> {
    fn clone(&self) -> Self {
        match self {
            Self::Sink(e) => Self::Sink(Arc::clone(e)),
            Self::SinkPanicked(m) => Self::SinkPanicked(Arc::clone(m)),
            Self::OutcomeCount { expected, got } => Self::OutcomeCount {
                expected: *expected,
                got: *got,
            },
            Self::Closed => Self::Closed,
            Self::Full { pending, limit } => Self::Full {
                pending: *pending,
                limit: *limit,
            },
            Self::TooLarge { size, limit } => Self::TooLarge {
                size: *size,
                limit: *limit,
            },
            Self::Invalid(m) => Self::Invalid(m.clone()),
            Self::Uncollected { failed, limit } => Self::Uncollected {
                failed: *failed,
                limit: *limit,
            },
            Self::FlusherPanicked(m) => Self::FlusherPanicked(Arc::clone(m)),
            Self::OwnThread { full } => Self::OwnThread {
                full: Arc::clone(full),
            },
            Self::Buffer(e) => Self::Buffer(Arc::clone(e)),
            Self::BufferFull { bytes, limit } => Self::BufferFull {
                bytes: *bytes,
                limit: *limit,
            },
        }
    }
}

impl<E: SinkError> BatchError<E> {
    /// `true` when adding the same item again later may succeed: a transient
    /// sink error or a full batcher (also one found full from its own
    /// thread).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Sink(e) => e.is_retriable(),
            Self::Full { .. }
            | Self::Uncollected { .. }
            | Self::BufferFull { .. }
            | Self::OwnThread { .. } => true,
            _ => false,
        }
    }

    /// The sink's own error, if this is one.
    pub fn sink_error(&self) -> Option<&E> {
        match self {
            Self::Sink(e) => Some(e),
            _ => None,
        }
    }
}
