//! `CouchError`: everything that can go wrong talking to CouchDB, each
//! variant classified as transient or permanent for batch-core.

use std::sync::Arc;

use batch_core::http::HttpError;
use batch_core::{ConfigError, ErrorClass, SinkError};

/// An error of the CouchDB backend.
///
/// Whole-request failures are [`Http`](Self::Http); the per-document
/// answers of `_bulk_docs` are [`Rejected`](Self::Rejected) and
/// [`Conflict`](Self::Conflict), and only ever concern the one document
/// they come back with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CouchError {
    /// An HTTP request failed as a whole (status, transport or decoding).
    /// Shared (`Arc`) when one failed request concerns several documents.
    #[error(transparent)]
    Http(Arc<HttpError>),
    /// The server refused this one document (`forbidden`, `unauthorized`,
    /// `bad_request`, ...). Resending it unchanged gives the same answer.
    #[error("document {id:?} was refused: {error}: {reason}")]
    Rejected {
        /// The document id.
        id: String,
        /// CouchDB's error name, e.g. `forbidden`.
        error: String,
        /// CouchDB's explanation (wording differs between servers).
        reason: String,
    },
    /// The document conflicts with the stored one and the conflict policy
    /// says so is a failure ([`ConflictPolicy::Fail`](crate::ConflictPolicy::Fail),
    /// or [`ConflictPolicy::Overwrite`](crate::ConflictPolicy::Overwrite)
    /// lost the race against other writers on every attempt).
    #[error("document {id:?} conflicts with the stored revision")]
    Conflict {
        /// The document id.
        id: String,
    },
    /// The server's answer to `_bulk_docs` named no result for this
    /// document, or could not be read: it may or may not be stored. Adding
    /// it again (same id) is safe: at worst it comes back as a conflict.
    #[error("no usable result for document {id:?}: {detail}")]
    NoResult {
        /// The document id.
        id: String,
        /// What was wrong with the answer.
        detail: String,
    },
    /// The server URL cannot be used (no `http://` or `https://` scheme, no
    /// host); the message names the URL, password masked.
    #[error("{0}")]
    InvalidUrl(String),
    /// A TLS setting cannot be used (an unreadable CA file, one without
    /// certificates, a bad `UDS3_COUCHDB_CA_FILE` read by
    /// [`CouchDatabase::from_env`](crate::CouchDatabase::from_env)).
    #[cfg(feature = "tls")]
    #[error(transparent)]
    Tls(#[from] batch_core::tls::TlsError),
    /// The database name breaks CouchDB's naming rules.
    #[error(
        "invalid database name {0:?}: must start with a-z and contain only a-z, 0-9 and _$()+-/"
    )]
    InvalidDatabaseName(String),
    /// The batcher settings are invalid (e.g. a bad `COUCHDB_BATCH_INSERT_SIZE`).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The batcher could not start: its durable buffer cannot be opened
    /// (the message names the directory and the cause), or a thread of it
    /// cannot be started. batch-core's [`StartError`](batch_core::StartError),
    /// unchanged (in an `Arc`, so that this error stays small).
    #[error(transparent)]
    Start(std::sync::Arc<batch_core::StartError>),
}

impl From<batch_core::StartError> for CouchError {
    fn from(e: batch_core::StartError) -> Self {
        Self::Start(std::sync::Arc::new(e))
    }
}

impl From<HttpError> for CouchError {
    fn from(error: HttpError) -> Self {
        Self::Http(Arc::new(error))
    }
}

impl CouchError {
    /// The HTTP status of a whole-request failure, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http(e) => e.status(),
            _ => None,
        }
    }
}

impl SinkError for CouchError {
    /// A whole-request failure takes batch-core's class of its HTTP error:
    /// a timeout or a connection lost after sending is
    /// [`ErrorClass::OutcomeUnknown`], so its retry is a
    /// [`replay`](batch_core::Sink::replay_batch).
    fn class(&self) -> ErrorClass {
        match self {
            Self::Http(e) => e.class(),
            Self::NoResult { .. } => ErrorClass::OutcomeUnknown,
            Self::Rejected { .. }
            | Self::Conflict { .. }
            | Self::InvalidUrl(_)
            | Self::InvalidDatabaseName(_)
            | Self::Config(_)
            | Self::Start(_) => ErrorClass::Permanent,
            #[cfg(feature = "tls")]
            Self::Tls(_) => ErrorClass::Fatal,
        }
    }
}
