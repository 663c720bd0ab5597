//! `TableBatchInserter`: a batch-core `Batcher` over a [`TableSink`],
//! batching rows into any table. The `documents` preset
//! ([`PostgreSQLBatchInserter`](crate::PostgreSQLBatchInserter)) is built on it.

use batch_core::env::POSTGRES;
use batch_core::{Batcher, BatcherSettings};

use crate::connector::Connector;
use crate::error::PostgresError;
use crate::row::Row;
use crate::sink::{TableSink, WriteMethod};
use crate::spec::TableSpec;

batch_core::inserter! {
    /// Batches rows of type `R` into the table of a [`TableSpec`], one statement
    /// and one commit per batch, on a flusher thread of its own.
    ///
    /// `add(row)`, `flush`, `flush_timeout`, `close`, `stats`, `get_stats`,
    /// `set_failure_handler`, ... and their async twins (`add_async`,
    /// `flush_async`, `close_async`) come from the [`Batcher`] it
    /// dereferences to. A row refused by its [`Row::validate`] (or with the wrong number of
    /// values) comes back from `add` at once with
    /// [`BatchError::Invalid`](batch_core::BatchError::Invalid).
    #[must_use = "rows are written in batches; call flush() or close() to see failures"]
    #[derive(Debug)]
    pub struct TableBatchInserter<R: Row>(Batcher<TableSink<R>>) {}
}

impl<R: Row> TableBatchInserter<R> {
    /// Batches of `batch_size` rows, other settings at their defaults.
    /// Connects at once, so that a down server is reported here (on a
    /// thread of the library's: safe from async code, which waits at most
    /// the connector's deadline).
    pub fn new(
        connector: Connector,
        spec: TableSpec,
        batch_size: usize,
    ) -> Result<Self, PostgresError> {
        Self::with_settings(
            connector,
            spec,
            BatcherSettings::for_backend(&POSTGRES, batch_size)?,
        )
    }

    /// Full control over batching (retry, fallback, linger, ...).
    pub fn with_settings(
        connector: Connector,
        spec: TableSpec,
        settings: BatcherSettings,
    ) -> Result<Self, PostgresError> {
        Self::from_sink(TableSink::new(connector, spec), settings)
    }

    /// Like [`with_settings`](Self::with_settings), with `method` instead
    /// of the default.
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

    /// Around a sink configured by hand (e.g. another [`WriteMethod`]).
    pub fn from_sink(
        mut sink: TableSink<R>,
        settings: BatcherSettings,
    ) -> Result<Self, PostgresError> {
        sink.connect()?;
        let batcher = Batcher::new(sink, settings)?;
        Ok(Self { batcher })
    }
}
