//! `ChromaBatchInserter`: UDS3 v2.2's class of that name, a batch-core
//! `Batcher` over a [`ChromaSink`] with UDS3's constructors and `add`.

use batch_core::env::CHROMA;
use batch_core::{AddManyError, Batcher, BatcherSettings, FailedItem};

use crate::collection::Collection;
use crate::error::ChromaError;
use crate::metadata::Metadata;
use crate::record::ChromaRecord;
use crate::sink::ChromaSink;
use crate::validate::RecordValidator;
use crate::write_mode::WriteMode;

/// A record handed back with the reason it was not written.
pub type FailedRecord = FailedItem<ChromaRecord, ChromaError>;

/// The records [`ChromaBatchInserter::add_many`] did not accept, each with
/// its index in the input.
pub type FailedRecords = AddManyError<ChromaRecord, ChromaError>;

batch_core::inserter! {
    /// Buffers vectors and writes them to one Chroma collection in batches.
    ///
    /// `add` refuses invalid records at once (empty id, NaN, reserved
    /// metadata keys, a dimension other than the collection's once the
    /// server has told it); everything else ends up written, counted as a
    /// conflict (an id that was already there in [`WriteMode::Add`]), or handed
    /// back in a [`FlushReport`](batch_core::FlushReport). Dropping the
    /// inserter flushes it.
    ///
    /// Everything else a batcher does (`flush`, `flush_timeout`, `close`,
    /// `stats`, `get_stats`, `set_failure_handler`, ...) comes from the
    /// [`Batcher`] it dereferences to.
    #[must_use = "records are only written by flush(), close() or drop"]
    #[derive(Debug)]
    pub struct ChromaBatchInserter(Batcher<ChromaSink>) {
        validator: RecordValidator,
    }
    env(CHROMA);
    /// `/add` mode with full batcher settings.
    fn with_settings(collection: Collection, settings) -> Result<Self, ChromaError> {
        Self::with_sink(ChromaSink::new(collection, WriteMode::Add)?, settings)
    }
    many {
        /// Records are refused as [`add_record`](Self::add_record) refuses them
        /// (empty id, NaN, reserved metadata keys, a dimension other than
        /// the collection's, ...).
        fn add_many, add_many_async(records: ChromaRecord) -> FailedRecords;
    }
}

impl ChromaBatchInserter {
    /// Any write mode, encoding or request cap: build the [`ChromaSink`]
    /// yourself.
    pub fn with_sink(sink: ChromaSink, settings: BatcherSettings) -> Result<Self, ChromaError> {
        let validator = sink.validator().clone();
        let batcher = Batcher::new(sink, settings)?;
        Ok(Self { batcher, validator })
    }

    /// UDS3's `add(chunk_id, vector, metadata)`: buffers one record and
    /// writes a batch when it is full. An invalid record comes back at once.
    pub fn add(
        &self,
        chunk_id: impl Into<String>,
        vector: Vec<f32>,
        metadata: Metadata,
    ) -> Result<(), FailedRecord> {
        self.batcher
            .add(ChromaRecord::new(chunk_id, vector, metadata))
    }

    /// Like [`add`](Self::add), with a document text.
    pub fn add_with_document(
        &self,
        chunk_id: impl Into<String>,
        vector: Vec<f32>,
        metadata: Metadata,
        document: impl Into<String>,
    ) -> Result<(), FailedRecord> {
        self.batcher
            .add(ChromaRecord::new(chunk_id, vector, metadata).with_document(document))
    }

    /// Buffers a ready record (e.g. one handed back earlier).
    pub fn add_record(&self, record: ChromaRecord) -> Result<(), FailedRecord> {
        self.batcher.add(record)
    }

    /// [`add`](Self::add) for async code: waits for room in the buffer
    /// without blocking the thread (batch-core's
    /// [`add_async`](Batcher::add_async)). The future is `Send`.
    pub fn add_async(
        &self,
        chunk_id: impl Into<String>,
        vector: Vec<f32>,
        metadata: Metadata,
    ) -> impl Future<Output = Result<(), FailedRecord>> + Send + '_ {
        // Built here, not in the future, so the future holds no caller type
        // that might not be `Send`.
        self.batcher
            .add_async(ChromaRecord::new(chunk_id, vector, metadata))
    }

    /// [`add_with_document`](Self::add_with_document) for async code, as
    /// [`add_async`](Self::add_async).
    pub fn add_with_document_async(
        &self,
        chunk_id: impl Into<String>,
        vector: Vec<f32>,
        metadata: Metadata,
        document: impl Into<String>,
    ) -> impl Future<Output = Result<(), FailedRecord>> + Send + '_ {
        self.batcher
            .add_async(ChromaRecord::new(chunk_id, vector, metadata).with_document(document))
    }

    /// [`add_record`](Self::add_record) for async code, as
    /// [`add_async`](Self::add_async).
    pub fn add_record_async(
        &self,
        record: ChromaRecord,
    ) -> impl Future<Output = Result<(), FailedRecord>> + Send + '_ {
        self.batcher.add_async(record)
    }

    /// The embedding dimension records must have, once known.
    pub fn dimension(&self) -> Option<usize> {
        self.validator.dimension()
    }
}
