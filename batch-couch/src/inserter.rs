//! `CouchDBBatchInserter`: UDS3 v2.2's class of that name, on batch-core.

use std::collections::BTreeMap;
use std::time::Duration;

use batch_core::{
    BatchError, Batcher, BatcherSettings, FailedItem, FlushReport, Stats, env::COUCHDB,
};
use serde_json::Value;

use crate::database::CouchDatabase;
use crate::doc::CouchDoc;
use crate::error::CouchError;
use crate::options::CouchOptions;
use crate::sink::CouchSink;

/// A document handed back to the caller, with the reason.
pub type FailedDoc = FailedItem<CouchDoc, CouchError>;

/// Buffers documents and writes them with one `_bulk_docs` request per
/// batch, from a flusher thread of its own (UDS3 v2.2's
/// `CouchDBBatchInserter`).
///
/// Every added document ends up written (`total_added`), counted as a
/// conflict (`total_conflicts`, an idempotent success under the default
/// [`ConflictPolicy::Skip`](crate::ConflictPolicy::Skip)), or handed back
/// as a [`FailedDoc`], from `add` itself or in the report of the next
/// [`flush`](Self::flush) / [`close`](Self::close). Dropping the inserter
/// flushes it (batch-core's `Drop`, bounded by the settings' `close_timeout`).
///
/// Thread-safe: share it as `Arc<CouchDBBatchInserter>`.
#[must_use = "an inserter writes nothing until documents are added and it is flushed"]
#[derive(Debug)]
pub struct CouchDBBatchInserter {
    batcher: Batcher<CouchSink>,
    database: CouchDatabase,
    max_doc_bytes: usize,
}

impl CouchDBBatchInserter {
    /// UDS3 v2.2's `CouchDBBatchInserter(backend, batch_size)`: batches of
    /// `batch_size` documents, default options.
    pub fn new(database: CouchDatabase, batch_size: usize) -> Result<Self, CouchError> {
        let settings = settings_builder().batch_size(batch_size).build()?;
        Self::with_options(database, settings, CouchOptions::default())
    }

    /// The batch size from `COUCHDB_BATCH_INSERT_SIZE` (default 100,
    /// 1-1000; a bad value is an error naming the variable). Whether to
    /// batch at all is the caller's
    /// [`should_use_couchdb_batch_insert`](crate::should_use_couchdb_batch_insert).
    pub fn from_env(database: CouchDatabase) -> Result<Self, CouchError> {
        let settings = BatcherSettings::from_env(&COUCHDB)?
            .name("couchdb")
            .build()?;
        Self::with_options(database, settings, CouchOptions::default())
    }

    /// With full batcher settings and default CouchDB options.
    pub fn with_settings(
        database: CouchDatabase,
        settings: BatcherSettings,
    ) -> Result<Self, CouchError> {
        Self::with_options(database, settings, CouchOptions::default())
    }

    /// With full batcher settings and CouchDB options (conflict policy,
    /// size limits).
    pub fn with_options(
        database: CouchDatabase,
        settings: BatcherSettings,
        options: CouchOptions,
    ) -> Result<Self, CouchError> {
        let max_doc_bytes = options.max_doc_bytes;
        let sink = CouchSink::new(database.clone(), options);
        Ok(Self {
            batcher: Batcher::new(sink, settings)?,
            database,
            max_doc_bytes,
        })
    }

    /// Adds a document (UDS3 v2.2's `add(doc, doc_id)`); writes a batch
    /// when it is full.
    ///
    /// The id is `doc_id` if given, else the document's `_id`, else a
    /// random one assigned now (see [`CouchDoc::new`]). `doc` itself is not
    /// modified. A document that cannot be valid (not an object, bad id,
    /// too large) comes back at once with [`BatchError::Invalid`] and is
    /// never sent.
    pub fn add(&self, doc: Value, doc_id: Option<&str>) -> Result<(), FailedDoc> {
        match CouchDoc::new(doc, doc_id.map(str::to_owned), self.max_doc_bytes) {
            Ok(doc) => self.add_doc(doc),
            Err(refused) => Err(FailedItem {
                item: refused.doc,
                error: BatchError::Invalid(refused.reason),
            }),
        }
    }

    /// Adds a prepared document, e.g. one handed back earlier: it keeps
    /// the id it was given, so adding it again cannot store it twice.
    pub fn add_doc(&self, doc: CouchDoc) -> Result<(), FailedDoc> {
        self.batcher.add(doc)
    }

    /// Writes everything buffered and waits for it. Returns what was
    /// written, conflicted and handed back since the previous report.
    pub fn flush(&self) -> FlushReport<CouchDoc, CouchError> {
        self.batcher.flush()
    }

    /// Flushes and refuses further documents, waiting at most `timeout`.
    pub fn close(&self, timeout: Duration) -> FlushReport<CouchDoc, CouchError> {
        self.batcher.close(timeout)
    }

    /// A consistent snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.batcher.stats()
    }

    /// UDS3 v2.2's `get_stats()`: `total_added`, `total_batches`,
    /// `total_fallbacks`, `total_conflicts`, `pending`, and this library's
    /// extra counters.
    pub fn get_stats(&self) -> BTreeMap<&'static str, u64> {
        self.batcher.stats().to_uds3_map("total_added")
    }

    /// Documents buffered and not yet sent.
    pub fn pending(&self) -> usize {
        self.batcher.pending()
    }

    /// The database written to (e.g. for [`CouchDatabase::requests_sent`]).
    pub fn database(&self) -> &CouchDatabase {
        &self.database
    }
}

fn settings_builder() -> batch_core::BatcherSettingsBuilder {
    BatcherSettings::builder().name("couchdb")
}
