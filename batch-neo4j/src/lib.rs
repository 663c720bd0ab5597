//! batch-neo4j: UDS3 v2.2's `Neo4jBatchCreator` on batch-core, over Bolt.
//!
//! Relationships are merged in batches: one `UNWIND $rows AS row` query per
//! relationship type per batch, all in one explicit transaction, matching
//! both endpoints by label and `id`. A batch costs two round trips,
//! whatever its statements: BEGIN with every RUN and PULL in one write
//! (Bolt pipelining), then COMMIT. Each query returns the rows it merged,
//! so a relationship whose endpoint does not exist comes back to the caller
//! with [`Neo4jError::EndpointNotFound`] instead of vanishing. A node or
//! relationship created or changed by its item counts as written
//! (`total_created`), one that already held the item's values as a
//! conflict: batch-core's one meaning of both on every backend. Relationship types
//! and labels are checked against `^[A-Za-z_][A-Za-z0-9_]*$` before they go
//! anywhere near the query text. Transient errors (`Neo.TransientError.*`,
//! connections lost before the COMMIT) are retried by batch-core; a lost
//! answer to a COMMIT is replayed, counting the rows that commit stored as
//! written; security errors (bad credentials) fail the batch at once;
//! other errors isolate the bad rows by bisection.
//!
//! The driver is `bolt-client` (Bolt 4.4/4.0/3.0); the sink owns a small
//! tokio runtime and blocks on it from batch-core's flusher thread. The
//! creator connects and ensures indexes on a short-lived thread of its own,
//! so it can be created and used from any thread, async code included.
//! There, the `*_async` adders (`add_relationship_async`, ...) and
//! batch-core's `flush_async` / `close_async` wait without blocking a
//! runtime thread.
//!
//! # TLS
//! With the default feature `tls`, `bolt+s://` and `neo4j+s://` connect
//! over TLS (rustls with ring, through batch-core's shared
//! [`TlsSettings`](batch_core::tls::TlsSettings)): the certificate must
//! be signed by one of Mozilla's roots or a CA file
//! ([`Neo4jConfig::ca_file`], [`Neo4jConfig::tls`], or the ENV variable
//! `UDS3_NEO4J_CA_FILE`), and must name the host; host names are always
//! verified. `bolt+ssc://` / `neo4j+ssc://` accept any certificate
//! (self-signed): encrypted, not authenticated. `neo4j` schemes are direct
//! connections to the one server named (no routing). A refused
//! certificate, or plaintext spoken to a TLS port (or TLS to a plaintext
//! one), is [`Neo4jError::Tls`]: fatal, named, never retried.
//!
//! # Quick Start
//! ```no_run
//! use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig};
//!
//! let graph = Neo4jConfig::new("bolt://127.0.0.1:7687", "neo4j", "password")?
//!     .labels("Document", "Chunk")?;
//! let creator = Neo4jBatchCreator::new(graph, 1000)?;
//! creator.ensure_indexes()?;
//! creator.upsert_node("Document", "doc_1", [("title", "Report".into())]).map_err(|f| f.error)?;
//! for i in 0..3 {
//!     creator.upsert_node("Chunk", format!("chunk_1_{i}"), [("order", i.into())]).map_err(|f| f.error)?;
//!     creator
//!         .add_relationship("doc_1", format!("chunk_1_{i}"), "HAS_CHUNK", [("order", i.into())])
//!         .map_err(|f| f.error)?;
//! }
//! let report = creator.flush();
//! for failed in &report.failed {
//!     eprintln!("not written: {:?}: {}", failed.item, failed.error);
//! }
//! println!("{:?}", creator.get_stats()); // {"total_created": 7, ...}
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod connection;
mod counters;
mod creator;
mod error;
/// Entry points for the project's fuzz targets, not API (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod item;
mod name;
mod plan;
mod property;
mod reader;
mod sink;

pub use config::{DEFAULT_TIMEOUT, MergeAnchor, Neo4jConfig};
pub use counters::QueryStats;
pub use creator::{FailedGraphItem, Neo4jBatchCreator};
pub use error::Neo4jError;
pub use item::{GraphItem, NodeItem, RelationshipItem};
pub use property::{Properties, PropertyValue};
pub use reader::{
    MAX_IDS_PER_READ, Neo4jBatchReader, NodesByLabel, PAIR_SEPARATOR, RelationshipsByType,
};
pub use sink::Neo4jSink;
