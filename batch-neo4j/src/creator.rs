//! `Neo4jBatchCreator`: UDS3 v2.2's class of that name on batch-core.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use batch_core::{BatchError, Batcher, BatcherSettings, FailedItem, FlushReport, Stats};

use crate::config::Neo4jConfig;
use crate::counters::{QueryCounters, QueryStats};
use crate::error::Neo4jError;
use crate::item::{GraphItem, NodeItem, RelationshipItem, check_item};
use crate::property::{Properties, PropertyValue};
use crate::sink::Neo4jSink;

/// An item handed back by the creator, with its error.
pub type FailedGraphItem = FailedItem<GraphItem, Neo4jError>;

/// Buffers relationships (and node upserts) and merges them in batches:
/// one `UNWIND` query per relationship type per batch, in one transaction.
///
/// Every added item ends up written (`total_created`), already present
/// (`total_conflicts`: re-running creates no duplicates), or handed back in
/// a [`FlushReport`] with its error (e.g. a relationship whose endpoint does
/// not exist). Dropping the creator flushes it.
#[must_use = "a creator writes nothing until it is used; call add_relationship() and flush()"]
#[derive(Debug)]
pub struct Neo4jBatchCreator {
    batcher: Batcher<Neo4jSink>,
    graph: Neo4jConfig,
    counters: Arc<QueryCounters>,
}

impl Neo4jBatchCreator {
    /// Connects to `graph` and buffers `batch_size` items per batch.
    pub fn new(graph: Neo4jConfig, batch_size: usize) -> Result<Self, Neo4jError> {
        let settings = BatcherSettings::builder()
            .name("neo4j")
            .batch_size(batch_size)
            .build()?;
        Self::with_settings(graph, settings)
    }

    /// Batch size from `NEO4J_BATCH_SIZE` (default 1000, 1-10000); whether
    /// to batch at all is [`batch_core::env::should_use_neo4j_batching`].
    pub fn from_env(graph: Neo4jConfig) -> Result<Self, Neo4jError> {
        let settings = BatcherSettings::from_env(&batch_core::env::NEO4J)?
            .name("neo4j")
            .build()?;
        Self::with_settings(graph, settings)
    }

    /// Connects to `graph` with full control over batching, retry and fallback.
    pub fn with_settings(
        graph: Neo4jConfig,
        settings: BatcherSettings,
    ) -> Result<Self, Neo4jError> {
        let sink = Neo4jSink::connect(graph.clone())?;
        let counters = sink.counters();
        let batcher = Batcher::new(sink, settings)
            .map_err(|e| Neo4jError::Config(format!("cannot start the flusher thread: {e}")))?;
        Ok(Self {
            batcher,
            graph,
            counters,
        })
    }

    /// Adds a relationship `(from)-[rel_type]->(to)` between nodes labelled
    /// with the configured start and end labels, found by their `id`.
    /// `rel_type` must match `^[A-Za-z_][A-Za-z0-9_]*$`; a bad type, empty
    /// id or property Neo4j cannot store comes back at once, unsent.
    pub fn add_relationship<K, V>(
        &self,
        from_id: impl Into<String>,
        to_id: impl Into<String>,
        rel_type: impl Into<String>,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), FailedGraphItem>
    where
        K: Into<String>,
        V: Into<PropertyValue>,
    {
        self.add_between(
            (self.graph.from_label.to_string(), from_id.into()),
            (self.graph.to_label.to_string(), to_id.into()),
            rel_type.into(),
            properties,
        )
    }

    /// Like [`add_relationship`](Self::add_relationship) between nodes of
    /// other labels than the configured ones.
    pub fn add_relationship_between<K, V>(
        &self,
        (from_label, from_id): (&str, &str),
        (to_label, to_id): (&str, &str),
        rel_type: &str,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), FailedGraphItem>
    where
        K: Into<String>,
        V: Into<PropertyValue>,
    {
        self.add_between(
            (from_label.to_owned(), from_id.to_owned()),
            (to_label.to_owned(), to_id.to_owned()),
            rel_type.to_owned(),
            properties,
        )
    }

    /// The relationship item both `add_relationship` forms build.
    fn add_between<K, V>(
        &self,
        (from_label, from_id): (String, String),
        (to_label, to_id): (String, String),
        rel_type: String,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), FailedGraphItem>
    where
        K: Into<String>,
        V: Into<PropertyValue>,
    {
        self.add(GraphItem::Relationship(Box::new(RelationshipItem {
            from_label,
            from_id,
            to_label,
            to_id,
            rel_type,
            properties: collect(properties),
        })))
    }

    /// Adds a node upsert: `MERGE (n:Label {id}) SET n += properties`.
    /// Add nodes before the relationships that need them: items are
    /// written in order, nodes first within a batch.
    pub fn upsert_node<K, V>(
        &self,
        label: &str,
        id: impl Into<String>,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), FailedGraphItem>
    where
        K: Into<String>,
        V: Into<PropertyValue>,
    {
        self.add(GraphItem::Node(Box::new(NodeItem {
            label: label.to_owned(),
            id: id.into(),
            properties: collect(properties),
        })))
    }

    /// Adds any item, checked first (names, ids, property values).
    pub fn add(&self, item: GraphItem) -> Result<(), FailedGraphItem> {
        if let Err(message) = check_item(&item) {
            return Err(FailedItem {
                item,
                error: BatchError::Invalid(message),
            });
        }
        self.batcher.add(item)
    }

    /// Writes everything buffered and waits for it; failed items come back
    /// in the report.
    pub fn flush(&self) -> FlushReport<GraphItem, Neo4jError> {
        self.batcher.flush()
    }

    /// Flushes and stops, waiting at most `timeout`.
    pub fn close(&self, timeout: Duration) -> FlushReport<GraphItem, Neo4jError> {
        self.batcher.close(timeout)
    }

    /// batch-core's counters (`total_added` counts created nodes and
    /// relationships).
    pub fn stats(&self) -> Stats {
        self.batcher.stats()
    }

    /// UDS3 v2.2's `get_stats()`: `total_created`, `total_batches`,
    /// `total_fallbacks`, `pending`, and this library's extra counters.
    pub fn get_stats(&self) -> BTreeMap<&'static str, u64> {
        self.stats().to_uds3_map("total_created")
    }

    /// Transactions and UNWIND queries sent so far.
    pub fn query_stats(&self) -> QueryStats {
        self.counters.snapshot()
    }

    /// The underlying batcher.
    pub fn batcher(&self) -> &Batcher<Neo4jSink> {
        &self.batcher
    }

    /// Creates the `id` uniqueness constraint (with its index) for the
    /// configured start and end labels, `IF NOT EXISTS`. Uses a short-lived
    /// connection of its own on the calling thread.
    pub fn ensure_indexes(&self) -> Result<(), Neo4jError> {
        self.ensure_indexes_for(&[self.graph.from_label.as_str(), self.graph.to_label.as_str()])
    }

    /// [`ensure_indexes`](Self::ensure_indexes) for other labels.
    pub fn ensure_indexes_for(&self, labels: &[&str]) -> Result<(), Neo4jError> {
        Neo4jSink::connect(self.graph.clone())?.ensure_indexes(labels)
    }
}

fn collect<K: Into<String>, V: Into<PropertyValue>>(
    properties: impl IntoIterator<Item = (K, V)>,
) -> Properties {
    properties
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}
