//! `Uds3Error`: a store's error, named by its store.

use batch_chroma::ChromaError;
use batch_core::read::ReadError;
use batch_couch::CouchError;
use batch_neo4j::Neo4jError;
use batch_postgres::PostgresError;

/// Why the ingest could not start, or a verification could not read a
/// store. Per-part failures are not errors: they are in the verdicts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Uds3Error {
    /// PostgreSQL refused (connecting, the schema).
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] PostgresError),
    /// CouchDB refused.
    #[error("CouchDB: {0}")]
    Couch(#[from] CouchError),
    /// Chroma refused.
    #[error("Chroma: {0}")]
    Chroma(#[from] ChromaError),
    /// Neo4j refused.
    #[error("Neo4j: {0}")]
    Neo4j(#[from] Neo4jError),
    /// Reading PostgreSQL failed.
    #[error("PostgreSQL: {0}")]
    PostgresRead(#[from] ReadError<PostgresError>),
    /// Reading CouchDB failed.
    #[error("CouchDB: {0}")]
    CouchRead(#[from] ReadError<CouchError>),
    /// Reading Chroma failed.
    #[error("Chroma: {0}")]
    ChromaRead(#[from] ReadError<ChromaError>),
    /// Reading Neo4j failed.
    #[error("Neo4j: {0}")]
    Neo4jRead(#[from] ReadError<Neo4jError>),
    /// The batcher settings were refused.
    #[error(transparent)]
    Config(#[from] batch_core::ConfigError),
    /// A store's verification thread could not start.
    #[error("a verification thread could not start: {0}")]
    Thread(std::io::Error),
}
