//! `Neo4jSink`: batch-core's `Sink` for a Bolt server.

use std::collections::HashMap;
use std::sync::Arc;

use batch_core::{ItemCheck, ItemOutcome, Sink};

use crate::config::{MergeAnchor, Neo4jConfig};
use crate::connection::{BoltSession, Statement};
use crate::counters::{QueryCounters, QueryStats};
use crate::error::Neo4jError;
use crate::item::{GraphItem, check_item};
use crate::name::Name;
use crate::plan::BatchPlan;
use crate::property::{Properties, PropertyValue, from_bolt};
use crate::routing::RoutingTable;

/// Writes batches of [`GraphItem`]s in one explicit transaction: one
/// `UNWIND` statement per node label (upserts first) and one per
/// relationship type, each returning the rows it merged.
///
/// Outcomes per item, batch-core's one meaning of both
/// ([`Stats`](batch_core::Stats)): `Written` when the node or relationship
/// was created, or existed and the item changed one of its properties (as
/// PostgreSQL counts an upsert's update); `Conflict` when it already held
/// every property value of the item (re-sending creates no duplicate), or
/// when a later item of the batch with the same identity superseded it;
/// `Failed(EndpointNotFound)` for a
/// relationship whose start or end node does not exist. A failed
/// transaction is rolled back and returned as `Err` (nothing written),
/// except [`Neo4jError::OutcomeUnknown`] (the COMMIT's answer was lost):
/// its replay counts every element it merged as written, since the lost
/// commit most likely stored the batch's values itself.
pub struct Neo4jSink {
    session: BoltSession,
    anchor: MergeAnchor,
    /// `None` until probed (only when the config asks to try APOC), then
    /// whether `apoc.merge.relationship` exists on the server.
    apoc: Option<bool>,
    try_apoc: bool,
    counters: Arc<QueryCounters>,
}

impl std::fmt::Debug for Neo4jSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neo4jSink")
            .field("session", &self.session)
            .field("anchor", &self.anchor)
            .finish()
    }
}

impl Neo4jSink {
    /// Connects and authenticates. Works from any thread, inside a tokio
    /// runtime too (the I/O then runs on a short-lived thread of its own).
    pub fn connect(config: Neo4jConfig) -> Result<Self, Neo4jError> {
        let (anchor, try_apoc) = (config.anchor, config.try_apoc);
        let counters = Arc::default();
        Ok(Self {
            session: BoltSession::open(config, Arc::clone(&counters))?,
            anchor,
            apoc: None,
            try_apoc,
            counters,
        })
    }

    /// Round trips made so far, and routing tables fetched.
    pub fn query_stats(&self) -> QueryStats {
        self.counters.snapshot()
    }

    /// The Bolt version agreed with the server in the handshake, as
    /// `(major, minor)`: `(4, 4)` with Neo4j 4.4 and later (see the crate
    /// docs, "Bolt version and routing"). `None` while not connected.
    pub fn bolt_version(&self) -> Option<(u8, u8)> {
        self.session.bolt_version()
    }

    /// The routing table the writes follow (`neo4j` schemes; `None` for
    /// `bolt` ones): the last one fetched.
    pub fn routing_table(&self) -> Option<RoutingTable> {
        self.session.routing_table().cloned()
    }

    pub(crate) fn counters(&self) -> Arc<QueryCounters> {
        Arc::clone(&self.counters)
    }

