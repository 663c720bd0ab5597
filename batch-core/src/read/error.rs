//! `ReadError`: why a batch read gave no answer.

use crate::error::{ErrorClass, SinkError};

/// Why a batch read failed. A failed read returns no partial answer: what
/// earlier chunks found is dropped with it, so a result is always whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError<E> {
    /// An id was refused before any request was sent.
    #[error("id #{index} ({id:?}) cannot be read from {backend}: {reason}")]
    InvalidId {
        /// The store.
        backend: &'static str,
        /// Its position in the ids asked for.
        index: usize,
        /// The id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The store failed a request and retries (where the error is
    /// transient) did not help.
    #[error(
        "reading {ids} ids from {backend} (the first {first:?}) failed after {attempts} tries: {error}"
    )]
    Store {
        /// The store.
        backend: &'static str,
        /// The first id of the request that failed.
        first: String,
        /// Ids in that request.
        ids: usize,
        /// Tries of that request.
        attempts: u32,
        /// The store's last error (boxed: a read's `Result` stays small).
        #[source]
        error: Box<E>,
    },
    /// The thread that runs a request could not start, or the store's code
    /// panicked on it (the panic's message is in the error).
    #[error("a batch read could not run: {0}")]
    Thread(std::io::Error),
}

impl<E: SinkError> ReadError<E> {
    /// The class of the store's error; an invalid id is
    /// [`Permanent`](ErrorClass::Permanent).
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidId { .. } | Self::Thread(_) => ErrorClass::Permanent,
            Self::Store { error, .. } => error.class(),
        }
    }

    /// The store's own error, if this is one.
    pub fn store_error(&self) -> Option<&E> {
        match self {
            Self::Store { error, .. } => Some(&**error),
            Self::InvalidId { .. } | Self::Thread(_) => None,
        }
    }
}
