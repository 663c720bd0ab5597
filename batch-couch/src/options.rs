//! `CouchOptions`: the CouchDB-specific knobs of a batch inserter (the
//! batching knobs are batch-core's `BatcherSettings`).

use std::num::NonZeroUsize;

use crate::conflict::ConflictPolicy;
use crate::doc::DEFAULT_MAX_DOC_BYTES;

/// Default cap on one `_bulk_docs` request body: keeps memory bounded and
/// stays far below CouchDB's `max_http_request_size` (4 GiB by default).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// CouchDB-specific options of a [`CouchDBBatchInserter`](crate::CouchDBBatchInserter).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CouchOptions {
    /// What a `conflict` answer means. Default: [`ConflictPolicy::Skip`].
    pub conflict_policy: ConflictPolicy,
    /// Resend rounds of [`ConflictPolicy::Overwrite`] before a document
    /// that keeps conflicting is handed back. Default 3.
    pub overwrite_attempts: u32,
    /// Largest document accepted by `add`, in bytes of JSON. Default
    /// 8 000 000 (CouchDB's `max_document_size`).
    pub max_doc_bytes: usize,
    /// Largest `_bulk_docs` request body; a batch is sent early rather
    /// than exceed it. Default 64 MiB.
    pub max_request_bytes: NonZeroUsize,
}

impl Default for CouchOptions {
    fn default() -> Self {
        Self {
            conflict_policy: ConflictPolicy::Skip,
            overwrite_attempts: 3,
            max_doc_bytes: DEFAULT_MAX_DOC_BYTES,
            max_request_bytes: NonZeroUsize::new(DEFAULT_MAX_REQUEST_BYTES)
                .unwrap_or(NonZeroUsize::MIN),
        }
    }
}

impl CouchOptions {
    /// Sets the conflict policy.
    #[must_use]
    pub fn conflict_policy(mut self, policy: ConflictPolicy) -> Self {
        self.conflict_policy = policy;
        self
    }

    /// Sets the number of overwrite rounds (at least 1).
    #[must_use]
    pub fn overwrite_attempts(mut self, attempts: u32) -> Self {
        self.overwrite_attempts = attempts.max(1);
        self
    }

    /// Sets the per-document size limit in bytes.
    #[must_use]
    pub fn max_doc_bytes(mut self, bytes: usize) -> Self {
        self.max_doc_bytes = bytes;
        self
    }

    /// Sets the per-request size limit in bytes.
    #[must_use]
    pub fn max_request_bytes(mut self, bytes: NonZeroUsize) -> Self {
        self.max_request_bytes = bytes;
        self
    }
}
