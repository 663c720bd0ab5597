//! `PostgreSQLBatchInserter`: UDS3 v2.2's documents inserter, the
//! `documents` preset of the generic table inserter.

use std::time::SystemTime;

use batch_core::env::POSTGRES;
use batch_core::{AddManyError, BatcherSettings, FailedItem};

use crate::connector::Connector;
use crate::documents::{DocumentRow, create_documents_table, documents_spec};
use crate::error::PostgresError;
use crate::ident::TableName;
use crate::sink::{TableSink, WriteMethod};
use crate::table_inserter::TableBatchInserter;

/// The table UDS3 v2.2 writes to.
pub const DEFAULT_TABLE: &str = "documents";

batch_core::inserter! {
    /// Batches documents into UDS3's `documents` table: `INSERT ... ON CONFLICT
    /// (document_id) DO UPDATE SET` every column except `created_at`, one
    /// statement and one commit per batch.
    ///
    /// `flush`, `flush_timeout`, `close`, `stats`, `get_stats`,
    /// `set_failure_handler`, `flush_async`, `close_async`, ... come from the
    /// [`Batcher`](batch_core::Batcher) it dereferences to (through
    /// [`TableBatchInserter`]).
    #[must_use = "documents are written in batches; call flush() or close() to see failures"]
    #[derive(Debug)]
    pub struct PostgreSQLBatchInserter(TableBatchInserter<DocumentRow>) {
        connector: Connector,
        table: TableName,
    }
    env(POSTGRES);
    /// Table `documents` with full control over batching.
    fn with_settings(connector: Connector, settings) -> Result<Self, PostgresError> {
        Self::with_table(connector, TableName::new(DEFAULT_TABLE)?, settings)
    }
}

impl PostgreSQLBatchInserter {
    /// Another table with the documents layout.
    pub fn with_table(
        connector: Connector,
        table: TableName,
        settings: BatcherSettings,
    ) -> Result<Self, PostgresError> {
        Self::with_method(connector, table, WriteMethod::default(), settings)
    }

    /// Another table and write method (for benchmarks and comparisons).
    pub fn with_method(
        connector: Connector,
        table: TableName,
        method: WriteMethod,
        settings: BatcherSettings,
    ) -> Result<Self, PostgresError> {
        let sink =
            TableSink::new(connector.clone(), documents_spec(table.clone())?).with_method(method);
        Ok(Self {
            batcher: TableBatchInserter::from_sink(sink, settings)?,
            connector,
            table,
        })
    }

    /// Creates the documents table if it does not exist (own short
    /// connection; the batch connection prepares lazily, so this may run
    /// after construction and before the first flush).
    pub fn ensure_schema(&self) -> Result<(), PostgresError> {
        self.connector
            .batch_execute(&create_documents_table(&self.table))
    }

    /// The target table.
    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// UDS3's `add(document_id, file_path, classification, content_length,
    /// legal_terms_count, created_at=None, quality_score=None,
    /// processing_status=None)`: `created_at` defaults to now and
    /// `processing_status` to `completed`. Invalid values come back at once.
    // Mirrors UDS3 v2.2's signature (see add_row); the Err hands the row back by design.
    #[allow(clippy::too_many_arguments, clippy::result_large_err)]
    pub fn add(
        &self,
        document_id: impl Into<String>,
        file_path: impl Into<String>,
        classification: impl Into<String>,
        content_length: i64,
        legal_terms_count: i64,
        created_at: Option<SystemTime>,
        quality_score: Option<f64>,
        processing_status: Option<&str>,
    ) -> Result<(), FailedItem<DocumentRow, PostgresError>> {
        self.add_row(document(
            document_id,
            file_path,
            classification,
            content_length,
            legal_terms_count,
            created_at,
            quality_score,
            processing_status,
        ))
    }

    /// [`add`](Self::add) for async code: waits for room without blocking
    /// a thread. The row is built at the call, so the future borrows none
    /// of the arguments and is `Send`.
    #[allow(clippy::too_many_arguments)] // mirrors add
    pub fn add_async(
        &self,
        document_id: impl Into<String>,
        file_path: impl Into<String>,
        classification: impl Into<String>,
        content_length: i64,
        legal_terms_count: i64,
        created_at: Option<SystemTime>,
        quality_score: Option<f64>,
        processing_status: Option<&str>,
    ) -> impl Future<Output = Result<(), FailedItem<DocumentRow, PostgresError>>> + Send + '_ {
        self.add_row_async(document(
            document_id,
            file_path,
            classification,
            content_length,
            legal_terms_count,
            created_at,
            quality_score,
            processing_status,
        ))
    }

    /// Adds a prepared [`DocumentRow`].
    #[allow(clippy::result_large_err)] // the Err hands the row back by design
    pub fn add_row(&self, row: DocumentRow) -> Result<(), FailedItem<DocumentRow, PostgresError>> {
        self.batcher.add(row)
    }

    /// [`add_row`](Self::add_row) for async code: waits for room without
    /// blocking a thread.
    pub async fn add_row_async(
        &self,
        row: DocumentRow,
    ) -> Result<(), FailedItem<DocumentRow, PostgresError>> {
        self.batcher.add_async(row).await
    }

    /// Buffers many prepared rows at once, in order (build each with
    /// [`DocumentRow::new`], which gives `created_at` and
    /// `processing_status` the defaults of [`add`](Self::add)):
    /// batch-core's [`add_many`](batch_core::Batcher::add_many), one lock
    /// of the buffer for all of them and, under a durable buffer, one
    /// append and one sync (with `Fsync::Always`, one fsync for the call
    /// instead of one per row). Batches are cut as they would be by `add`.
    ///
    /// # Errors
    /// The rows `add_row` would refuse (empty id, NUL bytes, negative
    /// counts, a quality score outside 0-1, ...), each with its index in
    /// `rows` and the same error; every other row is accepted.
    pub fn add_many(&self, rows: impl IntoIterator<Item = DocumentRow>) -> Result<(), FailedRows> {
        self.batcher.add_many(rows)
    }

    /// [`add_many`](Self::add_many) for async code: waits for room without
    /// blocking a thread. The rows are taken at the call; the future is
    /// `Send`.
    pub fn add_many_async(
        &self,
        rows: impl IntoIterator<Item = DocumentRow>,
    ) -> impl Future<Output = Result<(), FailedRows>> + Send + '_ {
        self.batcher.add_many_async(rows)
    }
}

/// The rows [`PostgreSQLBatchInserter::add_many`] did not accept, each with
/// its index in the input.
pub type FailedRows = AddManyError<DocumentRow, PostgresError>;

/// The row `add` and `add_async` write: UDS3's defaults for what is `None`.
#[allow(clippy::too_many_arguments)] // add's arguments
fn document(
    document_id: impl Into<String>,
    file_path: impl Into<String>,
    classification: impl Into<String>,
    content_length: i64,
    legal_terms_count: i64,
    created_at: Option<SystemTime>,
    quality_score: Option<f64>,
    processing_status: Option<&str>,
) -> DocumentRow {
    let mut row = DocumentRow::new(
        document_id,
        file_path,
        classification,
        content_length,
        legal_terms_count,
    );
    if let Some(at) = created_at {
        row.created_at = at;
    }
    row.quality_score = quality_score;
    if let Some(status) = processing_status {
        row.processing_status = status.to_owned();
    }
    row
}
