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
/// let reader = Neo4jBatchReader::new(NodesByLabel::new(config, "Document")?);
/// let nodes = reader.get_many(&["doc-1", "doc-2"])?;
/// println!("{} found, missing {:?}", nodes.found.len(), nodes.missing);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type Neo4jBatchReader = BatchReader<NodesByLabel>;

/// The nodes of one label, found by `id`; connects at the first read.
pub struct NodesByLabel {
    reads: Reads,
    label: Name,
}

/// A read's connection: opened at the first statement, on the reader's
/// thread, and kept.
struct Reads {
    config: Neo4jConfig,
    session: Option<BoltSession>,
}

impl Reads {
    fn new(config: Neo4jConfig) -> Self {
        Self {
            config,
            session: None,
        }
    }

    /// The records of `cypher` with `$param` bound to `list`.
    fn run(
        &mut self,
        cypher: String,
        param: &str,
        list: Vec<Value>,
    ) -> Result<Vec<Vec<Value>>, Neo4jError> {
        let statement = Statement {
            cypher,
            params: HashMap::from([(param.to_owned(), Value::List(list))]),
        };
        let session = match &mut self.session {
            Some(session) => session,
            empty => empty.insert(BoltSession::open(
                self.config.clone(),
                std::sync::Arc::default(),
            )?),
        };
        Ok(session
            .run(&statement)?
            .iter()
            .map(|record| record.fields().to_vec())
            .collect())
    }
}

impl std::fmt::Debug for NodesByLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodesByLabel")
            .field("addr", &self.reads.config.addr())
            .field("label", &self.label.as_str())
            .field("connected", &self.reads.session.is_some())
            .finish()
    }
}

impl NodesByLabel {
    /// The nodes labelled `label` on the server of `config`. Sends
    /// nothing; a label that is not an identifier is refused here.
    pub fn new(config: Neo4jConfig, label: &str) -> Result<Self, Neo4jError> {
        let label = Name::parse(label, "label").map_err(Neo4jError::Invalid)?;
        Ok(Self {
            reads: Reads::new(config),
            label,
        })
    }

    /// The label read.
    pub fn label(&self) -> &str {
        self.label.as_str()
    }

    fn run(&mut self, ids: &[String], returned: &str) -> Result<Vec<Vec<Value>>, Neo4jError> {
        let cypher = format!(
            "UNWIND $ids AS id MATCH (n:{} {{id: id}}) RETURN {returned}",
            self.label.quoted()
        );
        let ids = ids.iter().map(|id| Value::String(id.clone())).collect();
        self.reads.run(cypher, "ids", ids)
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
    const MAX_IDS_PER_REQUEST: usize = MAX_IDS_PER_READ;

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

/// The separator of a relationship's two node ids in the ids
/// [`RelationshipsByType`] reads (U+001F, the unit separator).
pub const PAIR_SEPARATOR: char = '\u{1f}';

/// Which relationships of one type between two labels exist, each named
/// by its two node ids ([`RelationshipsByType::pair`]); only
/// `exists_many` is meaningful (`get_many` answers `()` per pair).
///
/// ```no_run
/// use batch_core::read::BatchReader;
/// use batch_neo4j::{Neo4jConfig, RelationshipsByType};
///
/// let config = Neo4jConfig::new("bolt://127.0.0.1:7687", "neo4j", "secret")?;
/// let rels = RelationshipsByType::new(config, "Document", "HAS_CHUNK", "Chunk")?;
/// let reader = BatchReader::new(rels);
/// let pair = RelationshipsByType::pair("doc-1", "doc-1#0");
/// let found = reader.exists_many(&[pair])?;
/// println!("missing: {:?}", found.missing);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RelationshipsByType {
    reads: Reads,
    from_label: Name,
    rel_type: Name,
    to_label: Name,
}

impl std::fmt::Debug for RelationshipsByType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelationshipsByType")
            .field("addr", &self.reads.config.addr())
            .field("from_label", &self.from_label.as_str())
            .field("rel_type", &self.rel_type.as_str())
            .field("to_label", &self.to_label.as_str())
            .finish()
    }
}

impl RelationshipsByType {
    /// The relationships `(:from_label)-[:rel_type]->(:to_label)` on the
    /// server of `config`. Sends nothing; names that are not identifiers
    /// are refused here.
    pub fn new(
        config: Neo4jConfig,
        from_label: &str,
        rel_type: &str,
        to_label: &str,
    ) -> Result<Self, Neo4jError> {
        Ok(Self {
            reads: Reads::new(config),
            from_label: Name::parse(from_label, "label").map_err(Neo4jError::Invalid)?,
            rel_type: Name::parse(rel_type, "relationship type").map_err(Neo4jError::Invalid)?,
            to_label: Name::parse(to_label, "label").map_err(Neo4jError::Invalid)?,
        })
    }

    /// The id of the relationship from node `from_id` to node `to_id`.
    pub fn pair(from_id: &str, to_id: &str) -> String {
        format!("{from_id}{PAIR_SEPARATOR}{to_id}")
    }
}

impl ReadSource for RelationshipsByType {
    type Value = ();
    type Error = Neo4jError;
    const BACKEND: &'static str = "neo4j";
    const MAX_IDS_PER_REQUEST: usize = MAX_IDS_PER_READ;

    fn check_id(&self, id: &str) -> Result<(), String> {
        match id.split(PAIR_SEPARATOR).collect::<Vec<_>>()[..] {
            [from, to] if !from.is_empty() && !to.is_empty() => Ok(()),
            _ => Err("a relationship is named by two non-empty node ids joined by PAIR_SEPARATOR (RelationshipsByType::pair)".to_owned()),
        }
    }

    fn read(&mut self, ids: &[String]) -> Result<Vec<(String, ())>, Neo4jError> {
        Ok(self.exists(ids)?.into_iter().map(|id| (id, ())).collect())
    }

    fn exists(&mut self, ids: &[String]) -> Result<Vec<String>, Neo4jError> {
        let cypher = format!(
            "UNWIND $pairs AS p MATCH (a:{} {{id: p.from}})-[:{}]->(b:{} {{id: p.to}}) \
             RETURN DISTINCT p.from, p.to",
            self.from_label.quoted(),
            self.rel_type.quoted(),
            self.to_label.quoted()
        );
        let pairs = ids
            .iter()
            .filter_map(|id| id.split_once(PAIR_SEPARATOR))
            .map(|(from, to)| {
                Value::Map(HashMap::from([
                    ("from".to_owned(), Value::String(from.to_owned())),
                    ("to".to_owned(), Value::String(to.to_owned())),
                ]))
            })
            .collect();
        Ok(self
            .reads
            .run(cypher, "pairs", pairs)?
            .into_iter()
            .filter_map(|fields| match fields.as_slice() {
                [Value::String(from), Value::String(to)] => Some(Self::pair(from, to)),
                _ => None,
            })
            .collect())
    }
}
