//! `ChromaError`: everything that can go wrong between a record and Chroma,
//! classified for batch-core's retry, split and fallback.

use batch_core::http::HttpError;
use batch_core::{ConfigError, ErrorClass, SinkError};

/// An error of the Chroma backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChromaError {
    /// The HTTP request failed: a status (400/422/404 permanent, 413 too
    /// large, 5xx transient) or no answer at all (transient).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The record was refused before any round trip (empty id, wrong
    /// dimension, NaN or infinity, bad metadata key or value).
    #[error("invalid record: {0}")]
    Invalid(String),
    /// A bad client setting, refused before any request: a server URL
    /// without `http://` or host, a tenant, database or collection name
    /// that is not a plain path segment.
    #[error("{0}")]
    Setting(String),
    /// A success answer that did not look like Chroma's.
    #[error("unexpected answer from Chroma at {url}: {message}")]
    Response {
        /// The request URL.
        url: String,
        /// What was wrong with it.
        message: String,
    },
    /// A bad batch size or ENV value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The batcher's flusher thread could not be started.
    #[error("cannot start the batcher thread: {0}")]
    Spawn(#[from] std::io::Error),
}

impl SinkError for ChromaError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Http(e) => e.class(),
            // No item is at fault, so no item should be blamed one by one.
            Self::Setting(_) => ErrorClass::Fatal,
            Self::Invalid(_) | Self::Response { .. } | Self::Config(_) | Self::Spawn(_) => {
                ErrorClass::Permanent
            }
        }
    }
}
