//! batch-postgres: UDS3's `PostgreSQLBatchInserter` on batch-core, writing
//! each batch as **one statement and one commit** instead of one statement
//! per row.
//!
//! - [`PostgreSQLBatchInserter`]: UDS3 v2.2's documents inserter
//!   (`INSERT ... ON CONFLICT (document_id) DO UPDATE SET` every column
//!   but `created_at`), with [`ensure_schema`](PostgreSQLBatchInserter::ensure_schema).
//! - [`TableBatchInserter`]: the same for any table: a [`TableSpec`]
//!   (validated, always-quoted table, columns, conflict key) and rows
//!   implementing [`Row`] (or ad-hoc [`DynRow`]s of `ToSql` values).
//!
//! # How a batch is written
//! By default ([`WriteMethod::Unnest`]) every column travels as one array
//! parameter: `WITH src AS (SELECT * FROM UNNEST($1::text[], ...) WITH
//! ORDINALITY) ... INSERT ... ON CONFLICT ... RETURNING`, one round trip.
//! Rows repeating a key within a batch do not fail it: the row sequential
//! execution would leave behind wins (the last for updates, the first for
//! DO NOTHING) and the others count as conflicts, so `total_added` equals
//! the rows the table gained or changed. Rows identical to the stored ones
//! are not rewritten and count as conflicts, so re-running the same input
//! changes nothing.
//!
//! Tables that need no upsert (append logs) can take
//! [`WriteMethod::CopyInsert`]: binary `COPY` straight into the table, at
//! the speed of `COPY`; a key already stored fails the batch, which is
//! bisected down to that row, and the row comes back as a conflict.
//! [`TableSink::statement_sql`] shows the SQL a sink runs.
//!
//! # Failures
//! A failed statement rolls back as a whole, and batch-core's bisect
//! fallback isolates the bad rows: each comes back in the
//! [`FlushReport`](batch_core::FlushReport) with a [`PostgresError::Server`]
//! carrying its SQLSTATE and message, while every good row is written.
//! Lost connections, serialization failures, deadlocks, shutdowns and
//! `too_many_connections` are transient: retried with backoff, reconnecting
//! lazily. Every request (connect, prepare, write) runs under the
//! connector's deadline ([`Connector::timeout`], default 60 s), so a server
//! that stops answering cannot hang the flusher. A write whose answer was
//! lost (connection gone or deadline passed after it was sent) may have
//! been applied: it is replayed, and rows stored exactly as sent count as
//! written, not as conflicts. Authentication, a missing database, table or
//! column, or a missing privilege are fatal: every row of the batch comes
//! back at once, after one request.
//!
//! # Async code
//! Every constructor and method may be called from a plain thread, a tokio
//! runtime of either flavor, or `spawn_blocking`: connections are opened,
//! and batches written, on the library's own threads, each with a runtime
//! of its own that never touches the caller's.
//!
//! # Quick Start
//! ```no_run
//! use batch_postgres::{Connector, DocumentRow, PostgreSQLBatchInserter};
//! use std::time::Duration;
//!
//! let connector = Connector::from_url("postgres://postgres@127.0.0.1:25432/postgres")?;
//! let inserter = PostgreSQLBatchInserter::new(connector, 100)?;
//! inserter.ensure_schema()?;
//! for i in 0..250 {
//!     // document_id, file_path, classification, content_length,
//!     // legal_terms_count; created_at, quality_score and processing_status
//!     // chained where UDS3 took keyword arguments
//!     let row = DocumentRow::new(format!("doc-{i}"), format!("/docs/{i}.pdf"), "law", 1200, 7);
//!     inserter.add(row.quality_score(0.9)).map_err(|f| f.error)?;
//! }
//! let report = inserter.close(Duration::from_secs(30));
//! for failed in &report.failed {
//!     eprintln!("{} not written: {}", failed.item.document_id, failed.error);
//! }
//! println!("{:?}", inserter.get_stats()); // {"total_added": 250, "total_batches": 3, ...}
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod column_array;
mod connector;
mod documents;
mod error;
mod ident;
mod inserter;
mod reader;
mod row;
mod row_values;
mod sink;
mod spec;
mod sslmode;
mod statements;
mod table_inserter;
#[cfg(feature = "tls")]
mod tls;

pub use connector::{Connector, DEFAULT_TIMEOUT};
pub use documents::{
    DEFAULT_PROCESSING_STATUS, DOCUMENT_COLUMNS, DocumentRow, create_documents_table,
    documents_spec,
};
pub use error::{Phase, PostgresError, ServerError};
pub use ident::{Ident, TableName};
pub use inserter::{DEFAULT_TABLE, FailedRows, PostgreSQLBatchInserter};
pub use reader::{DocumentsTable, MAX_IDS_PER_READ, PostgreSQLBatchReader};
pub use row::{DynRow, Row};
pub use sink::{TableSink, WriteMethod};
pub use spec::{OnConflict, TableSpec};
pub use table_inserter::TableBatchInserter;

/// Re-exported so rows can be built without a direct `postgres` dependency.
// A link to its own docs, not a copy. Where uds3-batch inlines this crate,
// rustdoc 1.95 ignores this and copies it anyway (rust-lang/rust#131180).
#[doc(no_inline)]
pub use postgres;
