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
    /// The server's pre-flight checks, read before the first write, could
    /// not be read; nothing was sent. Retried if the server may come back
    /// (no answer, 5xx), else fatal: no record is at fault, so every one of
    /// the batch is handed back once, without a fallback.
    #[error("cannot read Chroma's pre-flight checks, nothing was sent: {0}")]
    PreFlight(Box<ChromaError>),
    /// A batch built before the server's `max_batch_size` was known has
    /// more records than it; nothing was sent, and batch-core splits the
    /// batch (class [`TooLarge`](ErrorClass::TooLarge)).
    #[error("{records} records in one request, the server takes at most {max}")]
    OverMaxBatchSize {
        /// Records in the batch.
        records: usize,
        /// The server's `max_batch_size` (or a smaller cap set on the sink).
        max: usize,
    },
    /// A bad batch size or ENV value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The batcher could not start: its durable buffer cannot be opened
    /// (the message names the directory and the cause), or a thread of it
    /// cannot be started. batch-core's [`StartError`](batch_core::StartError),
    /// unchanged (in an `Arc`, so that this error stays small).
    #[error(transparent)]
    Start(std::sync::Arc<batch_core::StartError>),
}

impl From<batch_core::StartError> for ChromaError {
    fn from(e: batch_core::StartError) -> Self {
        Self::Start(std::sync::Arc::new(e))
    }
}

impl SinkError for ChromaError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Http(e) => e.class(),
            // No item is at fault, so no item should be blamed one by one.
            Self::Setting(_) => ErrorClass::Fatal,
            // Nothing was sent, so a retry is never a replay.
            Self::PreFlight(e) if e.is_retriable() => ErrorClass::Transient,
            Self::PreFlight(_) => ErrorClass::Fatal,
            Self::OverMaxBatchSize { .. } => ErrorClass::TooLarge,
            Self::Invalid(_) | Self::Response { .. } | Self::Config(_) | Self::Start(_) => {
                ErrorClass::Permanent
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> ChromaError {
        ChromaError::Http(HttpError::Status {
            status,
            url: "http://127.0.0.1:1/api/v2/pre-flight-checks".to_owned(),
            body: String::new(),
        })
    }

    #[test]
    fn a_pre_flight_failure_is_retried_only_if_the_server_may_come_back() {
        let pre_flight = |e| ChromaError::PreFlight(Box::new(e));
        assert_eq!(pre_flight(status(503)).class(), ErrorClass::Transient);
        assert_eq!(pre_flight(status(404)).class(), ErrorClass::Fatal);
        let bad = ChromaError::Response {
            url: "u".to_owned(),
            message: "max_batch_size 0".to_owned(),
        };
        assert_eq!(pre_flight(bad).class(), ErrorClass::Fatal);
    }
}
