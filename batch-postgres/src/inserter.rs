//! `PostgreSQLBatchInserter`: UDS3 v2.2's documents inserter, the
//! `documents` preset of the generic table inserter.

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
    many {
        /// Build each row with [`DocumentRow::new`] (UDS3's defaults for
        /// `created_at` and `processing_status`); with `Fsync::Always`, the
        /// call waits for one fsync, not one per row.
        fn add_many, add_many_async(rows: DocumentRow) -> FailedRows;
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

    /// Buffers one document row. UDS3 v2.2's `add(document_id, file_path,
    /// classification, content_length, legal_terms_count, created_at=None,
    /// quality_score=None, processing_status=None)` is
    /// `add(DocumentRow::new(document_id, file_path, classification,
    /// content_length, legal_terms_count))`, with
    /// [`created_at`](DocumentRow::created_at),
    /// [`quality_score`](DocumentRow::quality_score) and
    /// [`processing_status`](DocumentRow::processing_status) chained for
    /// the keyword arguments; `created_at` defaults to now and
    /// `processing_status` to `completed`, as in UDS3.
    ///
    /// ```no_run
    /// # use batch_postgres::{Connector, DocumentRow, PostgreSQLBatchInserter};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let docs = PostgreSQLBatchInserter::new(Connector::from_url("postgres://postgres@127.0.0.1/postgres")?, 100)?;
    /// docs.add(DocumentRow::new("doc-1", "/docs/1.pdf", "contract", 1200, 4).quality_score(0.9))?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// An invalid row (empty id, NUL bytes, negative counts, a quality
    /// score outside 0-1, ...) comes back at once with the reason; so does
    /// a row the batcher cannot take (closed, full).
    #[allow(clippy::result_large_err)] // the Err hands the row back by design
    pub fn add(&self, row: DocumentRow) -> Result<(), FailedItem<DocumentRow, PostgresError>> {
        self.batcher.add(row)
    }

    /// [`add`](Self::add) for async code: waits for room without blocking
    /// a thread. The row is taken at the call, so the future is `Send`.
    pub fn add_async(
        &self,
        row: DocumentRow,
    ) -> impl Future<Output = Result<(), FailedItem<DocumentRow, PostgresError>>> + Send + '_ {
        self.batcher.add_async(row)
    }
}

/// The rows [`PostgreSQLBatchInserter::add_many`] did not accept, each with
/// its index in the input.
pub type FailedRows = AddManyError<DocumentRow, PostgresError>;