    /// A sink over `session` (the fuzz targets' in-memory one).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn over_session(session: BoltSession, anchor: MergeAnchor, try_apoc: bool) -> Self {
        Self {
            session,
            anchor,
            apoc: None,
            try_apoc,
            counters: Arc::default(),
        }
    }

    /// Runs one Cypher statement in an auto-commit transaction and returns
    /// its records, each value as a [`PropertyValue`] (`None` for null and
    /// for values a property cannot hold, such as nodes). For checks and
    /// administration: the text is sent as is, so never build it from
    /// untrusted input; pass values as `params`.
    pub fn run_cypher(
        &mut self,
        cypher: &str,
        params: &Properties,
    ) -> Result<Vec<Vec<Option<PropertyValue>>>, Neo4jError> {
        let statement = Statement {
            cypher: cypher.to_owned(),
            params: params
                .iter()
                .map(|(k, v)| (k.clone(), v.to_bolt()))
                .collect(),
        };
        self.run_statement(&statement)
    }

    fn run_statement(
        &mut self,
        statement: &Statement,
    ) -> Result<Vec<Vec<Option<PropertyValue>>>, Neo4jError> {
        let records = self.session.run(statement)?;
        Ok(records
            .iter()
            .map(|r| r.fields().iter().map(from_bolt).collect())
            .collect())
    }

    /// Creates a uniqueness constraint on `id` for each label, `IF NOT
    /// EXISTS` (it also gives MERGE and MATCH their index).
    pub fn ensure_indexes(&mut self, labels: &[&str]) -> Result<(), Neo4jError> {
        for label in labels {
            let label = Name::parse(label, "label").map_err(Neo4jError::Invalid)?;
            let cypher = format!(
                "CREATE CONSTRAINT `uds3_{label}_id` IF NOT EXISTS FOR (n:{}) REQUIRE n.id IS UNIQUE",
                label.quoted()
            );
            self.session.run(&Statement {
                cypher,
                params: HashMap::new(),
            })?;
            tracing::debug!(%label, "id constraint ensured");
        }
        Ok(())
    }
}

impl Neo4jSink {
    /// Whether this batch goes through APOC: probed once, on the first
    /// batch with a relationship, when the config asks to try it. UDS3 v2.2
    /// tried APOC on every batch and fell back after each failure.
    fn use_apoc(&mut self, items: &[GraphItem]) -> Result<bool, Neo4jError> {
        if !self.try_apoc {
            return Ok(false);
        }
        if let Some(known) = self.apoc {
            return Ok(known);
        }
        if !items
            .iter()
            .any(|i| matches!(i, GraphItem::Relationship(_)))
        {
            return Ok(false);
        }
        // Null nodes make the call fail inside the procedure if it exists;
        // an unknown procedure fails before, with
        // Neo.ClientError.Procedure.ProcedureNotFound. (ArcadeDB, the test
        // server until issue 31, answered UnknownError "Unknown
        // procedure/function"; that text is no longer looked for.)
        let probe = Statement {
            cypher:
                "CALL apoc.merge.relationship(null, 'X', {}, {}, null, {}) YIELD rel RETURN rel"
                    .to_owned(),
            params: HashMap::new(),
        };
        let exists = match self.session.run(&probe) {
            Ok(_) => true,
            Err(Neo4jError::Server { code, .. }) => !code.contains("ProcedureNotFound"),
            Err(other) => return Err(other),
        };
        tracing::info!(apoc = exists, "apoc.merge.relationship probed");
        self.apoc = Some(exists);
        Ok(exists)
    }
}

impl Sink for Neo4jSink {
    type Item = GraphItem;
    type Error = Neo4jError;
    /// UDS3 v2.2's `Neo4jBatchCreator` called written items `total_created`.
    const WRITTEN_KEY: &'static str = "total_created";
    const BACKEND: &'static str = "neo4j";

    /// The same graph on a Bolt connection of its own, opened at its first
    /// write; round trips count into the same counters.
    fn sibling(&self) -> Option<Self> {
        Some(Self {
            session: self.session.sibling().ok()?,
            anchor: self.anchor,
            apoc: self.apoc,
            try_apoc: self.try_apoc,
            counters: Arc::clone(&self.counters),
        })
    }

    /// Connects and authenticates, on the writer's thread, so that a
    /// sibling's first batch costs the batch's own round trips only.
    fn connect_ahead(&mut self) -> Result<(), Neo4jError> {
        self.session.connect()
    }

    fn item_check(&self) -> Option<ItemCheck<GraphItem>> {
        Some(Arc::new(check_item))
    }

