//! `Part` and `Store`: what one document is made of, and where each piece
//! goes.

use batch_chroma::ChromaRecord;
use batch_couch::CouchDoc;
use batch_neo4j::{GraphItem, NodeItem, RelationshipItem};
use batch_postgres::DocumentRow;

/// One of the four stores a UDS3 document is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Store {
    /// The document's row (PostgreSQL).
    Postgres,
    /// The document's body (CouchDB).
    Couch,
    /// The vectors of its chunks (Chroma).
    Chroma,
    /// Its nodes and relationships (Neo4j).
    Neo4j,
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Postgres => "PostgreSQL",
            Self::Couch => "CouchDB",
            Self::Chroma => "Chroma",
            Self::Neo4j => "Neo4j",
        })
    }
}

/// One piece of a document in one store, named by its identity there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Part {
    /// The PostgreSQL row with this `document_id`.
    Row {
        /// Its `document_id`.
        document_id: String,
    },
    /// The CouchDB document with this `_id`.
    Body {
        /// Its `_id`.
        id: String,
    },
    /// The Chroma record with this id.
    Chunk {
        /// Its id.
        id: String,
    },
    /// The Neo4j node with this label and `id`.
    Node {
        /// Its label.
        label: String,
        /// Its `id` property.
        id: String,
    },
    /// The Neo4j relationship of this type between these nodes.
    Relationship {
        /// Label of the start node.
        from_label: String,
        /// `id` of the start node.
        from_id: String,
        /// The relationship type.
        rel_type: String,
        /// Label of the end node.
        to_label: String,
        /// `id` of the end node.
        to_id: String,
    },
}

impl Part {
    /// The store this part is written to.
    pub fn store(&self) -> Store {
        match self {
            Self::Row { .. } => Store::Postgres,
            Self::Body { .. } => Store::Couch,
            Self::Chunk { .. } => Store::Chroma,
            Self::Node { .. } | Self::Relationship { .. } => Store::Neo4j,
        }
    }

    /// The one id that names this part in its store: a row's
    /// `document_id`, a body's `_id`, a chunk's id; `None` for graph parts,
    /// named by label and id.
    pub(crate) fn single_id(&self) -> Option<&str> {
        match self {
            Self::Row { document_id } => Some(document_id),
            Self::Body { id } | Self::Chunk { id } => Some(id),
            Self::Node { .. } | Self::Relationship { .. } => None,
        }
    }

    /// The part of `store` that `id` alone names (see
    /// [`single_id`](Self::single_id)); `None` for Neo4j.
    pub(crate) fn by_id(store: Store, id: String) -> Option<Self> {
        match store {
            Store::Postgres => Some(Self::Row { document_id: id }),
            Store::Couch => Some(Self::Body { id }),
            Store::Chroma => Some(Self::Chunk { id }),
            Store::Neo4j => None,
        }
    }

    pub(crate) fn of_row(row: &DocumentRow) -> Self {
        Self::Row {
            document_id: row.document_id.clone(),
        }
    }

    pub(crate) fn of_body(doc: &CouchDoc) -> Self {
        Self::Body {
            id: doc.id().to_owned(),
        }
    }

    pub(crate) fn of_chunk(record: &ChromaRecord) -> Self {
        Self::Chunk {
            id: record.id.clone(),
        }
    }

    pub(crate) fn of_node(node: &NodeItem) -> Self {
        Self::Node {
            label: node.label.clone(),
            id: node.id.clone(),
        }
    }

    pub(crate) fn of_relationship(r: &RelationshipItem) -> Self {
        Self::Relationship {
            from_label: r.from_label.clone(),
            from_id: r.from_id.clone(),
            rel_type: r.rel_type.clone(),
            to_label: r.to_label.clone(),
            to_id: r.to_id.clone(),
        }
    }

    /// `None` for a kind of graph item this version does not know.
    pub(crate) fn of_graph(item: &GraphItem) -> Option<Self> {
        Some(match item {
            GraphItem::Node(n) => Self::of_node(n),
            GraphItem::Relationship(r) => Self::of_relationship(r),
            _ => return None,
        })
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Row { document_id } => write!(f, "row {document_id:?}"),
            Self::Body { id } => write!(f, "document {id:?}"),
            Self::Chunk { id } => write!(f, "vector {id:?}"),
            Self::Node { label, id } => write!(f, "node (:{label} {{id: {id:?}}})"),
            Self::Relationship {
                from_label,
                from_id,
                rel_type,
                to_label,
                to_id,
            } => write!(
                f,
                "relationship (:{from_label} {{id: {from_id:?}}})-[:{rel_type}]->(:{to_label} {{id: {to_id:?}}})"
            ),
        }
    }
}
