//! uds3-batch: fast, lossless bulk writes to four databases (facade crate).
//!
//! Re-exports [`batch_core`] and, behind features, the backend crates.

pub use batch_core;
pub use batch_core::env::{
    get_chroma_batch_size, get_couchdb_batch_size, get_neo4j_batch_size, get_postgres_batch_size,
    should_use_chroma_batch_insert, should_use_couchdb_batch_insert, should_use_neo4j_batching,
    should_use_postgres_batch_insert,
};

/// The ChromaDB backend (feature `chroma`).
#[cfg(feature = "chroma")]
pub use batch_chroma as chroma;
/// The CouchDB backend (feature `couch`).
#[cfg(feature = "couch")]
pub use batch_couch as couch;
/// The Neo4j backend (feature `neo4j`).
#[cfg(feature = "neo4j")]
pub use batch_neo4j as neo4j;
/// The PostgreSQL backend (feature `postgres`).
#[cfg(feature = "postgres")]
pub use batch_postgres as postgres;
