//! `Uds3Stores`: where the four parts of a document go.

use batch_chroma::Collection;
use batch_couch::CouchDatabase;
use batch_neo4j::Neo4jConfig;
use batch_postgres::{Connector, TableName};

/// The four stores of a UDS3 deployment: a PostgreSQL documents table, a
/// CouchDB database, a Chroma collection and a Neo4j graph.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Uds3Stores {
    /// The PostgreSQL server.
    pub postgres: Connector,
    /// Its documents table (UDS3's columns; created if missing).
    pub table: TableName,
    /// The CouchDB database (created if missing).
    pub couch: CouchDatabase,
    /// The Chroma collection.
    pub chroma: Collection,
    /// The Neo4j graph.
    pub neo4j: Neo4jConfig,
}

impl Uds3Stores {
    /// The four stores.
    pub fn new(
        postgres: Connector,
        table: TableName,
        couch: CouchDatabase,
        chroma: Collection,
        neo4j: Neo4jConfig,
    ) -> Self {
        Self {
            postgres,
            table,
            couch,
            chroma,
            neo4j,
        }
    }
}
