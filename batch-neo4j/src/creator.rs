//! `Neo4jBatchCreator`: UDS3 v2.2's class of that name, a batch-core
//! `Batcher` over a [`Neo4jSink`] with UDS3's constructors and domain-named
//! `add` methods.

use std::sync::Arc;

use batch_core::env::NEO4J;
use batch_core::{AddManyError, Batcher, FailedItem};

use crate::config::Neo4jConfig;
use crate::counters::{QueryCounters, QueryStats};
use crate::error::Neo4jError;
use crate::item::{GraphItem, NodeItem, RelationshipItem};
use crate::property::{Properties, PropertyValue};
use crate::sink::Neo4jSink;

/// An item handed back by the creator, with its error.
pub type FailedGraphItem = FailedItem<GraphItem, Neo4jError>;

/// The items [`Neo4jBatchCreator::add_many`] (and its siblings) did not
/// accept, each with its index in the input.
pub type FailedGraphItems = AddManyError<GraphItem, Neo4jError>;

batch_core::inserter! {
    /// Buffers relationships (and node upserts) and merges them in batches:
    /// one `UNWIND` query per relationship type per batch, in one transaction.
    ///
    /// Every added item ends up written (`total_created`: it created its
    /// element or changed its properties), already present
    /// (`total_conflicts`: the element held the item's values already;
    /// re-running creates no duplicates), or handed back in
    /// a [`FlushReport`](batch_core::FlushReport) with its error (e.g. a
    /// relationship whose endpoint does not exist). Dropping the creator
    /// flushes it.
    ///
    /// Properties are `(key, value)` pairs with values converted by
    /// `.into()`, as in `[("order", 3.into())]`; `[]` means none.
    ///
    /// Everything else a batcher does (`flush`, `flush_timeout`, `close`,
    /// `stats`, `get_stats`, `set_failure_handler`, ...) comes from the
    /// [`Batcher`] it dereferences to.
    #[must_use = "a creator writes nothing until it is used; call add_relationship() and flush()"]
    #[derive(Debug)]
    pub struct Neo4jBatchCreator(Batcher<Neo4jSink>) {
        graph: Neo4jConfig,
        counters: Arc<QueryCounters>,
    }
    env(NEO4J);
    /// Connects to `graph` with full control over batching, retry and fallback.
    fn with_settings(graph: Neo4jConfig, settings) -> Result<Self, Neo4jError> {
        let sink = on_own_thread(&graph, || Neo4jSink::connect(graph.clone()))?;
        let counters = sink.counters();
        let batcher = Batcher::new(sink, settings)?;
        Ok(Self {
            batcher,
            graph,
            counters,
        })
    }
    many {
        /// Nodes and relationships may be mixed; each is refused as its
        /// single add refuses it (bad type or label, empty id, a property
        /// Neo4j cannot store, ...).
        fn add_many, add_many_async(items: GraphItem) -> FailedGraphItems;
    }
}

impl Neo4jBatchCreator {
    /// Adds a relationship `(from)-[rel_type]->(to)` between nodes labelled
    /// with the configured start and end labels, found by their `id`.
    /// `rel_type` must match `^[A-Za-z_][A-Za-z0-9_]*$`; a bad type, empty
    /// id or property Neo4j cannot store comes back at once, unsent.
    pub fn add_relationship<'k>(
        &self,
        from_id: impl Into<String>,
        to_id: impl Into<String>,
        rel_type: impl Into<String>,
        properties: impl IntoIterator<Item = (&'k str, PropertyValue)>,
    ) -> Result<(), FailedGraphItem> {
        self.batcher
            .add(self.relationship(from_id, to_id, rel_type, properties))
    }

