//! `Neo4jBatchReader`: UDS3 v2.3's batch reader, one `UNWIND $ids ...
//! MATCH` per chunk of node ids.

use std::collections::HashMap;

use batch_core::read::{BatchReader, ReadSource};
use bolt_client::bolt_proto::Value;

use crate::config::Neo4jConfig;
use crate::connection::{BoltSession, Statement};
use crate::error::Neo4jError;
use crate::item::CREATED_MARKER;
use crate::name::Name;
use crate::property::{Properties, from_bolt};

/// Ids per `UNWIND`: they travel as one list parameter.
pub const MAX_IDS_PER_READ: usize = 1000;

/// Reads many nodes of one label by their `id` property (`get_many`: the
/// node's properties, `id` left out; `exists_many`: ids only).
///
/// ```no_run
/// use batch_neo4j::{Neo4jBatchReader, Neo4jConfig, NodesByLabel};
///
/// let config = Neo4jConfig::new("bolt://127.0.0.1:7687", "neo4j", "secret")?;
/// let mut reader = Neo4jBatchReader::new(NodesByLabel::new(config, "Document")?);
/// let nodes = reader.get_many(&["doc-1", "doc-2"])?;
/// println!("{} found, missing {:?}", nodes.found.len(), nodes.missing);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type Neo4jBatchReader = BatchReader<NodesByLabel>;

/// The nodes of one label, found by `id`; connects at the first read.
pub struct NodesByLabel {
    config: Neo4jConfig,
    label: Name,
    session: Option<BoltSession>,
}

impl std::fmt::Debug for NodesByLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodesByLabel")
            .field("addr", &self.config.addr())
            .field("label", &self.label.as_str())
            .field("connected", &self.session.is_some())
            .finish()
    }
}

impl NodesByLabel {
    /// The nodes labelled `label` on the server of `config`. Sends
    /// nothing; a label that is not an identifier is refused here.
    pub fn new(config: Neo4jConfig, label: &str) -> Result<Self, Neo4jError> {
        let label = Name::parse(label, "label").map_err(Neo4jError::Invalid)?;
        Ok(Self {
            config,
            label,
            session: None,
        })
    }

    /// The label read.
    pub fn label(&self) -> &str {
        self.label.as_str()
    }

    fn run(&mut self, ids: &[String], returned: &str) -> Result<Vec<Vec<Value>>, Neo4jError> {
        let statement = Statement {
            cypher: format!(
                "UNWIND $ids AS id MATCH (n:{} {{id: id}}) RETURN {returned}",
                self.label.quoted()
            ),
            params: HashMap::from([(
                "ids".to_owned(),
                Value::List(ids.iter().map(|id| Value::String(id.clone())).collect()),
            )]),
        };
        let session = match &mut self.session {
            Some(session) => session,
            empty => empty.insert(BoltSession::open(self.config.clone())?),
        };
        Ok(session
            .run(&statement)?
            .iter()
            .map(|record| record.fields().to_vec())
            .collect())
    }
}

/// A node's stored properties, without `id` and the writer's marker.
fn node_properties(node: &Value) -> Properties {
    let stored = match node {
        Value::Node(node) => node.properties(),
        Value::Map(map) => map,
        _ => return Properties::new(),
    };
    stored
        .iter()
        .filter(|(key, _)| *key != "id" && *key != CREATED_MARKER)
        .filter_map(|(key, value)| Some((key.clone(), from_bolt(value)?)))
        .collect()
}

impl ReadSource for NodesByLabel {
    type Value = Properties;
    type Error = Neo4jError;
    const BACKEND: &'static str = "neo4j";

    fn max_ids_per_request(&self) -> usize {
        MAX_IDS_PER_READ
    }

    fn read(&mut self, ids: &[String]) -> Result<Vec<(String, Properties)>, Neo4jError> {
        Ok(self
            .run(ids, "id, n")?
            .into_iter()
            .filter_map(|fields| match fields.as_slice() {
                [Value::String(id), node] => Some((id.clone(), node_properties(node))),
                _ => None,
            })
            .collect())
    }

    fn exists(&mut self, ids: &[String]) -> Result<Vec<String>, Neo4jError> {
        Ok(self
            .run(ids, "DISTINCT id")?
            .into_iter()
            .filter_map(|fields| match fields.as_slice() {
                [Value::String(id)] => Some(id.clone()),
                _ => None,
            })
            .collect())
    }
}
