//! `CouchDBBatchInserter`: UDS3 v2.2's class of that name, a batch-core
//! `Batcher` over a [`CouchSink`] with UDS3's constructors and `add`.

use batch_core::env::COUCHDB;
use batch_core::{AddManyError, BatchError, Batcher, BatcherSettings, FailedItem};
use serde_json::Value;

use crate::database::CouchDatabase;
use crate::doc::CouchDoc;
use crate::error::CouchError;
use crate::options::CouchOptions;
use crate::sink::CouchSink;

/// A document handed back to the caller, with the reason.
pub type FailedDoc = FailedItem<CouchDoc, CouchError>;

/// The documents [`CouchDBBatchInserter::add_many`] (or
/// [`add_docs`](CouchDBBatchInserter::add_docs)) did not accept, each with
/// its index in the input.
pub type FailedDocs = AddManyError<CouchDoc, CouchError>;

batch_core::inserter! {
    /// Buffers documents and writes them with one `_bulk_docs` request per
    /// batch, from a flusher thread of its own (UDS3 v2.2's
    /// `CouchDBBatchInserter`).
    ///
    /// Every added document ends up written (`total_added`), counted as a
    /// conflict (`total_conflicts`, an idempotent success under the default
    /// [`ConflictPolicy::Skip`](crate::ConflictPolicy::Skip)), or handed back
    /// as a [`FailedDoc`], from `add` itself or in the report of the next
    /// `flush` / `close`. Dropping the inserter flushes it (batch-core's
    /// `Drop`, bounded by the settings' `close_timeout`).
    ///
    /// Everything else a batcher does (`flush`, `flush_timeout`, `close`,
    /// `stats`, `get_stats`, `pending`, `set_failure_handler`, ...) comes from
    /// the [`Batcher`] it dereferences to. Thread-safe: share it as
    /// `Arc<CouchDBBatchInserter>`.
    #[must_use = "an inserter writes nothing until documents are added and it is flushed"]
    #[derive(Debug)]
    pub struct CouchDBBatchInserter(Batcher<CouchSink>) {
        database: CouchDatabase,
        max_doc_bytes: usize,
    }
    env(COUCHDB);
    /// With full batcher settings and default CouchDB options.
    fn with_settings(database: CouchDatabase, settings) -> Result<Self, CouchError> {
        Self::with_options(database, settings, CouchOptions::default())
    }
    many {
        /// Prepared documents (e.g. ones handed back earlier), each as
        /// [`add_doc`](Self::add_doc) adds it; [`add_many`](Self::add_many)
        /// takes raw values.
        fn add_docs, add_docs_async(docs: CouchDoc) -> FailedDocs;
    }
}

impl CouchDBBatchInserter {
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
        self.batcher.add(self.prepare(doc, doc_id)?)
    }

    /// [`add`](Self::add) for async code: waits for room in the buffer
    /// without blocking the thread (batch-core's
    /// [`add_async`](Batcher::add_async)). The future is `Send`.
    pub async fn add_async(&self, doc: Value, doc_id: Option<&str>) -> Result<(), FailedDoc> {
        let doc = self.prepare(doc, doc_id)?;
        self.batcher.add_async(doc).await
    }

    /// Adds a prepared document, e.g. one handed back earlier: it keeps
    /// the id it was given, so adding it again cannot store it twice.
    pub fn add_doc(&self, doc: CouchDoc) -> Result<(), FailedDoc> {
        self.batcher.add(doc)
    }

    /// [`add_doc`](Self::add_doc) for async code, as
    /// [`add_async`](Self::add_async).
    pub async fn add_doc_async(&self, doc: CouchDoc) -> Result<(), FailedDoc> {
        self.batcher.add_async(doc).await
    }

    /// Adds many documents at once, each `(doc, doc_id)` as
    /// [`add`](Self::add) takes them, in order: e.g. every chunk of a
    /// document. Each is prepared as `add` prepares it, then all go to
    /// batch-core's [`add_many`](Batcher::add_many): one lock of the
    /// buffer for all of them (and under a durable buffer one append and
    /// one sync), where `add` in a loop pays that per document. Batches
    /// are cut as they would be by `add`.
    ///
    /// # Errors
    /// The documents `add` would refuse (not an object, bad id, too large,
    /// ...), each with its index in `docs` and the same error; every other
    /// document is accepted.
    pub fn add_many<'a>(
        &self,
        docs: impl IntoIterator<Item = (Value, Option<&'a str>)>,
    ) -> Result<(), FailedDocs> {
        let (prepared, refused) = self.prepare_many(docs);
        refused.merge(self.batcher.add_many(prepared))
    }

    /// [`add_many`](Self::add_many) for async code: waits for room in the
    /// buffer without blocking the thread. The documents are prepared at
    /// the call, so the future holds none of the arguments and is `Send`.
    pub fn add_many_async<'a>(
        &self,
        docs: impl IntoIterator<Item = (Value, Option<&'a str>)>,
    ) -> impl Future<Output = Result<(), FailedDocs>> + Send + '_ {
        let (prepared, refused) = self.prepare_many(docs);
        let adding = self.batcher.add_many_async(prepared);
        async move { refused.merge(adding.await) }
    }

    /// The documents `add_many` hands to the batcher, and those it refused
    /// while preparing them, by index.
    fn prepare_many<'a>(
        &self,
        docs: impl IntoIterator<Item = (Value, Option<&'a str>)>,
    ) -> (Vec<CouchDoc>, Prepared) {
        let mut prepared = Vec::new();
        let mut refused = Prepared::default();
        for (index, (doc, doc_id)) in docs.into_iter().enumerate() {
            match self.prepare(doc, doc_id) {
                Ok(doc) => {
                    prepared.push(doc);
                    refused.at.push(index);
                }
                Err(failed) => refused.failed.push((index, failed)),
            }
        }
        (prepared, refused)
    }

    /// The document `add` buffers, or the refusal it returns (counted in
    /// `total_refused`, as the batcher counts the items it refuses).
    fn prepare(&self, doc: Value, doc_id: Option<&str>) -> Result<CouchDoc, FailedDoc> {
        CouchDoc::new(doc, doc_id.map(str::to_owned), self.max_doc_bytes).map_err(|refused| {
            self.batcher.count_refused(1);
            FailedItem {
                item: refused.doc,
                error: BatchError::Invalid(refused.reason),
            }
        })
    }

    /// The database written to (e.g. for [`CouchDatabase::requests_sent`]).
    pub fn database(&self) -> &CouchDatabase {
        &self.database
    }
}

/// What `add_many` refused while preparing, and where in its input each
/// prepared document came from.
#[derive(Default)]
struct Prepared {
    /// Index in the input of each prepared document, in order.
    at: Vec<usize>,
    /// Documents refused while preparing, by index in the input.
    failed: Vec<(usize, FailedDoc)>,
}

impl Prepared {
    /// The batcher's answer for the prepared documents (indexed among
    /// them), with the refusals of preparing: every failure by its index
    /// in the input, in order.
    fn merge(self, added: Result<(), FailedDocs>) -> Result<(), FailedDocs> {
        let mut failed = self.failed;
        if let Err(back) = added {
            failed.extend(
                back.failed
                    .into_iter()
                    .map(|(index, doc)| (self.at.get(index).copied().unwrap_or(index), doc)),
            );
        }
        if failed.is_empty() {
            return Ok(());
        }
        failed.sort_by_key(|(index, _)| *index);
        Err(AddManyError { failed })
    }
}