    /// [`add_relationship`](Self::add_relationship) for async code: waits
    /// for room without blocking the thread ([`Batcher::add_async`]).
    pub fn add_relationship_async<'k>(
        &self,
        from_id: impl Into<String>,
        to_id: impl Into<String>,
        rel_type: impl Into<String>,
        properties: impl IntoIterator<Item = (&'k str, PropertyValue)>,
    ) -> impl Future<Output = Result<(), FailedGraphItem>> + Send + '_ {
        self.batcher
            .add_async(self.relationship(from_id, to_id, rel_type, properties))
    }

    /// Like [`add_relationship`](Self::add_relationship) between nodes of
    /// other labels than the configured ones.
    pub fn add_relationship_between<'k>(
        &self,
        from: (&str, &str),
        to: (&str, &str),
        rel_type: &str,
        properties: impl IntoIterator<Item = (&'k str, PropertyValue)>,
    ) -> Result<(), FailedGraphItem> {
        self.batcher
            .add(relationship_between(from, to, rel_type, properties))
    }

    /// [`add_relationship_between`](Self::add_relationship_between) for
    /// async code: waits for room without blocking the thread.
    pub fn add_relationship_between_async<'k>(
        &self,
        from: (&str, &str),
        to: (&str, &str),
        rel_type: &str,
        properties: impl IntoIterator<Item = (&'k str, PropertyValue)>,
    ) -> impl Future<Output = Result<(), FailedGraphItem>> + Send + '_ {
        self.batcher
            .add_async(relationship_between(from, to, rel_type, properties))
    }

    /// Adds a node upsert: `MERGE (n:Label {id}) SET n += properties`.
    /// Add nodes before the relationships that need them: items are
    /// written in order, nodes first within a batch.
    pub fn upsert_node<'k>(
        &self,
        label: &str,
        id: impl Into<String>,
        properties: impl IntoIterator<Item = (&'k str, PropertyValue)>,
    ) -> Result<(), FailedGraphItem> {
        self.batcher.add(node(label, id, properties))
    }

    /// [`upsert_node`](Self::upsert_node) for async code: waits for room
    /// without blocking the thread.
    pub fn upsert_node_async<'k>(
        &self,
        label: &str,
        id: impl Into<String>,
        properties: impl IntoIterator<Item = (&'k str, PropertyValue)>,
    ) -> impl Future<Output = Result<(), FailedGraphItem>> + Send + '_ {
        self.batcher.add_async(node(label, id, properties))
    }

    /// Adds many relationships between the configured labels at once, each
    /// `(from_id, to_id, rel_type, properties)` as
    /// [`add_relationship`](Self::add_relationship) takes them, through
    /// [`add_many`](Self::add_many): e.g. a document's `HAS_CHUNK`
    /// relationships to all its chunks.
    ///
    /// # Errors
    /// As [`add_many`](Self::add_many): the relationships
    /// `add_relationship` would refuse, by index, with its error.
    pub fn add_relationships<'k, P>(
        &self,
        relationships: impl IntoIterator<
            Item = (impl Into<String>, impl Into<String>, impl Into<String>, P),
        >,
    ) -> Result<(), FailedGraphItems>
    where
        P: IntoIterator<Item = (&'k str, PropertyValue)>,
    {
        self.batcher.add_many(self.relationships(relationships))
    }

    /// [`add_relationships`](Self::add_relationships) for async code: waits
    /// for room without blocking the thread. The items are built at the
    /// call, so the future holds none of the arguments.
    pub fn add_relationships_async<'k, P>(
        &self,
        relationships: impl IntoIterator<
            Item = (impl Into<String>, impl Into<String>, impl Into<String>, P),
        >,
    ) -> impl Future<Output = Result<(), FailedGraphItems>> + Send + '_
    where
        P: IntoIterator<Item = (&'k str, PropertyValue)>,
    {
        self.batcher
            .add_many_async(self.relationships(relationships))
    }

    /// Upserts many nodes of one label at once, each `(id, properties)` as
    /// [`upsert_node`](Self::upsert_node) takes them, through
    /// [`add_many`](Self::add_many).
    ///
    /// # Errors
    /// As [`add_many`](Self::add_many): the nodes `upsert_node` would
    /// refuse, by index, with its error.
    pub fn upsert_nodes<'k, P>(
        &self,
        label: &str,
        nodes: impl IntoIterator<Item = (impl Into<String>, P)>,
    ) -> Result<(), FailedGraphItems>
    where
        P: IntoIterator<Item = (&'k str, PropertyValue)>,
    {
        self.batcher.add_many(nodes_of(label, nodes))
    }

    /// [`upsert_nodes`](Self::upsert_nodes) for async code: waits for room
    /// without blocking the thread. The items are built at the call.
    pub fn upsert_nodes_async<'k, P>(
        &self,
        label: &str,
        nodes: impl IntoIterator<Item = (impl Into<String>, P)>,
    ) -> impl Future<Output = Result<(), FailedGraphItems>> + Send + '_
    where
        P: IntoIterator<Item = (&'k str, PropertyValue)>,
    {
        self.batcher.add_many_async(nodes_of(label, nodes))
    }

    /// The items of `add_relationships`, built as `add_relationship`
    /// builds each.
    fn relationships<'k, P>(
        &self,
        relationships: impl IntoIterator<
            Item = (impl Into<String>, impl Into<String>, impl Into<String>, P),
        >,
    ) -> Vec<GraphItem>
    where
        P: IntoIterator<Item = (&'k str, PropertyValue)>,
    {
        relationships
            .into_iter()
            .map(|(from_id, to_id, rel_type, properties)| {
                self.relationship(from_id, to_id, rel_type, properties)
            })
            .collect()
    }

    /// The item of `add_relationship`, between the configured labels.
    fn relationship<'k>(
        &self,
        from_id: impl Into<String>,
        to_id: impl Into<String>,
        rel_type: impl Into<String>,
        properties: impl IntoIterator<Item = (&'k str, PropertyValue)>,
    ) -> GraphItem {
        GraphItem::Relationship(Box::new(RelationshipItem {
            from_label: self.graph.from_label.to_string(),
            from_id: from_id.into(),
            to_label: self.graph.to_label.to_string(),
            to_id: to_id.into(),
            rel_type: rel_type.into(),
            properties: collect(properties),
        }))
    }

    /// Transactions and UNWIND queries sent so far.
    pub fn query_stats(&self) -> QueryStats {
        self.counters.snapshot()
    }

    /// Creates the `id` uniqueness constraint (with its index) for the
    /// configured start and end labels, `IF NOT EXISTS`. Uses a short-lived
    /// connection of its own, on a short-lived thread of its own.
    pub fn ensure_indexes(&self) -> Result<(), Neo4jError> {
        self.ensure_indexes_for(&[self.graph.from_label.as_str(), self.graph.to_label.as_str()])
    }

    /// [`ensure_indexes`](Self::ensure_indexes) for other labels.
    pub fn ensure_indexes_for(&self, labels: &[&str]) -> Result<(), Neo4jError> {
        on_own_thread(&self.graph, || {
            Neo4jSink::connect(self.graph.clone())?.ensure_indexes(labels)
        })
    }
}

