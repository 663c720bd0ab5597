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
//! The driver is `bolt-client` (Bolt 4.4 to 3.0, see below); the sink owns a small
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
//! `UDS3_NEO4J_CA_FILE` read by [`Neo4jConfig::from_env`]), and must name
//! the host; host names are always
//! verified. `bolt+ssc://` / `neo4j+ssc://` accept any certificate
//! (self-signed): encrypted, not authenticated. `neo4j` schemes route
//! (below), with the same TLS to every server of the table. A refused
//! certificate, or plaintext spoken to a TLS port (or TLS to a plaintext
//! one), is [`Neo4jError::Tls`]: fatal, named, never retried.
//!
//! # Bolt version and routing
//! The handshake offers Bolt 4.4 down to 4.2, then 4.1, 4.0 and 3.0, and
//! the server picks the newest it speaks ([`Neo4jSink::bolt_version`]):
//! 4.4 on Neo4j 4.4, 5.x and 2025.x (checked against Neo4j 5.26). That is
//! as far as `bolt-client` 0.11 goes (Bolt 1 to 4.4; its source defines no
//! Bolt 5 version, message or structure). It is enough: every Neo4j from
//! 4.4 to the current release accepts 4.4 (Neo4j's table "Bolt Protocol
//! and Neo4j compatibility" lists 4.4 as supported from 4.4 to current,
//! beside Bolt 5 and, from 2025.10, Bolt 6), and what Bolt 5 adds (element
//! ids on nodes and relationships, notification filtering, re-auth,
//! telemetry, LOGON/LOGOFF) is nothing this crate uses: it merges by its
//! own `id` property and reads no notifications.
//!
//! `neo4j://`, `neo4j+s://` and `neo4j+ssc://` mean "use the routing
//! table". The server in the URI is asked for it with Bolt's `ROUTE`
//! message (sent by bolt-client's `Client::route`; Bolt 4.3+), for the
//! configured database, with the URI's query string as routing context
//! (`neo4j://db:7687?region=eu`). Writes go to the table's WRITE server.
//! The table is kept for its TTL and fetched again after it (asking the
//! table's ROUTE servers first, then the URI's), and at once when the
//! writer answers `Neo.ClientError.Cluster.NotALeader` or
//! `Neo.ClientError.General.ForbiddenOnReadOnlyDatabase`, or the
//! connection to it is lost or refused: the batch, rolled back, is then
//! sent once more to the new writer; if that fails the same way, it is a
//! transient error for batch-core's retries. A lost answer to a COMMIT
//! stays an unknown outcome (replayed, see above) and the next batch
//! fetches a new table. Tables fetched are counted in
//! [`QueryStats::routing_tables`]; [`Neo4jSink::routing_table`] shows the
//! last one. The [`Neo4jBatchReader`] reads from the writer too, not from
//! READ servers: a read right after a write then sees it without
//! bookmarks. A server older than Bolt 4.3 has no `ROUTE`: the URI's
//! server is then used for everything (logged as a warning). A single
//! Neo4j 5 server names, as writer, the address the client sent in the
//! routing context (the URI's, so a TLS front end works); a cluster names
//! its members' advertised addresses, which must be reachable from the
//! client with the URI's TLS settings.
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
mod cypher_session;
mod cypher_value;
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
mod routing;
mod sink;

pub use config::{DEFAULT_TIMEOUT, MergeAnchor, Neo4jConfig};
pub use counters::QueryStats;
pub use creator::{FailedGraphItem, FailedGraphItems, Neo4jBatchCreator};
pub use cypher_session::{CypherRows, CypherSession};
pub use cypher_value::{CypherParams, CypherValue};
pub use error::Neo4jError;
pub use item::{GraphItem, NodeItem, RelationshipItem};
pub use property::{Properties, PropertyValue};
pub use reader::{
    MAX_IDS_PER_READ, Neo4jBatchReader, NodesByLabel, PAIR_SEPARATOR, RelationshipsByType,
};
pub use routing::RoutingTable;
pub use sink::Neo4jSink;
