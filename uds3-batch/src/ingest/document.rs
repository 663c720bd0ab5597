//! `Uds3Document`: one legal document as UDS3 stores it, in four parts.

use batch_chroma::ChromaRecord;
use batch_couch::serde_json::Value;
use batch_neo4j::{NodeItem, Properties, RelationshipItem};
use batch_postgres::DocumentRow;

use crate::ingest::Part;

/// One document and everything UDS3 writes for it: a PostgreSQL row, a
/// CouchDB body (stored under the document's id), Chroma vectors of its
/// chunks, Neo4j nodes and relationships. Every part is optional; the
/// verdict covers the parts given.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Uds3Document {
    /// The document's id (the CouchDB `_id`; the row's `document_id` and
    /// the node ids are the caller's to choose).
    pub id: String,
    /// The PostgreSQL row.
    pub row: Option<DocumentRow>,
    /// The CouchDB body.
    pub body: Option<Value>,
    /// The Chroma records of its chunks.
    pub chunks: Vec<ChromaRecord>,
    /// Graph nodes to upsert (written before the relationships).
    pub nodes: Vec<NodeItem>,
    /// Graph relationships between nodes of this or earlier documents.
    pub relationships: Vec<RelationshipItem>,
}

impl Uds3Document {
    /// A document with no parts yet.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            row: None,
            body: None,
            chunks: Vec::new(),
            nodes: Vec::new(),
            relationships: Vec::new(),
        }
    }

    /// Sets the PostgreSQL row.
    #[must_use]
    pub fn row(mut self, row: DocumentRow) -> Self {
        self.row = Some(row);
        self
    }

    /// Sets the CouchDB body (stored with `_id` = the document's id).
    #[must_use]
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Adds a chunk's vector.
    #[must_use]
    pub fn chunk(mut self, record: ChromaRecord) -> Self {
        self.chunks.push(record);
        self
    }

    /// Adds a node `(:label {id})` with `properties`.
    #[must_use]
    pub fn node(mut self, label: &str, id: impl Into<String>, properties: Properties) -> Self {
        self.nodes.push(NodeItem {
            label: label.to_owned(),
            id: id.into(),
            properties,
        });
        self
    }

    /// Adds a relationship `(from)-[rel_type]->(to)`, each node given as
    /// `(label, id)`.
    #[must_use]
    pub fn relationship(mut self, from: (&str, &str), rel_type: &str, to: (&str, &str)) -> Self {
        self.relationships.push(RelationshipItem {
            from_label: from.0.to_owned(),
            from_id: from.1.to_owned(),
            to_label: to.0.to_owned(),
            to_id: to.1.to_owned(),
            rel_type: rel_type.to_owned(),
            properties: Properties::new(),
        });
        self
    }

    /// Every part, each named by its identity in its store.
    pub fn parts(&self) -> Vec<Part> {
        let mut parts =
            Vec::with_capacity(2 + self.chunks.len() + self.nodes.len() + self.relationships.len());
        if let Some(row) = &self.row {
            parts.push(Part::of_row(row));
        }
        if self.body.is_some() {
            parts.push(Part::Body {
                id: self.id.clone(),
            });
        }
        parts.extend(self.chunks.iter().map(Part::of_chunk));
        parts.extend(self.nodes.iter().map(Part::of_node));
        parts.extend(self.relationships.iter().map(Part::of_relationship));
        parts
    }

    /// The same document with only the parts in `keep`.
    pub(crate) fn only(self, keep: &std::collections::HashSet<Part>) -> Self {
        Self {
            row: self.row.filter(|r| keep.contains(&Part::of_row(r))),
            body: self.body.filter(|_| {
                keep.contains(&Part::Body {
                    id: self.id.clone(),
                })
            }),
            chunks: self
                .chunks
                .into_iter()
                .filter(|c| keep.contains(&Part::of_chunk(c)))
                .collect(),
            nodes: self
                .nodes
                .into_iter()
                .filter(|n| keep.contains(&Part::of_node(n)))
                .collect(),
            relationships: self
                .relationships
                .into_iter()
                .filter(|r| keep.contains(&Part::of_relationship(r)))
                .collect(),
            id: self.id,
        }
    }
}