/// `f` on a thread of this library, never the caller's: the caller may be
/// a runtime worker, which must not block on the sink's runtime.
fn on_own_thread<T: Send>(
    graph: &Neo4jConfig,
    f: impl FnOnce() -> Result<T, Neo4jError> + Send,
) -> Result<T, Neo4jError> {
    crate::connection::on_own_thread(f).map_err(|e| Neo4jError::Connection {
        addr: graph.addr.clone(),
        message: format!("cannot start a thread to connect on: {e}"),
    })?
}

/// The item of `add_relationship_between`. The async twins build their
/// items before they return, so their futures hold no arguments.
fn relationship_between<'k>(
    (from_label, from_id): (&str, &str),
    (to_label, to_id): (&str, &str),
    rel_type: &str,
    properties: impl IntoIterator<Item = (&'k str, PropertyValue)>,
) -> GraphItem {
    GraphItem::Relationship(Box::new(RelationshipItem {
        from_label: from_label.to_owned(),
        from_id: from_id.to_owned(),
        to_label: to_label.to_owned(),
        to_id: to_id.to_owned(),
        rel_type: rel_type.to_owned(),
        properties: collect(properties),
    }))
}

/// The item of `upsert_node`.
fn node<'k>(
    label: &str,
    id: impl Into<String>,
    properties: impl IntoIterator<Item = (&'k str, PropertyValue)>,
) -> GraphItem {
    GraphItem::Node(Box::new(NodeItem {
        label: label.to_owned(),
        id: id.into(),
        properties: collect(properties),
    }))
}

/// The items of `upsert_nodes`, built as `upsert_node` builds each.
fn nodes_of<'k, P>(
    label: &str,
    nodes: impl IntoIterator<Item = (impl Into<String>, P)>,
) -> Vec<GraphItem>
where
    P: IntoIterator<Item = (&'k str, PropertyValue)>,
{
    nodes
        .into_iter()
        .map(|(id, properties)| node(label, id, properties))
        .collect()
}

fn collect<'k>(properties: impl IntoIterator<Item = (&'k str, PropertyValue)>) -> Properties {
    properties
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}
