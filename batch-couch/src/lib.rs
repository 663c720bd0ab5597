//! batch-couch: the CouchDB backend of uds3-batch.
//!
//! [`CouchDBBatchInserter`] (UDS3 v2.2's class of that name) buffers JSON
//! documents and writes them with one `POST /{db}/_bulk_docs` request per
//! batch, on batch-core's [`Batcher`](batch_core::Batcher): retries of
//! transient errors, a fallback that isolates bad documents, counters with
//! UDS3's names, flush on drop.
//!
//! # Quick Start
//! ```no_run
//! use batch_couch::serde_json::json; // re-exported: no serde_json dependency needed
//! use batch_couch::{CouchDatabase, CouchDBBatchInserter};
//! use std::time::Duration;
//!
//! // Credentials in the URL are sent as HTTP basic auth.
//! let db = CouchDatabase::new("http://admin:secret@127.0.0.1:5984", "articles")?;
//! db.create_if_missing()?;
//!
//! let inserter = CouchDBBatchInserter::new(db, 100)?;
//! for i in 0..250 {
//!     // An explicit id, or None to use the document's `_id` or a random id.
//!     let id = format!("article-{i}");
//!     if let Err(failed) = inserter.add(json!({"title": "UDS3", "n": i}), Some(&id)) {
//!         eprintln!("refused {}: {}", failed.item.id(), failed.error);
//!     }
//! }
//! let report = inserter.close(Duration::from_secs(30));
//! for failed in &report.failed {
//!     eprintln!("not written {}: {}", failed.item.id(), failed.error);
//! }
//! println!("{:?}", inserter.get_stats()); // total_added, total_conflicts, ...
//! # Ok::<(), batch_couch::CouchError>(())
//! ```
//!
//! # Async code
//! [`CouchDBBatchInserter`]'s constructors and methods send no request on
//! the caller's thread (every request goes out from the batcher's flusher
//! thread), so they work from a plain thread, a tokio runtime (current- or
//! multi-thread) or `spawn_blocking` alike; async code can also use the
//! twins that never block a thread (`add_async`, `add_doc_async`,
//! `flush_async`, `close_async`; `Send` futures). [`CouchDatabase`]'s own calls
//! (`create_if_missing`, `doc_count`, ...) are sync: from async code run
//! them in `spawn_blocking`.
//!
//! # What differs from UDS3 v2.2
//! - The caller's document is never modified (v2.2 wrote `_id` into it):
//!   the id exists only in the request body.
//! - Documents without an id get a random 128-bit hex id before sending,
//!   so every per-document result is matched by id, not position
//!   (pouchdb-server lists validation errors ahead of the successes).
//! - Per-document errors fail only their document; documents the server
//!   accepted are never sent again (v2.2 re-sent the whole batch one by one
//!   after any error, turning its successes into conflicts).
//! - Conflicts: [`ConflictPolicy::Skip`] (default, v2.2's idempotent
//!   skip), [`ConflictPolicy::Overwrite`] or [`ConflictPolicy::Fail`].
//! - Two documents with the same id in one batch are written in order as
//!   if in separate batches (see [`CouchSink`]).
//! - Refused before sending, with [`BatchError::Invalid`](batch_core::BatchError::Invalid):
//!   a value that is not a JSON object, an empty id or one starting with
//!   `_` (except `_design/` and `_local/`), unknown `_` members, and
//!   documents over [`CouchOptions::max_doc_bytes`] (8 MB, CouchDB's
//!   `max_document_size`).
//! - Whole-request errors: 5xx and refused connections are transient
//!   (retried with backoff); a timeout or a connection lost after sending
//!   is batch-core's `OutcomeUnknown` (retried as a replay, see below);
//!   400, 401, 403, 415 permanent; 413
//!   splits the batch. Error bodies need not be JSON (pouchdb-server
//!   answers some 500s with HTML). 401, 403 and 404 (bad credentials, no
//!   permission, no database) are fatal: each document of the batch is
//!   handed back once, without a fallback that would only repeat the refusal.
//! - A server URL without `http://` or `https://` is refused when the
//!   [`CouchDatabase`] is built.
//! - Replays: a `_bulk_docs` request that timed out may have been stored
//!   after all. Its retry reads the stored bodies of the documents that
//!   now conflict (one `_all_docs?include_docs=true` request) and counts
//!   those whose body is ours (ignoring `_id` and `_rev`) as written, so
//!   `total_added` equals what the server holds and
//!   [`ConflictPolicy::Fail`] hands back only real conflicts. Chosen over
//!   writing client-computed revisions with `new_edits=false`: that makes
//!   a replay a no-op, but it also turns every real conflict into a
//!   silent conflicting revision (measured on pouchdb-server: no result
//!   at all, and possibly a new winner), breaking every conflict policy.
//!   The check costs one extra request per replayed batch, and only then.
//!
//! # Known limits
//! - In a replay, a document that another writer had stored with the very
//!   same body before our first try counts as written, not as a conflict
//!   (the two cannot be told apart). Ids are fixed before the first try,
//!   so nothing is doubled either way.
//! - A timeout of a later request of a batch (a duplicate-id round, an
//!   overwrite) hands only that request's documents back, with an error of
//!   class `OutcomeUnknown`: they may be stored, and adding them again
//!   with [`CouchDBBatchInserter::add_doc`] cannot store them twice.
//! - `_all_docs` does not list `_local/` documents, so
//!   [`ConflictPolicy::Overwrite`] cannot overwrite them (they come back as
//!   [`CouchError::Conflict`] after the last attempt), and a replay cannot
//!   recognise them (nor deletions) as ours: they count as conflicts.
//!
//! # Why ureq and not couch_rs
//! The design named `couch_rs`. Measured against the test server, it is
//! async-only (tokio + reqwest, 137 crates), keeps only `conflict`,
//! `forbidden` and `unauthorized` of the per-document errors (others
//! become a generic 500 without the error name), writes `_id`/`_rev` back
//! into the caller's documents, and reports a whole-batch 400 as "501 ...
//! error decoding response body". `_bulk_docs` is one POST with a JSON
//! body, so this crate uses batch-core's shared HTTP client
//! ([`batch_core::http::Endpoint`]: ureq 3, blocking, fits the flusher
//! thread) and serde_json, and reads every per-document result itself.
//!
//! # Servers
//! Tested against pouchdb-server 4.2 (CouchDB's HTTP API); nothing here
//! depends on its quirks (result order, reason texts, id formats, 400 vs
//! 500 for bad bodies), so it runs unchanged against Apache CouchDB.

mod bulk_result;
mod conflict;
mod database;
mod doc;
mod doc_id;
mod error;
/// Entry points for the project's fuzz targets, not API (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod inserter;
mod options;
mod reader;
mod replay;
mod sink;

pub use batch_core::env::{get_couchdb_batch_size, should_use_couchdb_batch_insert};
pub use conflict::ConflictPolicy;
pub use database::{CouchDatabase, DEFAULT_TIMEOUT};
pub use doc::{CouchDoc, DEFAULT_MAX_DOC_BYTES, RefusedDoc};
pub use error::CouchError;
pub use inserter::{CouchDBBatchInserter, FailedDoc, FailedDocs};
pub use options::{CouchOptions, DEFAULT_MAX_REQUEST_BYTES};
pub use reader::{CouchDBBatchReader, MAX_IDS_PER_READ};
pub use sink::CouchSink;

/// Re-exported so documents can be built (`serde_json::json!`) without a
/// direct `serde_json` dependency.
// A link to its own docs, not a copy. Where uds3-batch inlines this crate,
// rustdoc 1.95 ignores this and copies it anyway (rust-lang/rust#131180).
#[doc(no_inline)]
pub use serde_json;