    fn write_batch(
        &mut self,
        items: &[GraphItem],
    ) -> Result<Vec<ItemOutcome<Neo4jError>>, Neo4jError> {
        self.write(items, false)
    }

    /// The same statements, except that every element the replay merges
    /// counts as written: one that already holds the row's values is most
    /// likely the lost attempt's own write, and cannot be told from one
    /// that held them before.
    fn replay_batch(
        &mut self,
        items: &[GraphItem],
    ) -> Result<Vec<ItemOutcome<Neo4jError>>, Neo4jError> {
        self.write(items, true)
    }

    /// The item as JSON (feature `durable`).
    #[cfg(feature = "durable")]
    fn codec() -> Option<batch_core::Codec<GraphItem>> {
        Some(batch_core::Codec::json())
    }

    fn item_key(item: &GraphItem) -> Option<String> {
        Some(item_key(item))
    }
}

impl Neo4jSink {
    fn write(
        &mut self,
        items: &[GraphItem],
        replay: bool,
    ) -> Result<Vec<ItemOutcome<Neo4jError>>, Neo4jError> {
        let apoc = self.use_apoc(items)?;
        let anchor = self.anchor;
        let mut plan = BatchPlan::build(items, anchor, apoc, replay);
        if plan.is_empty() {
            return Ok(plan.outcomes(items, &[]));
        }
        self.counters.record(plan.statements.len());
        // Moved into the request; built again only for a second attempt
        // on a new connection.
        let mut built = Some(std::mem::take(&mut plan.statements));
        let results = self.session.run_in_transaction(|| {
            built
                .take()
                .unwrap_or_else(|| BatchPlan::build(items, anchor, apoc, replay).statements)
        })?;
        let outcomes = plan.outcomes(items, &results);
        if plan.relationships > 0 {
            let written = outcomes
                .iter()
                .zip(items)
                .filter(|(o, i)| {
                    matches!(o, ItemOutcome::Written) && matches!(i, GraphItem::Relationship(_))
                })
                .count();
            tracing::info!(
                relationships = plan.relationships,
                written,
                replay,
                "Neo4j Batch Create ({}): {} relationships",
                if apoc { "APOC" } else { "Manual" },
                plan.relationships
            );
        }
        Ok(outcomes)
    }
}

/// Longest id shown by [`item_key`]; ids are free text and may be long.
const KEY_ID_CHARS: usize = 40;

/// `("doc_1")-[HAS_CHUNK]->("chunk_3")` or `(:Chunk "chunk_3")`: enough
/// to find the item, never its properties.
fn item_key(item: &GraphItem) -> String {
    fn short(id: &str) -> String {
        match id.char_indices().nth(KEY_ID_CHARS) {
            Some((end, _)) => format!("{:?}...", &id[..end]),
            None => format!("{id:?}"),
        }
    }
    match item {
        GraphItem::Relationship(r) => format!(
            "({})-[{}]->({})",
            short(&r.from_id),
            r.rel_type,
            short(&r.to_id)
        ),
        GraphItem::Node(n) => format!("(:{} {})", n.label, short(&n.id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{NodeItem, RelationshipItem};

    #[test]
    fn item_keys_name_the_endpoints_and_type_but_no_properties() {
        let rel = GraphItem::Relationship(Box::new(RelationshipItem {
            from_label: "Doc".into(),
            from_id: "doc_1".into(),
            to_label: "Chunk".into(),
            to_id: "x".repeat(100),
            rel_type: "HAS_CHUNK".into(),
            properties: [("secret".to_owned(), "text".into())].into_iter().collect(),
        }));
        let key = <Neo4jSink as Sink>::item_key(&rel).unwrap();
        assert_eq!(
            key,
            format!("(\"doc_1\")-[HAS_CHUNK]->(\"{}\"...)", "x".repeat(40))
        );
        let node = GraphItem::Node(Box::new(NodeItem {
            label: "Chunk".into(),
            id: "c\u{e9}".into(),
            properties: Properties::new(),
        }));
        assert_eq!(item_key(&node), "(:Chunk \"c\u{e9}\")");
    }
}
