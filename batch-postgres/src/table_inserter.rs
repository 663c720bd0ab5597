//! `TableBatchInserter`: the generic wrapper, batching rows into any table.
//! The `documents` preset ([`PostgreSQLBatchInserter`](crate::PostgreSQLBatchInserter))
//! is built on it.

use std::collections::BTreeMap;
use std::time::Duration;

use batch_core::{BatchError, Batcher, BatcherSettings, FailedItem, FlushReport, Stats};

use crate::connector::Connector;
use crate::error::PostgresError;
use crate::row::Row;
use crate::sink::{TableSink, WriteMethod};
use crate::spec::TableSpec;

/// Batches rows of type `R` into the table of a [`TableSpec`], one statement
/// and one commit per batch, on a flusher thread of its own.
#[must_use = "rows are written in batches; call flush() or close() to see failures"]
#[derive(Debug)]
pub struct TableBatchInserter<R: Row> {
    batcher: Batcher<TableSink<R>>,
}

impl<R: Row> TableBatchInserter<R> {
    /// Batches of `batch_size` rows, other settings at their defaults.
    /// Connects at once, so that a down server is reported here.
    pub fn new(
        connector: Connector,
        spec: TableSpec,
        batch_size: usize,
    ) -> Result<Self, PostgresError> {
        let settings = BatcherSettings::builder()
            .name("postgres")
            .batch_size(batch_size)
            .build()?;
        Self::with_settings(connector, spec, settings)
    }

    /// Full control over batching (retry, fallback, linger, ...).
    pub fn with_settings(
        connector: Connector,
        spec: TableSpec,
        settings: BatcherSettings,
    ) -> Result<Self, PostgresError> {
        Self::from_sink(TableSink::new(connector, spec), settings)
    }

    /// Around a sink configured by hand (e.g. another [`WriteMethod`]).
    pub fn from_sink(
        mut sink: TableSink<R>,
        settings: BatcherSettings,
    ) -> Result<Self, PostgresError> {
        sink.connect()?;
        let batcher = Batcher::new(sink, settings).map_err(PostgresError::Spawn)?;
        Ok(Self { batcher })
    }

    /// Like [`new`](Self::new), with `method` instead of the default.
    pub fn with_method(
        connector: Connector,
        spec: TableSpec,
        method: WriteMethod,
        settings: BatcherSettings,
    ) -> Result<Self, PostgresError> {
        Self::from_sink(
            TableSink::new(connector, spec).with_method(method),
            settings,
        )
    }

    /// Adds a row; writes a batch when it is full. A row refused by its
    /// [`Row::validate`] comes back at once with [`BatchError::Invalid`].
    pub fn add(&self, row: R) -> Result<(), FailedItem<R, PostgresError>> {
        if let Err(reason) = row.validate() {
            return Err(FailedItem {
                item: row,
                error: BatchError::Invalid(reason),
            });
        }
        self.batcher.add(row)
    }

    /// Writes everything buffered and waits; failed rows come back here
    /// with their SQLSTATE and message.
    pub fn flush(&self) -> FlushReport<R, PostgresError> {
        self.batcher.flush()
    }

    /// Flushes and stops, waiting at most `timeout`.
    pub fn close(&self, timeout: Duration) -> FlushReport<R, PostgresError> {
        self.batcher.close(timeout)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.batcher.stats()
    }

    /// UDS3 v2.2's `get_stats()`: `total_added`, `total_batches`,
    /// `total_fallbacks`, `pending`, and batch-core's extra counters.
    pub fn get_stats(&self) -> BTreeMap<&'static str, u64> {
        self.stats().to_uds3_map("total_added")
    }

    /// The underlying batcher, for what this wrapper does not forward.
    pub fn batcher(&self) -> &Batcher<TableSink<R>> {
        &self.batcher
    }
}
